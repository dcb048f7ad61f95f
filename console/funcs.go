package console

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// funcs are the templates' helpers. None of them returns a template.HTML:
// every value reaches the page through html/template's escaping.
var funcs = template.FuncMap{
	"link":    link,
	"pretty":  pretty,
	"preview": preview,
	"when":    when,
	"join":    func(s []string) string { return strings.Join(s, ", ") },
	"add":     func(a, b int) int { return a + b },
}

// link returns the console path page with the query built from key/value
// pairs (empty values are left out), percent-encoded.
func link(page string, kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	if len(q) == 0 {
		return Prefix + page
	}
	return Prefix + page + "?" + q.Encode()
}

// pretty indents JSON with two spaces; anything else comes back as is.
func pretty(raw json.RawMessage) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return string(raw)
	}
	return readable(buf.Bytes())
}

// readable undoes the \u003c, \u003e and \u0026 escapes that Go's encoder
// writes for <, > and & (SQLite keeps the text as written; PostgreSQL's
// jsonb does not), so a value reads the same on both. The JSON means the
// same; the page escapes it for HTML anyway.
func readable(js []byte) string {
	out := make([]byte, 0, len(js))
	for i := 0; i < len(js); i++ {
		c := js[i]
		if c != '\\' || i+1 >= len(js) {
			out = append(out, c)
			continue
		}
		if js[i+1] == 'u' && i+5 < len(js) {
			switch strings.ToLower(string(js[i+2 : i+6])) {
			case "003c":
				out, i = append(out, '<'), i+5
				continue
			case "003e":
				out, i = append(out, '>'), i+5
				continue
			case "0026":
				out, i = append(out, '&'), i+5
				continue
			}
		}
		out = append(out, c, js[i+1]) // any other escape, \\ included, stays
		i++
	}
	return string(out)
}

// previewLen is how many characters of a value a table shows.
const previewLen = 80

// preview is compact JSON, cut to previewLen characters.
func preview(raw json.RawMessage) string {
	var buf bytes.Buffer
	s := string(raw)
	if json.Compact(&buf, raw) == nil {
		s = readable(buf.Bytes())
	}
	if utf8.RuneCountInString(s) > previewLen {
		r := []rune(s)
		s = string(r[:previewLen]) + "…"
	}
	return s
}

// when formats a time in UTC to the millisecond; the zero time is "".
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05.000Z")
}

package console

import (
	"bytes"
	"encoding/json"
	"fmt"
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
	"preview": preview,
	"size":    size,
	// The entry page's bounds, for its words.
	"inlineBytes":  func() int { return InlineValueBytes },
	"previewBytes": func() int { return ValuePreviewBytes },
	"pageBytes":    func() int { return int(pageBytes) },
	"pageReadTime": func() string { return pageReadTime.String() },
	"when":         when,
	"join":         func(s []string) string { return strings.Join(s, ", ") },
	"add":          func(a, b int) int { return a + b },
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

// Bounds of the entry page (see the package doc, "Large values").
const (
	// InlineValueBytes is the largest value (or metadata), in bytes of its
	// stored JSON, that the entry page shows whole and offers to edit.
	// A larger one is shown as its first ValuePreviewBytes, with a link
	// to download it whole (/console/entry/download).
	InlineValueBytes = 256 << 10
	// ValuePreviewBytes is how much of a larger value the page shows: its
	// stored JSON as is, cut on a character boundary.
	ValuePreviewBytes = 16 << 10
	// maxIndented is the most text the page shows a value of at most
	// InlineValueBytes as, indented: a value nested deeply (up to
	// storage.MaxDepth) grows by its depth's indentation on every line,
	// and one of 256 KiB could take hundreds of MB indented. Past it the
	// value is shown as stored.
	maxIndented = 4 * InlineValueBytes
)

// shownValue is a stored value (or metadata) as the entry page shows it:
// computed once per page, whatever the template does with it.
type shownValue struct {
	// Text is the value pretty-printed (as stored when indenting would
	// make it longer than maxIndented) or, when Cut, its first
	// ValuePreviewBytes as stored.
	Text string
	Size int  // bytes of the stored JSON
	Cut  bool // larger than InlineValueBytes: Text is a preview only
}

// show is raw as the entry page shows it (see shownValue).
func show(raw json.RawMessage) shownValue {
	if len(raw) <= InlineValueBytes {
		return shownValue{Text: pretty(raw), Size: len(raw)}
	}
	n := ValuePreviewBytes
	for n > 0 && !utf8.RuneStart(raw[n]) {
		n--
	}
	return shownValue{Text: readable(raw[:n]) + "…", Size: len(raw), Cut: true}
}

// size is n bytes in words: 512 bytes, 3.5 KiB, 12.0 MiB.
func size(n int) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d bytes", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// pretty indents JSON with two spaces; anything else comes back as is,
// and so does JSON that indented would be longer than maxIndented.
func pretty(raw json.RawMessage) string {
	if indentedSize(raw) > maxIndented {
		return readable(raw)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return string(raw)
	}
	return readable(buf.Bytes())
}

// indentedSize bounds the length of raw indented by json.Indent with two
// spaces, without indenting it: each element and each closing bracket
// starts a line indented by its depth (an empty array or object, and
// the spaces raw has, count although they go).
func indentedSize(raw []byte) int {
	n, depth, inString := len(raw), 0, false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			depth++
			n += 1 + 2*depth
		case c == ']' || c == '}':
			depth--
			n += 1 + 2*depth
		case c == ',':
			n += 1 + 2*depth
		case c == ':':
			n++
		}
	}
	return n
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
		if r, ok := htmlEscape(js[i:]); ok {
			out, i = append(out, r), i+5
			continue
		}
		out = append(out, c, js[i+1]) // any other escape, \\ included, stays
		i++
	}
	return string(out)
}

// previewLen is how many characters of a value a table shows.
const previewLen = 80

// preview is compact JSON, made readable (see readable), cut to
// previewLen characters. It reads no more of raw than the characters it
// shows: a table shows up to MaxPageSize values of up to the store's 16
// MiB each, and compacting each whole for 80 characters cost its size in
// time and several times it in memory. raw is a stored value: valid
// JSON, whose only insignificant characters are spaces outside strings.
func preview(raw json.RawMessage) string {
	out := make([]byte, 0, previewLen+8)
	n := 0 // characters in out
	// emit appends b; false when it starts a character past previewLen.
	emit := func(b ...byte) bool {
		for _, c := range b {
			if utf8.RuneStart(c) {
				if n == previewLen {
					return false
				}
				n++
			}
			out = append(out, c)
		}
		return true
	}
	inString := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case !inString && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			continue
		case c == '"':
			inString = !inString
		case inString && c == '\\' && i+1 < len(raw):
			esc := raw[i : i+2]
			if r, ok := htmlEscape(raw[i:]); ok {
				esc, i = []byte{r}, i+5
			} else {
				i++
			}
			if !emit(esc...) {
				return string(out) + "…"
			}
			continue
		}
		if !emit(c) {
			return string(out) + "…"
		}
	}
	return string(out)
}

// htmlEscape reports the character of the escape at the start of js when
// it is one of \u003c, \u003e and \u0026 (any case), which readable undoes.
func htmlEscape(js []byte) (byte, bool) {
	if len(js) < 6 || js[1] != 'u' {
		return 0, false
	}
	switch strings.ToLower(string(js[2:6])) {
	case "003c":
		return '<', true
	case "003e":
		return '>', true
	case "0026":
		return '&', true
	}
	return 0, false
}

// when formats a time in UTC to the millisecond; the zero time is "".
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05.000Z")
}

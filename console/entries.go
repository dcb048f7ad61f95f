package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mycelia-kernel/storage"
)

// Page sizes of the entries and query pages.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// Bounds of what the entries and query pages read (see readKeys and
// readPage).
const (
	// PageBytes bounds the keys, values and metadata one entries or query
	// page reads: it reads its entries one at a time and stops at the
	// entry that reaches PageBytes, showing fewer entries than its limit
	// and a link to the next page. As routes.AnswerBytes bounds an API
	// answer.
	PageBytes = 4 << 20
	// PagePart is how many keys the entries page lists at once, before it
	// reads their entries one at a time.
	PagePart = 16
	// PageReadTime bounds how long the query page runs its queries: past
	// it, after at least one match, it shows what it has and a link to
	// the next page.
	PageReadTime = 2 * time.Second
	// rowOverhead is counted per entry besides its bytes.
	rowOverhead = 64
)

// pageBytes and pageReadTime are PageBytes and PageReadTime, lowered by
// tests (SetPageBytes, SetPageReadTime).
var (
	pageBytes    int64 = PageBytes
	pageReadTime       = PageReadTime
)

// Why a page holds fewer entries than its limit (entriesPage.Cut,
// queryPage.Cut and Slow).
const (
	cutNone  = iota
	cutBytes // their values reached PageBytes
	cutTime  // the query page's queries ran PageReadTime
)

// entryRow is an entry with its audit actors. A row of a table holds its
// value's preview and size, not the value (nor the metadata).
type entryRow struct {
	storage.Entry
	CreatedBy, UpdatedBy string
	Preview              string // preview of the value
	Size                 int    // bytes of the value
}

// newRow is e's row, and what reading e counted towards PageBytes.
func newRow(e storage.Entry) (entryRow, int64) {
	n := int64(len(e.Key)+len(e.Value)+len(e.Metadata)) + rowOverhead
	row := entryRow{Entry: e, Preview: preview(e.Value), Size: len(e.Value)}
	row.Value, row.Metadata = nil, nil
	return row, n
}

// entriesPage is the data of the entries page.
type entriesPage struct {
	NS, Prefix, After, Next string
	Limit                   int
	Total                   int64
	Rows                    []entryRow
	// Cut: the page holds fewer than Limit entries, more remaining,
	// because their values reached PageBytes.
	Cut bool
}

// readKeys reads the entries page: up to limit entries of the namespace
// in whose keys start with prefix, in key order, after the key after
// ("": from the first), each row with its value's preview and size,
// without the value. It lists PagePart keys at a time and reads their
// entries one by one (Get), so that it holds one value at once and
// stops at the entry that reaches PageBytes: a page reads at most
// PageBytes and one entry past it, whatever the sizes of the entries
// after those it shows. It returns the key to go on after (the last one
// it read; "" after the last key) and why it holds fewer than limit
// entries (cutBytes, or cutNone). A listed key whose entry is gone when
// it is read (deleted, expired) is passed over. The position is a key,
// not a cursor: a key present from the first page to the last is shown
// exactly once, whatever is written meanwhile.
func (h *Handler) readKeys(ctx context.Context, in storage.Option, prefix, after string, limit int) ([]entryRow, string, int, error) {
	span := storage.PrefixRange(prefix)
	if after != "" && keyAfter(after) > span.From {
		span.From = keyAfter(after)
	}
	if span.To != "" && span.From >= span.To {
		return nil, "", cutNone, nil
	}
	var (
		rows []entryRow
		size int64
	)
	for {
		res, err := h.cfg.Store.List(ctx, in, storage.InKeyRanges(span), storage.Limit(min(limit-len(rows), PagePart)))
		if err != nil {
			return nil, "", cutNone, err
		}
		for i, k := range res.Keys {
			e, err := h.cfg.Store.Get(ctx, k, in)
			if errors.Is(err, storage.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, "", cutNone, err
			}
			row, n := newRow(e)
			rows, size = append(rows, row), size+n
			more := i < len(res.Keys)-1 || res.Cursor != ""
			switch {
			case !more:
			case len(rows) >= limit:
				return rows, k, cutNone, nil
			case size >= pageBytes:
				return rows, k, cutBytes, nil
			}
		}
		if res.Cursor == "" || len(res.Keys) == 0 {
			return rows, "", cutNone, nil
		}
		last := res.Keys[len(res.Keys)-1]
		if len(rows) >= limit {
			return rows, last, cutNone, nil
		}
		span.From = keyAfter(last)
	}
}

// keyAfter is the least key greater than k: keys hold no NUL, so k and
// one byte 1.
func keyAfter(k string) string { return k + "\x01" }

// readPage reads the query page: up to limit entries matching f (opts:
// the namespace and the sort), after the cursor after when it is not "",
// each row with its value's preview and size, without the value. The
// store cannot tell an entry's size before it reads the entry, so it
// reads one match at a time (Limit(1), a query of its own after the
// previous one's cursor; the store reads one more to know whether more
// follow) and stops at the match that reaches PageBytes: a page reads at
// most PageBytes and two entries past it, whatever the sizes of the
// matches after those it shows. It stops too once its queries ran
// PageReadTime (a sort on a field without an index sorts the matches in
// every query). It returns the cursor after its last row ("" after the
// last match) and why it holds fewer than limit rows. Outside a
// transaction the queries are separate reads, as pages are.
func (h *Handler) readPage(ctx context.Context, f storage.Filter, limit int, after string, opts []storage.Option) ([]entryRow, string, int, error) {
	var (
		rows  []entryRow
		size  int64
		start = time.Now()
	)
	for {
		o := append(slices.Clip(opts), storage.Limit(1))
		if after != "" {
			o = append(o, storage.After(after))
		}
		res, err := h.cfg.Store.Query(ctx, f, o...)
		if err != nil {
			return nil, "", cutNone, err
		}
		for _, e := range res.Entries {
			row, n := newRow(e)
			rows, size = append(rows, row), size+n
		}
		after = res.Cursor
		switch {
		case after == "" || len(res.Entries) == 0 || len(rows) >= limit:
			return rows, after, cutNone, nil
		case size >= pageBytes:
			return rows, after, cutBytes, nil
		case time.Since(start) >= pageReadTime:
			return rows, after, cutTime, nil
		}
	}
}

// pageSize reads the limit parameter: DefaultPageSize when absent or
// invalid, at most MaxPageSize.
func pageSize(s string) int {
	n, err := strconv.Atoi(s)
	switch {
	case err != nil || n <= 0:
		return DefaultPageSize
	case n > MaxPageSize:
		return MaxPageSize
	}
	return n
}

// withActors adds each row's audit actors (one GetMetadata each; an entry
// deleted in between keeps none).
func (h *Handler) withActors(r *http.Request, rows []entryRow) error {
	for i := range rows {
		e := &rows[i]
		md, err := h.cfg.Store.GetMetadata(r.Context(), e.Key, storage.InNamespace(e.Namespace))
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		e.CreatedBy, e.UpdatedBy = md.CreatedBy, md.UpdatedBy
	}
	return nil
}

// entries lists a namespace's entries whose keys start with a prefix, in
// key order, a page at a time (keyset cursors).
func (h *Handler) entries(w http.ResponseWriter, r *http.Request, ss *session) {
	q := r.URL.Query()
	p := entriesPage{NS: q.Get("ns"), Prefix: q.Get("prefix"), After: q.Get("after"), Limit: pageSize(q.Get("limit"))}
	f := storage.All()
	if p.Prefix != "" {
		f = storage.StartsWith("$key", p.Prefix)
	}
	ctx := r.Context()
	in := storage.InNamespace(p.NS)
	var err error
	var cut int
	if p.Rows, p.Next, cut, err = h.readKeys(ctx, in, p.Prefix, p.After, p.Limit); err != nil {
		h.fail(w, r, ss, "Entries of "+p.NS, err)
		return
	}
	p.Cut = cut == cutBytes
	if p.Total, err = h.cfg.Store.Count(ctx, in, storage.Where(f)); err != nil {
		h.fail(w, r, ss, "Entries of "+p.NS, err)
		return
	}
	if err = h.withActors(r, p.Rows); err != nil {
		h.fail(w, r, ss, "Entries of "+p.NS, err)
		return
	}
	h.render(w, r, http.StatusOK, "entries", ss, &view{Title: "Entries of " + p.NS, Nav: "namespaces",
		Notice: notice(r), Data: p})
}

// entryPage is the data of the entry page and of the conflict page.
type entryPage struct {
	NS, Key string
	New     bool
	Entry   storage.Entry
	Meta    storage.Metadata
	// The form's contents: what is stored, or what was typed.
	Value, Metadata string
	Version         int64
	// Revision is the revision of the entry the form was loaded with
	// (0 for a new one): the save's and the delete's compare-and-swap
	// token. Version alone is not one: it starts again at 1 when the key
	// expires or is deleted and is created again.
	Revision int64
	// Expiry is the form's choice: "keep" the stored expiry, "none", or
	// "ttl" (expire TTL after the save).
	Expiry, TTL string
	// Conflict: what the store holds now, beside what was typed.
	Conflict *entryRow
	// Stored and StoredMeta are the stored value and metadata as the
	// page shows them (the entry the page shows, or Conflict's), each
	// formatted once (see show).
	Stored, StoredMeta shownValue
	// Large: the stored value or metadata is larger than
	// InlineValueBytes, so the page offers no form to edit it.
	Large bool
}

// shown sets p's Stored and StoredMeta from e, and Large; it drops e's
// value and metadata from p, which the page shows only through them.
func (p *entryPage) shown(e *storage.Entry) {
	p.Stored, p.StoredMeta = show(e.Value), show(e.Metadata)
	p.Large = p.Stored.Cut || p.StoredMeta.Cut
	e.Value, e.Metadata = nil, nil
}

// entry shows one entry: the value pretty-printed, its metadata and system
// fields, and the form to edit it; a value or metadata larger than
// InlineValueBytes is shown as a preview, with a link to download it,
// and no form.
func (h *Handler) entry(w http.ResponseWriter, r *http.Request, ss *session) {
	q := r.URL.Query()
	ns, key := q.Get("ns"), q.Get("key")
	in := storage.InNamespace(ns)
	e, err := h.cfg.Store.Get(r.Context(), key, in)
	if err != nil {
		h.fail(w, r, ss, "Entry", err)
		return
	}
	md, err := h.cfg.Store.GetMetadata(r.Context(), key, in)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.fail(w, r, ss, "Entry", err)
		return
	}
	p := entryPage{NS: ns, Key: key, Entry: e, Meta: md, Version: e.Version, Revision: e.Revision, Expiry: "keep"}
	p.shown(&p.Entry)
	if !p.Large {
		p.Value, p.Metadata = p.Stored.Text, p.StoredMeta.Text
	}
	h.render(w, r, http.StatusOK, "entry", ss, &view{Title: "Entry " + key, Nav: "namespaces", Notice: notice(r), Data: p})
}

// download sends an entry's value (what=metadata: its metadata) as a
// JSON file, as stored: the entry page's link for a value too large to
// show. It is read as the principal, as the page is, and written as read,
// neither copied nor formatted.
func (h *Handler) download(w http.ResponseWriter, r *http.Request, ss *session) {
	q := r.URL.Query()
	ns, key, what := q.Get("ns"), q.Get("key"), q.Get("what")
	if what != "" && what != "value" && what != "metadata" {
		h.render(w, r, http.StatusBadRequest, "error", ss, &view{Title: "Download",
			Error: "what is value or metadata."})
		return
	}
	e, err := h.cfg.Store.Get(r.Context(), key, storage.InNamespace(ns))
	if err != nil {
		h.fail(w, r, ss, "Download", err)
		return
	}
	body, name := e.Value, fileName(key)
	if what == "metadata" {
		body, name = e.Metadata, name+".metadata"
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	hd.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name + ".json"}))
	w.WriteHeader(http.StatusOK)
	// As an export is written: each chunk taken within Timeout, the whole
	// within ten times it, whatever the server's WriteTimeout.
	ew := &exportWriter{w: w, rc: http.NewResponseController(w), timeout: h.cfg.Timeout,
		end: time.Now().Add(10 * h.cfg.Timeout)}
	defer ew.finish()
	for len(body) > 0 {
		n := min(len(body), downloadChunk)
		if _, err := ew.Write(body[:n]); err != nil {
			return
		}
		body = body[n:]
	}
}

// downloadChunk is what a download writes at once (see download).
const downloadChunk = 256 << 10

// fileName is a download's file name for key: safeName of it (ASCII),
// its first 100 characters; "entry" for none, or only dots.
func fileName(key string) string {
	name := safeName(key)
	if name = name[:min(len(name), 100)]; strings.Trim(name, ".") == "" {
		return "entry"
	}
	return name
}

// newEntry shows the form of a new entry.
func (h *Handler) newEntry(w http.ResponseWriter, r *http.Request, ss *session) {
	ns := r.URL.Query().Get("ns")
	h.render(w, r, http.StatusOK, "entry", ss, &view{Title: "New entry in " + ns, Nav: "namespaces",
		Data: entryPage{NS: ns, New: true, Value: "{}", Metadata: "{}", Expiry: "none"}})
}

// parseEntryForm reads the value (any JSON) and the metadata (a JSON
// object, or empty for none) of the entry form. Both go to the store as
// typed (json.RawMessage), which checks them once, as it checks values.
func parseEntryForm(value, metadata string) (json.RawMessage, json.RawMessage, error) {
	if !json.Valid([]byte(value)) {
		return nil, nil, errors.New("the value is not valid JSON")
	}
	md := strings.TrimSpace(metadata)
	if md == "" {
		return json.RawMessage(value), json.RawMessage(`{}`), nil
	}
	if !json.Valid([]byte(md)) || md[0] != '{' {
		return nil, nil, errors.New("the metadata must be a JSON object")
	}
	return json.RawMessage(value), json.RawMessage(md), nil
}

// saveEntry writes the entry form: a new entry only if the key is free
// (NoOverwrite), an edit only if the entry is still the one the form was
// loaded with (IfRevision; IfVersion for a form without a revision). When
// it moved on, nothing is written and the conflict page shows both
// versions.
func (h *Handler) saveEntry(w http.ResponseWriter, r *http.Request, ss *session) {
	ns, key := r.PostFormValue("ns"), r.PostFormValue("key")
	version, _ := strconv.ParseInt(r.PostFormValue("version"), 10, 64)
	revision, _ := strconv.ParseInt(r.PostFormValue("revision"), 10, 64)
	form := entryPage{NS: ns, Key: key, New: version <= 0, Version: version, Revision: max(revision, 0),
		Value: r.PostFormValue("value"), Metadata: r.PostFormValue("metadata"),
		Expiry: r.PostFormValue("expiry"), TTL: strings.TrimSpace(r.PostFormValue("ttl"))}
	value, md, err := parseEntryForm(form.Value, form.Metadata)
	var expiry []storage.Option
	if err == nil {
		expiry, err = expiryOptions(form.Expiry, form.TTL, form.New)
	}
	if err != nil {
		h.render(w, r, http.StatusBadRequest, "entry", ss, &view{Title: "Entry " + key, Nav: "namespaces",
			Error: "Not saved: " + err.Error() + ".", Data: form})
		return
	}
	opts := append([]storage.Option{storage.InNamespace(ns), storage.WithMetadata(md)}, expiry...)
	if form.New {
		opts = append(opts, storage.NoOverwrite())
	} else {
		opts = append(opts, casOn(version, revision))
	}
	err = h.cfg.Store.Set(r.Context(), key, value, opts...)
	switch {
	case err == nil:
		http.Redirect(w, r, link("entry", "ns", ns, "key", key, "msg", "saved"), http.StatusSeeOther)
	case errors.Is(err, storage.ErrConflict), errors.Is(err, storage.ErrAlreadyExists):
		h.conflict(w, r, ss, form)
	default:
		status, msg := h.errorStatus(r, err)
		h.render(w, r, status, "entry", ss, &view{Title: "Entry " + key, Nav: "namespaces",
			Error: "Not saved: " + msg, Data: form})
	}
}

// conflict shows what was typed beside what the store holds now. The form
// keeps the typed text and takes the current version, so saving again is a
// deliberate overwrite of what the principal has now seen.
func (h *Handler) conflict(w http.ResponseWriter, r *http.Request, ss *session, form entryPage) {
	in := storage.InNamespace(form.NS)
	cur, err := h.cfg.Store.Get(r.Context(), form.Key, in)
	var row entryRow
	switch {
	case errors.Is(err, storage.ErrNotFound):
		// Deleted meanwhile: saving again creates it.
		form.New, form.Version, form.Revision = true, 0, 0
	case err != nil:
		h.fail(w, r, ss, "Entry "+form.Key, err)
		return
	default:
		rows := []entryRow{{Entry: cur}}
		if err := h.withActors(r, rows); err != nil {
			h.fail(w, r, ss, "Entry "+form.Key, err)
			return
		}
		row = rows[0]
		form.shown(&row.Entry)
		form.Large = false // the form holds what was typed
		form.Conflict = &row
		form.New, form.Version, form.Revision = false, cur.Version, cur.Revision
	}
	msg := fmt.Sprintf("Not saved: the entry changed after you loaded it (you edited version %s). "+
		"Compare your text with what is stored now; saving again replaces the stored version.", r.PostFormValue("version"))
	if form.Conflict == nil {
		msg = "Not saved: the entry was deleted after you loaded it. Saving again creates it."
	} else if r.PostFormValue("version") == "0" || r.PostFormValue("version") == "" {
		msg = "Not saved: an entry with this key already exists. Compare it with your text; saving again replaces it."
	}
	h.render(w, r, http.StatusConflict, "entry", ss, &view{Title: "Conflict on " + form.Key, Nav: "namespaces",
		Error: msg, Data: form})
}

// deleteEntryPage asks to confirm the deletion of one version of an entry.
func (h *Handler) deleteEntryPage(w http.ResponseWriter, r *http.Request, ss *session) {
	q := r.URL.Query()
	ns, key := q.Get("ns"), q.Get("key")
	e, err := h.cfg.Store.Get(r.Context(), key, storage.InNamespace(ns))
	if err != nil {
		h.fail(w, r, ss, "Delete entry", err)
		return
	}
	p := entryPage{NS: ns, Key: key, Entry: e, Version: e.Version, Revision: e.Revision}
	p.shown(&p.Entry)
	h.render(w, r, http.StatusOK, "entrydelete", ss, &view{Title: "Delete entry " + key, Nav: "namespaces", Data: p})
}

// deleteEntry deletes the entry if it is still the confirmed one (its
// revision; its version for a form without one).
func (h *Handler) deleteEntry(w http.ResponseWriter, r *http.Request, ss *session) {
	ns, key := r.PostFormValue("ns"), r.PostFormValue("key")
	version, err := strconv.ParseInt(r.PostFormValue("version"), 10, 64)
	if err != nil || version <= 0 {
		h.render(w, r, http.StatusBadRequest, "error", ss, &view{Title: "Delete entry", Error: "The form names no version to delete."})
		return
	}
	revision, _ := strconv.ParseInt(r.PostFormValue("revision"), 10, 64)
	err = h.cfg.Store.Delete(r.Context(), key, storage.InNamespace(ns), casOn(version, revision))
	if errors.Is(err, storage.ErrConflict) {
		err = fmt.Errorf("the entry changed after you confirmed version %d; nothing was deleted: %w", version, err)
	}
	if err != nil {
		h.fail(w, r, ss, "Delete entry", err)
		return
	}
	http.Redirect(w, r, link("entries", "ns", ns, "msg", "deleted"), http.StatusSeeOther)
}

// expiryOptions turns the form's expiry choice into Set's options: keep
// the stored expiry (the default, so an edit never drops one unseen),
// none (an overwrite clears it), or a TTL such as 90s, 30m or 24h.
// A new entry has nothing to keep.
func expiryOptions(choice, ttl string, isNew bool) ([]storage.Option, error) {
	switch choice {
	case "", "keep":
		if isNew {
			return nil, nil
		}
		return []storage.Option{storage.KeepTTL()}, nil
	case "none":
		return nil, nil
	case "ttl":
		d, err := time.ParseDuration(ttl)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("the expiry %q is not a positive duration such as 90s, 30m or 24h", ttl)
		}
		return []storage.Option{storage.WithTTL(d)}, nil
	}
	return nil, fmt.Errorf("unknown expiry choice %q", choice)
}

// casOn is the compare-and-swap of a form loaded with an entry at version
// and revision: on the revision, which no other write of the key ever
// has; on the version for a form that carries no revision (one rendered
// before forms had it), which an entry created again after an expiry or
// a delete has again.
func casOn(version, revision int64) storage.Option {
	if revision > 0 {
		return storage.IfRevision(revision)
	}
	return storage.IfVersion(version)
}

package console_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/console"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

// bigValue is a value of about size bytes of JSON: an array of small
// objects, which pretty-printing makes several times larger.
func bigValue(t testing.TB, size int) json.RawMessage {
	t.Helper()
	var b strings.Builder
	b.WriteByte('[')
	for i := 0; b.Len() < size-64; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"tags":["a","b"],"ok":true}`, i)
	}
	b.WriteByte(']')
	return json.RawMessage(b.String())
}

// allocated is the bytes allocated (runtime.MemStats.TotalAlloc) while f
// runs, by the whole process: the console's handler, the store and the
// test's client.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// entryPageAllocBound is what one view of the entry page of a 3 MiB value
// may allocate, everything in the process counted: the store's read of
// the value and the test's client included.
const entryPageAllocBound = 16 << 20

// TestEntryPageLargeValue: the entry page of a large value (3 MiB) costs
// a few times the value's size, not hundreds: it shows a bounded preview
// and a link to download the value, not the value pretty-printed twice
// (once in the stored section, once in the edit form's textarea). Before,
// one view allocated 238 MiB (SQLite), so that a principal storing large
// values made an administrator's page views exhaust the server's memory.
func TestEntryPageLargeValue(t *testing.T) { onEach(t, entryPageLargeValue) }

// onEach runs f on a store of each of configs.
func onEach(t *testing.T, f func(t *testing.T, dsn string)) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) { f(t, c.DSN(t)) })
	}
}

func entryPageLargeValue(t *testing.T, dsn string) {
	e := newEnv(t, dsn, false, nil)
	val := bigValue(t, 3<<20)
	ctx := principal(t, "admin-pk")
	if err := e.sec.Set(ctx, "big", val, storage.InNamespace("users")); err != nil {
		t.Fatal(err)
	}
	b := e.browser(t)
	b.signIn(adminToken)
	path := "/console/entry" + q("ns", "users", "key", "big")
	b.get(path) // warm: templates, connections
	var p page
	n := allocated(func() { p = b.get(path) })
	t.Logf("one view of the entry page of a %d-byte value allocated %.1f MiB; the page is %d bytes",
		len(val), float64(n)/(1<<20), len(p.body))
	p.want(t, http.StatusOK)
	if n > entryPageAllocBound {
		t.Fatalf("one view of the entry page of a %d-byte value allocated %d bytes, more than %d",
			len(val), n, entryPageAllocBound)
	}
}

// TestEntryPageLargeValueShown: a value over InlineValueBytes is shown as
// its first ValuePreviewBytes with a download link and no edit form; the
// download is the value as stored, read as the principal (whom the
// store refuses what it may not read); small values keep their form.
func TestEntryPageLargeValueShown(t *testing.T) {
	e := newEnv(t, "sqlite::memory:", false, nil)
	big := bigValue(t, console.InlineValueBytes+1<<10)
	bigMD := json.RawMessage(`{"note":"` + strings.Repeat("m", console.InlineValueBytes) + `"}`)
	ctx := principal(t, "admin-pk")
	for _, w := range []struct {
		ns, key string
		value   json.RawMessage
		md      json.RawMessage
	}{
		{"users", "big", big, nil},
		{"users", "bigmd", json.RawMessage(`{"a":1}`), bigMD},
		{"users", "small", json.RawMessage(`{"a":1}`), nil},
		{"secret", "big", big, nil},
	} {
		opts := []storage.Option{storage.InNamespace(w.ns)}
		if w.md != nil {
			opts = append(opts, storage.WithMetadata(w.md))
		}
		if err := e.sec.Set(ctx, w.key, w.value, opts...); err != nil {
			t.Fatal(err)
		}
	}
	b := e.browser(t)
	b.signIn(aliceToken)
	p := b.get("/console/entry" + q("ns", "users", "key", "big"))
	p.want(t, http.StatusOK, `id="value-download"`, `href="/console/entry/download?key=big&amp;ns=users"`,
		"more than the console shows whole", `id="too-large"`)
	if strings.Contains(p.body, `id="entry-value"`) {
		t.Fatal("the page of a large value has an edit form")
	}
	if len(p.body) > 128<<10 { // the preview, escaped, and the page
		t.Fatalf("the page of a %d-byte value is %d bytes", len(big), len(p.body))
	}
	p = b.get("/console/entry" + q("ns", "users", "key", "bigmd"))
	p.want(t, http.StatusOK, `id="metadata-download"`, `id="too-large"`, "&#34;a&#34;: 1")
	b.get("/console/entry"+q("ns", "users", "key", "small")).want(t, http.StatusOK, `id="entry-value"`, `id="entry-metadata"`)
	b.get("/console/entry/delete"+q("ns", "users", "key", "big")).want(t, http.StatusOK,
		"more than the console shows whole", `id="confirm-delete"`)

	// A conflict with a large stored value shows it the same way, beside
	// the typed text, which stays editable.
	c := b.post("/console/entry/save", url.Values{"ns": {"users"}, "key": {"big"}, "version": {"0"},
		"value": {`{"x":1}`}, "metadata": {"{}"}, "expiry": {"none"}})
	c.want(t, http.StatusConflict, `id="theirs-value"`, "more than the console shows whole", `id="entry-value"`, "{&#34;x&#34;:1}")
	if len(c.body) > 128<<10 {
		t.Fatalf("the conflict page of a %d-byte value is %d bytes", len(big), len(c.body))
	}

	d := b.get("/console/entry/download" + q("ns", "users", "key", "big"))
	d.want(t, http.StatusOK)
	var got, want any
	if err := json.Unmarshal([]byte(d.body), &got); err != nil {
		t.Fatalf("the download is not JSON: %v", err)
	}
	_ = json.Unmarshal(big, &want)
	if !reflect.DeepEqual(got, want) {
		t.Fatal("the download is not the stored value")
	}
	if ct, cd := d.Header.Get("Content-Type"), d.Header.Get("Content-Disposition"); ct != "application/json" ||
		cd != `attachment; filename=big.json` {
		t.Fatalf("download headers: Content-Type %q, Content-Disposition %q", ct, cd)
	}
	d = b.get("/console/entry/download" + q("ns", "users", "key", "bigmd", "what", "metadata"))
	d.want(t, http.StatusOK, `"note"`)
	if cd := d.Header.Get("Content-Disposition"); cd != `attachment; filename=bigmd.metadata.json` {
		t.Fatalf("Content-Disposition %q", cd)
	}
	b.get("/console/entry/download"+q("ns", "users", "key", "big", "what", "x")).want(t, http.StatusBadRequest)
	b.get("/console/entry/download"+q("ns", "users", "key", "nothing")).want(t, http.StatusNotFound)
	// Alice may not read secret: the download is refused as the page is.
	d = b.get("/console/entry/download" + q("ns", "secret", "key", "big"))
	d.want(t, http.StatusForbidden)
	if strings.Contains(d.body, `"tags"`) {
		t.Fatal("a refused download holds the value")
	}
	// Signed out: no download.
	anon := e.browser(t)
	if st := anon.get("/console/entry/download" + q("ns", "users", "key", "big")).StatusCode; st != http.StatusSeeOther {
		t.Fatalf("a download without a session: %d", st)
	}
}

// TestPrettyDeep: a value of at most InlineValueBytes nested deeply is
// not indented (each of its lines would carry its depth's indentation,
// hundreds of MB for 256 KiB) but shown as stored.
func TestPrettyDeep(t *testing.T) {
	e := newEnv(t, "sqlite::memory:", false, nil)
	const depth = 900
	v := strings.Repeat("[", depth) + strings.Repeat("0,", 60_000) + "0" + strings.Repeat("]", depth)
	if err := e.sec.Set(principal(t, "admin-pk"), "deep", json.RawMessage(v), storage.InNamespace("users")); err != nil {
		t.Fatal(err)
	}
	b := e.browser(t)
	b.signIn(adminToken)
	var p page
	n := allocated(func() { p = b.get("/console/entry" + q("ns", "users", "key", "deep")) })
	p.want(t, http.StatusOK, `id="entry-value"`)
	if n > 32<<20 || len(p.body) > 4*len(v)+64<<10 {
		t.Fatalf("the page of a %d-byte deep value is %d bytes and allocated %d", len(v), len(p.body), n)
	}
}

// TestDownloadOutlastsWriteTimeout: a value's download that takes longer
// than the server's WriteTimeout (3 MiB read steadily at 0.6 MiB/s, about
// 5 s, with WriteTimeout 2 s and Timeout 5 s: a chunk of 256 KiB taken in
// about 0.4 s) arrives whole, as an export does: each chunk is to be
// taken within Timeout, the whole within ten times it. Written at once
// under the server's deadline, it was cut at WriteTimeout.
func TestDownloadOutlastsWriteTimeout(t *testing.T) {
	const (
		writeTimeout = 2 * time.Second
		rate         = 6 << 20 / 10
	)
	e := newEnvServer(t, testdb.SQLiteFile(t), false, func(c *console.Config) { c.Timeout = 5 * time.Second },
		func(s *httptest.Server) {
			s.Config.WriteTimeout = writeTimeout
			s.Listener = smallBufferListener{s.Listener}
		})
	val := bigValue(t, 3<<20)
	if err := e.inner.Set(t.Context(), "v", val, storage.InNamespace("big")); err != nil {
		t.Fatal(err)
	}
	b := smallBufferBrowser(t, e, false)
	b.signIn(adminToken)
	start := time.Now()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet,
		e.srv.URL+"/console/entry/download"+q("ns", "big", "key", "v"), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("download: %d", resp.StatusCode)
	}
	body, err := readAt(resp, start, rate)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("the download after %v, %d bytes (WriteTimeout %v): %v", took.Round(time.Millisecond),
			body.Len(), writeTimeout, err)
	}
	if took < writeTimeout+time.Second {
		t.Errorf("the download took %v, not well past WriteTimeout %v: the test proves nothing", took, writeTimeout)
	}
	if !bytes.Equal(body.Bytes(), val) {
		t.Fatalf("the download is %d bytes, not the stored %d", body.Len(), len(val))
	}
}

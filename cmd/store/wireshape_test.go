package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage/routes"
)

// objectKeys returns the members of the JSON object b, in order; with
// path, of the object at that member (an array's first element).
func objectKeys(t *testing.T, b []byte, path ...string) []string {
	t.Helper()
	var v any = json.RawMessage(b)
	for _, p := range path {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(v.(json.RawMessage), &m); err != nil {
			t.Fatal(err)
		}
		next := m[p]
		if len(next) > 0 && next[0] == '[' {
			var a []json.RawMessage
			if err := json.Unmarshal(next, &a); err != nil || len(a) == 0 {
				t.Fatalf("%s: %v %s", p, err, next)
			}
			next = a[0]
		}
		v = next
	}
	dec := json.NewDecoder(bytes.NewReader(v.(json.RawMessage)))
	var keys []string
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch tok := tok.(type) {
		case json.Delim:
			if tok == '{' || tok == '[' {
				depth++
			} else {
				depth--
			}
		case string:
			if depth == 1 {
				keys = append(keys, tok)
				// Skip the member's value.
				var skip json.RawMessage
				if err := dec.Decode(&skip); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return keys
}

// wireKeysOrdered marshals v and returns its members in order.
func wireKeysOrdered(t *testing.T, v any) []string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return objectKeys(t, b)
}

// TestJSONIsTheWireShape: get, query and meta --json print the wire's
// entry and metadata shapes: the same members, in the same order, the
// optional ones (actors, expiry) included when set and absent otherwise,
// after the "command" and "ok" every answer begins with.
func TestJSONIsTheWireShape(t *testing.T) {
	env := map[string]string{"STORAGE_DSN": "sqlite:" + filepath.Join(t.TempDir(), "shape.db")}
	runCLI(t, env, "", "set", "full", `{"n":1}`, "--metadata", `{"m":1}`, "--actor", "ada", "--ttl", "1h").want(t, exitOK)
	runCLI(t, env, "", "set", "bare", `2`).want(t, exitOK)

	exp := time.Now()
	full := routes.EntryJSON{Value: json.RawMessage(`1`), Metadata: json.RawMessage(`{}`),
		EntryFields: routes.EntryFields{CreatedBy: "a", UpdatedBy: "a", ExpiresAt: &exp}}
	bare := routes.EntryJSON{Value: json.RawMessage(`1`), Metadata: json.RawMessage(`{}`)}
	answer := []string{"command", "ok"}
	if got, want := objectKeys(t, []byte(runCLI(t, env, "", "get", "--json", "full").want(t, exitOK).stdout)), append(answer, wireKeysOrdered(t, full)...); !slices.Equal(got, want) {
		t.Errorf("get --json members %v, the wire's entry %v", got, want)
	}
	if got, want := objectKeys(t, []byte(runCLI(t, env, "", "get", "--json", "bare").want(t, exitOK).stdout)), append(answer, wireKeysOrdered(t, bare)...); !slices.Equal(got, want) {
		t.Errorf("get --json members %v, the wire's entry %v", got, want)
	}
	q := runCLI(t, env, "", "query", "--json").want(t, exitOK).stdout // "bare" first, by key
	if got, want := objectKeys(t, []byte(q), "entries"), wireKeysOrdered(t, bare); !slices.Equal(got, want) {
		t.Errorf("query --json entry members %v, the wire's entry %v", got, want)
	}

	md := routes.MetadataJSON{EntryFields: full.EntryFields}
	want := append([]string{"command", "ok", "namespace", "key"}, wireKeysOrdered(t, md)...)
	if got := objectKeys(t, []byte(runCLI(t, env, "", "meta", "--json", "full").want(t, exitOK).stdout)); !slices.Equal(got, want) {
		t.Errorf("meta --json members %v, want the namespace, the key and the wire's metadata %v", got, want)
	}
	want = append([]string{"command", "ok", "namespace", "key"}, wireKeysOrdered(t, routes.MetadataJSON{})...)
	if got := objectKeys(t, []byte(runCLI(t, env, "", "meta", "--json", "bare").want(t, exitOK).stdout)); !slices.Equal(got, want) {
		t.Errorf("meta --json members %v, want %v", got, want)
	}
}

package sqlstore

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// TestGetManyKeysQuoted reads back, through GetMany, keys that a text
// array must quote or escape (GetMany sends its keys to PostgreSQL as the
// text form of a text[]: pgTextArray).
func TestGetManyKeysQuoted(t *testing.T) {
	keys := []string{`a"b`, `c\d`, `e,f`, `{g}`, `h i`, `NULL`, `"`, `\`, `j\"k`, "l\u00e9m", `''`}
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			s := openTest(t, c.dsn(t))
			defer s.Close()
			if err := s.CreateNamespace(ctx, "q"); err != nil {
				t.Fatal(err)
			}
			in := storage.InNamespace("q")
			for i, k := range keys {
				if err := storage.ValidateKey(k); err != nil {
					continue
				}
				if err := s.Set(ctx, k, json.RawMessage([]byte{'0' + byte(i%10)}), in); err != nil {
					t.Fatalf("Set %q: %v", k, err)
				}
			}
			r, err := s.GetMany(ctx, append(slices.Clone(keys), "absent"), in)
			if err != nil {
				t.Fatal(err)
			}
			for i, k := range keys {
				if storage.ValidateKey(k) != nil {
					continue
				}
				e, ok := r.Entries[k]
				if !ok || string(e.Value) != string([]byte{'0' + byte(i%10)}) {
					t.Errorf("key %q: %v %q, %v", k, ok, e.Value, r.Errors[k])
				}
			}
			if _, ok := r.Errors["absent"]; !ok || len(r.Errors) != 1+countInvalid(keys) {
				t.Errorf("entries %d, errors %v", len(r.Entries), r.Errors)
			}
		})
	}
}

func countInvalid(keys []string) int {
	n := 0
	for _, k := range keys {
		if storage.ValidateKey(k) != nil {
			n++
		}
	}
	return n
}

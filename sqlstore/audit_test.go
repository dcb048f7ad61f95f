package sqlstore

import (
	"context"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// TestAuditFields: every write records its actor (storage.ContextWithActor)
// as updated-by, and the first write as created-by; GetMetadata returns both
// beside the timestamps and version, never inside the user metadata.
func TestAuditFields(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t))
			defer s.Close()
			bg := context.Background()
			ada := storage.ContextWithActor(bg, "ada-pkr")
			bob := storage.ContextWithActor(bg, "bob-pkr")
			want := func(key, created, updated string) {
				t.Helper()
				md, err := s.GetMetadata(bg, key)
				if err != nil {
					t.Fatal(err)
				}
				if md.CreatedBy != created || md.UpdatedBy != updated {
					t.Errorf("%s: created by %q, updated by %q; want %q, %q", key, md.CreatedBy, md.UpdatedBy, created, updated)
				}
				for _, sys := range []string{"createdBy", "updatedBy", "created_by", "updated_by"} {
					if _, ok := md.User[sys]; ok {
						t.Errorf("%s: audit field %s leaked into user metadata: %v", key, sys, md.User)
					}
				}
			}
			if err := s.Set(ada, "k", 1); err != nil {
				t.Fatal(err)
			}
			want("k", "ada-pkr", "ada-pkr")
			if err := s.Set(bob, "k", 2); err != nil {
				t.Fatal(err)
			}
			want("k", "ada-pkr", "bob-pkr")
			if err := s.SetMetadata(ada, "k", map[string]any{"x": 1}); err != nil {
				t.Fatal(err)
			}
			want("k", "ada-pkr", "ada-pkr")
			if err := s.SetMetadata(bob, "k", map[string]any{"y": 1}, storage.Merge()); err != nil {
				t.Fatal(err)
			}
			want("k", "ada-pkr", "bob-pkr")
			e, _ := s.Get(bg, "k")
			if err := s.Set(ada, "k", 3, storage.IfVersion(e.Version)); err != nil {
				t.Fatal(err)
			}
			want("k", "ada-pkr", "ada-pkr")
			if err := s.Set(bg, "k", 4); err != nil {
				t.Fatal(err)
			}
			want("k", "ada-pkr", "")
			if err := s.Set(bob, "new", 1, storage.NoOverwrite()); err != nil {
				t.Fatal(err)
			}
			want("new", "bob-pkr", "bob-pkr")

			// Batches, with and without metadata, create-only, and in a transaction.
			if _, err := s.SetMany(ada, []storage.Item{{Key: "b1", Value: 1}, {Key: "b2", Value: 2, Metadata: map[string]any{"m": 1}}}); err != nil {
				t.Fatal(err)
			}
			want("b1", "ada-pkr", "ada-pkr")
			want("b2", "ada-pkr", "ada-pkr")
			if _, err := s.SetMany(bob, []storage.Item{{Key: "b1", Value: 3}, {Key: "b3", Value: 3}}, storage.NoOverwrite()); err != nil {
				t.Fatal(err)
			}
			want("b1", "ada-pkr", "ada-pkr") // refused: already exists
			want("b3", "bob-pkr", "bob-pkr")
			tx, err := s.Begin(bob, storage.TxOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.SetMany(bob, []storage.Item{{Key: "b2", Value: 9}}); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(bg); err != nil {
				t.Fatal(err)
			}
			want("b2", "ada-pkr", "bob-pkr")
		})
	}
}

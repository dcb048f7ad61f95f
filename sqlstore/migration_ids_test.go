package sqlstore

import (
	"database/sql"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// TestMigrationIDsNeverReused takes a store populated at the latest
// version (a namespace with two declared fields, the one with the largest
// id dropped; the namespace with the largest id deleted) down to version
// 27 and up again, on SQLite (the schema and rows checked as for a store
// made at each version) and on PostgreSQL. Up sets each namespace's
// field_seq to its largest field id and, on SQLite, namespace_seq to the
// largest namespace id, so that after the migration the next namespace and
// the next field take ids above every id in use when it ran; Down drops
// the columns (and SQLite's trigger).
func TestMigrationIDsNeverReused(t *testing.T) {
	for _, c := range configs {
		if c.name == "sqlite-memory" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := c.dsn(t)
			s := openTest(t, dsn, WithSweepInterval(-1))
			fillIndexedAndPlain(t, s, 6)
			must(t, s.CreateIndex(ctx, "ix", "other"))
			must(t, s.DropIndex(ctx, "ix", "other"))
			must(t, s.CreateNamespace(ctx, "gone"))
			must(t, s.DeleteNamespace(ctx, "gone"))
			must(t, s.Close())
			var db *sql.DB
			if c.name == "postgres" {
				pg, mig := pgMigrator(t, dsn)
				db = pg
				if _, err := mig.DownTo(ctx, 27); err != nil {
					t.Fatal(err)
				}
				if _, err := mig.Up(ctx); err != nil {
					t.Fatal(err)
				}
			} else {
				path := filepath.Clean(dsn[len("sqlite:"):])
				lite, mig := sqliteMigrator(t, path)
				db = lite
				upChecked(t, db, mig, downChecked(t, db, mig, 27))
			}
			// What Up recorded: ix's largest field id in use (other's was
			// dropped), and on SQLite the largest namespace id in use.
			var ixID, fieldSeq, maxField, maxNS int64
			must(t, db.QueryRowContext(ctx, `SELECT id, field_seq FROM namespaces WHERE name = 'ix'`).Scan(&ixID, &fieldSeq))
			must(t, db.QueryRowContext(ctx, `SELECT max(field_id) FROM index_fields WHERE namespace_id = `+strconv.FormatInt(ixID, 10)).Scan(&maxField))
			must(t, db.QueryRowContext(ctx, `SELECT max(id) FROM namespaces`).Scan(&maxNS))
			if fieldSeq != maxField {
				t.Errorf("ix's field_seq = %d after Up, want its largest field id %d", fieldSeq, maxField)
			}
			if c.name != "postgres" {
				var nsSeq int64
				must(t, db.QueryRowContext(ctx, `SELECT namespace_seq FROM change_log_state WHERE id = 1`).Scan(&nsSeq))
				if nsSeq != maxNS {
					t.Errorf("namespace_seq = %d after Up, want the largest namespace id %d", nsSeq, maxNS)
				}
			}
			// The store at the latest version gives new ids above them.
			s = openTest(t, dsn, WithSweepInterval(-1))
			t.Cleanup(func() { _ = s.Close() })
			must(t, s.CreateIndex(ctx, "ix", "other"))
			must(t, s.CreateNamespace(ctx, "new"))
			ix, err := s.readNamespace(ctx, "ix")
			must(t, err)
			nw, err := s.readNamespace(ctx, "new")
			must(t, err)
			if ix.fields["other"] <= maxField || nw.id <= maxNS {
				t.Errorf("after Up: field other took id %d (largest in use %d), namespace new id %d (largest in use %d)",
					ix.fields["other"], maxField, nw.id, maxNS)
			}
			checkDeclaredIndexes(ctx, t, s, nil, "after Up", "ix", []string{"age", "$metadata.team", "other"})
			if n, err := s.Count(ctx, storage.InNamespace("ix")); err != nil || n != 6 {
				t.Errorf("Count(ix) = %d, %v; want 6", n, err)
			}
		})
	}
}

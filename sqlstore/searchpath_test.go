package sqlstore

import (
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/pgtest"
)

// TestOpenSearchPathWithoutSchema: Open on a DSN whose search_path names
// no schema that exists is ErrInvalidOption, saying so. It was ErrCorrupt
// ("the database is corrupt, or not a database, or its schema was changed
// outside the engine"): goose's read of current_schema() got NULL.
func TestOpenSearchPathWithoutSchema(t *testing.T) {
	dsn := pgtest.MissingSchemaDSN(t)
	for _, opts := range [][]Option{nil, {WithoutMigrate()}} {
		s, err := Open(t.Context(), dsn, opts...)
		if err == nil {
			_ = s.Close()
			t.Fatal("Open succeeded")
		}
		wantSentinel(t, "Open", err, storage.ErrInvalidOption)
		if !strings.Contains(err.Error(), "search_path") {
			t.Errorf("Open: %q does not name search_path", err)
		}
	}
}

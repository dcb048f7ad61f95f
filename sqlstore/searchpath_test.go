package sqlstore

import (
	"net/url"
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
	u, err := url.Parse(pgtest.AdminDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", "no_such_schema_migratehunt")
	u.RawQuery = q.Encode()
	for _, opts := range [][]Option{nil, {WithoutMigrate()}} {
		s, err := Open(t.Context(), u.String(), opts...)
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

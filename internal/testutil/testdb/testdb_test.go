package testdb_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

func TestConfigs(t *testing.T) {
	cs := testdb.Configs("tdb", "pool_max_conns", "3")
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	if got := strings.Join(names, ","); got != "sqlite-memory,sqlite-file,postgres" {
		t.Fatalf("Configs names = %s", got)
	}
	if got := cs[0].DSN(t); got != "sqlite::memory:" {
		t.Errorf("sqlite-memory DSN = %q", got)
	}
	a, b := cs[1].DSN(t), cs[1].DSN(t)
	if !strings.HasPrefix(a, "sqlite:") || !strings.HasSuffix(a, "store.db") || a == b {
		t.Errorf("sqlite-file DSNs %q, %q: want two files in temporary directories", a, b)
	}
	t.Run("postgres", func(t *testing.T) {
		u, err := url.Parse(cs[2].DSN(t)) // skips, or fails with CI=true, without a server
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		if !strings.HasPrefix(q.Get("search_path"), "tdb_") || q.Get("pool_max_conns") != "3" {
			t.Errorf("postgres DSN query %v: want search_path tdb_…, pool_max_conns 3", q)
		}
	})
}

package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/schema"
)

// TestOpenErrorsTyped: what Open fails with wraps exactly one sentinel and
// carries no driver text (see the package documentation, "Errors").
func TestOpenErrorsTyped(t *testing.T) {
	ctx := context.Background()
	type tcase struct {
		name string
		dsn  func(t *testing.T) string
		opts []Option
		want error
	}
	// bumped opens a store on dsn (from c), records a schema version
	// above every migration this build knows, closes it and returns dsn.
	bumped := func(c testConfig) func(t *testing.T) string {
		return func(t *testing.T) string {
			dsn := c.dsn(t)
			s := openTest(t, dsn)
			defer s.Close()
			if err := sqlExec(ctx, s, fmt.Sprintf("INSERT INTO %s (version_id, is_applied) VALUES (99999, true)", schema.VersionTable)); err != nil {
				t.Fatal(err)
			}
			return dsn
		}
	}
	// locked returns the DSN of a SQLite file another connection holds
	// an exclusive lock on until the test ends.
	locked := func(t *testing.T) string {
		path := filepath.Join(t.TempDir(), "locked.db")
		s := openTest(t, "sqlite:"+path)
		_ = s.Close()
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		db.SetMaxOpenConns(1)
		if _, err := db.Exec("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE"); err != nil {
			t.Fatal(err)
		}
		old := pingPatience
		pingPatience = 500 * time.Millisecond
		t.Cleanup(func() { pingPatience = old })
		return "sqlite:" + path + "?busy_timeout=200"
	}
	cases := []tcase{
		{name: "bad scheme", dsn: func(*testing.T) string { return "mysql://x" }, want: storage.ErrInvalidOption},
		{name: "bad sqlite parameter", dsn: func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "x.db") + "?nosuch=1" }, want: storage.ErrInvalidOption},
		{name: "direct DSN on sqlite", dsn: func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "x.db") },
			opts: []Option{WithDirectDSN("postgres://x")}, want: storage.ErrInvalidOption},
		{name: "bad option", dsn: func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "x.db") },
			opts: []Option{WithCapacity(-1)}, want: storage.ErrInvalidOption},
		{name: "bad postgres DSN", dsn: func(*testing.T) string { return "postgres://u@h:notaport/db" }, want: storage.ErrInvalidOption},
		{name: "sqlite in a missing directory", dsn: func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "no", "such", "x.db") }, want: storage.ErrUnavailable},
		{name: "postgres unreachable", dsn: func(*testing.T) string {
			return "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2"
		}, want: storage.ErrUnavailable},
		{name: "sqlite locked", dsn: locked, want: storage.ErrUnavailable},
	}
	for _, c := range configs[1:] {
		cases = append(cases, tcase{name: c.name + " newer schema", dsn: bumped(c), want: storage.ErrUnsupported},
			tcase{name: c.name + " newer schema without migrate", dsn: bumped(c), opts: []Option{WithoutMigrate()}, want: storage.ErrUnsupported})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			s, err := Open(cctx, c.dsn(t), c.opts...)
			if err == nil {
				_ = s.Close()
				t.Fatalf("Open succeeded")
			}
			var wrapped []error
			for _, se := range storage.Sentinels() {
				if errors.Is(err, se) {
					wrapped = append(wrapped, se)
				}
			}
			t.Logf("%v", err)
			if len(wrapped) != 1 || !errors.Is(err, c.want) {
				t.Errorf("Open: %q wraps %v, want %v alone", err, wrapped, c.want)
			}
			for _, leak := range []string{"SQLSTATE", "failed to connect", "(SQLITE_"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("Open: %q carries driver text %q", err, leak)
				}
			}
		})
	}
}

// TestOpenErrorsSayWhere: Open's error tells an operator where it failed
// (the file; the server's host, port and database, never the user or the
// password) and why, in words that are not the driver's.
func TestOpenErrorsSayWhere(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no", "such", "x.db")
	cases := []struct {
		name, dsn string
		want      []string
	}{
		{"postgres unreachable", "postgres://someone:secret@127.0.0.1:1/thedb?sslmode=disable&connect_timeout=2",
			[]string{"open postgres at 127.0.0.1:1/thedb:", "connection refused"}},
		{"sqlite in a missing directory", "sqlite:" + missing,
			[]string{"open sqlite at " + missing + ":", "cannot be opened"}},
		// .invalid never resolves (RFC 6761); the cause was missing.
		{"postgres host that does not resolve", "postgres://someone:secret@nohost.invalid/thedb?sslmode=disable&connect_timeout=5",
			[]string{"open postgres at nohost.invalid/thedb:", "the host name d"}},
	}
	if c := configs[len(configs)-1]; c.name == "postgres" {
		u, err := url.Parse(c.dsn(t))
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/nosuchdb"
		cases = append(cases, struct {
			name, dsn string
			want      []string
		}{"postgres no such database", u.String(), []string{"open postgres at " + u.Host + "/nosuchdb:", "3D000", "no such database"}})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			s, err := Open(ctx, c.dsn)
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			t.Log(err)
			// OpenFailed, for programs that connect by other means, says
			// the same (without Open's "sqlstore: ").
			if of := OpenFailed(c.dsn, errors.Unwrap(errors.Unwrap(err))); "sqlstore: "+of.Error() != err.Error() {
				t.Errorf("OpenFailed: %q, Open: %q", of, err)
			}
			if !errors.Is(err, storage.ErrUnavailable) {
				t.Errorf("Open: %v, want ErrUnavailable", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Open: %q does not say %q", err, w)
				}
			}
			for _, leak := range []string{"secret", "someone", "SQLSTATE", "failed to connect", "(SQLITE_"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("Open: %q carries %q", err, leak)
				}
			}
		})
	}
}

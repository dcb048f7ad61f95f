package dialect

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestParseDSN(t *testing.T) {
	tests := []struct {
		name    string
		dsn     string
		want    Config
		wantErr string
	}{
		{name: "sqlite file", dsn: "sqlite:data/app.db", want: Config{Dialect: SQLite, Path: "data/app.db"}},
		{name: "sqlite absolute", dsn: "sqlite:/tmp/x.db", want: Config{Dialect: SQLite, Path: "/tmp/x.db"}},
		{name: "sqlite memory", dsn: "sqlite::memory:", want: Config{Dialect: SQLite, Memory: true}},
		{name: "sqlite params", dsn: "sqlite:x.db?synchronous=full", want: Config{Dialect: SQLite, Path: "x.db"}},
		{name: "postgres", dsn: "postgres://u@h/db", want: Config{Dialect: Postgres, URL: "postgres://u@h/db"}},
		{name: "postgresql", dsn: "postgresql://u@h/db", want: Config{Dialect: Postgres, URL: "postgresql://u@h/db"}},
		{name: "empty", dsn: "", wantErr: "want sqlite:PATH"},
		{name: "sqlite no path", dsn: "sqlite:", wantErr: "missing file path"},
		{name: "other scheme", dsn: "mysql://u:secret@h/db", wantErr: "want sqlite:PATH"},
		{name: "bad params", dsn: "sqlite:x.db?a=%zz", wantErr: "bad parameters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDSN(tt.dsn)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseDSN(%q) error = %v, want it to contain %q", tt.dsn, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error reveals the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Dialect != tt.want.Dialect || got.Path != tt.want.Path || got.Memory != tt.want.Memory || got.URL != tt.want.URL {
				t.Errorf("ParseDSN(%q) = %+v, want %+v", tt.dsn, got, tt.want)
			}
		})
	}
}

func TestSQLiteOptionsFrom(t *testing.T) {
	c, err := ParseDSN("sqlite:x.db?busy_timeout=250&synchronous=FULL&readers=2&cache_size=8192")
	if err != nil {
		t.Fatal(err)
	}
	o, err := SQLiteOptionsFrom(c.Params, DefaultSQLiteOptions)
	if err != nil {
		t.Fatal(err)
	}
	if o.BusyTimeout != 250*time.Millisecond || !o.SynchronousFull || o.Readers != 2 || o.CacheKiB != 8192 {
		t.Errorf("options = %+v", o)
	}
	for _, bad := range []string{"busy_timeout=-1", "synchronous=off", "readers=0", "readers=65", "cache=shared",
		"cache_size=0", "cache_size=-2000", "cache_size=1e3", "cache_size=4194305"} {
		c, _ := ParseDSN("sqlite:x.db?" + bad)
		if _, err := SQLiteOptionsFrom(c.Params, DefaultSQLiteOptions); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	dsn := SQLiteDriverDSN("dir with space/a?b#c.db", o, true)
	for _, want := range []string{"file:dir with space/a%3fb%23c.db?", "_txlock=immediate", "synchronous%28FULL%29", "journal_mode%28WAL%29", "busy_timeout%28250%29", "cache_size%28-8192%29"} {
		if !strings.Contains(dsn, want) {
			t.Errorf("writer DSN %q lacks %q", dsn, want)
		}
	}
	if r := SQLiteDriverDSN("x.db", o, false); !strings.Contains(r, "query_only%281%29") || strings.Contains(r, "_txlock") || !strings.Contains(r, "cache_size%28-8192%29") {
		t.Errorf("reader DSN %q", r)
	}
	if d := SQLiteDriverDSN("x.db", DefaultSQLiteOptions, true); !strings.Contains(d, "cache_size%28-16384%29") {
		t.Errorf("DSN of the default options %q: no 16 MiB page cache", d)
	}
	if d := SQLiteDriverDSN("x.db", SQLiteOptions{}, true); strings.Contains(d, "cache_size") {
		t.Errorf("DSN of options without a cache size %q sets one", d)
	}
}

func TestClassifyPostgres(t *testing.T) {
	d, _ := ForName(Postgres)
	tests := []struct {
		code string
		want ErrorClass
	}{
		{"23505", ClassUniqueViolation},
		{"23503", ClassForeignKey},
		{"23502", ClassNotNull},
		{"40001", ClassSerialization},
		{"40P01", ClassDeadlock},
		{"55P03", ClassBusy},
		{"22P05", ClassInvalidText},
		{"08006", ClassConnection},
		{"25006", ClassConnection},
		{"25P03", ClassConnection},
		{"57014", ClassRefused},
		{"42501", ClassRefused},
		{"53200", ClassRefused},
		{"53400", ClassRefused},
		{"53100", ClassFull},
		{"53300", ClassConnection},
		{"54000", ClassTooLarge},
		{"54001", ClassTooLarge},
		{"42P01", ClassCorrupt},
		{"42703", ClassCorrupt},
		{"42883", ClassCorrupt},
		{"42804", ClassCorrupt},
		{"XX001", ClassCorrupt},
		{"XX002", ClassCorrupt},
		{"XX000", ClassOther},
		{"42601", ClassOther},
		{"57P01", ClassConnection},
		{"57P02", ClassConnection},
		{"57P03", ClassConnection},
		// The system's errors: an I/O error reading or writing a file
		// (58030) was an untyped internal error.
		{"58030", ClassConnection},
		{"58000", ClassConnection},
		{"58P01", ClassConnection},
	}
	for _, tt := range tests {
		err := fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: tt.code})
		if got := d.Classify(err); got != tt.want {
			t.Errorf("Classify(%s) = %v, want %v", tt.code, got, tt.want)
		}
	}
	// A PANIC crashed the server, whatever its code (53100 when the WAL's
	// disk is full, XX000 for most others): every backend restarts, and
	// a statement in flight may have committed. It was ClassFull (53100)
	// or ClassOther (XX000).
	for _, code := range []string{"53100", "XX000", "58030"} {
		for _, pe := range []*pgconn.PgError{{Code: code, Severity: "PANIC"}, {Code: code, Severity: "PANIK", SeverityUnlocalized: "PANIC"}} {
			if got := d.Classify(fmt.Errorf("wrapped: %w", pe)); got != ClassConnection {
				t.Errorf("Classify(%s, severity %s) = %v, want connection", code, pe.Severity, got)
			}
		}
	}
	if got := d.Classify(errors.New("plain")); got != ClassOther {
		t.Errorf("Classify(plain) = %v", got)
	}
	scan := fmt.Errorf("read: %w", pgx.ScanArgError{ColumnIndex: 1, Err: errors.New("cannot scan text into *int64")})
	if got := d.Classify(scan); got != ClassCorrupt {
		t.Errorf("Classify(%v) = %v, want corrupt", scan, got)
	}
	if !ClassSerialization.Retryable() || !ClassDeadlock.Retryable() || ClassUniqueViolation.Retryable() {
		t.Error("Retryable is wrong")
	}
}

// TestParseDSNHidesCredentials: a DSN refused for its scheme is quoted
// without its password, whether it parses as a URL with a user or not
// ("postgresql:user:pw@host/db", which it quoted whole).
func TestParseDSNHidesCredentials(t *testing.T) {
	for _, dsn := range []string{
		"postgress://someone:s3cr3t@h/db", "postgresql:someone:s3cr3t@h/db", "mysql://someone:s3cr3t@h/db",
		"postgres:someone:s3cr3t@h:5432/db", "someone:s3cr3t@h/db", "postgress://someone:s3@cr3t@h/db",
	} {
		_, err := ParseDSN(dsn)
		if err == nil {
			t.Errorf("ParseDSN(%q) accepted", dsn)
			continue
		}
		if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "cr3t") {
			t.Errorf("ParseDSN(%q) = %q shows the password", dsn, err)
		}
		if !strings.Contains(err.Error(), "@h") {
			t.Errorf("ParseDSN(%q) = %q does not show the host", dsn, err)
		}
	}
}

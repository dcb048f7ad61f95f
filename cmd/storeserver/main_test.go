package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"noAuth", nil, "--auth FILE is required"},
		{"both", []string{"--auth", "x.json", "--insecure-anonymous"}, "exclude each other"},
		{"argument", []string{"--insecure-anonymous", "extra"}, `unexpected argument "extra"`},
		{"maxBody", []string{"--insecure-anonymous", "--max-body", "0"}, "--max-body 0"},
		{"timeout", []string{"--insecure-anonymous", "--timeout", "-1s"}, "--timeout -1s"},
		{"shutdownTimeout", []string{"--insecure-anonymous", "--shutdown-timeout", "0s"}, "--shutdown-timeout 0s"},
		{"indexTimeout", []string{"--insecure-anonymous", "--timeout", "1m", "--index-timeout", "30s"}, "--index-timeout 30s: want at least --timeout"},
		{"maxOpenTx", []string{"--insecure-anonymous", "--max-open-tx", "-1"}, "--max-open-tx -1"},
		{"txIdle", []string{"--insecure-anonymous", "--tx-idle-timeout", "-1s"}, "--tx-idle-timeout -1s"},
		{"maxInFlight", []string{"--insecure-anonymous", "--max-body", "100", "--max-bytes-in-flight", "99"}, "--max-bytes-in-flight 99"},
		{"txPerPrincipal", []string{"--insecure-anonymous", "--max-tx-per-principal", "0"}, "--max-tx-per-principal 0"},
		{"inFlightPerPrincipal", []string{"--insecure-anonymous", "--max-bytes-in-flight-per-principal", "-1"}, "--max-bytes-in-flight-per-principal -1"},
		{"watchesPerPrincipal", []string{"--insecure-anonymous", "--max-watches-per-principal", "0"}, "--max-watches-per-principal 0"},
		{"maxWatches", []string{"--insecure-anonymous", "--max-watches", "0"}, "--max-watches 0"},
		{"txContendedIdle", []string{"--insecure-anonymous", "--tx-contended-idle-timeout", "0"}, "--tx-contended-idle-timeout 0"},
		{"txMaxHold", []string{"--insecure-anonymous", "--tx-contended-max-hold", "-1s"}, "--tx-contended-max-hold -1s"},
		{"watchBuffer", []string{"--insecure-anonymous", "--watch-buffer-bytes", "0"}, "--watch-buffer-bytes 0"},
		{"scansInStore", []string{"--insecure-anonymous", "--max-scans-in-store", "-1"}, "--max-scans-in-store -1"},
		{"requestsPerPrincipal", []string{"--insecure-anonymous", "--max-requests-per-principal", "0"}, "--max-requests-per-principal 0"},
		{"txMaxLifetime", []string{"--insecure-anonymous", "--tx-max-lifetime", "0s"}, "--tx-max-lifetime 0s"},
		{"pgMaxConns", []string{"--insecure-anonymous", "--pg-max-conns", "1"}, "--pg-max-conns 1"},
		{"maxNamespaces", []string{"--insecure-anonymous", "--max-namespaces-per-principal", "-1"}, "--max-namespaces-per-principal -1"},
		{"maxEntries", []string{"--insecure-anonymous", "--max-entries-per-principal", "-1"}, "--max-entries-per-principal -1"},
		{"connsPerIP", []string{"--insecure-anonymous", "--max-conns-per-ip", "-1"}, "--max-conns-per-ip -1"},
		{"logFormat", []string{"--insecure-anonymous", "--log-format", "xml"}, `--log-format "xml"`},
		{"logLevel", []string{"--insecure-anonymous", "--log-level", "loud"}, `--log-level "loud"`},
		{"unknownFlag", []string{"--port", "80"}, "flag provided but not defined: -port"},
		{"badDuration", []string{"--timeout", "soon"}, `invalid value "soon"`},
		{"otlpEndpoint", []string{"--insecure-anonymous", "--otlp-endpoint", "collector:4318"}, `OTLP endpoint "collector:4318"`},
		{"otlpRatio", []string{"--insecure-anonymous", "--otlp-endpoint", "http://c:4318", "--otlp-sample-ratio", "2"}, "--otlp-sample-ratio 2"},
		{"otlpQueue", []string{"--insecure-anonymous", "--otlp-endpoint", "http://c:4318", "--otlp-queue-size", "0"}, "--otlp-queue-size 0"},
		{"otlpFlush", []string{"--insecure-anonymous", "--otlp-endpoint", "http://c:4318", "--otlp-flush-interval", "0s"}, "--otlp-flush-interval 0s"},
		{"otlpHeader", []string{"--insecure-anonymous", "--otlp-header", "Authorization"}, "want KEY=VALUE"},
		// A malformed DSN is a usage error, as for migrate and store
		// (it was exit 1, "opening the store").
		{"badDSN", []string{"--insecure-anonymous", "--dsn", "mysql://x", "--addr", "127.0.0.1:0"}, `DSN "mysql://x"`},
		{"badDSNParameter", []string{"--insecure-anonymous", "--dsn", "sqlite::memory:?nosuch=1", "--addr", "127.0.0.1:0"}, `unknown sqlite DSN parameter`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(t.Context(), tc.args, &stderr, func(string) string { return "" })
			if code != exitUsage || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("run(%q) = %d, stderr %q; want %d and %q", tc.args, code, stderr.String(), exitUsage, tc.want)
			}
		})
	}
	var stderr bytes.Buffer
	if code := run(t.Context(), []string{"-h"}, &stderr, nil); code != exitOK || !strings.Contains(stderr.String(), "--insecure-anonymous") ||
		!strings.Contains(stderr.String(), "STORAGE_DSN") {
		t.Errorf("-h = %d, %q", code, stderr.String())
	}
}

func TestFailures(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missingAuthFile", []string{"--auth", dir + "/none.json"}, "none.json"},
		{"unreachableDatabase", []string{"--insecure-anonymous", "--addr", "127.0.0.1:0",
			"--dsn", "postgres://someone:secret@127.0.0.1:1/thedb?sslmode=disable&connect_timeout=2"},
			"open postgres at 127.0.0.1:1/thedb: storage: database unavailable"},
		{"badAddr", []string{"--insecure-anonymous", "--dsn", "sqlite::memory:", "--addr", "256.0.0.1:http"}, "256.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(t.Context(), tc.args, &stderr, func(string) string { return "" })
			if code != exitFailure || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("run(%q) = %d, stderr %q; want %d and %q", tc.args, code, stderr.String(), exitFailure, tc.want)
			}
			// One line, in the project's words: no driver text, no
			// user or password.
			for _, leak := range []string{"secret", "someone", "failed to connect", "SQLSTATE"} {
				if strings.Contains(stderr.String(), leak) {
					t.Errorf("run(%q): stderr %q shows %q", tc.args, stderr.String(), leak)
				}
			}
			for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
				if !strings.HasPrefix(line, "time=") {
					t.Errorf("run(%q): stderr line %q is not a log line (a multi-line error)", tc.args, line)
				}
			}
		})
	}
}

// TestListenBeforeOpen: an address already in use fails before the store
// is opened: the database is neither created nor migrated (it was, and
// the port was found in use only after the migration ran).
func TestListenBeforeOpen(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = busy.Close() }()
	db := filepath.Join(t.TempDir(), "new.db")
	var stderr bytes.Buffer
	code := run(t.Context(), []string{"--insecure-anonymous", "--dsn", "sqlite:" + db, "--addr", busy.Addr().String()},
		&stderr, func(string) string { return "" })
	if code != exitFailure || !strings.Contains(stderr.String(), "listening on "+busy.Addr().String()) ||
		!strings.Contains(stderr.String(), "address already in use") {
		t.Errorf("run on a busy port = %d, stderr %q; want %d, listening on %s: address already in use", code, stderr.String(), exitFailure, busy.Addr())
	}
	if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the database %s was created (%v) though the port was in use", db, err)
	}
}

type drainFlag struct{ atomic.Bool }

func (d *drainFlag) Drain() { d.Store(true) }

// TestServeUntil checks the shutdown: an in-flight request finishes, new
// connections are refused, and a request that outlives the shutdown
// timeout makes it an error.
func TestServeUntil(t *testing.T) {
	for _, tc := range []struct {
		name     string
		work     time.Duration // how long the in-flight request takes
		deadline time.Duration // the shutdown timeout
		wantErr  bool
	}{
		{"finishes", 300 * time.Millisecond, 5 * time.Second, false},
		{"cutOff", 5 * time.Second, 200 * time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			started := make(chan struct{})
			release := make(chan struct{})
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(started)
				select {
				case <-time.After(tc.work):
				case <-release:
				case <-r.Context().Done():
				}
				_, _ = io.WriteString(w, "done")
			})
			defer close(release)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: h, ReadHeaderTimeout: time.Second}
			ctx, cancel := context.WithCancel(t.Context())
			var d drainFlag
			done := make(chan error, 1)
			go func() { done <- serveUntil(ctx, srv, ln, &d, tc.deadline, slog.New(slog.DiscardHandler)) }()

			type result struct {
				body string
				err  error
			}
			got := make(chan result, 1)
			go func() {
				resp, err := http.Get("http://" + ln.Addr().String() + "/slow")
				if err != nil {
					got <- result{err: err}
					return
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				got <- result{string(b), err}
			}()
			<-started
			cancel()
			time.Sleep(100 * time.Millisecond) // let Shutdown close the listener
			if !d.Load() {
				t.Error("shutdown did not drain")
			}
			if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
				_ = c.Close()
				t.Error("a new connection was accepted during shutdown")
			}
			r := <-got
			err = <-done
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "did not finish") {
					t.Errorf("serveUntil = %v; want a shutdown timeout error", err)
				}
				if r.err == nil {
					t.Errorf("the cut-off request got %q", r.body)
				}
				return
			}
			if err != nil || r.err != nil || r.body != "done" {
				t.Errorf("serveUntil = %v; request = %q, %v; want the in-flight request to finish", err, r.body, r.err)
			}
		})
	}
}

func TestWithPoolSize(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"sqlite:x.db", "sqlite:x.db"},
		{"sqlite::memory:", "sqlite::memory:"},
		{"postgres://u@h/db", "postgres://u@h/db?pool_max_conns=32"},
		{"postgresql://u@h/db?sslmode=disable", "postgresql://u@h/db?pool_max_conns=32&sslmode=disable"},
		{"postgres://u@h/db?pool_max_conns=5", "postgres://u@h/db?pool_max_conns=5"},
	} {
		if got := withPoolSize(tc.in, DefaultPGMaxConns); got != tc.want {
			t.Errorf("withPoolSize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRequestsInStore(t *testing.T) {
	for _, tc := range []struct {
		dialect, dsn string
		want         int
	}{
		{"sqlite", "sqlite:x.db", 5},
		{"postgres", withPoolSize("postgres://u@h/db", DefaultPGMaxConns), 8},
		{"postgres", "postgres://u@h/db?pool_max_conns=100", 25},
		{"postgres", "postgres://u@h/db?pool_max_conns=4", 5},
		{"postgres", "host=h pool_max_conns=100", 5},
	} {
		if got := requestsInStore(tc.dialect, tc.dsn); got != tc.want {
			t.Errorf("requestsInStore(%s, %q) = %d, want %d", tc.dialect, tc.dsn, got, tc.want)
		}
	}
}

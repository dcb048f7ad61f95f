package main

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/client"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

// waitLog waits until the server's log holds want n times.
func (s *server) waitLog(t *testing.T, want string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(s.log(), want) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the log never held %s %d times:\n%s", want, n, s.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTokenAndReload: "storeserver token --add" appends a principal to the
// auth file, a SIGHUP makes the running server take it (and drop a token
// the file no longer holds), a bad file leaves the last good one in force,
// and /metrics reports what was served.
func TestTokenAndReload(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	bin := buildServer(t)
	auth := writeAuthFile(t)
	s := start(t, bin, "--dsn", testdb.SQLiteFile(t), "--auth", auth)
	ctx := t.Context()
	app := storage.InNamespace("app")

	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, "token", "--pkr", "bob-pk", "--scope", "storage://namespace/app=rw", "--scope", "storage://transactions=rw", "--add", auth)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("storeserver token: %v\n%s", err, errOut.String())
	}
	bobToken := strings.TrimSpace(out.String())
	if len(bobToken) < 40 || !strings.Contains(errOut.String(), "SIGHUP") {
		t.Fatalf("token %q, stderr %q", bobToken, errOut.String())
	}
	if data, _ := os.ReadFile(auth); bytes.Contains(data, []byte(bobToken)) || !bytes.Contains(data, []byte(httpapi.HashToken(bobToken))) {
		t.Fatalf("the auth file holds the token, or not its hash:\n%s", data)
	}
	tr, err := httpapi.NewTransport(s.url, bobToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.New(ctx, tr); !errors.Is(err, storage.ErrUnauthenticated) {
		t.Fatalf("bob before the reload: %v, want unauthenticated", err)
	}

	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	s.waitLog(t, `"msg":"auth file reloaded"`, 1)
	bob := s.client(t, bobToken)
	if err := bob.Set(ctx, "k", 1, app); err != nil {
		t.Fatalf("bob after the reload: %v", err)
	}
	if err := bob.Set(ctx, "k", 1, storage.InNamespace("other")); !errors.Is(err, storage.ErrPermissionDenied) {
		t.Errorf("bob outside his grant: %v, want permission denied", err)
	}

	// A file that does not parse: logged, the last good one stays.
	good, err := os.ReadFile(auth)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(auth, []byte(`{"principals":[`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	s.waitLog(t, `"msg":"auth file reload failed; the previous one stays in force"`, 1)
	if _, err := bob.Get(ctx, "k", app); err != nil {
		t.Errorf("bob after a failed reload: %v", err)
	}

	// The reader's entry removed: its token stops working at the reload.
	reader := s.client(t, readToken)
	if _, err := reader.Get(ctx, "k", app); err != nil {
		t.Fatalf("reader: %v", err)
	}
	without := strings.Replace(string(good), `"token": "`+readToken+`"`, `"token": "replaced-token-0123456789abcdef"`, 1)
	if without == string(good) {
		t.Fatalf("no reader token in the file:\n%s", good)
	}
	if err := os.WriteFile(auth, []byte(without), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	s.waitLog(t, `"msg":"auth file reloaded"`, 2)
	if _, err := reader.Get(ctx, "k", app); !errors.Is(err, storage.ErrUnauthenticated) {
		t.Errorf("the removed token after the reload: %v, want unauthenticated", err)
	}

	// /metrics, with a transaction open.
	tx, err := bob.Begin(ctx, storage.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	resp, err := http.Get(s.url + httpapi.MetricsPath)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		`storage_http_requests_total{route="set",code="ok"} 1`,
		`storage_http_requests_total{route="set",code="permission_denied"} 1`,
		`storage_http_requests_total{route="getCapabilities",code="unauthenticated"} 1`,
		`storage_http_requests_total{route="get",code="unauthenticated"} 1`,
		`storage_http_request_duration_seconds_count{route="get",code="ok"}`,
		"\nstorage_open_transactions 1\n",
		`storage_pool_connections{pool="sqlite_writer",state="in_use"}`,
		`storage_pool_max_connections{pool="sqlite_reader"}`,
		"# TYPE storage_http_request_duration_seconds histogram",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s:\n%s", want, body)
		}
	}
	_ = tx.Rollback(ctx)
	if code := s.stop(t); code != 0 {
		t.Errorf("exit code %d:\n%s", code, s.log())
	}
}

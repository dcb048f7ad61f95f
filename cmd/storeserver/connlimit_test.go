package main

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

// TestConnsPerIP: one client address holds at most --max-conns-per-ip
// connections (default httpapi.DefaultMaxConnsPerIP, 256), loopback too;
// one beyond is closed at accept, and the ones held are served. Before the
// bound, a client's connections were unbounded: the one beyond 256 was
// accepted and held like the others (the read below timed out).
func TestConnsPerIP(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	s := start(t, buildServer(t), "--dsn", testdb.SQLiteFile(t), "--auth", writeAuthFile(t))
	addr := strings.TrimPrefix(s.url, "http://")
	held := make([]net.Conn, httpapi.DefaultMaxConnsPerIP)
	for i := range held {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		held[i] = c
	}
	over, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = over.Close() }()
	_ = over.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, err := over.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection %d of one address was held open, not closed at accept", len(held)+1)
	}
	if n != 0 || err == nil {
		t.Fatalf("connection %d of one address: read %d bytes, %v; want it closed", len(held)+1, n, err)
	}
	for _, i := range []int{0, len(held) - 1} {
		c := held[i]
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 12)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf[9:12]) != "200" {
			t.Errorf("held connection %d: %q, %v; want 200", i, buf, err)
		}
	}
	// The refusal is counted in /metrics (asked on a held connection).
	c := held[1]
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), "\nstorage_http_conns_refused_total 1\n") {
		t.Errorf("/metrics does not count the connection closed at accept:\n%s", body)
	}
}

package sqlstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// stallProxy forwards TCP connections to a PostgreSQL server; once armed,
// a connection that sends a COPY stops being read (nothing more reaches
// the server), so that the client's writes of the copy's data fill the
// socket buffers and block, as writes to a server that stopped reading do.
// A proxy made by newDropProxy, once armed, instead forwards everything
// but the first message it reads that holds drop (a COMMIT whose answer
// then never comes), disarms, and sends on dropped.
type stallProxy struct {
	ln      net.Listener
	target  string
	armed   atomic.Bool
	drop    []byte
	dropped chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup
}

func newStallProxy(t *testing.T, target string) *stallProxy { return newDropProxy(t, target, nil) }

func newDropProxy(t *testing.T, target string, drop []byte) *stallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	p := &stallProxy{ln: ln, target: target, drop: drop, dropped: make(chan struct{}, 1), done: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.serve(c) }()
		}
	}()
	t.Cleanup(func() { close(p.done); _ = ln.Close(); p.wg.Wait() })
	return p
}

func (p *stallProxy) serve(c net.Conn) {
	defer func() { _ = c.Close() }()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4 << 10)
	}
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer func() { _ = s.Close() }()
	go func() { _, _ = io.Copy(c, s); _ = c.Close() }()
	go func() { <-p.done; _ = c.Close(); _ = s.Close() }()
	buf := make([]byte, 4<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 && p.drop != nil && bytes.Contains(buf[:n], p.drop) && p.armed.CompareAndSwap(true, false) {
			p.dropped <- struct{}{} // not forwarded: the server never answers it
			continue
		}
		if n > 0 && p.drop == nil && p.armed.Load() && bytes.Contains(buf[:n], []byte("COPY ")) {
			<-p.done // stop reading: the client's writes block
			return
		}
		if n > 0 {
			if _, werr := s.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestCopyDeadlineWhileWriting: a SetMany whose batch goes by COPY and
// whose deadline passes while the copy's data is being written (the
// server stopped reading) fails with the context's error, not
// ErrUnavailable, and writes nothing. pgconn closes the connection from
// its writing goroutine and returned the error of the next write on the
// closed connection, which read as a database that cannot be reached
// (seen as a flake of TestCopyCancelled under load).
func TestCopyDeadlineWhileWriting(t *testing.T) {
	dsn := newPGSchema(t)
	u, err := url.Parse(dsn)
	must(t, err)
	p := newStallProxy(t, u.Host)
	u.Host = p.ln.Addr().String()
	s := openTest(t, u.String(), WithSweepInterval(-1), withCopyMin(1))
	t.Cleanup(func() { _ = s.Close() })
	direct := openTest(t, dsn, WithSweepInterval(-1))
	t.Cleanup(func() { _ = direct.Close() })
	in := storage.InNamespace("stalled")
	must(t, s.CreateNamespace(t.Context(), "stalled"))
	items := make([]storage.Item, 20000)
	pad := strings.Repeat("p", 400)
	for i := range items {
		items[i] = storage.Item{Key: fmt.Sprintf("k%05d", i), Value: map[string]any{"i": i, "pad": pad}}
	}
	for round := range 3 {
		p.armed.Store(true)
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		_, err := s.SetMany(ctx, items, in)
		cancel()
		p.armed.Store(false)
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, storage.ErrUnavailable) || errors.Is(err, storage.ErrCommitUnknown) {
			t.Fatalf("round %d: SetMany = %v; want the context's deadline alone", round, err)
		}
		if n, err := direct.Count(t.Context(), in); err != nil || n != 0 {
			t.Fatalf("round %d: Count = %d, %v; want nothing written", round, n, err)
		}
	}
}

package sqlstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// TestMemoryConcurrent is issue 16 item 10: a sqlite::memory: store
// behaves like a file store under concurrency. While a read-write
// transaction is open (its write not committed), reads outside it, a
// read-only transaction, and a concurrent reader loop all go on at once
// and see only committed data; a write outside the transaction waits for
// it like on a file and then succeeds; transactions stay isolated.
// Before the fix the store was one connection, and every one of these
// calls stalled until the transaction ended.
func TestMemoryConcurrent(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, "sqlite::memory:")
	defer s.Close()
	if err := s.Set(ctx, "committed", 1); err != nil {
		t.Fatal(err)
	}
	tx, err := s.Begin(ctx, storage.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Set(ctx, "pending", 2); err != nil {
		t.Fatal(err)
	}
	quick, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 4 {
		wg.Go(func() {
			for range 20 {
				e, err := s.Get(quick, "committed")
				if err != nil || string(e.Value) != "1" {
					errs <- errors.Join(errors.New("Get committed"), err)
					return
				}
				if ok, err := s.Has(quick, "pending"); err != nil || ok {
					errs <- errors.Join(errors.New("Has pending: the uncommitted write is visible or the read failed"), err)
					return
				}
				if n, err := s.Count(quick); err != nil || n != 1 {
					errs <- errors.Join(errors.New("Count"), err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		ro, err := s.Begin(quick, storage.TxOptions{ReadOnly: true})
		if err != nil {
			errs <- errors.Join(errors.New("Begin read-only"), err)
			return
		}
		defer func() { _ = ro.Rollback(ctx) }()
		if res, err := ro.List(quick); err != nil || len(res.Keys) != 1 {
			errs <- errors.Join(errors.New("read-only tx List"), err)
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		_ = tx.Rollback(ctx)
		t.FailNow()
	}
	// A write outside the transaction waits for it, then goes through.
	done := make(chan error, 1)
	go func() { done <- s.Set(ctx, "after", 3) }()
	select {
	case err := <-done:
		t.Fatalf("a write went through while a write transaction was open: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the write outside the transaction did not go through after Commit")
	}
	if n, err := s.Count(ctx); err != nil || n != 3 {
		t.Fatalf("Count = %d, %v; want 3", n, err)
	}
}

// TestMemoryPrivate checks that every sqlite::memory: store is a database
// of its own, and that Close leaves nothing behind.
func TestMemoryPrivate(t *testing.T) {
	ctx := t.Context()
	a := openTest(t, "sqlite::memory:")
	b := openTest(t, "sqlite::memory:")
	if err := a.Set(ctx, "k", 1); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Has(ctx, "k"); err != nil || ok {
		t.Fatalf("a second in-memory store sees the first's key: %v %v", ok, err)
	}
	dir := a.eng.(*sqliteEngine).memDir
	if dir == "" {
		t.Fatal("no directory recorded for the in-memory database")
	}
	if _, err := os.Stat(filepath.Join(dir, memoryFile)); err != nil {
		t.Fatalf("the database is not where the store says: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Close left %s behind: %v", dir, err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

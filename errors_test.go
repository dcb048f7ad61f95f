package storage_test

import (
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// TestNotFoundText: ErrNotFound says so in its own words and still
// satisfies errors.Is(err, sql.ErrNoRows).
func TestNotFoundText(t *testing.T) {
	err := &storage.OpError{Op: "get", Key: "k", Err: storage.ErrNotFound}
	if !errors.Is(err, sql.ErrNoRows) || !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("%v does not satisfy errors.Is for ErrNotFound and sql.ErrNoRows", err)
	}
	if got := err.Error(); got != `storage: get key "k": not found` || strings.Contains(got, "sql") {
		t.Errorf("message %q", got)
	}
}

// TestSentinelsDistinct: each sentinel matches itself and no other.
func TestSentinelsDistinct(t *testing.T) {
	all := storage.Sentinels()
	for i, a := range all {
		for j, b := range all {
			if errors.Is(a, b) != (i == j) {
				t.Errorf("errors.Is(%v, %v) = %v", a, b, i != j)
			}
		}
		if !strings.HasPrefix(a.Error(), "storage: ") {
			t.Errorf("%q does not start with storage: ", a)
		}
	}
}

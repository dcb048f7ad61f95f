package faultload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// TestClassify: what the load accepts from a call and what it reports.
func TestClassify(t *testing.T) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	live := context.Background()
	op := func(err error) error { return &storage.OpError{Op: "set", Err: err} }
	for _, c := range []struct {
		ctx     context.Context //nolint:containedctx // a case's input
		err     error
		allowed []error
		label   string
		bad     bool
	}{
		{live, op(fmt.Errorf("%w: the database cannot be reached", storage.ErrUnavailable)), writeErrs, "database unavailable", false},
		{live, op(storage.ErrCommitUnknown), readErrs, "commit outcome unknown", true},
		{live, op(io.ErrUnexpectedEOF), writeErrs, "untyped", true},
		{live, op(errors.Join(storage.ErrUnavailable, storage.ErrTxConflict)), inTxErrs, "untyped", true},
		{live, op(fmt.Errorf("%w: SQLSTATE 57P01", storage.ErrUnavailable)), readErrs, "database unavailable", true},
		{done, op(context.Canceled), nil, "context", false},
		{live, op(context.DeadlineExceeded), nil, "context", true},
	} {
		label, problem := classify(c.ctx, c.err, c.allowed)
		if label != c.label || (problem != "") != c.bad {
			t.Errorf("classify(%q) = %q, %q; want %q, a problem %v", c.err, label, problem, c.label, c.bad)
		}
	}
}

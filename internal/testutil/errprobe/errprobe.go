// Package errprobe classifies the errors of fault and race probes: every
// error a call of a store returns must be nil, wrap exactly one
// documented sentinel (storage.Sentinels, plus any the caller adds: a
// file format's own) among those allowed, or be the call's context's
// error once that context ended, and its message must carry no driver
// text. A Tally counts the outcomes by operation and class and keeps the
// defects, each with the chain of types that made it, for a report.
package errprobe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mycelia-kernel/storage"
)

// unavailableLag is how long after its context ended a call may still
// return ErrUnavailable (decided before the end, then returned) without
// being a defect: what the defect looks like is a call that went on
// waiting or retrying for its outage after its caller gave up, so much
// longer; 20 ms flagged the per-item results of atomic SetMany calls
// returned 31-37 ms after their context ended on a machine at load 7 (a
// CI rehearsal beside it).
const unavailableLag = 100 * time.Millisecond

// Tally counts outcomes by operation and class, and keeps the defects:
// an error that wraps no sentinel or several (or a sentinel and the
// context's error), a sentinel not allowed, the context's error with a
// live context, ErrUnavailable from a call whose context had ended well
// before it returned, a message carrying driver text. The zero value is
// ready; set the fields before the first call.
type Tally struct {
	// Extra are sentinels besides storage's that an error may wrap (a
	// file format's own).
	Extra []error
	// Writes, when set, reports whether op may end with
	// ErrCommitUnknown (a write whose outcome a lost connection leaves
	// unknown); others may not.
	Writes func(op string) bool

	mu     sync.Mutex
	counts map[string]map[string]int // op → class → n
	bad    map[string]int            // defect → n
}

func (p *Tally) add(op, class string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.counts == nil {
		p.counts = map[string]map[string]int{}
	}
	if p.counts[op] == nil {
		p.counts[op] = map[string]int{}
	}
	p.counts[op][class]++
}

// Defect records a defect found otherwise.
func (p *Tally) Defect(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bad == nil {
		p.bad = map[string]int{}
	}
	p.bad[s]++
}

// className is how a sentinel's class reads: its text without the
// package's prefix.
func className(s error) string {
	return strings.TrimPrefix(strings.TrimPrefix(s.Error(), "storage: "), "dump: ")
}

// Count returns how many calls of any op ended with sentinel s (their
// context live or not).
func (p *Tally) Count(s error) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, h := range p.counts {
		n += h[className(s)] + h[className(s)+" (ctx ended)"]
	}
	return n
}

// Classify files err of op, whose call's context is ctx, under allowed.
// endedAgo is how long before the call returned its context ended (0:
// it had not, or unknown): a call whose context ended well before it
// returned answers the context's error, not ErrUnavailable.
func (p *Tally) Classify(ctx context.Context, op string, err error, allowed []error, endedAgo time.Duration) {
	if err == nil {
		p.add(op, "nil")
		return
	}
	var wrapped []error
	for _, s := range append(storage.Sentinels(), p.Extra...) {
		if errors.Is(err, s) {
			wrapped = append(wrapped, s)
		}
	}
	isCtx := errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
	ended := ctx.Err() != nil
	switch {
	case len(wrapped) > 0 && isCtx:
		p.add(op, "untyped")
		p.Defect(fmt.Sprintf("%s: %q wraps the context's error and %v (%s)", op, err, wrapped, Chain(err)))
		return
	case len(wrapped) == 0 && isCtx:
		p.add(op, "context")
		if !ended {
			p.Defect(fmt.Sprintf("%s: the context's error %q with a live context", op, err))
		}
		return
	case len(wrapped) != 1:
		p.add(op, "untyped")
		p.Defect(fmt.Sprintf("%s: %q wraps %d sentinels %v (%s)", op, err, len(wrapped), wrapped, Chain(err)))
		return
	}
	name := className(wrapped[0])
	if ended {
		name += " (ctx ended)"
	}
	p.add(op, name)
	ok := slices.Contains(allowed, wrapped[0])
	if ended {
		// A call whose context ended may also learn that its
		// transaction ended (ErrTxDone), that it waited for a place
		// among the transactions (ErrTooManyTx), or that its write's
		// outcome is unknown (the context ended while it was on the
		// wire).
		ok = ok || slices.Contains([]error{storage.ErrTxDone, storage.ErrTooManyTx, storage.ErrCommitUnknown}, wrapped[0])
	}
	if ok && wrapped[0] == storage.ErrCommitUnknown && p.Writes != nil && !p.Writes(op) { //nolint:errorlint // identity
		ok = false // a read, or a call that is not one write of its own, knows it wrote nothing
	}
	if !ok {
		p.Defect(fmt.Sprintf("%s: unexpected %q (context ended: %v; %s)", op, err, ended, Chain(err)))
	}
	if wrapped[0] == storage.ErrUnavailable && endedAgo > unavailableLag { //nolint:errorlint // identity
		p.Defect(fmt.Sprintf("%s: %q, its context ended %v before it returned", op, err, endedAgo.Round(time.Millisecond)))
	}
	for _, leak := range []string{"SQLSTATE", "failed to connect", "sql: ", "(SQLITE_", "pgx", "pgconn", "conn closed", "EOF"} {
		if strings.Contains(err.Error(), leak) {
			p.Defect(fmt.Sprintf("%s: %q carries driver text %q", op, err, leak))
		}
	}
}

// Chain names the types of err's chain, and the driver's error code and
// text when it holds one, for a defect's report.
func Chain(err error) string {
	var out []string
	for e := err; e != nil; {
		out = append(out, fmt.Sprintf("%T", e))
		switch u := e.(type) { //nolint:errorlint // walks the chain itself
		case interface{ Unwrap() error }:
			e = u.Unwrap()
		case interface{ Unwrap() []error }:
			errs := u.Unwrap()
			if len(errs) == 0 {
				e = nil
			} else {
				for _, x := range errs[1:] {
					out = append(out, fmt.Sprintf("+%T", x))
				}
				e = errs[0]
			}
		default:
			e = nil
		}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		out = append(out, fmt.Sprintf("[%s %s %s: %s; %s; %s:%d %s]", pe.Severity, pe.Code, pe.ConstraintName, pe.Message, pe.Detail, pe.File, pe.Line, pe.Where))
	}
	var se interface{ Code() int }
	if errors.As(err, &se) {
		out = append(out, fmt.Sprintf("[sqlite %d: %v]", se.Code(), se))
	}
	return strings.Join(out, " > ")
}

// Report logs the outcomes of each op by class, and fails t with each
// defect (the first 30) and how many times it occurred.
func (p *Tally) Report(t testing.TB, label string) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	ops := make([]string, 0, len(p.counts))
	for op := range p.counts {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	var b strings.Builder
	total := map[string]int{}
	for _, op := range ops {
		classes := make([]string, 0, len(p.counts[op]))
		for c, n := range p.counts[op] {
			classes = append(classes, c)
			total[c] += n
		}
		sort.Strings(classes)
		fmt.Fprintf(&b, "\n  %-26s", op)
		for _, c := range classes {
			fmt.Fprintf(&b, " %s=%d", c, p.counts[op][c])
		}
	}
	t.Logf("%s: outcomes by class: %v%s", label, total, b.String())
	bad := make([]string, 0, len(p.bad))
	for s := range p.bad {
		bad = append(bad, s)
	}
	sort.Strings(bad)
	for i, s := range bad {
		if i == 30 {
			t.Errorf("... and %d more defects", len(bad)-30)
			break
		}
		t.Errorf("%s: %d× %s", label, p.bad[s], s)
	}
}

// Duration is how long a probe runs: 4 s, or STORAGE_TEST_PROBE (a Go
// duration) when set.
func Duration(t testing.TB) time.Duration {
	t.Helper()
	d := 4 * time.Second
	if v := os.Getenv("STORAGE_TEST_PROBE"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			t.Fatalf("STORAGE_TEST_PROBE: %v", err)
		}
	}
	return d
}

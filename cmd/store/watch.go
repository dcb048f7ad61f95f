package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/routes"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// changeOpts are the options watch and history share: the changes after
// revision after (none when negative) and --omit-values.
func (c *cli) changeOpts(after int64) []storage.Option {
	var opts []storage.Option
	if after >= 0 {
		opts = append(opts, storage.FromRevision(after))
	}
	if c.omitValues {
		opts = append(opts, storage.OmitValues())
	}
	return opts
}

// cmdWatch prints the store's changes as they are committed (of every
// namespace unless -n names one), until Ctrl-C, --limit events, or an
// error. A watch cut off (its consumer fell behind, the store closed)
// tells how to resume: --after the last revision printed.
func cmdWatch(ctx context.Context, c *cli, args []string) error {
	f, err := c.filterArg(args)
	if err != nil {
		return err
	}
	opts := append(c.nsOpts(), c.changeOpts(c.after)...)
	if c.pattern != "" {
		opts = append(opts, storage.Pattern(c.pattern))
	}
	if !f.IsZero() {
		opts = append(opts, storage.Where(f))
	}
	return c.withStore(ctx, false, func(s *sqlstore.Store) error {
		var js *jsonStream
		last, n := int64(-1), 0
		opts := append(opts, storage.OnStart(func(r int64) {
			last = r
			if c.json {
				var head []any
				if c.namespace != "" {
					head = append(head, "namespace", c.namespace)
				}
				js = c.startStream("events", append(head, "after", r)...)
				return
			}
			fmt.Fprintf(c.stderr, "(watching the changes after revision %d; Ctrl-C stops)\n", r)
		}))
		var werr error
		for ev, err := range s.Watch(ctx, opts...) {
			if err != nil {
				werr = err
				break
			}
			last = ev.Revision
			n++
			if js != nil {
				if err := js.item(routes.EventOf(ev)); err != nil {
					werr = err
					break
				}
			} else {
				fmt.Fprintln(c.stdout, eventLine(ev))
			}
			if c.limit > 0 && n >= c.limit {
				break
			}
		}
		if js == nil && last < 0 {
			return werr // it did not start: an ordinary error answer
		}
		if js != nil {
			return js.end(werr, "last", last)
		}
		if werr != nil {
			return fmt.Errorf("%w (%s; resume with --after %d)", werr, events(n), last)
		}
		fmt.Fprintf(c.stderr, "(%s; resume with --after %d)\n", events(n), last)
		return nil
	})
}

// cmdHistory prints a key's retained changes, oldest first (--after: those
// after a revision; --limit: at most that many, 0: all), read a page at a
// time. The whole history (no --after, or --after 0) of a key that has no
// retained change and does not exist is not found (exit 3), as get of it
// is; --after N with nothing after N is an empty answer (a poll's).
func cmdHistory(ctx context.Context, c *cli, args []string) error {
	key := args[0]
	return c.withStore(ctx, false, func(s *sqlstore.Store) error {
		var page []storage.Event
		after, n := c.after, 0
		read := func() (bool, error) {
			opts := append(c.nsOpts(), c.changeOpts(after)...)
			if c.limit > 0 {
				opts = append(opts, storage.Limit(min(c.limit-n, storage.DefaultHistoryLimit)))
			}
			var err error
			page, err = s.History(ctx, key, opts...)
			if err != nil || len(page) == 0 {
				return false, err
			}
			n += len(page)
			after = page[len(page)-1].Revision
			return c.limit == 0 || n < c.limit, nil
		}
		// The first page is read before anything is written, so that a
		// missing key is an ordinary error answer.
		more, err := read()
		if err == nil && n == 0 && c.after <= 0 {
			err = historyAbsent(ctx, s, c, key)
		}
		if err != nil {
			return err
		}
		first := true
		next := func() (bool, error) {
			if first {
				first = false
				return more, nil
			}
			return read()
		}
		if c.json {
			js := c.startStream("events", "namespace", c.nsName(), "key", key)
			for {
				more, err := next()
				for _, ev := range page {
					if err := js.item(routes.EventOf(ev)); err != nil {
						return js.end(err)
					}
				}
				if err != nil || !more {
					return js.end(err)
				}
			}
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "REVISION\tTYPE\tVERSION\tAT\tVALUE")
		for {
			more, err := next()
			for _, ev := range page {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", ev.Revision, ev.Type, orDash(ev.Version), ev.At.Format(time.RFC3339), compact(ev.Value, 60))
			}
			if ferr := tw.Flush(); err == nil {
				err = ferr
			}
			if err != nil {
				return err
			}
			if !more {
				break
			}
		}
		fmt.Fprintf(c.stderr, "(%s)\n", events(n))
		return nil
	})
}

// historyAbsent is the error of a history without a retained change: not
// found when the key does not exist either (storage.ErrNotFound, or
// storage.ErrNamespaceNotFound for its namespace), nil when it does (its
// changes were compacted away).
func historyAbsent(ctx context.Context, s *sqlstore.Store, c *cli, key string) error {
	ok, err := s.Has(ctx, key, c.nsOpts()...)
	if err != nil || ok {
		return err
	}
	return &storage.OpError{Op: "history", Namespace: c.nsName(), Key: key,
		Err: fmt.Errorf("no retained change and no such key: %w", storage.ErrNotFound)}
}

// eventLine is one event for a person: revision, type, namespace, key (quoted
// when it has spaces or other characters a line would hide) and the value.
func eventLine(ev storage.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s %s", ev.Revision, ev.Type, quoteField(ev.Namespace))
	if ev.Key != "" {
		b.WriteString(" " + quoteField(ev.Key))
	}
	if len(ev.Value) > 0 {
		b.WriteString(" " + compact(ev.Value, 200))
	}
	return b.String()
}

// quoteField quotes s when it is empty or holds a space, a quote or a
// character that is not printable.
func quoteField(s string) string {
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == '"' || !strconv.IsPrint(r) }) {
		return strconv.Quote(s)
	}
	return s
}

func orDash(v int64) string {
	if v == 0 {
		return "-"
	}
	return strconv.FormatInt(v, 10)
}

// events is "1 event", "2 events".
func events(n int) string {
	if n == 1 {
		return "1 event"
	}
	return strconv.Itoa(n) + " events"
}

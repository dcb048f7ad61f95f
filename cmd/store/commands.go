package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/routes"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// metaJSON is meta's --json output: the wire's getMetadata result
// (routes.MetadataJSON) with the entry's namespace and key. An entry's
// --json output is the wire's entry, routes.EntryJSON, so that one entry
// reads the same from the CLI and from the server.
type metaJSON struct {
	Namespace string `json:"namespace"`
	Key       string `json:"key"`
	routes.MetadataJSON
}

// expiryLine is an expiry for a person: the time and how far off it is.
func expiryLine(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return fmt.Sprintf("%s (in %s)", t.Format(timeFormat), time.Until(t).Round(time.Second))
}

// expiryOpt parses --ttl, --expires-at and --keep-ttl (at most one).
func (c *cli) expiryOpt() ([]storage.Option, error) {
	var opts []storage.Option
	if c.ttl != "" {
		d, err := time.ParseDuration(c.ttl)
		if err != nil {
			secs, serr := strconv.ParseInt(c.ttl, 10, 64)
			if serr != nil {
				return nil, usagef("--ttl wants a duration such as 90s, 10m or 24h (or whole seconds): %s", c.ttl)
			}
			if secs <= 0 || secs > int64(storage.MaxTTL/time.Second) {
				return nil, usagef("--ttl %s: want 1 to %d seconds", c.ttl, int64(storage.MaxTTL/time.Second))
			}
			d = time.Duration(secs) * time.Second
		}
		opts = append(opts, storage.WithTTL(d))
	}
	if c.expiresAt != "" {
		t, err := time.Parse(time.RFC3339Nano, c.expiresAt)
		if err != nil {
			return nil, usagef("--expires-at wants an RFC 3339 time such as 2030-01-02T15:04:05Z: %s", c.expiresAt)
		}
		opts = append(opts, storage.ExpiresAt(t))
	}
	if c.keepTTL {
		opts = append(opts, storage.KeepTTL())
	}
	if len(opts) > 1 {
		return nil, usagef("give at most one of --ttl, --expires-at and --keep-ttl")
	}
	return opts, nil
}

// pretty indents JSON for a person; it returns b unchanged if it cannot.
func pretty(b []byte) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return string(b)
	}
	return buf.String()
}

// compact shortens JSON to one line of at most n runes.
func compact(b []byte, n int) string {
	var buf bytes.Buffer
	s := string(b)
	if json.Compact(&buf, b) == nil {
		s = buf.String()
	}
	if utf8.RuneCountInString(s) > n {
		r := []rune(s)
		s = string(r[:n-1]) + "…"
	}
	return s
}

const timeFormat = "2006-01-02 15:04:05.000000Z07:00"

func cmdGet(ctx context.Context, c *cli, args []string) error {
	return c.withStore(ctx, false, func(s *sqlstore.Store) error {
		opts := c.nsOpts()
		if c.at > 0 {
			opts = append(opts, storage.AtRevision(c.at))
		}
		// The log keeps no actors: --at shows none (the key may be gone
		// now, or be of a later life whose versions repeat the ones it had).
		var e storage.Entry
		var md storage.Metadata
		var err error
		if c.at > 0 {
			e, err = s.Get(ctx, args[0], opts...)
		} else {
			e, md, err = entryWithActors(ctx, s, args[0], opts)
		}
		if err != nil {
			return err
		}
		by := func(actor string) string {
			if actor == "" {
				return ""
			}
			return " by " + actor
		}
		if c.json {
			j := routes.EntryOf(e)
			j.CreatedBy, j.UpdatedBy = md.CreatedBy, md.UpdatedBy
			c.printOK(j)
			return nil
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 0, 1, ' ', 0)
		fmt.Fprintf(tw, "namespace:\t%s\n", e.Namespace)
		fmt.Fprintf(tw, "key:\t%s\n", lineKey(e.Key))
		fmt.Fprintf(tw, "version:\t%d\n", e.Version)
		fmt.Fprintf(tw, "revision:\t%d\n", e.Revision)
		fmt.Fprintf(tw, "created:\t%s%s\n", e.CreatedAt.Format(timeFormat), by(md.CreatedBy))
		fmt.Fprintf(tw, "updated:\t%s%s\n", e.UpdatedAt.Format(timeFormat), by(md.UpdatedBy))
		fmt.Fprintf(tw, "expires:\t%s\n", expiryLine(e.ExpiresAt))
		fmt.Fprintf(tw, "metadata:\t%s\n", compact(e.Metadata, 200))
		_ = tw.Flush()
		fmt.Fprintf(c.stdout, "value:\n%s\n", pretty(e.Value))
		return nil
	})
}

// pairTries is how many times entryWithActors reads a key that keeps
// changing between its two reads before it gives the entry without actors.
const pairTries = 8

// entryWithActors reads key's entry and the audit actors of that same state
// (storage.Entry has no actors; GetMetadata has no value): the metadata,
// then the entry, again while a write came between them. Both are of one
// state when their revisions are equal, since every change of a key gets a
// revision the key never had (a version repeats across a delete and a
// re-create). A key deleted or expired between the reads is not found, as
// it is by then. A key written on every try comes without actors (md is
// the zero Metadata).
func entryWithActors(ctx context.Context, s *sqlstore.Store, key string, opts []storage.Option) (storage.Entry, storage.Metadata, error) {
	var e storage.Entry
	for range pairTries {
		md, err := s.GetMetadata(ctx, key, opts...)
		if err != nil {
			return storage.Entry{}, storage.Metadata{}, err
		}
		if e, err = s.Get(ctx, key, opts...); err != nil {
			return storage.Entry{}, storage.Metadata{}, err
		}
		if e.Revision == md.Revision {
			return e, md, nil
		}
	}
	return e, storage.Metadata{}, nil
}

// maxStdin is the most readArg reads from stdin: the largest value the
// store takes (the command opens it with the default maximum), with room
// for the blank space around it.
const maxStdin = storage.DefaultMaxValueSize + 1<<20

// readArg returns arg, or stdin when arg is "-" or absent. It reads at most
// maxStdin bytes, so that endless input (yes | store set k) fails at once
// with storage.ErrValueTooLarge instead of filling the memory.
func (c *cli) readArg(args []string, i int, what string) ([]byte, error) {
	if len(args) > i && args[i] != "-" {
		return []byte(args[i]), nil
	}
	b, err := io.ReadAll(io.LimitReader(c.stdin, maxStdin+1))
	if err != nil {
		return nil, fmt.Errorf("read %s from stdin: %w", what, err)
	}
	if len(b) > maxStdin {
		return nil, fmt.Errorf("%w: %s on stdin is more than %d bytes, the most the store takes is %d",
			storage.ErrValueTooLarge, what, maxStdin, storage.DefaultMaxValueSize)
	}
	return bytes.TrimSpace(b), nil
}

// metadataObject parses --metadata: nil when not given.
func (c *cli) metadataObject() (json.RawMessage, error) {
	if c.metadata == "" {
		return nil, nil
	}
	md, ok := jsonObject([]byte(c.metadata))
	if !ok {
		return nil, usagef("--metadata must be a JSON object: %s", c.metadata)
	}
	return md, nil
}

// jsonObject returns b as JSON text for the store to check, when it is one
// JSON object. It is passed on as it is, not decoded into a map, so that
// the store refuses what it refuses in any value (a member given twice,
// which a map would keep the last of; a number out of range).
func jsonObject(b []byte) (json.RawMessage, bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' || !json.Valid(b) {
		return nil, false
	}
	return json.RawMessage(b), true
}

func cmdSet(ctx context.Context, c *cli, args []string) error {
	val, err := c.readArg(args, 1, "the value")
	if err != nil {
		return err
	}
	if !json.Valid(val) {
		return usagef("the value is not JSON (a string needs quotes: '\"text\"'): %s", compact(val, 60))
	}
	opts := c.nsOpts()
	md, err := c.metadataObject()
	if err != nil {
		return err
	}
	if md != nil {
		opts = append(opts, storage.WithMetadata(md))
	}
	if c.noOverwr {
		opts = append(opts, storage.NoOverwrite())
	}
	if c.merge {
		opts = append(opts, storage.Merge())
	}
	if c.ifVersion > 0 {
		opts = append(opts, storage.IfVersion(c.ifVersion))
	}
	if c.ifRevision > 0 {
		opts = append(opts, storage.IfRevision(c.ifRevision))
	}
	exp, err := c.expiryOpt()
	if err != nil {
		return err
	}
	opts = append(opts, exp...)
	return c.withStore(ctx, true, func(s *sqlstore.Store) error {
		var w storage.WriteResult
		if err := s.Set(ctx, args[0], json.RawMessage(val), append(opts, storage.Written(&w))...); err != nil {
			return err
		}
		exp := c.writtenExpiry(ctx, s, args[0], w.Revision)
		if c.json {
			out := map[string]any{"namespace": c.nsName(), "key": args[0], "version": w.Version, "revision": w.Revision}
			if !exp.IsZero() {
				out["expiresAt"] = exp
			}
			c.printOK(out)
			return nil
		}
		expires := ""
		if !exp.IsZero() {
			expires = ", expires " + expiryLine(exp)
		}
		fmt.Fprintf(c.stdout, "set %q in namespace %q (version %d, revision %d%s)\n", args[0], c.nsName(), w.Version, w.Revision, expires)
		return nil
	})
}

// writtenExpiry is the expiry the set of key at revision rev stored: read
// back from the entry while it is still that write's, else from the change
// log (the entry may have expired already, --ttl 1us, or been written
// again); the zero time when neither says. The set succeeded either way:
// its version and revision come from the write itself.
func (c *cli) writtenExpiry(ctx context.Context, s *sqlstore.Store, key string, rev int64) time.Time {
	if md, err := s.GetMetadata(ctx, key, c.nsOpts()...); err == nil && md.Revision == rev {
		return md.ExpiresAt
	}
	if e, err := s.Get(ctx, key, append(c.nsOpts(), storage.AtRevision(rev))...); err == nil && e.Revision == rev {
		return e.ExpiresAt
	}
	return time.Time{}
}

func cmdDelete(ctx context.Context, c *cli, args []string) error {
	opts := c.nsOpts()
	if c.ifVersion > 0 {
		opts = append(opts, storage.IfVersion(c.ifVersion))
	}
	if c.ifRevision > 0 {
		opts = append(opts, storage.IfRevision(c.ifRevision))
	}
	return c.withStore(ctx, false, func(s *sqlstore.Store) error {
		if err := s.Delete(ctx, args[0], opts...); err != nil {
			return err
		}
		if c.json {
			c.printOK(map[string]any{"namespace": c.nsName(), "key": args[0]})
			return nil
		}
		fmt.Fprintf(c.stdout, "deleted %q from namespace %q\n", args[0], c.nsName())
		return nil
	})
}

func cmdHas(ctx context.Context, c *cli, args []string) error {
	return c.withStore(ctx, false, func(s *sqlstore.Store) error {
		ok, err := s.Has(ctx, args[0], c.nsOpts()...)
		if err != nil {
			return err
		}
		if c.json {
			c.printOK(map[string]any{"namespace": c.nsName(), "key": args[0], "exists": ok})
		} else {
			fmt.Fprintln(c.stdout, ok)
		}
		if !ok {
			return errAbsent{}
		}
		return nil
	})
}

// errAbsent is has's answer for a missing key: exit 3 with nothing more
// printed.
type errAbsent struct{}

func (errAbsent) Error() string { return "the key does not exist" }
func (errAbsent) Unwrap() error { return storage.ErrNotFound }

// cmdMeta prints an entry's metadata and system fields, or with OBJECT
// replaces its metadata (--merge: applies OBJECT as a JSON merge patch).
func cmdMeta(ctx context.Context, c *cli, args []string) error {
	if len(args) == 1 {
		if c.merge {
			return usagef("--merge needs an OBJECT to merge")
		}
		return c.withStore(ctx, false, func(s *sqlstore.Store) error {
			md, err := s.GetMetadata(ctx, args[0], c.nsOpts()...)
			if err != nil {
				return err
			}
			if c.json {
				out := metaJSON{Namespace: c.nsName(), Key: args[0], MetadataJSON: routes.MetadataOf(md)}
				if out.Metadata == nil {
					out.Metadata = map[string]any{}
				}
				c.printOK(out)
				return nil
			}
			b, err := json.Marshal(md.User)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(c.stdout, 0, 0, 1, ' ', 0)
			fmt.Fprintf(tw, "version:\t%d\n", md.Version)
			fmt.Fprintf(tw, "revision:\t%d\n", md.Revision)
			fmt.Fprintf(tw, "created:\t%s%s\n", md.CreatedAt.Format(timeFormat), byActor(md.CreatedBy))
			fmt.Fprintf(tw, "updated:\t%s%s\n", md.UpdatedAt.Format(timeFormat), byActor(md.UpdatedBy))
			fmt.Fprintf(tw, "expires:\t%s\n", expiryLine(md.ExpiresAt))
			_ = tw.Flush()
			fmt.Fprintf(c.stdout, "metadata:\n%s\n", pretty(b))
			return nil
		})
	}
	raw, err := c.readArg(args, 1, "metadata")
	if err != nil {
		return err
	}
	md, ok := jsonObject(raw)
	if !ok {
		return usagef("metadata must be a JSON object")
	}
	opts := c.nsOpts()
	if c.merge {
		opts = append(opts, storage.Merge())
	}
	if c.ifVersion > 0 {
		opts = append(opts, storage.IfVersion(c.ifVersion))
	}
	if c.ifRevision > 0 {
		opts = append(opts, storage.IfRevision(c.ifRevision))
	}
	return c.withStore(ctx, false, func(s *sqlstore.Store) error {
		if err := s.SetMetadata(ctx, args[0], md, opts...); err != nil {
			return err
		}
		if c.json {
			c.printOK(map[string]any{"namespace": c.nsName(), "key": args[0]})
			return nil
		}
		fmt.Fprintf(c.stdout, "metadata of %q in namespace %q %s\n", args[0], c.nsName(), map[bool]string{true: "merged", false: "replaced"}[c.merge])
		return nil
	})
}

func byActor(actor string) string {
	if actor == "" {
		return ""
	}
	return " by " + actor
}

// cmdClear deletes the entries of --namespace, or with --all of every
// namespace; it refuses to guess which.
func cmdClear(ctx context.Context, c *cli, _ []string) error {
	if (c.namespace == "") == !c.all {
		return usagef("clear needs --namespace NAME, or --all for every namespace")
	}
	return c.withStore(ctx, false, func(s *sqlstore.Store) error {
		if err := s.Clear(ctx, c.nsOpts()...); err != nil {
			return err
		}
		what := fmt.Sprintf("namespace %q", c.namespace)
		if c.all {
			what = "every namespace"
		}
		if c.json {
			c.printOK(map[string]any{"cleared": what})
			return nil
		}
		fmt.Fprintf(c.stdout, "cleared the entries of %s\n", what)
		return nil
	})
}

// more tells a person how to get the next page.
func (c *cli) more(cursor string) {
	if cursor != "" {
		fmt.Fprintf(c.stderr, "(more: add --cursor %s)\n", cursor)
	}
}

// readOpts are the options of one page: the namespace, its size n and
// cursor, and --offset on the first page.
func (c *cli) readOpts(n int, cursor string, first bool) []storage.Option {
	opts := append(c.nsOpts(), storage.Limit(n))
	if first && c.offset > 0 {
		opts = append(opts, storage.Offset(c.offset))
	}
	if cursor != "" {
		opts = append(opts, storage.After(cursor))
	}
	return opts
}

// lineKey is a key as list, query and get print it for a person: as it is,
// unless a line would not hold it whole (a newline, a tab or another
// character that is not printable) or it begins with a double quote; then
// Go-quoted (strconv.Quote), so that each line holds one key and a quoted
// one reads back with strconv.Unquote.
func lineKey(k string) string {
	if strings.HasPrefix(k, `"`) || strings.ContainsFunc(k, func(r rune) bool { return !strconv.IsPrint(r) }) {
		return strconv.Quote(k)
	}
	return k
}

// cmdList prints the keys a page at a time as they are read (--limit 0:
// every key, in pages of readPage).
func cmdList(ctx context.Context, c *cli, _ []string) error {
	return c.withStore(ctx, false, func(s *sqlstore.Store) error {
		var keys []string
		read := func(n int, cursor string, first bool) (int, string, error) {
			opts := c.readOpts(n, cursor, first)
			if c.pattern != "" {
				opts = append(opts, storage.Pattern(c.pattern))
			}
			res, err := s.List(ctx, opts...)
			keys = res.Keys
			return len(res.Keys), res.Cursor, err
		}
		if c.json {
			js := c.startStream("keys", "namespace", c.nsName())
			more, err := pages(c.limit, c.cursor, read, func() error {
				for _, k := range keys {
					if err := js.item(k); err != nil {
						return err
					}
				}
				return nil
			})
			return js.end(err, "cursor", more)
		}
		more, err := pages(c.limit, c.cursor, read, func() error {
			for _, k := range keys {
				fmt.Fprintln(c.stdout, lineKey(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		c.more(more)
		return nil
	})
}

// filterArg parses the optional FILTER argument ("-" reads stdin).
func (c *cli) filterArg(args []string) (storage.Filter, error) {
	if len(args) == 0 {
		return storage.Filter{}, nil
	}
	b, err := c.readArg(args, 0, "the filter")
	if err != nil {
		return storage.Filter{}, err
	}
	return storage.ParseFilter(b)
}

// cmdQuery prints the matching entries a page at a time as they are read
// (--limit 0: every entry, in pages of readPage); the table is aligned
// within each page.
func cmdQuery(ctx context.Context, c *cli, args []string) error {
	f, err := c.filterArg(args)
	if err != nil {
		return err
	}
	var sortBy []storage.Option
	if c.sort != "" {
		sf, err := parseSort(c.sort)
		if err != nil {
			return err
		}
		sortBy = append(sortBy, storage.SortBy(sf...))
	}
	return c.withStore(ctx, false, func(s *sqlstore.Store) error {
		var page []storage.Entry
		total := int64(0)
		read := func(n int, cursor string, first bool) (int, string, error) {
			res, err := s.Query(ctx, f, append(c.readOpts(n, cursor, first), sortBy...)...)
			page = res.Entries
			total += int64(len(page))
			return len(page), res.Cursor, err
		}
		if c.json {
			js := c.startStream("entries", "namespace", c.nsName())
			more, err := pages(c.limit, c.cursor, read, func() error {
				for _, e := range page {
					if err := js.item(routes.EntryOf(e)); err != nil {
						return err
					}
				}
				return nil
			})
			return js.end(err, "cursor", more)
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "KEY\tVERSION\tUPDATED\tVALUE")
		more, err := pages(c.limit, c.cursor, read, func() error {
			for _, e := range page {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", lineKey(e.Key), e.Version, e.UpdatedAt.Format(time.RFC3339), compact(e.Value, 60))
			}
			return tw.Flush()
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "(%s)\n", entries(total))
		c.more(more)
		return nil
	})
}

func cmdCount(ctx context.Context, c *cli, args []string) error {
	f, err := c.filterArg(args)
	if err != nil {
		return err
	}
	opts := c.nsOpts()
	if !f.IsZero() {
		opts = append(opts, storage.Where(f))
	}
	return c.withStore(ctx, false, func(s *sqlstore.Store) error {
		n, err := s.Count(ctx, opts...)
		if err != nil {
			return err
		}
		if c.json {
			c.printOK(map[string]any{"namespace": c.nsName(), "count": n})
			return nil
		}
		fmt.Fprintln(c.stdout, n)
		return nil
	})
}

func cmdNS(ctx context.Context, c *cli, args []string) error {
	switch args[0] {
	case "list":
		if len(args) != 1 {
			return usagef("usage: store ns list")
		}
		return c.withStore(ctx, false, func(s *sqlstore.Store) error { return nsList(ctx, c, s) })
	case "create":
		if len(args) != 2 {
			return usagef("usage: store ns create NAME [--metadata JSON]")
		}
		md, err := c.metadataObject()
		if err != nil {
			return err
		}
		var opts []storage.NamespaceOption
		if md != nil {
			opts = append(opts, storage.WithNamespaceMetadata(md))
		}
		return c.withStore(ctx, true, func(s *sqlstore.Store) error {
			if err := s.CreateNamespace(ctx, args[1], opts...); err != nil {
				return err
			}
			return c.done(map[string]any{"namespace": args[1]}, "created namespace %q", args[1])
		})
	case "delete":
		if len(args) != 2 {
			return usagef("usage: store ns delete NAME [--recursive]")
		}
		var opts []storage.NamespaceOption
		if c.recursive {
			opts = append(opts, storage.Recursive())
		}
		return c.withStore(ctx, false, func(s *sqlstore.Store) error {
			if err := s.DeleteNamespace(ctx, args[1], opts...); err != nil {
				return err
			}
			return c.done(map[string]any{"namespace": args[1]}, "deleted namespace %q", args[1])
		})
	}
	return usagef("ns takes list, create NAME or delete NAME, not %q", args[0])
}

func cmdIndex(ctx context.Context, c *cli, args []string) error {
	ns, field := args[1], args[2]
	out := map[string]any{"namespace": ns, "field": field}
	switch args[0] {
	case "create":
		return c.withStore(ctx, false, func(s *sqlstore.Store) error {
			if err := s.CreateIndex(ctx, ns, field); err != nil {
				return err
			}
			return c.done(out, "created index on %q in namespace %q", field, ns)
		})
	case "drop":
		return c.withStore(ctx, false, func(s *sqlstore.Store) error {
			if err := s.DropIndex(ctx, ns, field); err != nil {
				return err
			}
			return c.done(out, "dropped index on %q in namespace %q", field, ns)
		})
	}
	return usagef("index takes create or drop, not %q", args[0])
}

// done prints a command's outcome: v as JSON, or the message.
func (c *cli) done(v any, format string, args ...any) error {
	if c.json {
		c.printOK(v)
		return nil
	}
	fmt.Fprintf(c.stdout, format+"\n", args...)
	return nil
}

// nsJSON is a namespace in ns list's --json output.
type nsJSON struct {
	Name      string         `json:"name"`
	Owner     string         `json:"owner,omitempty"`
	Entries   int64          `json:"entries"`
	Metadata  map[string]any `json:"metadata"`
	CreatedAt time.Time      `json:"createdAt"`
	Indexes   []string       `json:"indexes,omitempty"`
}

// nsList prints the namespaces a page at a time (ListNamespaces with Limit
// and After), as they are read, each with its count of live entries.
func nsList(ctx context.Context, c *cli, s *sqlstore.Store) error {
	var page []storage.Namespace
	read := func(n int, after string, _ bool) (int, string, error) {
		opts := []storage.Option{storage.Limit(n)}
		if after != "" {
			opts = append(opts, storage.After(after))
		}
		var err error
		page, err = s.ListNamespaces(ctx, opts...)
		next := ""
		if len(page) == n {
			next = page[n-1].Name
		}
		return len(page), next, err
	}
	each := func(fn func(ns storage.Namespace, count int64, md map[string]any) error) error {
		for _, ns := range page {
			count, err := s.Count(ctx, storage.InNamespace(ns.Name))
			if err != nil {
				return err
			}
			md := ns.Metadata
			if md == nil {
				md = map[string]any{}
			}
			if err := fn(ns, count, md); err != nil {
				return err
			}
		}
		return nil
	}
	if c.json {
		js := c.startStream("namespaces")
		_, err := pages(0, "", read, func() error {
			return each(func(ns storage.Namespace, count int64, md map[string]any) error {
				return js.item(nsJSON{Name: ns.Name, Owner: ns.Owner, Entries: count, Metadata: md,
					CreatedAt: ns.CreatedAt, Indexes: ns.Indexes})
			})
		})
		return js.end(err)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tENTRIES\tCREATED\tOWNER\tINDEXES\tMETADATA")
	_, err := pages(0, "", read, func() error {
		err := each(func(ns storage.Namespace, count int64, md map[string]any) error {
			owner := ns.Owner
			if owner == "" {
				owner = "-"
			}
			indexes := "-"
			if len(ns.Indexes) > 0 {
				indexes = strings.Join(ns.Indexes, ",")
			}
			b, _ := json.Marshal(md)
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", ns.Name, count, ns.CreatedAt.Format(time.RFC3339), owner, indexes, compact(b, 60))
			return nil
		})
		if ferr := tw.Flush(); err == nil {
			err = ferr
		}
		return err
	})
	return err
}

func cmdStatus(ctx context.Context, c *cli, _ []string) error {
	return c.withStore(ctx, false, func(s *sqlstore.Store) error {
		st, err := s.Status(ctx)
		if err != nil {
			return err
		}
		if c.json {
			// The wire's getStatus shape.
			c.printOK(routes.StatusJSON{Healthy: st.Healthy, Size: st.Size, Capacity: st.Capacity,
				Namespaces: st.Namespaces, Dialect: st.Dialect, SchemaVersion: st.SchemaVersion,
				Revision: st.Revision, OldestRevision: st.OldestRevision, ReadOnly: st.ReadOnly, Degraded: st.Degraded})
			return nil
		}
		capacity := "none"
		if st.Capacity > 0 {
			capacity = fmt.Sprint(st.Capacity)
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 0, 1, ' ', 0)
		fmt.Fprintf(tw, "healthy:\t%v\n", st.Healthy)
		fmt.Fprintf(tw, "dialect:\t%s\n", st.Dialect)
		fmt.Fprintf(tw, "schema version:\t%d\n", st.SchemaVersion)
		fmt.Fprintf(tw, "entries:\t%d\n", st.Size)
		fmt.Fprintf(tw, "namespaces:\t%d\n", st.Namespaces)
		fmt.Fprintf(tw, "capacity:\t%s\n", capacity)
		// The change log's window: history and get --at reach back to the
		// oldest (Revision+1 when the log is empty).
		fmt.Fprintf(tw, "revision:\t%d (oldest retained %d)\n", st.Revision, st.OldestRevision)
		if st.ReadOnly {
			fmt.Fprintf(tw, "read-only:\t%s\n", st.Degraded)
		}
		return tw.Flush()
	})
}

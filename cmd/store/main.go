package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/dump"
	"github.com/mycelia-kernel/storage/internal/cmdline"
	"github.com/mycelia-kernel/storage/routes"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// Exit codes.
const (
	exitOK       = 0
	exitFailure  = 1 // the database, the file or the operation failed
	exitUsage    = 2 // a mistake in the command line
	exitNotFound = 3 // the key, namespace or index does not exist
	exitConflict = 4 // a conflict: version, existing key, namespace or index, not empty
)

// shortUsage is printed after a mistake in the command line.
const shortUsage = "usage: store [flags] COMMAND [ARGS]; store -h for help"

// DefaultDSN is used when neither --dsn nor STORAGE_DSN is given (the same
// as the migrate command's).
const DefaultDSN = cmdline.DefaultDSN

func main() {
	ctx, sig := cmdline.NotifySignals(context.Background())
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	sig.Stop()
	os.Exit(sig.ExitCode(code)) // 130 after Ctrl-C
}

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// fileError is a SQLite file the command may not create that does not
// exist, or one it may whose directory does not: storage.ErrUnavailable
// (exit 1), with err's message.
type fileError struct{ err error }

func (e fileError) Error() string   { return e.err.Error() }
func (e fileError) Unwrap() []error { return []error{storage.ErrUnavailable, e.err} }

// Unwrap makes a mistake in the command line storage.ErrInvalidOption,
// the "code" of its --json answer.
func (e usageError) Unwrap() error { return storage.ErrInvalidOption }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

type command struct {
	name, args, help string
	// minArgs and maxArgs bound the positional arguments (-1: no maximum).
	minArgs, maxArgs int
	run              func(ctx context.Context, c *cli, args []string) error
}

var commands = []command{
	{"get", "KEY", "print an entry: its value, metadata, version and times (--at REVISION: as it was then)", 1, 1, cmdGet},
	{"set", "KEY [VALUE]", "store a JSON value (VALUE, or stdin when omitted or -; --merge: patch the stored one)", 1, 2, cmdSet},
	{"delete", "KEY", "delete an entry", 1, 1, cmdDelete},
	{"has", "KEY", "print whether a key exists (exit 3 when it does not)", 1, 1, cmdHas},
	{"meta", "KEY [OBJECT]", "print an entry's metadata, or replace it with OBJECT (--merge: patch it; - reads stdin)", 1, 2, cmdMeta},
	{"clear", "", "delete every entry of --namespace, or of every namespace with --all", 0, 0, cmdClear},
	{"list", "", "list keys in byte order (--pattern, --limit, --offset, --cursor)", 0, 0, cmdList},
	{"query", "[FILTER]", "list the entries matching a JSON filter (- reads stdin; none: all)", 0, 1, cmdQuery},
	{"count", "[FILTER]", "count the entries (matching a JSON filter)", 0, 1, cmdCount},
	{"ns", "list|create NAME|delete NAME", "list, create (--metadata) or delete (--recursive) namespaces", 1, 2, cmdNS},
	{"index", "create|drop NAMESPACE FIELD", "declare an index on a field of a namespace that exists (built over its entries), or drop one", 3, 3, cmdIndex},
	{"watch", "[FILTER]", "print the changes as they are committed, of every namespace or -n's, until Ctrl-C (--after, --pattern, --limit)", 0, 1, cmdWatch},
	{"history", "KEY", "print a key's retained changes, oldest first (--after, --limit)", 1, 1, cmdHistory},
	{"status", "", "print the store's health, size, dialect and schema version", 0, 0, cmdStatus},
	{"export", "[FILE]", "write the store (or -n NAMESPACE) as NDJSON to FILE or stdout", 0, 1, cmdExport},
	{"import", "[FILE]", "read an NDJSON export from FILE or stdin (--on-conflict, --check)", 0, 1, cmdImport},
	{"copy", "", "copy the store (or -n NAMESPACE) from --from DSN to --to DSN", 0, 0, cmdCopy},
}

// cli holds the parsed flags and the streams of one run.
type cli struct {
	ctx        context.Context // run's: main's carries its Signals
	dsn        string
	json       bool
	namespace  string
	limit      int
	offset     int
	cursor     string
	sort       string
	pattern    string
	metadata   string
	ifVersion  int64
	ifRevision int64
	noOverwr   bool
	ttl        string
	expiresAt  string
	keepTTL    bool
	recursive  bool
	from, to   string
	onConflict string
	batchSize  int
	check      bool
	quiet      bool
	noMigrate  bool
	directDSN  string // --direct-dsn: the migrations' connection when --dsn goes through a pooler
	actor      string
	progress   string // auto, bar, lines, none
	dsnSet     bool   // --dsn or STORAGE_DSN was given
	version    bool
	merge      bool
	all        bool
	after      int64 // watch, history: the changes after this revision (-1: not given)
	at         int64 // get: the key as it was at this revision (-1: not given)
	omitValues bool

	cmd            string // the command being run, for --json answers
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

func newFlagSet(c *cli, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("store", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.dsn, "dsn", "", "database `DSN`: sqlite:PATH, sqlite::memory: or postgres://… (default $STORAGE_DSN, else "+DefaultDSN+")")
	fs.BoolVar(&c.json, "json", false, "print results (and errors) as JSON on stdout, for programs")
	fs.StringVar(&c.namespace, "namespace", "", "the `NAMESPACE` (default: default; export, import and copy: all)")
	fs.StringVar(&c.namespace, "n", "", "short for --namespace")
	fs.IntVar(&c.limit, "limit", 0, "list, query: at most `N` results (0: no limit, every result)")
	fs.IntVar(&c.offset, "offset", 0, "list, query: skip `N` results")
	fs.StringVar(&c.cursor, "cursor", "", "list, query: continue after this `CURSOR` (printed by the previous page)")
	fs.StringVar(&c.sort, "sort", "", "query: sort by `FIELDS`, comma-separated, each FIELD or FIELD:desc: a path into the value,\n"+
		"or $key, $version, $createdAt, $updatedAt, $metadata.PATH (e.g. age:desc,name); ties go by key")
	fs.StringVar(&c.pattern, "pattern", "", "list: only keys matching this glob `PATTERN` (* and ?)")
	fs.StringVar(&c.metadata, "metadata", "", "set, ns create: user metadata, a JSON `OBJECT`")
	fs.BoolVar(&c.noOverwr, "no-overwrite", false, "set: fail if the key exists")
	fs.StringVar(&c.ttl, "ttl", "", "set: the entry expires after `DURATION` (90s, 10m, 24h, or whole seconds)")
	fs.StringVar(&c.expiresAt, "expires-at", "", "set: the entry expires at `TIME` (RFC 3339)")
	fs.BoolVar(&c.keepTTL, "keep-ttl", false, "set: keep the entry's expiry (an overwrite clears it otherwise)")
	fs.Int64Var(&c.ifVersion, "if-version", 0, "set, delete, meta: only if the entry is at `VERSION`")
	fs.Int64Var(&c.ifRevision, "if-revision", 0, "set, delete, meta: only if the entry's last change is `REVISION` (never reused, unlike versions)")
	fs.BoolVar(&c.recursive, "recursive", false, "ns delete: delete the namespace's entries too")
	fs.BoolVar(&c.merge, "merge", false, "set, meta: apply VALUE or OBJECT as an RFC 7396 JSON merge patch instead of replacing (null removes a member)")
	fs.BoolVar(&c.all, "all", false, "clear: every namespace")
	fs.StringVar(&c.from, "from", "", "copy: the source `DSN` (default: --dsn or $STORAGE_DSN)")
	fs.StringVar(&c.to, "to", "", "copy: the target `DSN` (default: --dsn or $STORAGE_DSN)")
	fs.StringVar(&c.onConflict, "on-conflict", "fail", "import, copy: a key that holds other content: fail, skip or overwrite")
	fs.IntVar(&c.batchSize, "batch-size", dump.DefaultBatchSize, "import, copy: entries per transaction")
	fs.BoolVar(&c.check, "check", false, "import: validate the whole file, write nothing")
	fs.BoolVar(&c.quiet, "quiet", false, "export, import, copy: no progress and no summary")
	fs.BoolVar(&c.quiet, "q", false, "short for --quiet")
	fs.StringVar(&c.progress, "progress", "auto", "export, import, copy: progress on stderr: auto (a bar on a terminal, else lines), bar, lines or none")
	fs.StringVar(&c.actor, "actor", "", "writes: record `NAME` as their actor (the audit fields createdBy and updatedBy, which get and meta show)")
	fs.BoolVar(&c.noMigrate, "no-migrate", false, "do not apply pending schema migrations when opening the store")
	fs.StringVar(&c.directDSN, "direct-dsn", "", "PostgreSQL: a `DSN` that reaches --dsn's database without the connection pooler (PgBouncer in\n"+
		"transaction mode) --dsn goes through, for the migrations (sqlstore.WithDirectDSN); not for copy's --from and --to\n"+
		"(default $STORAGE_DIRECT_DSN)")
	fs.Int64Var(&c.after, "after", -1, "watch, history: the changes after `REVISION` (0: every retained change; watch's default: those from now on)")
	fs.Int64Var(&c.at, "at", -1, "get: the key as it was at `REVISION` (from the change log's retained window)")
	fs.BoolVar(&c.omitValues, "omit-values", false, "watch, history: leave out values and metadata")
	fs.BoolVar(&c.version, "version", false, "print the version and exit")
	fs.Usage = func() {} // run prints the help for -h, a short line for a mistake
	return fs
}

func usage(fs *flag.FlagSet) {
	cmds := make([]cmdline.Command, len(commands))
	for i, c := range commands {
		cmds[i] = cmdline.Command{Name: c.name, Args: c.args, Help: c.help}
	}
	cmdline.PrintUsage(fs, `Usage: store [flags] COMMAND [ARGS]

Reads and writes a storage engine store (SQLite or PostgreSQL; the dialect
follows from the DSN), and exports, imports and copies it as NDJSON.

Commands:
`, cmds, `Exit status: 0 ok, 1 failure, 2 usage or input the store refuses (key,
namespace, value, filter, option), 3 not found (key or namespace),
4 conflict (version mismatch, key or namespace exists, namespace not empty,
an import's conflicting key).
`)
}

// run is the whole program; it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	// stdin is read until ctx ends: Ctrl-C stops a command waiting for it.
	c := &cli{ctx: ctx, stdin: newCtxReader(ctx, stdin), stdout: stdout, stderr: stderr, getenv: getenv}
	fs := newFlagSet(c, stderr)
	// Flags may come before and after the command.
	pos, err := cmdline.Parse(fs, args)
	if err != nil {
		code := cmdline.ParseFailed(err, fs, func() { usage(fs) }, shortUsage)
		if code == exitUsage && cmdline.WantsJSON(args) {
			// The flag package has said what is wrong on stderr; a
			// program reading stdout gets its answer too.
			c.answer(false, map[string]any{"error": err.Error(), "code": routes.CodeInvalidOption, "exitCode": code})
		}
		return code
	}
	if c.version {
		fmt.Fprintln(stdout, cmdline.Version("store"))
		return exitOK
	}
	c.dsn, c.dsnSet = cmdline.DSN(c.dsn, getenv)
	c.directDSN = cmdline.DirectDSN(c.directDSN, c.dsn, getenv)
	if len(pos) == 0 {
		return c.fail("", usagef("no command given (try store -h)"))
	}
	name := pos[0]
	for _, cmd := range commands {
		if cmd.name != name {
			continue
		}
		n := len(pos) - 1
		if n < cmd.minArgs || (cmd.maxArgs >= 0 && n > cmd.maxArgs) {
			return c.fail(name, usagef("usage: store %s %s (got %d arguments)", name, cmd.args, n))
		}
		if err := checkTaken(commandForm(name, pos[1:]), fs); err != nil {
			return c.fail(name, err)
		}
		if err := checkFlags(c, fs); err != nil {
			return c.fail(name, err)
		}
		if c.actor != "" {
			ctx = storage.ContextWithActor(ctx, c.actor)
		}
		c.cmd = name
		if err := cmd.run(ctx, c, pos[1:]); err != nil {
			return c.fail(name, err)
		}
		return exitOK
	}
	return c.fail("", usagef("unknown command %q (try store -h)", name))
}

// commonFlags are the flags every command takes.
var commonFlags = []string{"dsn", "direct-dsn", "json", "n", "namespace", "no-migrate", "version", "actor", "quiet", "q", "progress"}

// commandFlags are the flags each command takes besides commonFlags, as
// its help lists them.
var commandFlags = map[string][]string{
	"set":     {"metadata", "no-overwrite", "if-version", "if-revision", "ttl", "expires-at", "keep-ttl", "merge"},
	"delete":  {"if-version", "if-revision"},
	"meta":    {"merge", "if-version", "if-revision"},
	"clear":   {"all"},
	"get":     {"at"},
	"list":    {"pattern", "limit", "offset", "cursor"},
	"watch":   {"after", "pattern", "limit", "omit-values"},
	"history": {"after", "limit", "omit-values"},
	"query":   {"sort", "limit", "offset", "cursor"},
	"ns":      {"metadata", "recursive"},
	"import":  {"on-conflict", "batch-size", "check"},
	"copy":    {"from", "to", "on-conflict", "batch-size"},
	// The forms of a command whose flags differ (commandForm).
	"ns list":   {},
	"ns create": {"metadata"},
	"ns delete": {"recursive"},
	"meta KEY":  {"merge"}, // reads: --merge is refused with its own message
}

// commandForm names the form of a command whose forms take different
// flags: "ns list", "ns create", "ns delete", and "meta KEY" (meta's read,
// which takes no condition: --if-version and --if-revision guard a write).
// A flag of one form given to another was ignored.
func commandForm(name string, args []string) string {
	switch {
	case name == "ns" && len(args) > 0 && slices.Contains([]string{"list", "create", "delete"}, args[0]):
		return "ns " + args[0]
	case name == "meta" && len(args) == 1:
		return "meta KEY"
	}
	return name
}

// checkTaken refuses a flag the command does not take (query --pattern,
// get --if-version), which it would otherwise ignore, answering as if the
// flag were not there: the library refuses an option an operation does not
// take (storage.ErrInvalidOption), and so does the command line.
func checkTaken(name string, fs *flag.FlagSet) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		if err == nil && !slices.Contains(commonFlags, f.Name) && !slices.Contains(commandFlags[name], f.Name) {
			err = usagef("%s does not take --%s", name, f.Name)
		}
	})
	return err
}

// checkFlags refuses the flags given out of their range, which the
// commands would otherwise take as not given or as the default: a negative
// --limit, --offset or --after, an --if-version, --if-revision, --at or
// --batch-size below 1 (a conditional write must never become an unconditional one), and a
// --progress other than auto, bar, lines or none.
func checkFlags(c *cli, fs *flag.FlagSet) error {
	switch c.progress {
	case "auto", "bar", "lines", "none":
	default:
		return usagef("--progress %q: want auto, bar, lines or none", c.progress)
	}
	var err error
	fs.Visit(func(f *flag.Flag) {
		var bad bool
		switch f.Name {
		case "limit":
			bad = c.limit < 0
		case "offset":
			bad = c.offset < 0
		case "if-version":
			bad = c.ifVersion < 1
		case "if-revision":
			bad = c.ifRevision < 1
		case "batch-size":
			bad = c.batchSize < 1
		case "after":
			bad = c.after < 0
		case "at":
			bad = c.at < 1
		}
		if bad && err == nil {
			least := 1
			if f.Name == "limit" || f.Name == "offset" || f.Name == "after" {
				least = 0
			}
			err = usagef("--%s %s: want a whole number >= %d", f.Name, f.Value, least)
		}
	})
	return err
}

// invalidInput are the sentinels of an input the store refuses: a key,
// namespace, value, metadata, option or filter given on the command line
// (or stdin) is a usage error, exit 2, as a bad flag is.
var invalidInput = []error{storage.ErrInvalidKey, storage.ErrInvalidNamespace, storage.ErrInvalidValue,
	storage.ErrValueTooLarge, storage.ErrInvalidOption, storage.ErrInvalidFilter}

// exitCode maps an error to the documented exit codes. An import's or a
// copy's fault in what it reads (a dump.ImportError: a key or value of the
// file, or of the source store, the target refuses) is a failure, exit 1,
// not a usage error: the command line was right.
func exitCode(err error) int {
	var ue usageError
	var ie *dump.ImportError
	invalid := false
	for _, s := range invalidInput {
		invalid = invalid || errors.Is(err, s)
	}
	switch {
	case errors.As(err, &ue), invalid && !errors.As(err, &ie):
		return exitUsage
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrNamespaceNotFound), errors.Is(err, storage.ErrIndexNotFound):
		return exitNotFound
	case errors.Is(err, storage.ErrConflict), errors.Is(err, storage.ErrAlreadyExists),
		errors.Is(err, storage.ErrNamespaceExists), errors.Is(err, storage.ErrNamespaceNotEmpty), errors.Is(err, storage.ErrIndexExists):
		return exitConflict
	}
	return exitFailure
}

// fail reports err and returns its exit code.
func (c *cli) fail(cmd string, err error) int {
	code := cmdline.ExitCodeFor(c.ctx, exitCode(err)) // 130 after Ctrl-C, as main exits
	if errors.As(err, new(errAbsent)) || errors.As(err, new(printedError)) {
		return code // the command has printed its answer
	}
	if c.json {
		// "code": the storage sentinel err wraps, in the wire's words.
		out := map[string]any{"error": err.Error(), "code": routes.CodeOf(err), "exitCode": code}
		var ie *dump.ImportError
		if errors.As(err, &ie) {
			out["line"] = ie.Line
			out["imported"] = importJSON(ie.Committed)
			if ie.RolledBackFrom > 0 {
				out["rolledBackLines"] = []int64{ie.RolledBackFrom, ie.RolledBackTo}
			}
		}
		c.cmd = cmd
		c.answer(false, out)
	} else {
		fmt.Fprintf(c.stderr, "store: %v\n", err)
		if code == exitUsage {
			var ue usageError
			if errors.As(err, &ue) {
				fmt.Fprintln(c.stderr, shortUsage)
			}
		}
	}
	return code
}

// printOK prints the --json answer of a command that succeeded: v's
// members after "command" and "ok": true.
func (c *cli) printOK(v any) { c.answer(true, v) }

// answer prints a --json answer: one object whose first members are
// "command" (the command's name) and "ok", then v's members (v encodes
// as a JSON object), so that every answer, success or failure, has the
// same shape.
func (c *cli) answer(ok bool, v any) {
	body, err := marshal(v)
	if err != nil {
		body = []byte("{}")
	}
	cmdline.WriteAnswer(c.stdout, c.cmd, ok, body)
}

// marshal is json.Marshal without HTML escaping.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSpace(b.Bytes()), nil
}

// open opens the store at dsn. Commands that only read refuse a SQLite
// file that does not exist rather than create an empty database.
func (c *cli) open(ctx context.Context, dsn string, mayCreate bool) (*sqlstore.Store, error) {
	dc, err := dialect.ParseDSN(dsn)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	if dc.Dialect == dialect.SQLite && !dc.Memory {
		// With --no-migrate no command creates a database: one it may not
		// migrate could not be opened, and the file would stay behind.
		if err := cmdline.CheckSQLiteFile(dc.Path, mayCreate && !c.noMigrate); err != nil {
			if mayCreate && c.noMigrate {
				err = fmt.Errorf("%w (--no-migrate creates none)", err)
			}
			// A file that cannot be opened, as sqlstore.Open says it.
			return nil, fileError{err}
		}
	}
	var opts []sqlstore.Option
	if c.noMigrate {
		opts = append(opts, sqlstore.WithoutMigrate())
	}
	if c.directDSN != "" && dsn == c.dsn {
		opts = append(opts, sqlstore.WithDirectDSN(c.directDSN))
	}
	return sqlstore.Open(ctx, dsn, opts...)
}

// withStore opens --dsn's store, runs fn and closes it.
func (c *cli) withStore(ctx context.Context, mayCreate bool, fn func(s *sqlstore.Store) error) error {
	s, err := c.open(ctx, c.dsn, mayCreate)
	if err != nil {
		return err
	}
	err = fn(s)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}

// nsOpts is the namespace option of data commands.
func (c *cli) nsOpts() []storage.Option {
	if c.namespace == "" {
		return nil
	}
	return []storage.Option{storage.InNamespace(c.namespace)}
}

// nsName is the namespace for messages.
func (c *cli) nsName() string {
	if c.namespace == "" {
		return storage.DefaultNamespace
	}
	return c.namespace
}

// parseSort reads --sort: "a,b:desc".
func parseSort(s string) ([]storage.SortField, error) {
	var out []storage.SortField
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		field, dir, _ := strings.Cut(part, ":")
		switch dir {
		case "", "asc":
			out = append(out, storage.Asc(field))
		case "desc":
			out = append(out, storage.Desc(field))
		default:
			return nil, usagef("--sort %q: the direction is asc or desc, not %q", part, dir)
		}
	}
	return out, nil
}

package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/internal/cmdline"
	"github.com/mycelia-kernel/storage/internal/pgdirect"
	"github.com/mycelia-kernel/storage/routes"
	"github.com/mycelia-kernel/storage/schema"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// DefaultDSN is used when neither --dsn nor STORAGE_DSN is given.
const DefaultDSN = cmdline.DefaultDSN

func main() {
	ctx, sig := cmdline.NotifySignals(context.Background())
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	sig.Stop()
	os.Exit(sig.ExitCode(code)) // 130 after Ctrl-C
}

// shortUsage is printed after a mistake in the command line.
const shortUsage = "usage: migrate [flags] COMMAND [ARG]; migrate -h for help"

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// Unwrap makes a mistake in the command line storage.ErrInvalidOption.
func (e usageError) Unwrap() error { return storage.ErrInvalidOption }

// failure is an error of migrate's own (not package schema's or the
// engine's) with the storage sentinel it means; its message is err's.
type failure struct {
	sentinel error
	err      error
}

func (e failure) Error() string   { return e.err.Error() }
func (e failure) Unwrap() []error { return []error{e.sentinel, e.err} }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

type command struct {
	name, args, help string
	nargs            int
	run              func(ctx context.Context, c *cli, args []string) error
}

var commands = []command{
	{"up", "", "apply every pending migration", 0, cmdUp},
	{"up-to", "V", "apply the pending migrations up to and including version V", 1, cmdUpTo},
	{"down", "", "roll back the most recently applied migration", 0, cmdDown},
	{"down-to", "V", "roll back the migrations above version V (0: all of them)", 1, cmdDownTo},
	{"redo", "", "roll back the most recent migration and apply it again", 0, cmdRedo},
	{"reset", "", "roll back every applied migration", 0, cmdReset},
	{"status", "", "list every migration, applied (with its time) or pending", 0, cmdStatus},
	{"version", "", "print the database's schema version", 0, cmdVersion},
	{"validate", "", "check the migration files of every dialect, and dry-run the SQLite ones in memory", 0, cmdValidate},
	{"create", "NAME", "write the next numbered migration, NNNNN_NAME.sql, for every dialect", 1, cmdCreate},
}

// cli holds the parsed flags and the output streams of one run.
type cli struct {
	ctx         context.Context // run's: main's carries its Signals
	dsn         string
	json        bool
	dir         string
	lockTimeout time.Duration
	version     bool
	stdout      io.Writer
	stderr      io.Writer
}

func newFlagSet(c *cli, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.dsn, "dsn", "", "database `DSN`: sqlite:PATH or postgres://… (default $STORAGE_DSN, else "+DefaultDSN+")")
	fs.BoolVar(&c.json, "json", false, "print results as one JSON document on stdout, errors included")
	fs.StringVar(&c.dir, "dir", "", "`DIR` holding sqlite/ and postgres/ migration directories: create writes there (default ./migrations);\n"+
		"the other commands read migrations from there instead of the embedded ones (development and tests)")
	fs.DurationVar(&c.lockTimeout, "lock-timeout", schema.DefaultLockTimeout, "how long to wait for another migrator to finish")
	fs.BoolVar(&c.version, "version", false, "print the version and exit")
	fs.Usage = func() {} // run prints the help for -h, a short line for a mistake
	return fs
}

func usage(fs *flag.FlagSet) {
	cmds := make([]cmdline.Command, len(commands))
	for i, c := range commands {
		cmds[i] = cmdline.Command{Name: c.name, Args: c.args, Help: c.help}
	}
	cmdline.PrintUsage(fs, `Usage: migrate [flags] COMMAND [ARG]

Applies the storage engine's schema migrations (embedded in this binary) to a
SQLite or PostgreSQL database. The dialect follows from the DSN.

Commands:
`, cmds, `Exit status: 0 ok, 1 failure (the database or a migration failed), 2 usage.

Any number of migrate processes may run at once against one database: they
are serialized (a PostgreSQL advisory lock; on SQLite a lock file
PATH.migrate.lock beside the database) and each migration is applied once.
A migration that fails is rolled back; the schema stays at the last version
that succeeded, and the error names the file and the statement.
`)
}

// run is the whole program; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	c := &cli{ctx: ctx, stdout: stdout, stderr: stderr}
	fs := newFlagSet(c, stderr)
	// Flags may come before and after the command.
	pos, err := cmdline.Parse(fs, args)
	if err != nil {
		code := cmdline.ParseFailed(err, fs, func() { usage(fs) }, shortUsage)
		if code == exitUsage && cmdline.WantsJSON(args) {
			// The flag package has said what is wrong on stderr; a
			// program reading stdout gets its answer too.
			c.json = true
			return c.fail("", usageError{err.Error()})
		}
		return code
	}
	if c.version {
		fmt.Fprintln(stdout, cmdline.Version("migrate"))
		return exitOK
	}
	c.dsn, _ = cmdline.DSN(c.dsn, getenv)
	if c.lockTimeout <= 0 {
		// schema takes a timeout that is not positive for its default.
		return c.fail("", usagef("--lock-timeout %v: want a duration above 0", c.lockTimeout))
	}
	if len(pos) == 0 {
		return c.fail("", usagef("no command given (try migrate -h)"))
	}
	name := pos[0]
	for _, cmd := range commands {
		if cmd.name != name {
			continue
		}
		if len(pos)-1 != cmd.nargs {
			want := "no argument"
			if cmd.nargs == 1 {
				want = "one argument, " + cmd.args
			}
			return c.fail(name, usagef("%s takes %s (got %d)", name, want, len(pos)-1))
		}
		if err := cmd.run(ctx, c, pos[1:]); err != nil {
			return c.fail(name, err)
		}
		return exitOK
	}
	return c.fail("", usagef("unknown command %q (try migrate -h)", name))
}

// fail reports err and returns its exit code.
func (c *cli) fail(cmd string, err error) int {
	code := exitFailure
	var ue usageError
	if errors.As(err, &ue) {
		code = exitUsage
	}
	code = cmdline.ExitCodeFor(c.ctx, code) // 130 after Ctrl-C, as main exits
	if c.json {
		// "code" is the storage sentinel err wraps, in the wire
		// format's words (invalid_option, unavailable, corrupt, …).
		out := map[string]any{"command": cmd, "ok": false, "error": err.Error(), "code": routes.CodeOf(err), "exitCode": code}
		var me *schema.MigrationError
		if errors.As(err, &me) {
			out["failed"] = map[string]any{
				"version": me.Version, "file": me.File, "direction": me.Direction,
				"statement": me.Statement, "error": me.Err.Error(),
			}
		}
		c.printJSON(out)
	} else {
		fmt.Fprintf(c.stderr, "migrate: %v\n", err)
		if code == exitUsage {
			fmt.Fprintln(c.stderr, shortUsage)
		}
	}
	return code
}

// printJSON prints a --json answer: "command" and "ok" first, as the
// store command's answers begin, then v's other members in name order.
func (c *cli) printJSON(v map[string]any) {
	rest := make(map[string]any, len(v))
	for k, x := range v {
		if k != "command" && k != "ok" {
			rest[k] = x
		}
	}
	body, err := json.Marshal(rest)
	if err != nil {
		body = []byte("{}")
	}
	name, _ := v["command"].(string)
	ok, _ := v["ok"].(bool)
	cmdline.WriteAnswer(c.stdout, name, ok, body)
}

// target is an open database and its migrator.
type target struct {
	d    schema.Dialect
	db   *sql.DB
	pool *pgxpool.Pool // PostgreSQL: the pool under db
	m    *schema.Migrator
}

func (t *target) close() error {
	err := t.db.Close()
	if t.pool != nil {
		t.pool.Close() // closing the *sql.DB leaves the pool open
	}
	return err
}

// open connects to the DSN's database and prepares its migrator. Unless
// mayCreate (up, up-to), a SQLite file that does not exist is not created:
// the commands see an empty database in memory instead (version 0, every
// migration pending, nothing to roll back).
func (c *cli) open(ctx context.Context, mayCreate bool) (*target, error) {
	dc, err := dialect.ParseDSN(c.dsn)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	if c.dir != "" {
		// Before the database is opened (a SQLite file created), so that
		// a mistyped --dir changes nothing.
		sub := filepath.Join(c.dir, string(dc.Dialect))
		if fi, err := os.Stat(sub); err != nil || !fi.IsDir() {
			return nil, usagef("--dir %s: no directory %s", c.dir, sub)
		}
	}
	opts := []schema.Option{schema.WithLockTimeout(c.lockTimeout)}
	var t target
	switch dc.Dialect {
	case dialect.SQLite:
		t.d = schema.SQLite
		o, err := dialect.SQLiteOptionsFrom(dc.Params, dialect.DefaultSQLiteOptions)
		if err != nil {
			return nil, usageError{err.Error()}
		}
		missing := false
		if !dc.Memory && mayCreate {
			if err := cmdline.CheckSQLiteFile(dc.Path, true); err != nil {
				return nil, failure{storage.ErrUnavailable, err}
			}
		} else if !dc.Memory {
			_, err := os.Stat(dc.Path)
			missing = errors.Is(err, os.ErrNotExist)
		}
		if dc.Memory || missing {
			t.db, err = sql.Open("sqlite", dialect.SQLiteMemoryDSN())
			if err == nil {
				t.db.SetMaxOpenConns(1)
			}
		} else {
			t.db, err = sql.Open("sqlite", dialect.SQLiteDriverDSN(dc.Path, o, true))
			opts = append(opts, schema.WithSQLiteFile(dc.Path))
		}
		if err != nil {
			return nil, failure{storage.ErrUnavailable, err}
		}
	case dialect.Postgres:
		t.d = schema.Postgres
		pc, err := pgxpool.ParseConfig(dc.URL)
		if err != nil {
			return nil, usageError{"DSN: the PostgreSQL DSN does not parse" + parseReason(err)}
		}
		pool, err := pgxpool.NewWithConfig(ctx, pc)
		if err != nil {
			return nil, failure{storage.ErrInvalidOption, err} // it connects later: a configuration pgx refuses
		}
		t.pool = pool
		t.db = stdlib.OpenDBFromPool(pool)
	default:
		return nil, usagef("unsupported dialect %q", dc.Dialect)
	}
	if err := ping(ctx, t.db, dc.Dialect); err != nil {
		_ = t.close()
		// One line naming the database (never the user or password)
		// and why, in the engine's words and with its sentinel
		// (storage.ErrUnavailable, …), not the driver's text.
		return nil, sqlstore.OpenFailed(c.dsn, err)
	}
	if t.pool != nil {
		if err := direct(ctx, t.pool); err != nil {
			_ = t.close()
			return nil, sqlstore.OpenFailed(c.dsn, err)
		}
	}
	if c.dir != "" {
		opts = append(opts, schema.WithFS(os.DirFS(filepath.Join(c.dir, string(t.d)))))
	}
	m, err := schema.NewMigrator(t.d, t.db, opts...)
	if err != nil {
		_ = t.close()
		return nil, err
	}
	t.m = m
	return &t, nil
}

// ping connects to the database. A new SQLite connection switches the file
// to WAL mode, which fails at once with SQLITE_BUSY while another process
// does the same to a new database (the busy timeout does not cover it), so
// busy errors are retried, with a jittered backoff, for up to 30 seconds.
func ping(ctx context.Context, db *sql.DB, name dialect.Name) error {
	d, err := dialect.ForName(name)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	wait := 5 * time.Millisecond
	for {
		err := db.PingContext(ctx)
		if err == nil || d.Classify(err) != dialect.ClassBusy || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait/2 + rand.N(wait)):
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// errPooler is direct's refusal of a DSN that reaches the server through
// a connection pooler.
var errPooler = fmt.Errorf("%w: the DSN reaches the server through a connection pooler (PgBouncer or the like): "+
	"the migrations need a session of their own, under a session-level advisory lock, which a pooler in "+
	"transaction mode does not keep (concurrent migrators would not be serialized); give --dsn the server's own address",
	storage.ErrInvalidOption)

// direct fails with errPooler unless the pool's connections reach the
// server itself (pgdirect.Pooled), and with errNoSchema when their
// search_path names no schema that exists.
func direct(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	pooled, err := pgdirect.Pooled(ctx, conn.Conn())
	if err != nil {
		return err
	}
	if pooled {
		return errPooler
	}
	none, err := pgdirect.NoSchema(ctx, conn.Conn())
	if err != nil {
		return err
	}
	if none {
		return errNoSchema
	}
	return nil
}

// errNoSchema is direct's refusal of a DSN whose search_path names no
// schema that exists.
var errNoSchema = fmt.Errorf("%w: the DSN's search_path names no schema that exists, or none the role may use: create the schema, grant the role USAGE (and CREATE) on it, or correct search_path",
	storage.ErrInvalidOption)

// parseReason is what pgx says is wrong with a DSN, without the DSN: pgx
// quotes it with the password redacted only as best it can (an ambiguous
// DSN may show it), and with the user name.
func parseReason(err error) string {
	var pe *pgconn.ParseConfigError
	if !errors.As(err, &pe) {
		return ""
	}
	bare := *pe
	bare.ConnString = ""
	return ": " + strings.TrimPrefix(bare.Error(), "cannot parse ``: ")
}

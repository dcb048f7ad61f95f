package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/schema"
)

// migrationJSON is one applied or rolled-back migration in --json output.
type migrationJSON struct {
	Version    int64   `json:"version"`
	File       string  `json:"file"`
	Direction  string  `json:"direction"`
	DurationMS float64 `json:"durationMs"`
	Empty      bool    `json:"empty,omitempty"`
}

// runMigrations opens the database, runs op and reports what it did.
func runMigrations(ctx context.Context, c *cli, name string,
	op func(*schema.Migrator, context.Context) ([]*goose.MigrationResult, error)) error {
	t, err := c.open(ctx, name == "up" || name == "up-to")
	if err != nil {
		return err
	}
	defer t.close()
	start := time.Now()
	res, opErr := op(t.m, ctx)
	if !c.json {
		for _, r := range res {
			fmt.Fprintf(c.stdout, "%-4s %s (%s)\n", r.Direction, filepath.Base(r.Source.Path), round(r.Duration))
		}
	}
	v, verr := t.m.Version(ctx)
	if opErr != nil {
		if verr == nil {
			return fmt.Errorf("%w\n(the schema is at version %d)", opErr, v)
		}
		return opErr
	}
	if verr != nil {
		return verr
	}
	if c.json {
		applied := make([]migrationJSON, 0, len(res))
		for _, r := range res {
			applied = append(applied, migrationJSON{
				Version: r.Source.Version, File: filepath.Base(r.Source.Path), Direction: r.Direction,
				DurationMS: float64(r.Duration.Microseconds()) / 1000, Empty: r.Empty,
			})
		}
		c.printJSON(map[string]any{
			"command": name, "ok": true, "dialect": t.d, "migrations": applied,
			"version": v, "latest": t.m.Latest(),
			"durationMs": float64(time.Since(start).Microseconds()) / 1000,
		})
		return nil
	}
	if len(res) == 0 {
		fmt.Fprintf(c.stdout, "%s: nothing to do; schema at version %d (latest %d)\n", t.d, v, t.m.Latest())
		return nil
	}
	fmt.Fprintf(c.stdout, "%s: schema at version %d (latest %d), %d migration(s) in %s\n",
		t.d, v, t.m.Latest(), len(res), round(time.Since(start)))
	return nil
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

func parseVersion(s string) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, usagef("version %q: want a number >= 0", s)
	}
	return v, nil
}

func cmdUp(ctx context.Context, c *cli, _ []string) error {
	return runMigrations(ctx, c, "up", (*schema.Migrator).Up)
}

func cmdUpTo(ctx context.Context, c *cli, args []string) error {
	v, err := parseVersion(args[0])
	if err != nil {
		return err
	}
	if v == 0 {
		return usagef("up-to: version must be > 0")
	}
	return runMigrations(ctx, c, "up-to", func(m *schema.Migrator, ctx context.Context) ([]*goose.MigrationResult, error) {
		return m.UpTo(ctx, v)
	})
}

func cmdDown(ctx context.Context, c *cli, _ []string) error {
	return runMigrations(ctx, c, "down", (*schema.Migrator).Down)
}

func cmdDownTo(ctx context.Context, c *cli, args []string) error {
	v, err := parseVersion(args[0])
	if err != nil {
		return err
	}
	return runMigrations(ctx, c, "down-to", func(m *schema.Migrator, ctx context.Context) ([]*goose.MigrationResult, error) {
		return m.DownTo(ctx, v)
	})
}

func cmdRedo(ctx context.Context, c *cli, _ []string) error {
	return runMigrations(ctx, c, "redo", (*schema.Migrator).Redo)
}

func cmdReset(ctx context.Context, c *cli, _ []string) error {
	return runMigrations(ctx, c, "reset", (*schema.Migrator).Reset)
}

func cmdStatus(ctx context.Context, c *cli, _ []string) error {
	t, err := c.open(ctx, false)
	if err != nil {
		return err
	}
	defer t.close()
	st, err := t.m.Status(ctx)
	if err != nil {
		return err
	}
	v, err := t.m.Version(ctx)
	if err != nil {
		return err
	}
	if c.json {
		type row struct {
			Version   int64      `json:"version"`
			File      string     `json:"file"`
			State     string     `json:"state"`
			AppliedAt *time.Time `json:"appliedAt"`
		}
		rows := make([]row, 0, len(st))
		for _, s := range st {
			r := row{Version: s.Source.Version, File: filepath.Base(s.Source.Path), State: string(s.State)}
			if s.State == goose.StateApplied {
				at := s.AppliedAt.UTC()
				r.AppliedAt = &at
			}
			rows = append(rows, r)
		}
		c.printJSON(map[string]any{
			"command": "status", "ok": true, "dialect": t.d, "version": v, "latest": t.m.Latest(), "migrations": rows,
		})
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tMIGRATION\tSTATE\tAPPLIED AT (UTC)")
	for _, s := range st {
		at := "-"
		if s.State == goose.StateApplied {
			at = s.AppliedAt.UTC().Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.Source.Version, filepath.Base(s.Source.Path), s.State, at)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s: schema at version %d of %d\n", t.d, v, t.m.Latest())
	if v > t.m.Latest() {
		fmt.Fprintf(c.stdout, "warning: the database is newer than the migrations this binary knows\n")
	}
	return nil
}

func cmdVersion(ctx context.Context, c *cli, _ []string) error {
	t, err := c.open(ctx, false)
	if err != nil {
		return err
	}
	defer t.close()
	v, err := t.m.Version(ctx)
	if err != nil {
		return err
	}
	if c.json {
		c.printJSON(map[string]any{"command": "version", "ok": true, "dialect": t.d, "version": v, "latest": t.m.Latest()})
		return nil
	}
	fmt.Fprintln(c.stdout, v)
	return nil
}

// sources returns the migration files of every dialect: --dir's, or the
// embedded ones.
func (c *cli) sources() (map[schema.Dialect]fs.FS, string, error) {
	m := map[schema.Dialect]fs.FS{}
	for _, d := range schema.Dialects {
		if c.dir != "" {
			m[d] = os.DirFS(filepath.Join(c.dir, string(d)))
			continue
		}
		f, err := schema.EmbeddedFS(d)
		if err != nil {
			return nil, "", err
		}
		m[d] = f
	}
	where := "embedded migrations"
	if c.dir != "" {
		where = c.dir
	}
	return m, where, nil
}

// cmdValidate checks the files of both dialects, then applies the SQLite
// migrations up, all the way down and up again on an in-memory database, so
// that SQL errors and irreversible migrations show before a real database
// sees them. It does not connect to the DSN's database.
func cmdValidate(ctx context.Context, c *cli, _ []string) error {
	srcs, where, err := c.sources()
	if err != nil {
		return err
	}
	if err := schema.ValidateFiles(srcs); err != nil {
		// The migration files (--dir's) are what is wrong.
		return failure{storage.ErrInvalidOption, fmt.Errorf("validate %s:\n%w", where, err)}
	}
	db, err := sql.Open("sqlite", dialect.SQLiteMemoryDSN())
	if err != nil {
		return failure{storage.ErrUnavailable, err}
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	m, err := schema.NewMigrator(schema.SQLite, db, schema.WithFS(srcs[schema.SQLite]))
	if err != nil {
		return err
	}
	steps := []struct {
		name string
		fn   func(context.Context) ([]*goose.MigrationResult, error)
	}{{"up", m.Up}, {"reset", m.Reset}, {"up again", m.Up}}
	for _, s := range steps {
		if _, err := s.fn(ctx); err != nil {
			return fmt.Errorf("validate %s: SQLite dry run (%s): %w", where, s.name, err)
		}
	}
	n := len(m.Sources())
	if c.json {
		c.printJSON(map[string]any{"command": "validate", "ok": true, "source": where, "migrations": n})
		return nil
	}
	fmt.Fprintf(c.stdout, "ok: %d migration(s) per dialect in %s; SQLite dry run up, reset, up passed\n", n, where)
	return nil
}

func cmdCreate(_ context.Context, c *cli, args []string) error {
	dir := c.dir
	if dir == "" {
		dir = "migrations"
	}
	paths, err := schema.Create(dir, args[0])
	if err != nil {
		switch {
		case len(paths) == 0 && !errors.Is(err, fs.ErrExist):
			return usagef("%v", err)
		case errors.Is(err, fs.ErrExist):
			return failure{storage.ErrAlreadyExists, err}
		}
		return failure{storage.ErrUnavailable, err}
	}
	if c.json {
		c.printJSON(map[string]any{"command": "create", "ok": true, "files": paths})
		return nil
	}
	for _, p := range paths {
		fmt.Fprintf(c.stdout, "created %s\n", p)
	}
	return nil
}

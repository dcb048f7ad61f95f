package schema

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"strings"
	"sync"

	"github.com/pressly/goose/v3"

	"github.com/mycelia-kernel/storage/driver"
)

// WithFS makes NewProvider, Up and NewMigrator read the dialect's migrations
// from fsys (files NNNNN_name.sql at its root, e.g.
// os.DirFS("migrations/sqlite")) instead of the embedded ones. For
// development and tests: a deployed binary uses what it embeds.
func WithFS(fsys fs.FS) Option {
	return func(c *config) { c.fsys = fsys }
}

// MigrationError is returned by Migrator's methods when a migration fails:
// it names the file, the direction and the statement that failed, and
// gives the database's error in its own words (for the operator running
// the migrations). It wraps the database's error and the storage sentinel
// the failure means (ErrCorrupt for a statement the database refused,
// ErrUnavailable for a lost connection or a missing privilege, ...; see
// the package documentation, "Errors"). The failed migration's
// transaction is rolled back, so the schema stays at the last migration
// that succeeded.
type MigrationError struct {
	Version   int64
	File      string // base name, e.g. "00003_add_index.sql"
	Direction string // "up" or "down"
	Statement string // the statement that failed; "" if unknown
	Err       error  // the database's error
	Sentinel  error  // the storage sentinel (driver.ErrCorrupt, ...)
}

func (e *MigrationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "schema: migration %s (%s) failed: %v", e.File, e.Direction, e.Sentinel)
	if e.Statement != "" {
		fmt.Fprintf(&b, " at statement:\n%s\n", indent(strings.TrimSpace(e.Statement)))
	} else {
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *MigrationError) Unwrap() []error { return []error{e.Sentinel, e.Err} }

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// ErrNothingToRedo is returned by Migrator.Redo when no migration is
// applied. It wraps storage.ErrNotFound: no applied migration was found.
var ErrNothingToRedo error = &Error{driver.ErrNotFound, "no migration is applied: nothing to redo", nil}

// ErrSchemaNewer is returned by the Migrator's Up, UpTo, Down, DownTo, Redo
// and Reset, before they change anything, when the database's schema
// version is above every migration the Migrator knows: a newer build
// migrated it, and this one can neither bring it up to date nor roll back
// migrations it does not have. It wraps storage.ErrUnsupported.
var ErrSchemaNewer error = &Error{driver.ErrUnsupported, "the database's schema is newer than every migration this build knows", nil}

// known returns the database's schema version, or an error wrapping
// ErrSchemaNewer when it is above Latest.
func (m *Migrator) known(ctx context.Context) (int64, error) {
	v, err := m.Version(ctx)
	if err != nil {
		return 0, err
	}
	if latest := m.Latest(); v > latest {
		return v, fmt.Errorf("%w (latest %d): use a build that knows version %d", ErrSchemaNewer, latest, v)
	}
	return v, nil
}

// Migrator runs the migrations of one dialect on one database: goose's
// Provider (see NewProvider) with errors that name the failing file and
// statement. Each method takes the migration lock for its duration, so
// migrators in other processes are serialized with it; Redo takes it twice
// (down, then up). A Migrator is not safe for concurrent use.
type Migrator struct {
	d    Dialect
	db   *sql.DB
	p    *goose.Provider
	tr   *stmtTracker
	opts []Option
}

// NewMigrator returns a Migrator for d on db; the options are those of
// NewProvider (WithSQLiteFile, WithLockTimeout, WithFS).
func NewMigrator(d Dialect, db *sql.DB, opts ...Option) (*Migrator, error) {
	m := &Migrator{d: d, db: db, tr: &stmtTracker{}, opts: opts}
	p, err := m.provider()
	if err != nil {
		return nil, err
	}
	m.p = p
	return m, nil
}

func (m *Migrator) provider() (*goose.Provider, error) {
	return newProvider(m.d, m.db, m.opts, goose.WithVerbose(true), goose.WithSlog(slog.New(m.tr)))
}

// renew replaces the goose Provider after a run that failed. goose creates
// its version table once per Provider (a sync.Once), counting an attempt
// that failed (the run's context ended, the database refused it): with
// the same Provider every later run would read a table that does not
// exist (ErrCorrupt) even once it could be created. A Provider that
// cannot be made (the database unreachable) leaves the old one, and the
// next failure tries again.
func (m *Migrator) renew() {
	if p, err := m.provider(); err == nil {
		m.p = p
	}
}

// Provider returns the goose Provider underneath: the Migrator's methods
// replace it after a run that failed (see renew).
func (m *Migrator) Provider() *goose.Provider { return m.p }

// Sources lists the migrations the Migrator knows, in version order.
func (m *Migrator) Sources() []*goose.Source { return m.p.ListSources() }

// Latest is the highest known migration version (0 when there is none).
func (m *Migrator) Latest() int64 {
	s := m.p.ListSources()
	if len(s) == 0 {
		return 0
	}
	return s[len(s)-1].Version
}

// Up applies every pending migration. As Up (the package's function), it
// leaves a database without goose's version table as it found it when the
// first migration fails with ErrCorrupt.
func (m *Migrator) Up(ctx context.Context) ([]*goose.MigrationResult, error) {
	return m.up(ctx, m.p.Up)
}

// UpTo applies the pending migrations up to and including version (above
// 0: ErrInvalidOption otherwise), as Up.
func (m *Migrator) UpTo(ctx context.Context, version int64) ([]*goose.MigrationResult, error) {
	if version < 1 {
		return nil, fmt.Errorf("schema: %w", &Error{driver.ErrInvalidOption, fmt.Sprintf("up to version %d: want a version above 0", version), nil})
	}
	return m.up(ctx, func(ctx context.Context) ([]*goose.MigrationResult, error) { return m.p.UpTo(ctx, version) })
}

// up runs run (goose's Up or UpTo) unless the schema is newer than the
// Migrator knows, and drops the version table goose created for it when
// the first migration failed on a database that had none (undoRefused).
func (m *Migrator) up(ctx context.Context, run func(context.Context) ([]*goose.MigrationResult, error)) ([]*goose.MigrationResult, error) {
	if _, err := m.known(ctx); err != nil {
		return nil, err
	}
	had, err := versionTableExists(ctx, m.d, m.db)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", classifyIn(ctx, m.d, err))
	}
	m.tr.reset()
	res, err := run(ctx)
	res, err = m.wrap(ctx, res, err)
	if err != nil {
		undoRefused(ctx, m.d, m.db, had, len(res), err)
	}
	return res, err
}

// Down rolls back the most recently applied migration. With nothing applied
// it returns no result and no error, and leaves the database untouched.
func (m *Migrator) Down(ctx context.Context) ([]*goose.MigrationResult, error) {
	if v, err := m.known(ctx); err != nil || v == 0 {
		return nil, err
	}
	m.tr.reset()
	r, err := m.p.Down(ctx)
	if errors.Is(err, goose.ErrNoNextVersion) {
		return nil, nil
	}
	if r != nil && err == nil {
		return []*goose.MigrationResult{r}, nil
	}
	return m.wrap(ctx, nil, err)
}

// DownTo rolls back the applied migrations above version (0 rolls back
// everything; below 0 is ErrInvalidOption). With nothing applied above
// version it leaves the database untouched.
func (m *Migrator) DownTo(ctx context.Context, version int64) ([]*goose.MigrationResult, error) {
	if version < 0 {
		return nil, fmt.Errorf("schema: %w", &Error{driver.ErrInvalidOption, fmt.Sprintf("down to version %d: want 0 or above", version), nil})
	}
	if v, err := m.known(ctx); err != nil || v <= version {
		return nil, err
	}
	m.tr.reset()
	res, err := m.p.DownTo(ctx, version)
	return m.wrap(ctx, res, err)
}

// Redo rolls back the most recently applied migration and applies it again.
func (m *Migrator) Redo(ctx context.Context) ([]*goose.MigrationResult, error) {
	v, err := m.known(ctx)
	if err != nil {
		return nil, err
	}
	if v == 0 {
		return nil, ErrNothingToRedo
	}
	down, err := m.Down(ctx)
	if err != nil {
		return down, err
	}
	// Another migrator may have run since v was read, without the lock:
	// what is applied again is what the down rolled back, not v (after
	// another's down-to 0 UpTo(v) would apply every migration up to v;
	// after another's up it would leave the rolled-back one out).
	if len(down) == 0 {
		return nil, ErrNothingToRedo
	}
	up, err := m.UpTo(ctx, down[0].Source.Version)
	return append(down, up...), err
}

// Reset rolls back every applied migration.
func (m *Migrator) Reset(ctx context.Context) ([]*goose.MigrationResult, error) {
	return m.DownTo(ctx, 0)
}

// Status reports each known migration as applied (with its time) or pending.
// On a database where none is applied it reports them all pending without
// writing anything (goose's Status would create its version table).
func (m *Migrator) Status(ctx context.Context) ([]*goose.MigrationStatus, error) {
	v, err := m.Version(ctx)
	if err != nil {
		return nil, err
	}
	if v == 0 {
		src := m.p.ListSources()
		st := make([]*goose.MigrationStatus, len(src))
		for i, s := range src {
			st[i] = &goose.MigrationStatus{Source: s, State: goose.StatePending}
		}
		return st, nil
	}
	st, err := m.p.Status(ctx)
	if err != nil {
		m.renew()
		return nil, fmt.Errorf("schema: status: %w", classifyIn(ctx, m.d, err))
	}
	return st, nil
}

// Version returns the highest applied version, 0 when none is. Unlike
// Provider.GetDBVersion it neither creates the version table nor locks.
func (m *Migrator) Version(ctx context.Context) (int64, error) {
	return Version(ctx, m.d, m.db)
}

func (m *Migrator) wrap(ctx context.Context, res []*goose.MigrationResult, err error) ([]*goose.MigrationResult, error) {
	if err == nil {
		return res, nil
	}
	m.renew()
	var pe *goose.PartialError
	if errors.As(err, &pe) && pe.Failed != nil && pe.Failed.Source != nil {
		file := path.Base(pe.Failed.Source.Path)
		me := &MigrationError{
			Version:   pe.Failed.Source.Version,
			File:      file,
			Direction: pe.Failed.Direction,
			Err:       pe.Err,
			Sentinel:  sentinelOf(classifyIn(ctx, m.d, err)),
		}
		if src, stmt := m.tr.last(); src == file {
			me.Statement = stmt
		}
		return pe.Applied, me
	}
	return res, fmt.Errorf("schema: %w", classifyIn(ctx, m.d, err))
}

// stmtTracker is a slog.Handler that remembers the last statement goose
// announced before running it, so that a failure can name it.
type stmtTracker struct {
	mu     sync.Mutex // protects the following fields
	source string
	stmt   string
}

func (h *stmtTracker) reset() {
	h.mu.Lock()
	h.source, h.stmt = "", ""
	h.mu.Unlock()
}

func (h *stmtTracker) last() (string, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.source, h.stmt
}

func (h *stmtTracker) Enabled(context.Context, slog.Level) bool { return true }

func (h *stmtTracker) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "executing statement" {
		return nil
	}
	var src, stmt string
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "source":
			src = a.Value.String()
		case "statement":
			stmt = a.Value.String()
		}
		return true
	})
	h.mu.Lock()
	h.source, h.stmt = src, stmt
	h.mu.Unlock()
	return nil
}

func (h *stmtTracker) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *stmtTracker) WithGroup(string) slog.Handler      { return h }

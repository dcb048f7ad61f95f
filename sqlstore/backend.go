package sqlstore

import (
	"database/sql"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mycelia-kernel/storage/dialect"
)

// Backend is the escape hatch to the database under a store (the seed's
// _storageBackend), for callers who need it directly. Writing to the store's
// tables behind its back voids its guarantees (entry counts, capacity).
type Backend struct {
	Dialect dialect.Name
	// Pool is the pgx pool of a PostgreSQL store.
	Pool *pgxpool.Pool
	// PointReads and Writes are a PostgreSQL store's two lanes beside Pool
	// (see the package docs, "Connections"): the point reads' and the
	// writes' outside transactions. For figures (metrics); they are the
	// store's own, like Pool.
	PointReads, Writes *pgxpool.Pool
	// Writer and Reader are the SQLite store's write connection (one) and
	// read pool (an in-memory database too: it is a private file in RAM).
	Writer, Reader *sql.DB
	// PointReader is the SQLite store's pool of the point reads (Get, Has,
	// GetMany outside transactions) beside Reader; nil on a store opened
	// read-only on a full disk, whose one connection is Writer.
	PointReader *sql.DB
}

// Config is a store's configuration (the seed's _config).
type Config struct {
	Dialect      dialect.Name
	Path         string // SQLite database file; "" for :memory: (a private file, see Open) and Postgres
	Memory       bool   // SQLite in-memory database
	Capacity     int64  // 0 = none
	MaxValueSize int    // bytes; 0 = storage.DefaultMaxValueSize
	Migrated     bool   // Open applied pending migrations
}

// Backend returns the database handles under the store.
func (s *Store) Backend() Backend {
	b := Backend{Dialect: s.Dialect()}
	switch e := s.eng.(type) {
	case *pgEngine:
		b.Pool = e.pool
		b.PointReads, b.Writes = e.points.pool, e.writes.pool
	case *sqliteEngine:
		b.Writer, b.Reader, b.PointReader = e.w, e.r, e.p
	}
	return b
}

// Config returns the store's configuration.
func (s *Store) Config() Config {
	return Config{
		Dialect:      s.Dialect(),
		Path:         s.dsn.Path,
		Memory:       s.dsn.Memory,
		Capacity:     s.cfg.capacity,
		MaxValueSize: s.cfg.maxValueSize,
		Migrated:     s.cfg.migrate,
	}
}

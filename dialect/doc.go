// Package dialect holds everything that differs between SQLite and PostgreSQL
// outside the generated, fixed-shape statements: parsing DSNs, building the
// SQLite connection strings (pragmas, locking), classifying driver errors
// into a small set of classes that the engine acts on, and compiling filters,
// sorts and list patterns into each database's SQL (Compiler).
//
// Each database is one type implementing Dialect, in a file of its own, with
// a compile-time check. A DSN names its dialect:
//
//	cfg, err := dialect.ParseDSN("sqlite:data/app.db?synchronous=full")
//	if err != nil { ... }
//	d, err := dialect.ForName(cfg.Dialect)
//	...
//	if d.Classify(err).Retryable() { // serialization failure, deadlock, busy
//		// run the transaction again
//	}
//
// A Compiler writes the WHERE clause of a validated filter (storage.Filter's
// Compile), the ORDER BY of a sort, the paths of declared indexes and the
// conditions and order on their index_entries rows, from one place:
//
//	c, err := dialect.NewCompiler(dialect.Postgres)
//	e, err := storage.StartsWith("$key", "user:").Compile()
//	where, err := c.Where(e)
//	sql, args, err := where.ToSql() // key >= ? AND key < ?, [user: user;]
//
// A statement cache keys a filter by Compiler.Shape (its structure and each
// decision the compiler takes on a value) and builds the statement once
// with Compiler.Planner, whose parameters are Params naming the Input they
// come from; MakePlan turns them into a plan that BindPlan fills with a
// later call's values (package sqlstore's query cache does this; see
// plan.go).
//
// User text reaches SQL only as bound parameters; field paths are written as
// quoted literals after driver.ParseField has admitted only safe
// characters.
//
// The package imports the drivers only for their error types.
package dialect

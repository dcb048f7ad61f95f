// Package dialect holds everything that differs between SQLite and PostgreSQL
// outside the generated, fixed-shape statements: parsing DSNs, building the
// SQLite connection strings (pragmas, locking), and classifying driver errors
// into a small set of classes that the engine acts on.
//
// Each database is one type implementing Dialect, in a file of its own, with
// a compile-time check:
//
//	d, err := dialect.ForDSN("sqlite:data/app.db")
//	if err != nil { ... }
//	switch d.Classify(err) {
//	case dialect.ErrBusy, dialect.ErrSerialization: // retry
//	}
//
// The package imports the drivers only for their error types.
package dialect

package dialect_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
)

func ExampleParseDSN() {
	for _, dsn := range []string{"sqlite:data/app.db?synchronous=full", "sqlite::memory:", "postgres://app@db.internal/app"} {
		cfg, err := dialect.ParseDSN(dsn)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s path=%q memory=%v synchronous=%q\n", cfg.Dialect, cfg.Path, cfg.Memory, cfg.Params.Get("synchronous"))
	}
	_, err := dialect.ParseDSN("mysql://x")
	fmt.Println(err != nil)
	// Output:
	// sqlite path="data/app.db" memory=false synchronous="full"
	// sqlite path="" memory=true synchronous=""
	// postgres path="" memory=false synchronous=""
	// true
}

// The engine asks the dialect what a driver error means; a retryable class
// is a transaction to run again.
func ExampleDialect_Classify() {
	d, err := dialect.ForName(dialect.Postgres)
	if err != nil {
		panic(err)
	}
	serialization := fmt.Errorf("commit: %w", &pgconn.PgError{Code: "40001"})
	unique := &pgconn.PgError{Code: "23505"}
	fmt.Println(d.Classify(serialization), d.Classify(serialization).Retryable())
	fmt.Println(d.Classify(unique), d.Classify(unique).Retryable())
	fmt.Println(d.Classify(errors.New("something else")))
	// Output:
	// serialization true
	// unique-violation false
	// other
}

// A key prefix becomes a range on the primary key, on both dialects.
func ExampleCompiler_Where() {
	e, err := storage.StartsWith("$key", "user:").Compile()
	if err != nil {
		panic(err)
	}
	for _, name := range []dialect.Name{dialect.SQLite, dialect.Postgres} {
		c, err := dialect.NewCompiler(name)
		if err != nil {
			panic(err)
		}
		where, err := c.Where(e)
		if err != nil {
			panic(err)
		}
		sql, args, err := where.ToSql()
		if err != nil {
			panic(err)
		}
		fmt.Println(name, sql, args)
	}
	// Output:
	// sqlite key >= ? AND key < ? [user: user;]
	// postgres key >= ? AND key < ? [user: user;]
}

func ExampleCompiler_PlaceholderFormat() {
	e, err := storage.And(storage.Eq("status", "active"), storage.Gt("age", 30)).Compile()
	if err != nil {
		panic(err)
	}
	for _, name := range []dialect.Name{dialect.SQLite, dialect.Postgres} {
		c, err := dialect.NewCompiler(name)
		if err != nil {
			panic(err)
		}
		where, err := c.Where(e)
		if err != nil {
			panic(err)
		}
		sql, _, err := where.ToSql()
		if err != nil {
			panic(err)
		}
		stmt, err := c.PlaceholderFormat().ReplacePlaceholders("SELECT key FROM entries WHERE namespace_id = ? AND " + sql)
		if err != nil {
			panic(err)
		}
		fmt.Println(name, strings.Count(stmt, "?"), strings.Contains(stmt, "$1"), strings.Contains(stmt, "$2"))
	}
	// Output:
	// sqlite 3 false false
	// postgres 0 true true
}

package main

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/mycelia-kernel/storage/internal/testutil/pgtest"
)

// TestSchemaWithoutUsage: a role whose search_path names a schema that
// exists but that it may not use (no USAGE privilege: PostgreSQL then
// leaves it out of current_schema()) is told so, not only that the schema
// does not exist: the message said "names no schema that exists: create
// the schema", which sends an operator to create what is there.
func TestSchemaWithoutUsage(t *testing.T) {
	admin := pgtest.AdminDSN(t)
	dsn := pgtest.NewRole(t, "nu", admin)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	role := pgx.Identifier{u.User.Username()}.Sanitize()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	// The schema of the role's name is the administrator's now.
	if _, err := conn.Exec(ctx, "ALTER SCHEMA "+role+" OWNER TO CURRENT_USER"); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, "", "--dsn", dsn, "status")
	if r.code != exitUsage || !strings.Contains(r.stderr, "USAGE") {
		t.Errorf("store status as a role without USAGE on its schema: exit %d\nstderr: %s\nwant exit %d, a message naming the USAGE privilege", r.code, r.stderr, exitUsage)
	}
}

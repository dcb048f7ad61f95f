package storage_test

import (
	"database/sql"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
)

// TestNotFoundText: ErrNotFound says so in its own words and still
// satisfies errors.Is(err, sql.ErrNoRows).
func TestNotFoundText(t *testing.T) {
	err := &storage.OpError{Op: "get", Key: "k", Err: storage.ErrNotFound}
	if !errors.Is(err, sql.ErrNoRows) || !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("%v does not satisfy errors.Is for ErrNotFound and sql.ErrNoRows", err)
	}
	if got := err.Error(); got != `storage: get key "k": not found` || strings.Contains(got, "sql") {
		t.Errorf("message %q", got)
	}
}

// TestSentinelsDistinct: each sentinel matches itself and no other.
func TestSentinelsDistinct(t *testing.T) {
	all := storage.Sentinels()
	for i, a := range all {
		for j, b := range all {
			if errors.Is(a, b) != (i == j) {
				t.Errorf("errors.Is(%v, %v) = %v", a, b, i != j)
			}
		}
		if !strings.HasPrefix(a.Error(), "storage: ") {
			t.Errorf("%q does not start with storage: ", a)
		}
	}
}

// TestSentinelsComplete: every exported Err* variable of errors.go is
// listed by Sentinels(), so the checks that count "exactly one sentinel"
// see them all.
func TestSentinelsComplete(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	declared, listed := map[string]bool{}, map[string]bool{}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.GenDecl:
			if d.Tok != token.VAR {
				continue
			}
			for _, spec := range d.Specs {
				for _, name := range spec.(*ast.ValueSpec).Names {
					if name.IsExported() && strings.HasPrefix(name.Name, "Err") {
						declared[name.Name] = true
					}
				}
			}
		case *ast.FuncDecl:
			if d.Name.Name != "Sentinels" {
				continue
			}
			ast.Inspect(d.Body, func(n ast.Node) bool {
				if id, ok := n.(*ast.Ident); ok && strings.HasPrefix(id.Name, "Err") {
					listed[id.Name] = true
				}
				return true
			})
		}
	}
	for name := range declared {
		if !listed[name] {
			t.Errorf("storage.%s is not in Sentinels()", name)
		}
	}
	if len(declared) != len(storage.Sentinels()) || len(declared) < 20 {
		t.Errorf("errors.go declares %d Err* variables, Sentinels() returns %d", len(declared), len(storage.Sentinels()))
	}
}

// TestSortErrorSaysSort: a sort field that is refused says "invalid
// sort", not "invalid filter", and still wraps ErrInvalidFilter and a
// *ValidationError.
func TestSortErrorSaysSort(t *testing.T) {
	for _, opt := range []storage.Option{
		storage.SortBy(storage.Asc("$key.x")),
		storage.SortBy(storage.Desc("a..b")),
		storage.SortBy(storage.Asc("$nope")),
		storage.SortBy(make([]storage.SortField, storage.MaxSortFields+1)...),
	} {
		_, err := driver.ResolveOptions("query", driver.KindSort, []storage.Option{opt})
		var ve *storage.ValidationError
		if !errors.Is(err, storage.ErrInvalidFilter) || !errors.As(err, &ve) {
			t.Fatalf("%v: want ErrInvalidFilter in a *ValidationError", err)
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "storage: invalid sort: ") || strings.Contains(msg, "filter") {
			t.Errorf("sort error %q: want \"storage: invalid sort: …\"", msg)
		}
	}
	// A filter's error keeps its words.
	if _, err := storage.Eq("a..b", 1).Compile(); err == nil || !strings.HasPrefix(err.Error(), "storage: invalid filter: ") {
		t.Errorf("filter error %v", err)
	}
}

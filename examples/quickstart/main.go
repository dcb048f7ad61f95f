// Command quickstart is the README's first command: it opens a store
// (applying the migrations), stores, reads, batches, and lists namespaces,
// printing what it did.
//
//	go run ./examples/quickstart                       # sqlite:quickstart.db
//	go run ./examples/quickstart -dsn sqlite::memory:
//	STORAGE_DSN=postgres://… go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/sqlstore"
)

type user struct {
	Name string   `json:"name"`
	Age  int      `json:"age"`
	Tags []string `json:"tags"`
}

func main() {
	def := os.Getenv("STORAGE_DSN")
	if def == "" {
		def = "sqlite:quickstart.db"
	}
	dsn := flag.String("dsn", def, "store DSN: sqlite:PATH, sqlite::memory: or postgres://…")
	flag.Parse()
	if err := run(*dsn); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(dsn string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	s, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer s.Close()
	st, err := s.Status(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("opened %s store (schema version %d)\n", st.Dialect, st.SchemaVersion)

	users := storage.InNamespace("users")
	ada := user{Name: "Ada", Age: 36, Tags: []string{"math", "engines"}}
	if err := s.Set(ctx, "user:ada", ada, users, storage.WithMetadata(map[string]any{"source": "quickstart"})); err != nil {
		return err
	}
	e, err := s.Get(ctx, "user:ada", users)
	if err != nil {
		return err
	}
	var got user
	if err := e.Decode(&got); err != nil {
		return err
	}
	fmt.Printf("set and got users/user:ada = %+v (version %d)\n", got, e.Version)

	err = s.Set(ctx, "user:ada", ada, users, storage.NoOverwrite())
	fmt.Printf("set again without overwrite: already exists = %v\n", errors.Is(err, storage.ErrAlreadyExists))

	res, err := s.SetMany(ctx, []storage.Item{
		{Key: "user:grace", Value: user{Name: "Grace", Age: 45}},
		{Key: "user:linus", Value: user{Name: "Linus", Age: 28}},
		{Key: "", Value: "an empty key is refused"},
	}, users)
	if err != nil {
		return err
	}
	for _, r := range res.Results {
		if r.Err != nil {
			fmt.Printf("setMany %q: %v\n", r.Key, r.Err)
		} else {
			fmt.Printf("setMany %q: written, version %d\n", r.Key, r.Version)
		}
	}

	got3, err := s.GetMany(ctx, []string{"user:ada", "user:grace", "user:nobody"}, users)
	if err != nil {
		return err
	}
	fmt.Printf("getMany: %d found, %d missing\n", len(got3.Entries), len(got3.Errors))

	if err := s.SetMetadata(ctx, "user:ada", map[string]any{"reviewed": true}, users, storage.Merge()); err != nil {
		return err
	}
	md, err := s.GetMetadata(ctx, "user:ada", users)
	if err != nil {
		return err
	}
	fmt.Printf("metadata of user:ada: %v (version %d)\n", md.User, md.Version)

	if err := s.Set(ctx, "greeting", "hello"); err != nil {
		return err
	}
	nss, err := s.ListNamespaces(ctx)
	if err != nil {
		return err
	}
	for _, ns := range nss {
		fmt.Printf("namespace %s\n", ns.Name)
	}
	st, err = s.Status(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("status: healthy=%v entries=%d namespaces=%d\n", st.Healthy, st.Size, st.Namespaces)
	return nil
}

package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/sqlstore"
)

func Example() {
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, "sqlite::memory:")
	if err != nil {
		panic(err)
	}
	defer s.Close()

	users := storage.InNamespace("users")
	_ = s.Set(ctx, "user:1", map[string]any{"name": "Ada", "age": 36}, users)
	e, _ := s.Get(ctx, "user:1", users)
	fmt.Println(string(e.Value), "version", e.Version)

	_, err = s.Get(ctx, "user:2", users)
	fmt.Println("user:2 missing:", errors.Is(err, storage.ErrNotFound))
	// Output:
	// {"age":36,"name":"Ada"} version 1
	// user:2 missing: true
}

func ExampleStore_Set_compareAndSwap() {
	ctx := context.Background()
	s, _ := sqlstore.Open(ctx, "sqlite::memory:")
	defer s.Close()

	_ = s.Set(ctx, "counter", 1)
	e, _ := s.Get(ctx, "counter")

	// Only one of two writers that read version 1 can write version 2.
	fmt.Println(s.Set(ctx, "counter", 2, storage.IfVersion(e.Version)))
	err := s.Set(ctx, "counter", 3, storage.IfVersion(e.Version))
	fmt.Println(errors.Is(err, storage.ErrConflict))
	// Output:
	// <nil>
	// true
}

func ExampleStore_SetMany() {
	ctx := context.Background()
	s, _ := sqlstore.Open(ctx, "sqlite::memory:")
	defer s.Close()

	res, _ := s.SetMany(ctx, []storage.Item{
		{Key: "a", Value: 1},
		{Key: "b", Value: 2},
		{Key: "", Value: 3}, // invalid: gets its own error, the rest is written
	})
	for _, r := range res.Results {
		fmt.Printf("%q ok=%v\n", r.Key, r.Err == nil)
	}
	st, _ := s.Status(ctx)
	fmt.Println("entries:", st.Size)
	// Output:
	// "a" ok=true
	// "b" ok=true
	// "" ok=false
	// entries: 2
}

func ExampleStore_SetMetadata_merge() {
	ctx := context.Background()
	s, _ := sqlstore.Open(ctx, "sqlite::memory:")
	defer s.Close()

	_ = s.Set(ctx, "doc", "text", storage.WithMetadata(map[string]any{"owner": "ada", "draft": true}))
	// An RFC 7396 merge patch: null deletes a field.
	_ = s.SetMetadata(ctx, "doc", map[string]any{"draft": nil, "reviewed": "grace"}, storage.Merge())
	md, _ := s.GetMetadata(ctx, "doc")
	fmt.Println(md.User["owner"], md.User["reviewed"], md.User["draft"] == nil, md.Version)
	// Output:
	// ada grace true 2
}

func ExampleStore_Set_expiry() {
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now } // the store's clock decides what has expired
	s, _ := sqlstore.Open(ctx, "sqlite::memory:", sqlstore.WithClock(clock), sqlstore.WithSweepInterval(-1))
	defer s.Close()

	_ = s.Set(ctx, "session:42", map[string]any{"user": 1}, storage.WithTTL(30*time.Minute))
	e, _ := s.Get(ctx, "session:42")
	fmt.Println("expires at", e.ExpiresAt.Format(time.Kitchen))

	// An overwrite clears the expiry unless it asks to keep it.
	_ = s.Set(ctx, "session:42", map[string]any{"user": 1, "seen": true}, storage.KeepTTL())

	now = now.Add(30 * time.Minute) // the instant of expiry: gone for every read
	_, err := s.Get(ctx, "session:42")
	n, _ := s.Count(ctx)
	fmt.Println("after 30 minutes:", errors.Is(err, storage.ErrNotFound), n)

	swept, _ := s.Sweep(ctx) // the background sweeper does this on its own
	fmt.Println("swept", swept)
	// Output:
	// expires at 12:30PM
	// after 30 minutes: true 0
	// swept 1
}

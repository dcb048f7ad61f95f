package sqlstore_test

import (
	"context"
	"fmt"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// ListAll and QueryAll read every page for the caller: no cursor loop.
func ExampleStore_listAll() {
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, "sqlite::memory:")
	if err != nil {
		panic(err)
	}
	defer s.Close()
	for i := range 5 {
		_ = s.Set(ctx, fmt.Sprintf("user:%d", i), map[string]any{"age": 30 + i})
	}

	var keys, older []string
	// Limit is the page size here: five keys come in three pages of two.
	for key, err := range storage.ListAll(ctx, s, storage.Pattern("user:*"), storage.Limit(2)) {
		if err != nil {
			panic(err)
		}
		keys = append(keys, key)
	}
	fmt.Println(keys)

	for e, err := range storage.QueryAll(ctx, s, storage.Gte("age", 32), storage.SortBy(storage.Desc("age"))) {
		if err != nil {
			panic(err)
		}
		older = append(older, e.Key)
	}
	fmt.Println(older)
	// Output:
	// [user:0 user:1 user:2 user:3 user:4]
	// [user:4 user:3 user:2]
}

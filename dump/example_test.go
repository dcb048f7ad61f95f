package dump_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dump"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// Export a store, look at the file, and import it into another store.
func Example() {
	ctx := context.Background()
	clock := func() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 600000000, time.UTC) }
	src, err := sqlstore.Open(ctx, "sqlite::memory:", sqlstore.WithClock(clock))
	if err != nil {
		panic(err)
	}
	defer func() { _ = src.Close() }()
	_ = src.Set(storage.ContextWithActor(ctx, "alice"), "greeting", map[string]any{"text": "hello"},
		storage.WithMetadata(map[string]any{"lang": "en"}))

	var file bytes.Buffer
	if _, err := dump.Export(ctx, src, &file, dump.ExportOptions{}); err != nil {
		panic(err)
	}
	lines := strings.Split(strings.TrimSpace(file.String()), "\n")
	fmt.Println(len(lines), "lines; the entry:")
	fmt.Println(lines[2])

	dst, err := sqlstore.Open(ctx, "sqlite::memory:")
	if err != nil {
		panic(err)
	}
	defer func() { _ = dst.Close() }()
	st, err := dump.Import(ctx, dst, &file, dump.ImportOptions{})
	if err != nil {
		panic(err)
	}
	md, _ := dst.GetMetadata(ctx, "greeting")
	fmt.Println("imported", st.Inserted, "entry; version", md.Version, "created by", md.CreatedBy, "at", md.CreatedAt.Format(time.RFC3339Nano))
	// Output:
	// 4 lines; the entry:
	// {"type":"entry","namespace":"default","key":"greeting","value":{"text":"hello"},"metadata":{"lang":"en"},"version":1,"createdAt":"2025-01-02T03:04:05.6Z","updatedAt":"2025-01-02T03:04:05.6Z","createdBy":"alice","updatedBy":"alice"}
	// imported 1 entry; version 1 created by alice at 2025-01-02T03:04:05.6Z
}

// Package dump exports a store to NDJSON, imports such a file back, and
// copies a store between backends (SQLite to PostgreSQL is how a store
// outgrows one machine). It keeps everything the store holds about an
// entry: value, metadata, version, created and updated times, and the audit
// actors; and each namespace with its metadata, creation time and declared
// indexes (storage.WithIndexes). Memory
// does not grow with the store or the file: Export reads keyset pages of a
// few thousand entries, Import reads one line at a time and writes batches.
//
//	f, _ := os.Create("backup.ndjson")
//	stats, err := dump.Export(ctx, src, f, dump.ExportOptions{})
//	...
//	stats, err := dump.Import(ctx, dst, f, dump.ImportOptions{})
//	var ie *dump.ImportError // what failed, and exactly what was imported
//	...
//	stats, err := dump.Copy(ctx, sqliteStore, pgStore, dump.CopyOptions{})
//
// # Format
//
// One JSON object per line (UTF-8, "\n"), each with a "type". Members are
// named as on the wire (routes): an entry line has the shape of the wire's
// entries (routes.EntryJSON, and the store CLI's --json) plus the audit
// actors, a namespace line that of the wire's namespace details:
//
//	{"type":"header","format":"mycelia-storage-ndjson","version":2,"dialect":"sqlite","schemaVersion":6,"exportedAt":"2026-11-25T20:06:47.508105984Z"}
//	{"type":"namespace","name":"default","metadata":{},"createdAt":"2026-11-25T20:06:47.357Z","entries":1}
//	{"type":"entry","namespace":"default","key":"foo","value":{"a":1},"metadata":{"m":1},"version":2,"createdAt":"2026-11-25T20:06:47.361706Z","updatedAt":"2026-11-25T20:07:01.5Z","createdBy":"alice","updatedBy":"bob"}
//	{"type":"namespace","name":"people","metadata":{},"createdAt":"2026-11-25T20:06:48Z","indexes":["age","profile.city"],"entries":0}
//	{"type":"trailer","namespaces":2,"entries":1,"sha256":"f46d…"}
//
// The line types:
//
//   - header: always the first line. format and version name this format;
//     a reader refuses another format or a version it does not know.
//     dialect, schemaVersion and exportedAt describe the source;
//     "namespace" is present when one namespace was exported.
//   - namespace: a namespace, followed by its entries in key (byte) order.
//     Namespaces come in name order. "entries" is the count at export time,
//     for information. "indexes", optional, lists the fields the namespace
//     declared with storage.WithIndexes, spelled as declared; it is omitted
//     when there are none, and read as declaring none.
//   - entry: "namespace" and "key" name it; "value" and "metadata" are the
//     stored JSON, as is (metadata is an object); "version" at least 1;
//     times are RFC 3339 UTC with microseconds (what both databases keep);
//     createdBy and updatedBy are omitted when the write named no actor;
//     "expiresAt", the entry's expiry, is omitted when it has none. Export
//     skips the entries already expired at its snapshot; import keeps
//     expiry times, and counts the records already expired by the target
//     store's clock as expired instead of writing them.
//   - trailer: always the last line. It counts the namespace and entry
//     lines and holds the hex SHA-256 of every byte before it, so a file cut
//     short, or changed, is detected.
//
// Export writes version 2. Import also reads version 1 files, written
// before the members took the wire's names: the same lines with
// schema_version, exported_at, created_at, updated_at, created_by,
// updated_by, expires_at, and an entry's namespace in "ns". A file uses
// its version's names only; the other version's are unknown members
// (ErrMalformed).
//
// Export reads one snapshot (a read-only transaction; repeatable read on
// PostgreSQL), so the trailer's counts are those of one moment even while
// the store is written to.
//
// # Import semantics
//
// Import checks each line as it reads it: JSON, the known fields of its
// type and no others, valid namespace names, keys and values (the storage
// contract's rules, against the target's maximum value size), versions and
// times present. A namespace line restores the namespace (see
// sqlstore.Store.RestoreNamespace: a missing namespace is created; an empty
// one, or one with {} metadata, takes the file's metadata and time; another
// one must hold the same metadata). Its "indexes" are validated as
// WithIndexes validates them, added to the namespace's declared indexes (a
// union: importing into a namespace that declares other fields keeps
// those; a union of more than storage.MaxIndexes fails the import with
// storage.ErrInvalidOption), and their physical indexes are created, so a copy from SQLite to
// PostgreSQL plans its indexed queries as the source did. Entry lines gather in batches of
// ImportOptions.BatchSize written each in one transaction with
// sqlstore.Store.Restore, which keeps versions, times and actors exactly;
// the namespaces' entry counts are kept by the database's triggers as for
// any write.
//
// Import is idempotent, and so resumable: an entry whose key already holds
// identical content (value and metadata by meaning, everything else
// exactly) is left alone and counted as unchanged. After any failure, run
// the same import again: what was committed is skipped and the rest goes
// in. A key that holds different content is a conflict: by default the
// import stops and the batch that holds it is rolled back; OnConflict skip
// keeps the stored entry, overwrite replaces it with the file's.
//
// What is committed when something fails:
//
//   - a malformed or invalid line: every valid line before it is committed
//     (the pending batch is written first), nothing from it on;
//   - a conflict, a capacity or database error: the batch holding the bad
//     entry is rolled back, the batches before it are committed;
//   - a file that ends without its trailer (ErrTruncated): every line read
//     is committed;
//   - a trailer that disagrees with the lines (ErrCorrupt): the lines were
//     each valid and are committed; the error says the file is damaged;
//   - a cancelled context: the batches committed before it stay, the
//     pending one is dropped.
//
// Each of these returns an *ImportError that names the line, the error, and
// exactly what was committed: "imported N entries through line L", and "the
// batch of lines A-B was rolled back" when one was. Nothing is written that
// the error does not count.
//
// To validate a file before writing anything, run Import with Check: it
// reads the whole file, trailer and checksum included, and writes nothing.
// Keys that appear twice in one batch are malformed; across batches the
// second is compared with the first as with any stored entry (an export
// never repeats a key).
//
// Copy pipes Export into Import (no temporary file): the stream is the same
// format, so a copy checks its own trailer, and failures report the same
// way.
package dump

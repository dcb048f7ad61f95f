package sqlitedb

// GetEntriesSQL is the statement of GetEntries (?1 the namespace, ?2 the
// keys as a JSON array, ?3 now), for a caller that scans its rows into its
// own values: GetEntries allocates a row per result (sqlc's loop variable
// escapes), which a batch read of many keys pays for each key.
const GetEntriesSQL = getEntries

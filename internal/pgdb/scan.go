package pgdb

// GetEntriesSQL is the statement of GetEntries ($1 the keys, $2 now, $3
// the namespace), for a caller that scans its rows into its own values:
// GetEntries allocates a row per result (sqlc's loop variable escapes),
// which a batch read of many keys pays for each key.
const GetEntriesSQL = getEntries

// HasEntrySQL is the statement of HasEntry ($1 the namespace, $2 the key,
// $3 now), for the tests that read its plan.
const HasEntrySQL = hasEntry

// UpsertEntrySQL is the statement of UpsertEntry, for the server-cost
// measurements of sqlstore (pgsetcost_test.go), which send it with
// variants of the statements around it.
const UpsertEntrySQL = upsertEntry

// GetEntrySQL is the statement of GetEntry ($1 the namespace, $2 the key,
// $3 now), for a caller that reads its row itself (sqlstore's entryScan).
const GetEntrySQL = getEntry

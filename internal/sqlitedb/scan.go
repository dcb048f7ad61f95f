package sqlitedb

// GetEntriesSQL is the statement of GetEntries (?1 the namespace, ?2 the
// keys as a JSON array, ?3 now), for a caller that scans its rows into its
// own values: GetEntries allocates a row per result (sqlc's loop variable
// escapes), which a batch read of many keys pays for each key.
const GetEntriesSQL = getEntries

// GetEntrySQL and HasEntrySQL are the statements of GetEntry and HasEntry
// (?1 the namespace, ?2 the key, ?3 now), for a caller that runs them
// through the driver itself (sqlstore's driverReads).
const (
	GetEntrySQL = getEntry
	HasEntrySQL = hasEntry
)

// UpsertEntrySQL is the statement of UpsertEntry, for a caller that steps
// it to its end itself (the arguments in UpsertEntry's order; one row of
// version, revision, create_revision): a RETURNING statement read with
// QueryRow is reset after its row and never reaches SQLITE_DONE, where
// SQLite runs its WAL hook (sqlstore/walhook.go).
const UpsertEntrySQL = upsertEntry

// InsertEntrySQL and UpdateEntryIfSQL are the statements of InsertEntry and
// UpdateEntryIf, stepped to their end like UpsertEntrySQL (the arguments
// in the generated methods' order).
const (
	InsertEntrySQL   = insertEntry
	UpdateEntryIfSQL = updateEntryIf
)

// UpsertEntriesSQL and UpsertEntriesKeepMetadataSQL are the statements of
// UpsertEntries and UpsertEntriesKeepMetadata (the arguments in the
// generated methods' order; rows of key, version, revision,
// create_revision), for a caller that runs them through the driver
// itself (sqlstore's walHookQ.upsertBatch).
const (
	UpsertEntriesSQL             = upsertEntries
	UpsertEntriesKeepMetadataSQL = upsertEntriesKeepMetadata
)

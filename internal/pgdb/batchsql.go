package pgdb

// BatchSQL are the statements whose items come from parallel arrays read
// by unnest, by name: the engine may send a large batch's arrays with COPY
// instead (sqlstore/pgcopy.go), and its tests check that each is of the
// shape it rewrites.
var BatchSQL = map[string]string{
	"UpsertEntries":             upsertEntries,
	"UpsertEntriesKeepMetadata": upsertEntriesKeepMetadata,
	"InsertEntries":             insertEntries,
	"RestoreInsert":             restoreInsert,
}

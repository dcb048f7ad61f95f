package sqlstore

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
)

// The declared indexes of a namespace (storage.WithIndexes) are recorded in
// its row, column indexes (migration 00004): a JSON array of the field paths
// as the caller wrote them (driver.Field.Text), without duplicates, in
// declaration order. ListNamespaces returns them as storage.Namespace.Indexes,
// Export as NamespaceRecord.Indexes, and RestoreNamespace merges a record's
// into the namespace's (a union) and creates their physical indexes, so a
// copy of a store keeps the indexes its queries were planned for.

// indexTexts returns the declared spelling of each field, without
// duplicates, in order.
func indexTexts(fields []driver.Field) []string {
	out := make([]string, 0, len(fields))
	for _, f := range fields {
		if !slices.Contains(out, f.Text) {
			out = append(out, f.Text)
		}
	}
	return out
}

// encodeIndexes is the column value of a list of declared fields.
func encodeIndexes(fields []string) []byte {
	if len(fields) == 0 {
		return []byte("[]")
	}
	b, err := json.Marshal(fields)
	if err != nil { // cannot happen: strings always encode
		panic(err)
	}
	return b
}

// decodeIndexes reads the column; an empty array is nil, so that a
// namespace without indexes compares equal to the zero storage.Namespace
// field.
func decodeIndexes(b []byte) ([]string, error) {
	var out []string
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("namespaces.indexes %q: %w", b, err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// mergeIndexes returns have followed by the fields of add that have lacks,
// and whether that adds any.
func mergeIndexes(have, add []string) ([]string, bool) {
	out := slices.Clone(have)
	for _, f := range add {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out, len(out) > len(have)
}

// parseIndexes validates declared fields as WithIndexes does: paths into
// the value or $metadata. None is not an error here (an old export).
func parseIndexes(fields []string) ([]driver.Field, error) {
	if len(fields) == 0 {
		return nil, nil
	}
	o, err := driver.ResolveNamespaceOptions("createNamespace", []storage.NamespaceOption{storage.WithIndexes(fields...)})
	if err != nil {
		return nil, err
	}
	return o.Indexes, nil
}

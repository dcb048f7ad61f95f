package dump

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Format and Version name the file format in the header line.
const (
	Format  = "mycelia-storage-ndjson"
	Version = 1
)

// Line types, the "type" field of every line.
const (
	typeHeader    = "header"
	typeNamespace = "namespace"
	typeEntry     = "entry"
	typeTrailer   = "trailer"
)

// Sentinel errors of Import (test with errors.Is). Errors about the content
// of a line come as *ImportError, which also says what was imported.
var (
	// ErrMalformed is a line that is not what the format allows: not JSON,
	// an unknown type or field, a missing field, a header that is not the
	// first line or names another format or version, anything after the
	// trailer. An invalid key, namespace or value also wraps the storage
	// sentinel (storage.ErrInvalidKey, ...).
	ErrMalformed = errors.New("dump: malformed line")

	// ErrTruncated is a file that ends without its trailer line: it was cut
	// short (an interrupted export or copy).
	ErrTruncated = errors.New("dump: file is truncated (no trailer line)")

	// ErrCorrupt is a trailer whose counts or checksum disagree with the
	// lines before it.
	ErrCorrupt = errors.New("dump: file is corrupt (trailer does not match)")
)

// Header is the first line of a file.
type Header struct {
	Type          string    `json:"type"` // "header"
	Format        string    `json:"format"`
	Version       int       `json:"version"`
	Dialect       string    `json:"dialect"`        // of the exported store
	SchemaVersion int64     `json:"schema_version"` // of the exported store
	ExportedAt    time.Time `json:"exported_at"`
	// Namespace is the exported namespace, "" when the whole store.
	Namespace string `json:"namespace,omitempty"`
}

// Trailer is the last line of a file.
type Trailer struct {
	Type       string `json:"type"` // "trailer"
	Namespaces int64  `json:"namespaces"`
	Entries    int64  `json:"entries"`
	// SHA256 is the hex SHA-256 of every byte before the trailer line.
	SHA256 string `json:"sha256"`
}

// namespaceLine is a namespace.
type namespaceLine struct {
	Type      string          `json:"type"`
	Name      string          `json:"name"`
	Metadata  json.RawMessage `json:"metadata"`
	CreatedAt time.Time       `json:"created_at"`
	// Indexes are the declared index fields; omitted when none, so the
	// line is as before indexes were recorded.
	Indexes []string `json:"indexes,omitempty"`
	Entries int64    `json:"entries"`
}

// entryLine is an entry.
type entryLine struct {
	Type      string          `json:"type"`
	Namespace string          `json:"ns"`
	Key       string          `json:"key"`
	Value     json.RawMessage `json:"value"`
	Metadata  json.RawMessage `json:"metadata"`
	Version   int64           `json:"version"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	CreatedBy string          `json:"created_by,omitempty"`
	UpdatedBy string          `json:"updated_by,omitempty"`
	// ExpiresAt is the entry's expiry; omitted when none, so the line is
	// as before expiry existed.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// anyLine is every field of every line type, for decoding a line whose type
// is not known yet.
type anyLine struct {
	Type string `json:"type"`
	// header
	Format        *string   `json:"format"`
	Version       *int64    `json:"version"`
	Dialect       string    `json:"dialect"`
	SchemaVersion int64     `json:"schema_version"`
	ExportedAt    time.Time `json:"exported_at"`
	// header and namespace: the scope of the export
	Namespace string `json:"namespace"`
	// namespace
	Name    *string  `json:"name"`
	Indexes []string `json:"indexes"`
	Entries *int64   `json:"entries"`
	// entry
	NS        *string         `json:"ns"`
	Key       *string         `json:"key"`
	Value     json.RawMessage `json:"value"`
	Metadata  json.RawMessage `json:"metadata"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	CreatedBy string          `json:"created_by"`
	UpdatedBy string          `json:"updated_by"`
	ExpiresAt *time.Time      `json:"expires_at"`
	// trailer
	Namespaces *int64  `json:"namespaces"`
	SHA256     *string `json:"sha256"`
}

// missing is the error of a line that lacks a required field.
func missing(typ, field string) error {
	return fmt.Errorf("%w: %s line has no %q", ErrMalformed, typ, field)
}

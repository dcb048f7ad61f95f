package dump

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Format and Version name the file format in the header line. Export
// writes Version; Import also reads version 1 files (snake_case members,
// an entry's namespace in "ns"), written before the lines took the wire's
// camelCase shape.
const (
	Format  = "mycelia-storage-ndjson"
	Version = 2
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
	Dialect       string    `json:"dialect"`       // of the exported store
	SchemaVersion int64     `json:"schemaVersion"` // of the exported store
	ExportedAt    time.Time `json:"exportedAt"`
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

// namespaceLine is a namespace, with the member names of the wire's
// namespace details (routes.NamespaceJSON).
type namespaceLine struct {
	Type      string          `json:"type"`
	Name      string          `json:"name"`
	Metadata  json.RawMessage `json:"metadata"`
	CreatedAt time.Time       `json:"createdAt"`
	// Indexes are the declared index fields; omitted when none.
	Indexes []string `json:"indexes,omitempty"`
	Entries int64    `json:"entries"`
}

// entryLine is an entry, in the wire's entry shape (routes.EntryJSON, the
// store CLI's --json), plus the audit actors.
type entryLine struct {
	Type      string          `json:"type"`
	Namespace string          `json:"namespace"`
	Key       string          `json:"key"`
	Value     json.RawMessage `json:"value"`
	Metadata  json.RawMessage `json:"metadata"`
	Version   int64           `json:"version"`
	CreatedAt time.Time       `json:"createdAt"`
	UpdatedAt time.Time       `json:"updatedAt"`
	CreatedBy string          `json:"createdBy,omitempty"`
	UpdatedBy string          `json:"updatedBy,omitempty"`
	// ExpiresAt is the entry's expiry; omitted when none.
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// anyLine is every member of every line type, in both versions' spellings,
// for decoding a line whose type is not known yet; spelling checks that a
// line uses its file version's names only and moves version 1's into
// place.
type anyLine struct {
	Type string `json:"type"`
	// header
	Format        *string   `json:"format"`
	Version       *int64    `json:"version"`
	Dialect       string    `json:"dialect"`
	SchemaVersion int64     `json:"schemaVersion"`
	ExportedAt    time.Time `json:"exportedAt"`
	// header: the scope of the export; entry (version 2): its namespace
	Namespace *string `json:"namespace"`
	// namespace
	Name    *string  `json:"name"`
	Indexes []string `json:"indexes"`
	Entries *int64   `json:"entries"`
	// entry
	Key       *string         `json:"key"`
	Value     json.RawMessage `json:"value"`
	Metadata  json.RawMessage `json:"metadata"`
	CreatedAt time.Time       `json:"createdAt"`
	UpdatedAt time.Time       `json:"updatedAt"`
	CreatedBy string          `json:"createdBy"`
	UpdatedBy string          `json:"updatedBy"`
	ExpiresAt *time.Time      `json:"expiresAt"`
	// trailer
	Namespaces *int64  `json:"namespaces"`
	SHA256     *string `json:"sha256"`

	v1Names
}

// v1Names are the members version 1 spelled otherwise.
type v1Names struct {
	NS             *string    `json:"ns"`
	SchemaVersion1 *int64     `json:"schema_version"`
	ExportedAt1    *time.Time `json:"exported_at"`
	CreatedAt1     *time.Time `json:"created_at"`
	UpdatedAt1     *time.Time `json:"updated_at"`
	CreatedBy1     *string    `json:"created_by"`
	UpdatedBy1     *string    `json:"updated_by"`
	ExpiresAt1     *time.Time `json:"expires_at"`
}

// spelling checks that l, of a file of the given version, uses that
// version's member names, and moves version 1's into the version 2 fields.
func (l *anyLine) spelling(version int64) error {
	if version >= 2 {
		for _, m := range []member{
			{"ns", l.NS != nil}, {"schema_version", l.SchemaVersion1 != nil}, {"exported_at", l.ExportedAt1 != nil},
			{"created_at", l.CreatedAt1 != nil}, {"updated_at", l.UpdatedAt1 != nil}, {"created_by", l.CreatedBy1 != nil},
			{"updated_by", l.UpdatedBy1 != nil}, {"expires_at", l.ExpiresAt1 != nil},
		} {
			if m.set {
				return fmt.Errorf("%w: unknown field %q (a version %d file spells members in camelCase)", ErrMalformed, m.name, version)
			}
		}
		return nil
	}
	for _, m := range []member{
		{"schemaVersion", l.SchemaVersion != 0}, {"exportedAt", !l.ExportedAt.IsZero()}, {"createdAt", !l.CreatedAt.IsZero()},
		{"updatedAt", !l.UpdatedAt.IsZero()}, {"createdBy", l.CreatedBy != ""}, {"updatedBy", l.UpdatedBy != ""},
		{"expiresAt", l.ExpiresAt != nil}, {"namespace", l.Type == typeEntry && l.Namespace != nil},
	} {
		if m.set {
			return fmt.Errorf("%w: unknown field %q in a version 1 file", ErrMalformed, m.name)
		}
	}
	if l.Type == typeEntry {
		l.Namespace = l.NS
	}
	if l.SchemaVersion1 != nil {
		l.SchemaVersion = *l.SchemaVersion1
	}
	l.ExportedAt = deref(l.ExportedAt1)
	l.CreatedAt = deref(l.CreatedAt1)
	l.UpdatedAt = deref(l.UpdatedAt1)
	l.ExpiresAt = l.ExpiresAt1
	if l.CreatedBy1 != nil {
		l.CreatedBy = *l.CreatedBy1
	}
	if l.UpdatedBy1 != nil {
		l.UpdatedBy = *l.UpdatedBy1
	}
	return nil
}

// member is a member name and whether a line has it.
type member struct {
	name string
	set  bool
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// missing is the error of a line that lacks a required field.
func missing(typ, field string) error {
	return fmt.Errorf("%w: %s line has no %q", ErrMalformed, typ, field)
}

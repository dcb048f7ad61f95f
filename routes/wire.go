package routes

import (
	"bytes"
	"encoding/json"
	"time"
)

// This file holds the wire format: the JSON shapes of requests and
// responses. The client encodes the same types, so both sides agree by
// construction. See the package documentation for the tables.

// Options are the per-call options of the data routes, the seed's
// "options" member. A member that is absent (or null) is not given; false
// booleans are not given either.
type Options struct {
	Namespace     *string         `json:"namespace,omitempty"`
	TransactionID *string         `json:"transactionId,omitempty"`
	Metadata      json.RawMessage `json:"metadata,omitempty"`
	Overwrite     *bool           `json:"overwrite,omitempty"`
	NoOverwrite   *bool           `json:"noOverwrite,omitempty"`
	IfVersion     *int64          `json:"ifVersion,omitempty"`
	IfRevision    *int64          `json:"ifRevision,omitempty"`
	MustExist     *bool           `json:"mustExist,omitempty"`
	Merge         *bool           `json:"merge,omitempty"`
	Atomic        *bool           `json:"atomic,omitempty"`
	Pattern       *string         `json:"pattern,omitempty"`
	Limit         *int            `json:"limit,omitempty"`
	Offset        *int            `json:"offset,omitempty"`
	After         *string         `json:"after,omitempty"`
	Sort          *SortList       `json:"sort,omitempty"`
	Where         json.RawMessage `json:"where,omitempty"`
	// Filter is the seed's name of Where (count's options.filter).
	Filter json.RawMessage `json:"filter,omitempty"`
	// MaxBytes is storage.MaxBytes (list, query, getMany): the answer
	// stops after the entry that makes its keys, values and metadata reach
	// it (or AnswerBytes, whichever is less).
	MaxBytes *int64 `json:"maxBytes,omitempty"`
	// IncludeMetadata is the seed's option of get and getMany. Metadata is
	// returned whatever it says; it is accepted so that a seed-speaking
	// caller is understood. listNamespaces takes it too: false leaves the
	// namespaces' metadata out. Elsewhere it is refused (invalid_option).
	IncludeMetadata *bool `json:"includeMetadata,omitempty"`
	// FromRevision is watch's and history's FromRevision; AtRevision is
	// get's AtRevision; OmitValues is OmitValues (watch, history).
	FromRevision *int64 `json:"fromRevision,omitempty"`
	AtRevision   *int64 `json:"atRevision,omitempty"`
	OmitValues   *bool  `json:"omitValues,omitempty"`
	// ExpiryOptions are set's expiry, and setMany's for the entries
	// without their own.
	ExpiryOptions
}

// ExpiryOptions are the expiry members of options and of setMany entries.
// At most one of ttl, ttlInSeconds, ttlMs, expiresAt and keepTTL may be
// given.
type ExpiryOptions struct {
	// TTL is the time to live in seconds: a positive whole number, as a
	// JSON number or a decimal string. TTLInSeconds is Dapr's spelling.
	TTL          json.RawMessage `json:"ttl,omitempty"`
	TTLInSeconds json.RawMessage `json:"ttlInSeconds,omitempty"`
	// TTLMs is the time to live in milliseconds (what the Go client sends
	// for a TTL that is not whole seconds), written as TTL is.
	TTLMs json.RawMessage `json:"ttlMs,omitempty"`
	// ExpiresAt is an absolute expiry time, an RFC 3339 string; it must be
	// after the store's time.
	//
	// Each member is kept raw so that every bad value of every spelling is
	// refused alike (invalid_option); a null member is an absent one.
	ExpiresAt json.RawMessage `json:"expiresAt,omitempty"`
	// KeepTTL keeps the stored expiry on an overwrite.
	KeepTTL *bool `json:"keepTTL,omitempty"`
}

// SortField is one field of a query's sort: {"field": "age", "desc": true}
// or, in the seed's spelling, {"field": "age", "order": "desc"}.
type SortField struct {
	Field string `json:"field"`
	Desc  bool   `json:"desc,omitempty"`
	Order string `json:"order,omitempty"`
}

// SortList is a list of sort fields; a single object (the seed's shape) is
// a list of one.
type SortList []SortField

// UnmarshalJSON accepts an array of sort fields or a single one.
func (l *SortList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var f SortField
		if err := strictUnmarshal(b, &f); err != nil {
			return err
		}
		*l = SortList{f}
		return nil
	}
	var fs []SortField
	if err := strictUnmarshal(b, &fs); err != nil {
		return err
	}
	*l = fs
	return nil
}

func strictUnmarshal(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

// NamespaceOptions are the options of createNamespace (metadata, indexes)
// and deleteNamespace (recursive).
type NamespaceOptions struct {
	Metadata  json.RawMessage `json:"metadata,omitempty"`
	Indexes   *[]string       `json:"indexes,omitempty"`
	Recursive *bool           `json:"recursive,omitempty"`
}

// BeginOptions are the options of beginTransaction.
type BeginOptions struct {
	// Isolation is "read-uncommitted", "read-committed", "repeatable-read",
	// "serializable", or "" / "default" for the backend's default.
	Isolation *string `json:"isolation,omitempty"`
	ReadOnly  *bool   `json:"readOnly,omitempty"`
}

// KeyRequest is the body of get, delete, has and getMetadata.
type KeyRequest struct {
	Key     *string  `json:"key"`
	Options *Options `json:"options,omitempty"`
}

// SetRequest is the body of set.
type SetRequest struct {
	Key     *string         `json:"key"`
	Value   json.RawMessage `json:"value"`
	Options *Options        `json:"options,omitempty"`
}

// KeysRequest is the body of getMany and deleteMany.
type KeysRequest struct {
	Keys    *[]string `json:"keys"`
	Options *Options  `json:"options,omitempty"`
}

// EntryItem is one write of setMany. Metadata absent (or null) means the
// batch's options.metadata, else keep what is stored.
type EntryItem struct {
	Key      *string         `json:"key"`
	Value    json.RawMessage `json:"value"`
	Metadata json.RawMessage `json:"metadata,omitempty"`
	// IfRevision makes the entry a compare-and-swap (Item.IfRevision).
	IfRevision *int64 `json:"ifRevision,omitempty"`
	// ExpiryOptions are the entry's own expiry; none given means the
	// batch's options.
	ExpiryOptions
}

// SetManyRequest is the body of setMany.
type SetManyRequest struct {
	Entries *[]EntryItem `json:"entries"`
	Options *Options     `json:"options,omitempty"`
}

// SetMetadataRequest is the body of setMetadata. Metadata null means {}.
type SetMetadataRequest struct {
	Key      *string         `json:"key"`
	Metadata json.RawMessage `json:"metadata"`
	Options  *Options        `json:"options,omitempty"`
}

// OptionsRequest is the body of list, count and clear.
type OptionsRequest struct {
	Options *Options `json:"options,omitempty"`
}

// QueryRequest is the body of query. An absent filter matches everything.
type QueryRequest struct {
	Filter  json.RawMessage `json:"filter,omitempty"`
	Options *Options        `json:"options,omitempty"`
}

// NamespaceRequest is the body of createNamespace and deleteNamespace.
type NamespaceRequest struct {
	Name    *string           `json:"name"`
	Options *NamespaceOptions `json:"options,omitempty"`
}

// IndexRequest is the body of createIndex and dropIndex.
type IndexRequest struct {
	Name  *string `json:"name"`  // the namespace
	Field *string `json:"field"` // the declared field path
}

// EmptyRequest is the body of getStatus and getCapabilities: {} or
// {"options": {}}. (listNamespaces takes an OptionsRequest: limit, after,
// includeMetadata.)
type EmptyRequest struct {
	Options *struct{} `json:"options,omitempty"`
}

// BeginRequest is the body of beginTransaction.
type BeginRequest struct {
	Options *BeginOptions `json:"options,omitempty"`
}

// TxRequest is the body of commit, rollback and lookupTransaction.
type TxRequest struct {
	TransactionID *string `json:"transactionId"`
}

// ErrorBody is the "error" member of an envelope.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Op, Namespace and Key say where the error happened, when known.
	Op        string `json:"op,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Key       string `json:"key,omitempty"`
	// Revision is, for compacted, the oldest revision the store retains,
	// for watch_lagged the revision to resume from, and for the
	// invalid_option of a FromRevision beyond the store's revision
	// (storage.FutureRevisionError) the store's revision; Requested is the
	// revision a compacted or future call asked for.
	Revision  *int64 `json:"revision,omitempty"`
	Requested int64  `json:"requested,omitempty"`
}

// Envelope is the part every response has: {"success": true} or
// {"success": false, "error": {...}}.
type Envelope struct {
	Success bool       `json:"success"`
	Error   *ErrorBody `json:"error,omitempty"`
}

// Head returns the envelope part of a response.
func (e *Envelope) Head() *Envelope { return e }

// EntryFields are an entry's system fields as every shape of an entry
// on the wire spells them: EntryMeta, EntryJSON, and getMetadata's
// result.
type EntryFields struct {
	Version int64 `json:"version"`
	// Revision and CreateRevision are the entry's (storage.Entry).
	Revision       int64     `json:"revision"`
	CreateRevision int64     `json:"createRevision"`
	CreatedAt      time.Time `json:"createdAt"`
	UpdatedAt      time.Time `json:"updatedAt"`
	// CreatedBy and UpdatedBy are the actors of the entry's first and
	// last writes (storage.Metadata); getMetadata reports them, an entry
	// read by get, getMany or query does not (absent).
	CreatedBy string `json:"createdBy,omitempty"`
	UpdatedBy string `json:"updatedBy,omitempty"`
	// ExpiresAt is the entry's expiry; absent when none.
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// EntryMeta is an entry without its value.
type EntryMeta struct {
	Namespace string          `json:"namespace"`
	Metadata  json.RawMessage `json:"metadata"`
	EntryFields
}

// EntryJSON is an entry: a query result. The store CLI's --json prints an
// entry in this shape too.
type EntryJSON struct {
	Namespace string          `json:"namespace"`
	Key       string          `json:"key"`
	Value     json.RawMessage `json:"value"`
	Metadata  json.RawMessage `json:"metadata"`
	EntryFields
}

// Meta returns the entry without its key and value.
func (e EntryJSON) Meta() EntryMeta {
	return EntryMeta{Namespace: e.Namespace, Metadata: e.Metadata, EntryFields: e.EntryFields}
}

// GetResponse is the result of get: data is the value.
type GetResponse struct {
	Envelope
	Data json.RawMessage `json:"data,omitempty"`
	Key  string          `json:"key,omitempty"`
	EntryMeta
}

// HasResponse is the result of has.
type HasResponse struct {
	Envelope
	Exists bool `json:"exists"`
}

// GetManyResponse is the result of getMany: data maps each found key to its
// value, meta to the rest of its entry, errors each other key to its error.
type GetManyResponse struct {
	Envelope
	Data   map[string]json.RawMessage `json:"data"`
	Meta   map[string]EntryMeta       `json:"meta"`
	Errors map[string]*ErrorBody      `json:"errors"`
	// Unread are the requested keys the answer did not read because it
	// reached AnswerBytes first: ask for them again. Every distinct
	// requested key is in exactly one of Data, Errors and Unread.
	Unread []string `json:"unread,omitempty"`
}

// KeyResult is the outcome of one key of setMany or deleteMany.
type KeyResult struct {
	Success bool       `json:"success"`
	Error   *ErrorBody `json:"error,omitempty"`
	// Version is the version setMany wrote; absent otherwise.
	Version int64 `json:"version,omitempty"`
	// Revision is the revision of the key's change (setMany and
	// deleteMany); absent when it failed.
	Revision int64 `json:"revision,omitempty"`
}

// WriteResponse is the result of set, delete and setMetadata: what the
// write wrote (storage.WriteResult).
type WriteResponse struct {
	Envelope
	Revision       int64 `json:"revision"`
	Version        int64 `json:"version"`
	CreateRevision int64 `json:"createRevision,omitempty"`
}

// BatchResponse is the result of setMany and deleteMany: one result per
// distinct key, and keys, the distinct keys in the order of their first
// occurrence. A batch that failed as a whole has success false, an error,
// and still its per-key results.
type BatchResponse struct {
	Envelope
	Results map[string]KeyResult `json:"results"`
	Keys    []string             `json:"keys"`
}

// ListResponse is the result of list.
type ListResponse struct {
	Envelope
	Keys   []string `json:"keys"`
	Cursor string   `json:"cursor,omitempty"`
}

// QueryResponse is the result of query.
type QueryResponse struct {
	Envelope
	Results []EntryJSON `json:"results"`
	Cursor  string      `json:"cursor,omitempty"`
}

// CountResponse is the result of count.
type CountResponse struct {
	Envelope
	Count int64 `json:"count"`
}

// NamespaceJSON describes one namespace.
type NamespaceJSON struct {
	Name      string         `json:"name"`
	Owner     string         `json:"owner,omitempty"`
	Metadata  map[string]any `json:"metadata"`
	CreatedAt time.Time      `json:"createdAt"`
	// Indexes are the declared index fields (storage.Namespace.Indexes);
	// omitted when none.
	Indexes []string `json:"indexes,omitempty"`
}

// NamespacesResponse is the result of listNamespaces: the names (the
// seed's shape) and their details, in the same order, and, when more
// namespaces may follow, a cursor: the last name, to pass as
// options.after (see NamespacesLimit).
type NamespacesResponse struct {
	Envelope
	Namespaces []string        `json:"namespaces"`
	Details    []NamespaceJSON `json:"details"`
	Cursor     string          `json:"cursor,omitempty"`
}

// MetadataJSON is an entry's metadata: the user metadata and the system
// fields beside it. The store CLI's meta --json prints it too.
type MetadataJSON struct {
	Metadata map[string]any `json:"metadata"`
	EntryFields
}

// MetadataResponse is the result of getMetadata.
type MetadataResponse struct {
	Envelope
	MetadataJSON
}

// StatusJSON is a store's status.
type StatusJSON struct {
	Healthy       bool   `json:"healthy"`
	Size          int64  `json:"size"`
	Capacity      int64  `json:"capacity"`
	Namespaces    int64  `json:"namespaces"`
	Dialect       string `json:"dialect"`
	SchemaVersion int64  `json:"schemaVersion"`
	// Revision is the store's current revision, OldestRevision the oldest
	// in its change log (storage.Status).
	Revision       int64 `json:"revision"`
	OldestRevision int64 `json:"oldestRevision"`
	// ReadOnly and Degraded: see storage.Status (omitted when false and
	// "").
	ReadOnly bool   `json:"readOnly,omitempty"`
	Degraded string `json:"degraded,omitempty"`
}

// StatusResponse is the result of getStatus.
type StatusResponse struct {
	Envelope
	Status StatusJSON `json:"status"`
}

// CapabilitiesJSON are a store's capabilities.
type CapabilitiesJSON struct {
	Transactions bool `json:"transactions"`
	Query        bool `json:"query"`
	Metadata     bool `json:"metadata"`
	Batches      bool `json:"batches"`
	Capacity     bool `json:"capacity"`
}

// CapabilitiesResponse is the result of getCapabilities.
type CapabilitiesResponse struct {
	Envelope
	Capabilities CapabilitiesJSON `json:"capabilities"`
}

// TxResponse is the result of beginTransaction and lookupTransaction.
type TxResponse struct {
	Envelope
	TransactionID string `json:"transactionId"`
	Isolation     string `json:"isolation"`
	ReadOnly      bool   `json:"readOnly"`
}

// Marshal encodes v as compact JSON without HTML escaping, so that values
// keep their spelling.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Event is one change, as the watch stream and history send it (see
// storage.Event).
type Event struct {
	Type         string          `json:"type"`
	Namespace    string          `json:"namespace"`
	Key          string          `json:"key,omitempty"`
	Value        json.RawMessage `json:"value,omitempty"`
	Metadata     json.RawMessage `json:"metadata,omitempty"`
	Revision     int64           `json:"revision"`
	PrevRevision int64           `json:"prevRevision,omitempty"`
	Version      int64           `json:"version,omitempty"`
	At           time.Time       `json:"at"`
	// CreatedAt and ExpiresAt: storage.Event's, left out when zero.
	CreatedAt *time.Time `json:"createdAt,omitempty"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// StreamHead is the first line of the watch stream: success, and the
// revision the stream starts after (its fromRevision, or the store's
// revision when the watch began).
type StreamHead struct {
	Envelope
	Revision int64 `json:"revision"`
}

// HistoryResponse is the response of history.
type HistoryResponse struct {
	Envelope
	Events []Event `json:"events"`
}

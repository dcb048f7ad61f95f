package routes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
	"github.com/mycelia-kernel/storage/internal/jsonx"
)

// The routes.
const (
	RouteGet               = "storage://get"
	RouteSet               = "storage://set"
	RouteDelete            = "storage://delete"
	RouteHas               = "storage://has"
	RouteGetMany           = "storage://getMany"
	RouteSetMany           = "storage://setMany"
	RouteDeleteMany        = "storage://deleteMany"
	RouteList              = "storage://list"
	RouteQuery             = "storage://query"
	RouteCount             = "storage://count"
	RouteCreateNamespace   = "storage://createNamespace"
	RouteDeleteNamespace   = "storage://deleteNamespace"
	RouteListNamespaces    = "storage://listNamespaces"
	RouteGetMetadata       = "storage://getMetadata"
	RouteSetMetadata       = "storage://setMetadata"
	RouteClear             = "storage://clear"
	RouteGetStatus         = "storage://getStatus"
	RouteGetCapabilities   = "storage://getCapabilities"
	RouteBeginTransaction  = "storage://beginTransaction"
	RouteCommit            = "storage://commit"
	RouteRollback          = "storage://rollback"
	RouteLookupTransaction = "storage://lookupTransaction"
	RouteCreateIndex       = "storage://createIndex"
	RouteDropIndex         = "storage://dropIndex"
	RouteWatch             = "storage://watch"
	RouteHistory           = "storage://history"
)

// enveloped is a response type: a pointer to a struct embedding Envelope.
type enveloped interface{ Head() *Envelope }

// route builds a Handler: it decodes the body strictly into a Req, calls
// fn, and encodes its response. fn returns a nil response with an error for
// a failure, or a response and an error for a batch that failed as a whole
// but has per-key results.
func route[Req any, Resp enveloped](fn func(ctx context.Context, req *Req) (Resp, error)) Handler {
	return func(ctx context.Context, body []byte) (out []byte) {
		defer func() {
			if p := recover(); p != nil {
				out = ErrorEnvelope(CodeInternal, fmt.Sprintf("storage: internal error: %v", p))
			}
		}()
		req := new(Req)
		if err := decodeRequest(body, req); err != nil {
			return errorEnvelope(err)
		}
		resp, err := fn(ctx, req)
		var e *Envelope
		if v := reflect.ValueOf(resp); v.IsValid() && !v.IsNil() {
			e = resp.Head()
		}
		if e == nil {
			if err == nil {
				err = fmt.Errorf("%w: no response", ErrInternal)
			}
			return errorEnvelope(err)
		}
		e.Success = err == nil
		if err != nil {
			e.Error = bodyOf(err)
		}
		b, merr := Marshal(resp)
		if merr != nil {
			return errorEnvelope(fmt.Errorf("%w: cannot encode the response: %s", ErrInternal, merr.Error()))
		}
		return b
	}
}

// badRequest is an ErrInvalidRequest with a reason.
func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...))
}

// maxBodyDepth is the deepest nesting of a request body that
// decodeRequest decodes as it is: far beyond what any member may hold (a
// value or metadata driver.MaxDepth, a filter less), below what
// encoding/json decodes (jsonx.DecodeDepth). Deeper parts are flattened
// (jsonx.Flatten), so that the member holding them gets its own error
// (invalid_value for a value, that entry's failure in a setMany, ...), as
// one nested just beyond its limit does, not the body invalid_request.
const maxBodyDepth = 2 * driver.MaxDepth

// decodeRequest decodes body into v: one JSON object (an empty body is
// {}), valid UTF-8, no unknown members, no trailing data, no object with
// two members of the same name, and member names spelled exactly
// (checkMembers). A batch with more than MaxBatchItems items is refused
// before it is decoded (tooManyInBody).
func decodeRequest(body []byte, v any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		trimmed = []byte("{}")
	}
	if !utf8.Valid(trimmed) {
		return badRequest("the body is not valid UTF-8")
	}
	if trimmed[0] != '{' {
		return badRequest("the body must be a JSON object")
	}
	trimmed = jsonx.Flatten(trimmed, maxBodyDepth)
	if err := loneSurrogate(trimmed); err != nil {
		return err
	}
	if err := tooManyInBody(trimmed, v); err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(trimmed))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return badRequest("%s", jsonx.DecodeMessage(err))
	}
	if _, err := d.Token(); err != io.EOF {
		return badRequest("trailing data after the JSON object")
	}
	return checkMembers(trimmed, reflect.TypeOf(v))
}

// Register registers a handler for every route onto r, serving s (any
// storage.Store, e.g. security.NewStore(...)).
func Register(r Router, s storage.Store) {
	h := handlers{s: s}
	r.Handle(RouteGet, route(flagged(RouteGet, h.get)))
	r.Handle(RouteSet, route(flagged(RouteSet, h.set)))
	r.Handle(RouteDelete, route(flagged(RouteDelete, h.delete)))
	r.Handle(RouteHas, route(flagged(RouteHas, h.has)))
	r.Handle(RouteGetMany, route(flagged(RouteGetMany, h.getMany)))
	r.Handle(RouteSetMany, route(flagged(RouteSetMany, h.setMany)))
	r.Handle(RouteDeleteMany, route(flagged(RouteDeleteMany, h.deleteMany)))
	r.Handle(RouteList, route(flagged(RouteList, h.list)))
	r.Handle(RouteQuery, route(flagged(RouteQuery, h.query)))
	r.Handle(RouteCount, route(flagged(RouteCount, h.count)))
	r.Handle(RouteCreateNamespace, route(h.createNamespace))
	r.Handle(RouteDeleteNamespace, route(h.deleteNamespace))
	r.Handle(RouteListNamespaces, route(h.listNamespaces))
	r.Handle(RouteGetMetadata, route(flagged(RouteGetMetadata, h.getMetadata)))
	r.Handle(RouteSetMetadata, route(flagged(RouteSetMetadata, h.setMetadata)))
	r.Handle(RouteClear, route(flagged(RouteClear, h.clear)))
	r.Handle(RouteGetStatus, route(h.getStatus))
	r.Handle(RouteGetCapabilities, route(h.getCapabilities))
	r.Handle(RouteBeginTransaction, route(h.begin))
	r.Handle(RouteCommit, route(h.commit))
	r.Handle(RouteRollback, route(h.rollback))
	r.Handle(RouteLookupTransaction, route(h.lookupTx))
	r.Handle(RouteCreateIndex, route(h.createIndex))
	r.Handle(RouteDropIndex, route(h.dropIndex))
	r.Handle(RouteHistory, route(flagged(RouteHistory, h.history)))
	if sr, ok := r.(StreamRouter); ok {
		sr.HandleStream(RouteWatch, h.watch)
	}
}

type handlers struct{ s storage.Store }

// flagTakers are the routes that take each flag of the wire's options
// (overwrite and noOverwrite, mustExist, merge, atomic, omitValues): the
// engine's operations that take the option. A flag given false (or
// overwrite given true) becomes no option at all, so the store could not
// refuse it on an operation that does not take it; flagged refuses it
// there, as the store refuses the option (invalid_option).
var flagTakers = map[string][]string{
	"overwrite":   {RouteSet, RouteSetMany},
	"noOverwrite": {RouteSet, RouteSetMany},
	"mustExist":   {RouteSet, RouteSetMany},
	"merge":       {RouteSet, RouteSetMetadata},
	"atomic":      {RouteSetMany, RouteDeleteMany},
	"omitValues":  {RouteHistory, RouteWatch},
}

// flagged checks the flags of a data route's options (checkFlags) before
// fn runs.
func flagged[Req any, Resp any](name string, fn func(context.Context, *Req) (Resp, error)) func(context.Context, *Req) (Resp, error) {
	return func(ctx context.Context, req *Req) (Resp, error) {
		if f := reflect.ValueOf(req).Elem().FieldByName("Options"); f.IsValid() {
			if o, ok := f.Interface().(*Options); ok {
				if err := checkFlags(name, o); err != nil {
					var zero Resp
					return zero, err
				}
			}
		}
		return fn(ctx, req)
	}
}

// checkFlags refuses a flag of o that route name's operation does not
// take (flagTakers), whatever its value.
func checkFlags(name string, o *Options) error {
	if o == nil {
		return nil
	}
	given := map[string]bool{"overwrite": o.Overwrite != nil, "noOverwrite": o.NoOverwrite != nil,
		"mustExist": o.MustExist != nil, "merge": o.Merge != nil, "atomic": o.Atomic != nil, "omitValues": o.OmitValues != nil}
	for _, flag := range []string{"overwrite", "noOverwrite", "mustExist", "merge", "atomic", "omitValues"} {
		if given[flag] && !slices.Contains(flagTakers[flag], name) {
			op := strings.TrimPrefix(name, "storage://")
			return &storage.OpError{Op: op, Err: driver.Invalidf(storage.ErrInvalidOption,
				"%s does not accept options.%s (whatever its value)", op, flag)}
		}
	}
	return nil
}

// target returns the store, or the transaction options.transactionId
// names, with the options translated.
func (h handlers) target(o *Options) (storage.Ops, []storage.Option, error) {
	opts, err := o.toStorage()
	if err != nil {
		return nil, nil, err
	}
	if o != nil && o.TransactionID != nil {
		tx, err := h.s.LookupTx(*o.TransactionID)
		if err != nil {
			return nil, nil, err
		}
		return tx, opts, nil
	}
	return h.s, opts, nil
}

func isNull(b json.RawMessage) bool {
	return b == nil || bytes.Equal(bytes.TrimSpace(b), []byte("null"))
}

// toStorage translates wire options into storage options. The store itself
// decides which options its operation accepts (ErrInvalidOption).
func (o *Options) toStorage() ([]storage.Option, error) {
	if o == nil {
		return nil, nil
	}
	var opts []storage.Option
	if o.IncludeMetadata != nil {
		return nil, driver.Invalidf(storage.ErrInvalidOption, "options.includeMetadata is an option of get and getMany only")
	}
	if o.Namespace != nil {
		opts = append(opts, storage.InNamespace(*o.Namespace))
	}
	if !isNull(o.Metadata) {
		opts = append(opts, storage.WithMetadata(o.Metadata))
	}
	noOverwrite := o.NoOverwrite != nil && *o.NoOverwrite
	if o.Overwrite != nil {
		if o.NoOverwrite != nil && *o.Overwrite == *o.NoOverwrite {
			return nil, badRequest("options.overwrite and options.noOverwrite contradict each other")
		}
		noOverwrite = !*o.Overwrite
	}
	if noOverwrite {
		opts = append(opts, storage.NoOverwrite())
	}
	if o.IfVersion != nil {
		opts = append(opts, storage.IfVersion(*o.IfVersion))
	}
	if o.IfRevision != nil {
		opts = append(opts, storage.IfRevision(*o.IfRevision))
	}
	if o.MustExist != nil && *o.MustExist {
		opts = append(opts, storage.MustExist())
	}
	if o.Merge != nil && *o.Merge {
		opts = append(opts, storage.Merge())
	}
	if o.Atomic != nil && *o.Atomic {
		opts = append(opts, storage.Atomic())
	}
	if o.Pattern != nil {
		opts = append(opts, storage.Pattern(*o.Pattern))
	}
	switch {
	case o.FromRevision != nil && o.AtRevision != nil:
		return nil, badRequest("options.fromRevision and options.atRevision exclude each other")
	case o.FromRevision != nil:
		opts = append(opts, storage.FromRevision(*o.FromRevision))
	case o.AtRevision != nil:
		opts = append(opts, storage.AtRevision(*o.AtRevision))
	}
	if o.OmitValues != nil && *o.OmitValues {
		opts = append(opts, storage.OmitValues())
	}
	if o.Limit != nil {
		opts = append(opts, storage.Limit(*o.Limit))
	}
	if o.Offset != nil {
		opts = append(opts, storage.Offset(*o.Offset))
	}
	if o.MaxBytes != nil {
		opts = append(opts, storage.MaxBytes(*o.MaxBytes))
	}
	if o.After != nil {
		opts = append(opts, storage.After(*o.After))
	}
	if o.Sort != nil {
		fields := make([]storage.SortField, 0, len(*o.Sort))
		for i, f := range *o.Sort {
			desc := f.Desc
			switch f.Order {
			case "":
			case "asc":
				if desc {
					return nil, badRequest("options.sort[%d]: desc true and order \"asc\" contradict each other", i)
				}
			case "desc":
				desc = true
			default:
				return nil, badRequest("options.sort[%d]: order must be \"asc\" or \"desc\", not %q", i, f.Order)
			}
			fields = append(fields, storage.SortField{Field: f.Field, Desc: desc})
		}
		opts = append(opts, storage.SortBy(fields...))
	}
	where := o.Where
	if o.Filter != nil {
		if o.Where != nil {
			return nil, badRequest("options.where and options.filter are the same option; give one")
		}
		where = o.Filter
	}
	if where != nil {
		f, err := parseFilter(where)
		if err != nil {
			return nil, err
		}
		opts = append(opts, storage.Where(f))
	}
	e, err := o.expiry("options")
	if err != nil {
		return nil, err
	}
	switch {
	case e.TTL != 0:
		opts = append(opts, storage.WithTTL(e.TTL))
	case !e.At.IsZero():
		opts = append(opts, storage.ExpiresAt(e.At))
	case e.Keep:
		opts = append(opts, storage.KeepTTL())
	}
	return opts, nil
}

// expiry decodes the expiry members (of "options" or "entries[i]", named
// by where). Bad values are ErrInvalidOption.
func (x *ExpiryOptions) expiry(where string) (driver.Expiry, error) {
	var e driver.Expiry
	n := 0
	for _, m := range []struct {
		name string
		raw  json.RawMessage
		unit time.Duration
	}{{"ttl", x.TTL, time.Second}, {"ttlInSeconds", x.TTLInSeconds, time.Second}, {"ttlMs", x.TTLMs, time.Millisecond}} {
		if isNull(m.raw) {
			continue
		}
		n++
		units := "seconds"
		if m.unit == time.Millisecond {
			units = "milliseconds"
		}
		max := int64(storage.MaxTTL / m.unit)
		v, err := wholeNumber(m.raw)
		if err != nil {
			return e, driver.Invalidf(storage.ErrInvalidOption, "%s.%s: %s is not a whole number of %s", where, m.name, jsonx.Clip(string(m.raw)), units)
		}
		if v <= 0 || v > max {
			return e, driver.Invalidf(storage.ErrInvalidOption, "%s.%s: %d %s: want 1 to %d", where, m.name, v, units, max)
		}
		e.TTL = time.Duration(v) * m.unit
	}
	if !isNull(x.ExpiresAt) {
		n++
		if err := e.At.UnmarshalJSON(x.ExpiresAt); err != nil || e.At.IsZero() {
			return e, driver.Invalidf(storage.ErrInvalidOption, "%s.expiresAt: %s is not an RFC 3339 time", where, jsonx.Clip(string(x.ExpiresAt)))
		}
	}
	if x.KeepTTL != nil && *x.KeepTTL {
		n++
		e.Keep = true
	}
	if n > 1 {
		return driver.Expiry{}, driver.Invalidf(storage.ErrInvalidOption, "%s: give at most one of ttl, ttlInSeconds, ttlMs, expiresAt and keepTTL", where)
	}
	return e, nil
}

// wholeNumber reads a JSON number or a string holding a decimal integer.
func wholeNumber(raw json.RawMessage) (int64, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		s = string(bytes.TrimSpace(raw))
	}
	return strconv.ParseInt(s, 10, 64)
}

// parseFilter decodes a filter; its problems are ErrInvalidFilter (the
// store validates it further).
func parseFilter(b json.RawMessage) (storage.Filter, error) {
	var f storage.Filter
	if err := json.Unmarshal(b, &f); err != nil {
		var ve *storage.ValidationError
		if errors.As(err, &ve) {
			return storage.Filter{}, ve
		}
		return storage.Filter{}, driver.Invalidf(storage.ErrInvalidFilter, "%v", err)
	}
	return f, nil
}

func requireKey(k *string) (string, error) {
	if k == nil {
		return "", badRequest("member \"key\" is missing")
	}
	return *k, nil
}

// keyed checks a KeyRequest's key, then resolves its options.
func (h handlers) keyed(req *KeyRequest) (string, storage.Ops, []storage.Option, error) {
	key, err := requireKey(req.Key)
	if err != nil {
		return "", nil, nil, err
	}
	t, opts, err := h.target(req.Options)
	if err != nil {
		return "", nil, nil, err
	}
	return key, t, opts, nil
}

// done is the answer of an operation that returns no data: an empty
// envelope, or err.
func done(err error) (*Envelope, error) {
	if err != nil {
		return nil, err
	}
	return &Envelope{}, nil
}

// EntryOf is e on the wire.
func EntryOf(e storage.Entry) EntryJSON {
	return EntryJSON{Namespace: e.Namespace, Key: e.Key, Value: e.Value, Metadata: e.Metadata, EntryFields: entryFields(e)}
}

func entryFields(e storage.Entry) EntryFields {
	return EntryFields{Version: e.Version, Revision: e.Revision, CreateRevision: e.CreateRevision,
		CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt, ExpiresAt: optTime(e.ExpiresAt)}
}

// MetadataOf is md on the wire.
func MetadataOf(md storage.Metadata) MetadataJSON {
	return MetadataJSON{Metadata: md.User, EntryFields: EntryFields{Version: md.Version, Revision: md.Revision,
		CreateRevision: md.CreateRevision, CreatedAt: md.CreatedAt, UpdatedAt: md.UpdatedAt,
		CreatedBy: md.CreatedBy, UpdatedBy: md.UpdatedBy, ExpiresAt: optTime(md.ExpiresAt)}}
}

func entryMeta(e storage.Entry) EntryMeta {
	return EntryMeta{Namespace: e.Namespace, Metadata: e.Metadata, EntryFields: entryFields(e)}
}

// wrote is the answer of a write: what it wrote, or err.
func wrote(w storage.WriteResult, err error) (*WriteResponse, error) {
	if err != nil {
		return nil, err
	}
	return &WriteResponse{Revision: w.Revision, Version: w.Version, CreateRevision: w.CreateRevision}, nil
}

// optTime is an expiry on the wire: nil (absent) for none.
func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// withoutIncludeMetadata drops the seed's includeMetadata option, which get
// and getMany accept: they return metadata whatever it says.
func withoutIncludeMetadata(o *Options) *Options {
	if o == nil || o.IncludeMetadata == nil {
		return o
	}
	c := *o
	c.IncludeMetadata = nil
	return &c
}

func (h handlers) get(ctx context.Context, req *KeyRequest) (*GetResponse, error) {
	req.Options = withoutIncludeMetadata(req.Options)
	key, t, opts, err := h.keyed(req)
	if err != nil {
		return nil, err
	}
	e, err := t.Get(ctx, key, opts...)
	if err != nil {
		return nil, err
	}
	return &GetResponse{Data: e.Value, Key: e.Key, EntryMeta: entryMeta(e)}, nil
}

func (h handlers) set(ctx context.Context, req *SetRequest) (*WriteResponse, error) {
	key, err := requireKey(req.Key)
	if err != nil {
		return nil, err
	}
	if req.Value == nil {
		return nil, badRequest("member \"value\" is missing")
	}
	t, opts, err := h.target(req.Options)
	if err != nil {
		return nil, err
	}
	var w storage.WriteResult
	return wrote(w, t.Set(ctx, key, req.Value, append(opts, storage.Written(&w))...))
}

func (h handlers) delete(ctx context.Context, req *KeyRequest) (*WriteResponse, error) {
	key, t, opts, err := h.keyed(req)
	if err != nil {
		return nil, err
	}
	var w storage.WriteResult
	err = t.Delete(ctx, key, append(opts, storage.Written(&w))...)
	return wrote(w, err)
}

func (h handlers) has(ctx context.Context, req *KeyRequest) (*HasResponse, error) {
	key, t, opts, err := h.keyed(req)
	if err != nil {
		return nil, err
	}
	ok, err := t.Has(ctx, key, opts...)
	if err != nil {
		return nil, err
	}
	return &HasResponse{Exists: ok}, nil
}

func (h handlers) getMany(ctx context.Context, req *KeysRequest) (*GetManyResponse, error) {
	if req.Keys == nil {
		return nil, badRequest("member \"keys\" is missing")
	}
	if err := tooManyItems("getMany", len(*req.Keys)); err != nil {
		return nil, err
	}
	o, budget := answerBudget(withoutIncludeMetadata(req.Options))
	t, opts, err := h.target(o)
	if err != nil {
		return nil, err
	}
	out := &GetManyResponse{
		Data:   make(map[string]json.RawMessage, len(*req.Keys)),
		Meta:   make(map[string]EntryMeta, len(*req.Keys)),
		Errors: make(map[string]*ErrorBody),
	}
	// The keys are read in parts, as list and query are (see AnswerBytes):
	// the first of firstPart keys, then as many as the values read so far
	// suggest fit in what is left (nextPart), each part with what is left
	// of the budget as its MaxBytes, so that the store stops reading at
	// it. The keys of no part, and those a part left unread, are unread.
	keys := distinctKeys(*req.Keys)
	first := firstPart(256<<10, 16)
	part, size := first, int64(0)
	for read := 0; read == 0 || read < len(keys); {
		if size >= budget {
			out.Unread = keys[read:]
			break
		}
		chunk := keys[read:min(read+part, len(keys))] // no keys: asked once, for the options' errors
		res, err := t.GetMany(ctx, chunk, withBudget(opts, budget-size)...)
		if err != nil {
			return nil, err
		}
		for k, e := range res.Entries {
			out.Data[k] = e.Value
			out.Meta[k] = entryMeta(e)
			size += int64(len(k)+len(e.Value)+len(e.Metadata)) + entryOverhead
		}
		for k, e := range res.Errors {
			out.Errors[k] = bodyOf(e)
		}
		if len(res.Unread) > 0 {
			out.Unread = append(res.Unread[:len(res.Unread):len(res.Unread)], keys[read+len(chunk):]...)
			break
		}
		if read += len(chunk); read == 0 {
			break
		}
		part = nextPart(budget, size, read, first)
	}
	return out, nil
}

// answerBudget returns o without its MaxBytes, and the bytes an answer
// with options o may read: AnswerBytes, or the caller's MaxBytes when less.
// A MaxBytes below 1 stays in the options, for the store to refuse.
func answerBudget(o *Options) (*Options, int64) {
	if o == nil || o.MaxBytes == nil || *o.MaxBytes < 1 {
		return o, AnswerBytes
	}
	c := *o
	c.MaxBytes = nil
	return &c, min(*o.MaxBytes, AnswerBytes)
}

// withBudget returns opts with MaxBytes(left) added (at least 1), unless
// they have a MaxBytes already (one the store refuses).
func withBudget(opts []storage.Option, left int64) []storage.Option {
	for _, o := range opts {
		if o.Kind() == driver.KindMaxBytes {
			return opts
		}
	}
	return append(opts[:len(opts):len(opts)], storage.MaxBytes(max(left, 1)))
}

// nextPart is the size of an answer's next part, budget bytes in all, after
// got entries of size bytes: as many as the entries read so far suggest fit
// in what is left, at least first, at most twice as many as were read
// (and maxPart). The store stops each part at what is left of the budget
// (MaxBytes), so the part's size bounds what the store runs, not what it
// holds: PostgreSQL receives (and drops) the rest of a part's rows after
// the budget stops the reading, so a part of 10,000 entries after small
// ones would still have sent the server 10,000 large values.
func nextPart(budget, size int64, got, first int) int {
	n := min(max((budget-size)/max(size/int64(got), 1), int64(first)), maxPart)
	return int(min(n, int64(max(2*got, first))))
}

// distinctKeys returns keys without repeats, in first-occurrence order.
func distinctKeys(keys []string) []string {
	seen := make(map[string]struct{}, len(keys))
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if _, ok := seen[k]; !ok {
			seen[k] = struct{}{}
			out = append(out, k)
		}
	}
	return out
}

func batchResponse(res storage.BatchResult) *BatchResponse {
	out := &BatchResponse{Results: make(map[string]KeyResult, len(res.Results)), Keys: make([]string, 0, len(res.Results))}
	for _, kr := range res.Results {
		r := KeyResult{Success: kr.Err == nil, Version: kr.Version, Revision: kr.Revision}
		if kr.Err != nil {
			r.Error = bodyOf(kr.Err)
		}
		out.Results[kr.Key] = r
		out.Keys = append(out.Keys, kr.Key)
	}
	return out
}

// MaxBatchItems bounds the entries of one setMany and the keys of one
// deleteMany: a batch's valid items commit together, in one transaction
// that holds SQLite's one writer (PostgreSQL: the store's revision lock)
// from start to end, so every other writer of the store waits for it.
// 100,000 entries of 256 B, about the default request size limit, held
// them 2-3.5 s on SQLite and 3-8 s on PostgreSQL; 10,000 about a tenth of
// that (bench/results/2026-12-04-writer-holds.md). It bounds the keys of
// one getMany too: each key the answer does not hold a value for (one not
// found, or denied) holds its error instead, which AnswerBytes does not
// bound, and 1M missing keys (an 8 MiB body) made a 161 MB answer, 2.4 GB
// allocated and 16 s in the store. A larger batch is
// refused whole with too_large (routes.ErrTooLarge, a
// storage.ErrValueTooLarge), before its body is decoded (its items are
// counted in the body, up to the bound): send it in several
// (client.Store's GetMany does by itself). Set it, if at all, before the
// routes serve.
var MaxBatchItems = 10000

// tooManyItems refuses a batch of n items beyond MaxBatchItems.
func tooManyItems(op string, n int) error {
	if n <= MaxBatchItems {
		return nil
	}
	return &storage.OpError{Op: op, Err: fmt.Errorf("%w: %d items: at most %d per request (routes.MaxBatchItems); send several",
		ErrTooLarge, n, MaxBatchItems)}
}

func (h handlers) setMany(ctx context.Context, req *SetManyRequest) (*BatchResponse, error) {
	if req.Entries == nil {
		return nil, badRequest("member \"entries\" is missing")
	}
	if err := tooManyItems("setMany", len(*req.Entries)); err != nil {
		return nil, err
	}
	items := make([]storage.Item, len(*req.Entries))
	for i, it := range *req.Entries {
		if it.Key == nil {
			return nil, badRequest("entries[%d]: member \"key\" is missing", i)
		}
		if it.Value == nil {
			return nil, badRequest("entries[%d]: member \"value\" is missing", i)
		}
		items[i] = storage.Item{Key: *it.Key, Value: it.Value}
		if it.IfRevision != nil {
			if *it.IfRevision < 1 {
				return nil, &storage.OpError{Op: "setMany", Key: *it.Key,
					Err: driver.Invalidf(storage.ErrInvalidOption, "entries[%d].ifRevision: %d: revisions start at 1", i, *it.IfRevision)}
			}
			items[i].IfRevision = *it.IfRevision
		}
		e, err := it.expiry(fmt.Sprintf("entries[%d]", i))
		if err != nil {
			return nil, &storage.OpError{Op: "setMany", Key: *it.Key, Err: err}
		}
		items[i].TTL, items[i].ExpiresAt, items[i].KeepTTL = e.TTL, e.At, e.Keep
		if !isNull(it.Metadata) {
			items[i].Metadata = it.Metadata // checked once, by the store
		}
	}
	t, opts, err := h.target(req.Options)
	if err != nil {
		return nil, err
	}
	res, err := t.SetMany(ctx, items, opts...)
	if err != nil && len(res.Results) == 0 {
		return nil, err
	}
	return batchResponse(res), err
}

func (h handlers) deleteMany(ctx context.Context, req *KeysRequest) (*BatchResponse, error) {
	if req.Keys == nil {
		return nil, badRequest("member \"keys\" is missing")
	}
	if err := tooManyItems("deleteMany", len(*req.Keys)); err != nil {
		return nil, err
	}
	t, opts, err := h.target(req.Options)
	if err != nil {
		return nil, err
	}
	res, err := t.DeleteMany(ctx, *req.Keys, opts...)
	if err != nil && len(res.Results) == 0 {
		return nil, err
	}
	return batchResponse(res), err
}

func (h handlers) list(ctx context.Context, req *OptionsRequest) (*ListResponse, error) {
	out := &ListResponse{Keys: []string{}}
	cursor, err := h.paged(req.Options, firstPart(4<<10, 1000), func(t storage.Ops, opts []storage.Option) (int, int64, string, error) {
		res, err := t.List(ctx, opts...)
		if err != nil {
			return 0, 0, "", err
		}
		var size int64
		for _, k := range res.Keys {
			size += int64(len(k)) + entryOverhead
		}
		out.Keys = append(out.Keys, res.Keys...)
		return len(res.Keys), size, res.Cursor, nil
	})
	if err != nil {
		return nil, err
	}
	out.Cursor = cursor
	return out, nil
}

// AnswerBytes bounds the keys, values and metadata of one list, query or
// getMany answer (getMany: see GetManyResponse.Unread), so that one request cannot make the server read, hold and send
// a whole namespace at once (a query without a limit over 10,000 values of
// 1 MiB would be 10 GB). The route reads the store in parts, each a page
// of its own (Limit, then After the part's cursor) whose storage.MaxBytes
// is what is left of AnswerBytes, so that no store call holds more than
// AnswerBytes and one entry whatever the entries' sizes, and stops after
// the part that reaches AnswerBytes: the answer then holds fewer entries than
// its limit (or than exist, without a limit) and a cursor to go on from.
// A caller pages on while an answer has a cursor and holds fewer than it
// asked for (client.Store does so by itself). Outside a transaction the
// parts are read one after the other, not from one snapshot, as pages of
// a cursor are. Set it, if at all, before the routes serve (the tests
// make it tiny, so that every answer is cut).
var AnswerBytes int64 = 4 << 20

// firstPart is how many keys (list, per = 4 KiB) or entries (query, per =
// 256 KiB) the first part of an answer reads: AnswerBytes/per, 1 to most
// (1000 keys, 16 entries with the default AnswerBytes). The next parts
// read as many as the entries read so far suggest fit in what is left of
// AnswerBytes (at least the first part's, at most maxPart).
func firstPart(per int64, most int) int { return int(min(max(AnswerBytes/per, 1), int64(most))) }

const (
	maxPart       = 10000
	entryOverhead = 64 // counted per key or entry besides its bytes
)

// paged runs read over the parts of a list or query answer (see
// AnswerBytes): each part with the options o gives, but its Limit (what
// is left of o's, at most the part's size), and, after the first, After
// the previous part's cursor and no Offset. It returns the cursor the
// answer ends with.
func (h handlers) paged(o *Options, first int, read func(t storage.Ops, opts []storage.Option) (n int, size int64, cursor string, err error)) (string, error) {
	o, budget := answerBudget(o)
	var po Options
	if o != nil {
		po = *o
	}
	limit := -1
	if po.Limit != nil {
		if limit = *po.Limit; limit < 0 {
			// Refused by the store as given (invalid_option).
			t, opts, err := h.target(&po)
			if err != nil {
				return "", err
			}
			_, _, cursor, err := read(t, opts)
			return cursor, err
		}
	}
	part, got, size := first, 0, int64(0)
	for {
		ask := part
		if limit >= 0 {
			ask = min(part, limit-got)
		}
		po.Limit = &ask
		t, opts, err := h.target(&po)
		if err != nil {
			return "", err
		}
		n, sz, cursor, err := read(t, withBudget(opts, budget-size))
		if err != nil {
			return "", err
		}
		got, size = got+n, size+sz
		if cursor == "" || (limit >= 0 && got >= limit) || size >= budget || n == 0 {
			return cursor, nil
		}
		po.After, po.Offset = &cursor, nil
		part = nextPart(budget, size, got, first)
	}
}

func (h handlers) query(ctx context.Context, req *QueryRequest) (*QueryResponse, error) {
	var f storage.Filter
	if req.Filter != nil {
		var err error
		if f, err = parseFilter(req.Filter); err != nil {
			return nil, &storage.OpError{Op: "query", Err: err}
		}
	}
	out := &QueryResponse{Results: []EntryJSON{}}
	cursor, err := h.paged(req.Options, firstPart(256<<10, 16), func(t storage.Ops, opts []storage.Option) (int, int64, string, error) {
		res, err := t.Query(ctx, f, opts...)
		if err != nil {
			return 0, 0, "", err
		}
		var size int64
		for _, e := range res.Entries {
			size += int64(len(e.Key)+len(e.Value)+len(e.Metadata)) + entryOverhead
			out.Results = append(out.Results, EntryOf(e))
		}
		return len(res.Entries), size, res.Cursor, nil
	})
	if err != nil {
		return nil, err
	}
	out.Cursor = cursor
	return out, nil
}

func (h handlers) count(ctx context.Context, req *OptionsRequest) (*CountResponse, error) {
	t, opts, err := h.target(req.Options)
	if err != nil {
		return nil, err
	}
	n, err := t.Count(ctx, opts...)
	if err != nil {
		return nil, err
	}
	return &CountResponse{Count: n}, nil
}

func (h handlers) clear(ctx context.Context, req *OptionsRequest) (*Envelope, error) {
	t, opts, err := h.target(req.Options)
	if err != nil {
		return nil, err
	}
	return done(t.Clear(ctx, opts...))
}

func (h handlers) getMetadata(ctx context.Context, req *KeyRequest) (*MetadataResponse, error) {
	key, t, opts, err := h.keyed(req)
	if err != nil {
		return nil, err
	}
	md, err := t.GetMetadata(ctx, key, opts...)
	if err != nil {
		return nil, err
	}
	return &MetadataResponse{MetadataJSON: MetadataOf(md)}, nil
}

func (h handlers) setMetadata(ctx context.Context, req *SetMetadataRequest) (*WriteResponse, error) {
	key, err := requireKey(req.Key)
	if err != nil {
		return nil, err
	}
	if req.Metadata == nil {
		return nil, badRequest("member \"metadata\" is missing")
	}
	var md any // null: {}
	if !isNull(req.Metadata) {
		md = req.Metadata // checked once, by the store
	}
	t, opts, err := h.target(req.Options)
	if err != nil {
		return nil, err
	}
	var w storage.WriteResult
	err = t.SetMetadata(ctx, key, md, append(opts, storage.Written(&w))...)
	return wrote(w, err)
}

func requireName(n *string) (string, error) {
	if n == nil {
		return "", badRequest("member \"name\" is missing")
	}
	return *n, nil
}

// nsOptions translates namespace options; the store decides which its
// operation accepts.
func nsOptions(o *NamespaceOptions) ([]storage.NamespaceOption, error) {
	if o == nil {
		return nil, nil
	}
	var opts []storage.NamespaceOption
	if !isNull(o.Metadata) {
		opts = append(opts, storage.WithNamespaceMetadata(o.Metadata))
	}
	if o.Indexes != nil {
		opts = append(opts, storage.WithIndexes(*o.Indexes...))
	}
	if o.Recursive != nil && *o.Recursive {
		opts = append(opts, storage.Recursive())
	}
	return opts, nil
}

// namespaceRequest checks a NamespaceRequest's name, then translates its
// options; an option error is op's, on that namespace.
func namespaceRequest(op string, req *NamespaceRequest) (string, []storage.NamespaceOption, error) {
	name, err := requireName(req.Name)
	if err != nil {
		return "", nil, err
	}
	opts, err := nsOptions(req.Options)
	if err != nil {
		return "", nil, &storage.OpError{Op: op, Namespace: name, Err: err}
	}
	return name, opts, nil
}

func (h handlers) createNamespace(ctx context.Context, req *NamespaceRequest) (*Envelope, error) {
	name, opts, err := namespaceRequest("createNamespace", req)
	if err != nil {
		return nil, err
	}
	return done(h.s.CreateNamespace(ctx, name, opts...))
}

func (h handlers) deleteNamespace(ctx context.Context, req *NamespaceRequest) (*Envelope, error) {
	name, opts, err := namespaceRequest("deleteNamespace", req)
	if err != nil {
		return nil, err
	}
	return done(h.s.DeleteNamespace(ctx, name, opts...))
}

// NamespacesLimit is how many namespaces a listNamespaces answer holds
// without options.limit, and MaxNamespacesLimit the largest limit it
// takes (a larger one is invalid_option). An answer holds AnswerBytes of
// names, metadata and index fields at most, too: the route reads the
// store in parts of as many namespaces as fit in what is left of
// AnswerBytes even if each had the largest metadata
// (storage.MaxNamespaceMetadataSize) and index list, so no request makes
// it read or hold more, and it stops when the next namespace might not
// fit. An answer that stops before the end has a cursor (the last name):
// page on with options.after while there is one. A store of fewer than
// NamespacesLimit namespaces of ordinary metadata answers whole, as the
// seed's listNamespaces did.
const (
	NamespacesLimit    = 1000
	MaxNamespacesLimit = 10000
)

// namespaceWorst is what one namespace can add to an answer besides its
// metadata: a name and an owner (principal://{pkr}/namespace/{name}: 407
// and 256 bytes at most), storage.MaxIndexes index fields of MaxPathLen
// bytes and their quotes, and entryOverhead.
const namespaceWorst = 407 + 256 + storage.MaxIndexes*(storage.MaxPathLen+3) + entryOverhead

// namespaceSize is what namespace n adds to an answer (see
// namespaceWorst): its name, owner, metadata as JSON, and index fields.
func namespaceSize(n storage.Namespace) int64 {
	size := int64(len(n.Name)+len(n.Owner)) + entryOverhead
	if n.Metadata != nil {
		b, _ := json.Marshal(n.Metadata) // decoded from JSON: cannot fail
		size += int64(len(b))
	}
	for _, f := range n.Indexes {
		size += int64(len(f)) + 3
	}
	return size
}

func (h handlers) listNamespaces(ctx context.Context, req *OptionsRequest) (*NamespacesResponse, error) {
	const op = "listNamespaces"
	var o Options
	if req.Options != nil {
		o = *req.Options
	}
	if o.TransactionID != nil {
		return nil, &storage.OpError{Op: op, Err: driver.Invalidf(storage.ErrInvalidOption, "listNamespaces does not run in a transaction")}
	}
	limit := NamespacesLimit
	if o.Limit != nil {
		if limit = *o.Limit; limit < 0 || limit > MaxNamespacesLimit {
			return nil, &storage.OpError{Op: op, Err: driver.Invalidf(storage.ErrInvalidOption,
				"options.limit %d: want 0 to %d", limit, MaxNamespacesLimit)}
		}
	}
	worst := int64(namespaceWorst)
	if o.IncludeMetadata != nil && !*o.IncludeMetadata {
		if o.OmitValues == nil || !*o.OmitValues {
			o.OmitValues = new(bool)
			*o.OmitValues = true
		}
	} else if o.OmitValues == nil || !*o.OmitValues {
		worst += storage.MaxNamespaceMetadataSize
	}
	o.IncludeMetadata, o.Limit = nil, nil
	out := &NamespacesResponse{Namespaces: []string{}, Details: []NamespaceJSON{}}
	var size int64
	for {
		part := int(min(int64(limit-len(out.Namespaces)), (AnswerBytes-size)/worst, maxPart))
		// The first part reads one namespace at least.
		part = max(part, min(limit, 1))
		po := o
		po.Limit = &part
		opts, err := po.toStorage()
		if err != nil {
			return nil, &storage.OpError{Op: op, Err: err}
		}
		nss, err := h.s.ListNamespaces(ctx, opts...)
		if err != nil {
			return nil, err
		}
		for _, n := range nss {
			size += namespaceSize(n)
			out.Namespaces = append(out.Namespaces, n.Name)
			out.Details = append(out.Details, NamespaceJSON{Name: n.Name, Owner: n.Owner, Metadata: n.Metadata, CreatedAt: n.CreatedAt, Indexes: n.Indexes})
		}
		if len(nss) < part || part == 0 {
			return out, nil // the store has no more
		}
		last := nss[len(nss)-1].Name
		if len(out.Namespaces) >= limit || size+worst > AnswerBytes {
			out.Cursor = last
			return out, nil
		}
		o.After = &last
	}
}

// getStatus answers the store's Status. When the database cannot be
// reached or read (ErrUnavailable, ErrCorrupt) the answer is the seed's
// {success: false, status: {healthy: false}, error}, the status's other
// members zero; any other error (the caller unauthenticated or refused,
// the store closed) says nothing of the database and has no status.
func (h handlers) getStatus(ctx context.Context, _ *EmptyRequest) (*StatusResponse, error) {
	st, err := h.s.Status(ctx)
	if err != nil {
		if !unhealthy(err) {
			return nil, err
		}
		// Healthy false alone: nothing of the database (not even its
		// dialect, which names it) while it cannot be reached.
		return &StatusResponse{Status: StatusJSON{Healthy: false}}, err
	}
	return &StatusResponse{Status: StatusJSON{Healthy: st.Healthy, Size: st.Size, Capacity: st.Capacity,
		Namespaces: st.Namespaces, Dialect: st.Dialect, SchemaVersion: st.SchemaVersion,
		Revision: st.Revision, OldestRevision: st.OldestRevision, ReadOnly: st.ReadOnly, Degraded: st.Degraded}}, err
}

// unhealthy reports whether err, a Status's error, is the database's
// state: it cannot be reached, or holds what the engine cannot read.
func unhealthy(err error) bool {
	return errors.Is(err, storage.ErrUnavailable) || errors.Is(err, storage.ErrCorrupt)
}

func (h handlers) getCapabilities(_ context.Context, _ *EmptyRequest) (*CapabilitiesResponse, error) {
	c := h.s.Capabilities()
	return &CapabilitiesResponse{Capabilities: CapabilitiesJSON{Transactions: c.Transactions, Query: c.Query,
		Metadata: c.Metadata, Batches: c.Batches, Capacity: c.Capacity}}, nil
}

func txResponse(tx storage.Tx) *TxResponse {
	return &TxResponse{TransactionID: tx.ID(), Isolation: tx.Isolation().String(), ReadOnly: tx.ReadOnly()}
}

func (h handlers) begin(ctx context.Context, req *BeginRequest) (*TxResponse, error) {
	var opts storage.TxOptions
	if o := req.Options; o != nil {
		if o.Isolation != nil {
			iso := *o.Isolation
			if iso == "default" {
				iso = ""
			}
			l, err := storage.ParseIsolationLevel(iso)
			if err != nil {
				return nil, &storage.OpError{Op: "begin", Err: err}
			}
			opts.Isolation = l
		}
		opts.ReadOnly = o.ReadOnly != nil && *o.ReadOnly
	}
	tx, err := h.s.Begin(ctx, opts)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		// The caller left (or the request's time ran out) while the
		// transaction began: nobody will learn its ID, so nobody would
		// end it before its idle timeout, holding what it holds (on
		// SQLite the one writer) until then.
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return nil, &storage.OpError{Op: "begin", Err: err}
	}
	return txResponse(tx), nil
}

func (h handlers) lookup(req *TxRequest) (storage.Tx, error) {
	if req.TransactionID == nil {
		return nil, badRequest("member \"transactionId\" is missing")
	}
	return h.s.LookupTx(*req.TransactionID)
}

func (h handlers) commit(ctx context.Context, req *TxRequest) (*Envelope, error) {
	tx, err := h.lookup(req)
	if err != nil {
		return nil, err
	}
	return done(tx.Commit(ctx))
}

func (h handlers) rollback(ctx context.Context, req *TxRequest) (*Envelope, error) {
	tx, err := h.lookup(req)
	if err != nil {
		return nil, err
	}
	return done(tx.Rollback(ctx))
}

// authorizer is a transaction that can tell whether the caller may use it
// (security.Tx).
type authorizer interface {
	Authorize(ctx context.Context) error
}

func (h handlers) lookupTx(ctx context.Context, req *TxRequest) (*TxResponse, error) {
	tx, err := h.lookup(req)
	if err != nil {
		return nil, err
	}
	// Isolation and ReadOnly take no context: ask the transaction whether
	// the caller may see them, as every other call on it does.
	if a, ok := tx.(authorizer); ok {
		if err := a.Authorize(ctx); err != nil {
			return nil, err
		}
	}
	return txResponse(tx), nil
}

// indexRequest checks an IndexRequest and returns the store's Indexer
// (ErrUnsupported when it has none).
func (h handlers) indexRequest(op string, req *IndexRequest) (storage.Indexer, string, string, error) {
	name, err := requireName(req.Name)
	if err != nil {
		return nil, "", "", err
	}
	if req.Field == nil {
		return nil, "", "", badRequest("member \"field\" is missing")
	}
	ix, ok := h.s.(storage.Indexer)
	if !ok {
		return nil, "", "", &storage.OpError{Op: op, Namespace: name, Err: storage.ErrUnsupported}
	}
	return ix, name, *req.Field, nil
}

func (h handlers) createIndex(ctx context.Context, req *IndexRequest) (*Envelope, error) {
	ix, name, field, err := h.indexRequest("createIndex", req)
	if err != nil {
		return nil, err
	}
	return done(ix.CreateIndex(ctx, name, field))
}

func (h handlers) dropIndex(ctx context.Context, req *IndexRequest) (*Envelope, error) {
	ix, name, field, err := h.indexRequest("dropIndex", req)
	if err != nil {
		return nil, err
	}
	return done(ix.DropIndex(ctx, name, field))
}

package driver

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// OptionKind names one kind of per-call option. Each operation documents the
// kinds it accepts; any other kind is ErrInvalidOption, never ignored.
type OptionKind uint32

// The option kinds.
const (
	KindNamespace OptionKind = 1 << iota
	KindMetadata
	KindNoOverwrite
	KindIfVersion
	KindMerge
	KindAtomic
	KindPattern
	KindLimit
	KindOffset
	KindCursor
	KindSort
	KindFilter
	KindExpiry
	KindKeyRanges
	KindIfRevision
	KindMustExist
	KindWritten
	KindRevision
	KindOmitValues
	KindOnStart
	KindWatchScope
	KindMaxBytes
)

// lastKind is the highest option kind.
const lastKind = KindMaxBytes

// AllOptionKinds is every option kind, for layers (such as a client) that
// pass options on and let the backend decide which its operation accepts.
const AllOptionKinds = lastKind<<1 - 1

var kindNames = map[OptionKind]string{
	KindNamespace:   "InNamespace",
	KindMetadata:    "WithMetadata",
	KindNoOverwrite: "NoOverwrite",
	KindIfVersion:   "IfVersion",
	KindMerge:       "Merge",
	KindAtomic:      "Atomic",
	KindPattern:     "Pattern",
	KindLimit:       "Limit",
	KindOffset:      "Offset",
	KindCursor:      "After",
	KindSort:        "SortBy",
	KindFilter:      "Where",
	KindExpiry:      "WithTTL/ExpiresAt/KeepTTL",
	KindKeyRanges:   "InKeyRanges",
	KindIfRevision:  "IfRevision",
	KindMustExist:   "MustExist",
	KindWritten:     "Written",
	KindRevision:    "FromRevision/AtRevision",
	KindOmitValues:  "OmitValues",
	KindOnStart:     "OnStart",
	KindWatchScope:  "WatchScope",
	KindMaxBytes:    "MaxBytes",
}

func (k OptionKind) String() string {
	var names []string
	for bit := OptionKind(1); bit != 0 && bit <= lastKind; bit <<= 1 {
		if k&bit != 0 {
			names = append(names, kindNames[bit])
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, "|")
}

// Option is a per-call option of a data operation. Applications build
// options with the constructors of package storage (storage.InNamespace,
// storage.Limit, …), which defines Option as an alias of this type; a layer
// that needs an option of its own builds it with NewOption. Backends resolve
// the options of a call with ResolveOptions.
//
// The options of package storage (all but OnStart) are data: ResolveOptions
// records them itself, without calling a function, so a call whose options
// are all data (or none) resolves them without allocating (a CallOptions
// handed to an apply function escapes to the heap, since apply may keep
// it). Data options are built with NamespaceSelector, FlagOption,
// IntOption, TTLOption, ExpiryOption, RevisionOption, CursorOption, PatternOption,
// SortOption, FilterOption, KeyRangesOption, MetadataOption and
// WrittenOption; each resolves exactly as the storage constructor that
// returns it documents.
type Option struct {
	kind OptionKind
	form optionForm
	// apply records a NewOption's option (form formApply).
	apply func(*CallOptions) error
	// n, s and ref are a data option's value, by form (see optionForm).
	n   int64
	s   string
	ref any
}

// optionForm is how an option is recorded: by its apply function or, for a
// data option, by ResolveOptions from its n, s and ref.
type optionForm uint8

const (
	formApply     optionForm = iota // apply; the zero Option has none
	formNamespace                   // s: name; n: owner's span in s (ownerSpan); ref: error or *NamespaceName
	formFlag                        // a bool kind; ref: error (FlagOption of another kind)
	formInt                         // n: Limit, Offset, IfVersion, IfRevision or MaxBytes
	formTTL                         // n: the TTL, a time.Duration
	formKeepTTL                     // KeepTTL
	formExpiresAt                   // ref: *time.Time
	formRevision                    // n: the revision; s: "from" (FromRevision) or "" (AtRevision)
	formCursor                      // s: the cursor
	formPattern                     // s: the pattern; ref: its error
	formSort                        // ref: *sortSpec
	formFilter                      // ref: *filterSpec
	formKeyRanges                   // ref: *keyRangesSpec
	formMetadata                    // ref: *metadataSpec
	formWritten                     // ref: *WriteResult
)

// NewOption returns an option of kind (a single OptionKind bit) that apply
// records in the CallOptions being resolved; an error from apply (a
// *ValidationError, see Invalidf) fails the call.
func NewOption(kind OptionKind, apply func(*CallOptions) error) Option {
	return Option{kind: kind, apply: apply}
}

// NamespaceSelector returns the option of kind KindNamespace that selects
// ns, or, when err is not nil, fails the call with err (storage.InNamespace
// builds it from ParseNamespace's answer). It is NewOption's option with
// an apply that records ns, except that it is data (see Option): neither
// building it nor resolving it allocates when ns.Owner is empty or part of
// ns.Name (as ParseNamespace's answers are).
func NamespaceSelector(ns NamespaceName, err error) Option {
	o := Option{kind: KindNamespace, form: formNamespace, s: ns.Name, n: -1}
	switch {
	case err != nil:
		o.ref = err
	case ns.Owner == "":
	default:
		if i := strings.Index(ns.Name, ns.Owner); i >= 0 {
			o.n = int64(i)<<32 | int64(len(ns.Owner))
		} else {
			kept := ns // on the heap only here
			o.ref = &kept
		}
	}
	return o
}

// FlagOption returns the data option of a kind that only says yes:
// KindNoOverwrite, KindMustExist, KindMerge, KindAtomic or KindOmitValues
// (storage.NoOverwrite, MustExist, Merge, Atomic, OmitValues). Of any
// other kind it fails the call that resolves it with ErrInvalidOption.
func FlagOption(kind OptionKind) Option {
	o := Option{kind: kind, form: formFlag}
	switch kind {
	case KindNoOverwrite, KindMustExist, KindMerge, KindAtomic, KindOmitValues:
	default:
		o.ref = invalid(ErrInvalidOption, "FlagOption(%s): not a flag", kind)
	}
	return o
}

// IntOption returns the data option of a kind that carries an integer:
// KindLimit or KindOffset (n >= 0), KindIfVersion, KindIfRevision or
// KindMaxBytes (n >= 1), as storage.Limit, Offset, IfVersion, IfRevision
// and MaxBytes; a value out
// of range, or another kind, fails the call that resolves it with
// ErrInvalidOption.
func IntOption(kind OptionKind, n int64) Option {
	return Option{kind: kind, form: formInt, n: n}
}

// TTLOption returns the data option of kind KindExpiry that makes a write
// expire d after it (storage.WithTTL; ValidateTTL when resolved).
func TTLOption(d time.Duration) Option {
	return Option{kind: KindExpiry, form: formTTL, n: int64(d)}
}

// ExpiryOption returns the data option of kind KindExpiry that gives e:
// e.TTL (as TTLOption), e.At (storage.ExpiresAt: a zero time fails) or
// e.Keep (storage.KeepTTL). An e with none of them is ExpiresAt's zero
// time; one with more than one fails. Only an e with At builds an option
// that allocates.
func ExpiryOption(e Expiry) Option {
	o := Option{kind: KindExpiry}
	switch {
	case e.TTL != 0 && e.At.IsZero() && !e.Keep:
		o.form, o.n = formTTL, int64(e.TTL)
	case e.Keep && e.TTL == 0 && e.At.IsZero():
		o.form = formKeepTTL
	default:
		at := e.At // on the heap only here
		o.form, o.ref = formExpiresAt, &at
		if err := e.check(); err != nil {
			o.ref = err
		}
	}
	return o
}

// RevisionOption returns the data option of kind KindRevision:
// storage.FromRevision(r) when from (r >= 0), else storage.AtRevision(r)
// (r >= 1).
func RevisionOption(r int64, from bool) Option {
	o := Option{kind: KindRevision, form: formRevision, n: r}
	if from {
		o.s = "from"
	}
	return o
}

// CursorOption returns the data option of kind KindCursor that continues
// after cursor (storage.After; an empty cursor fails).
func CursorOption(cursor string) Option {
	return Option{kind: KindCursor, form: formCursor, s: cursor}
}

// PatternOption returns the data option of kind KindPattern that gives
// pattern, or, when err is not nil, fails the call with err
// (storage.Pattern builds it from ValidatePattern's answer).
func PatternOption(pattern string, err error) Option {
	o := Option{kind: KindPattern, form: formPattern, s: pattern}
	if err != nil {
		o.ref = err
	}
	return o
}

// sortSpec is a SortOption's sort, parsed once.
type sortSpec struct {
	sort   []SortField
	fields []Field
	err    error
	// one and oneField hold a sort by one field, so that it is one
	// allocation.
	one      [1]SortField
	oneField [1]Field
}

// SortOption returns the data option of kind KindSort that sorts by
// fields (storage.SortBy). The fields are copied and parsed here, once;
// an invalid sort fails the call that resolves the option.
func SortOption(fields ...SortField) Option {
	sp := &sortSpec{}
	switch {
	case len(fields) == 0:
		sp.err = invalid(ErrInvalidOption, "SortBy(): no fields")
	case len(fields) > MaxSortFields:
		sp.err = InvalidSort(invalid(ErrInvalidFilter, "SortBy: %d fields, more than %d", len(fields), MaxSortFields))
	default:
		if len(fields) == 1 {
			sp.sort, sp.fields = sp.one[:0:1], sp.oneField[:0:1]
		} else {
			sp.sort, sp.fields = make([]SortField, 0, len(fields)), make([]Field, 0, len(fields))
		}
		sp.sort = append(sp.sort, fields...)
		for _, sf := range fields {
			f, err := ParseField(sf.Field)
			if err != nil {
				sp.err = InvalidSort(err)
				break
			}
			sp.fields = append(sp.fields, f)
		}
	}
	return Option{kind: KindSort, form: formSort, ref: sp}
}

// filterSpec is a FilterOption's filter, compiled once.
type filterSpec struct {
	src  Filter
	expr Expr
	err  error
}

// FilterOption returns the data option of kind KindFilter that gives f
// (storage.Where), compiled here, once; a filter that does not compile
// fails the call that resolves the option.
func FilterOption(f Filter) Option {
	sp := &filterSpec{src: f}
	sp.expr, sp.err = f.Compile()
	return Option{kind: KindFilter, form: formFilter, ref: sp}
}

// WatchScopeOption returns the option of kind KindWatchScope: a hint to a
// watch that its consumer will drop every event of a namespace outside the
// ranges scope returns (ranges of namespace names, in byte order, as
// KeyRange orders keys), so that the store need not read them. all true
// means every namespace. A store calls scope before each read of its
// change log, so the ranges may change while the watch runs (a layer
// passes the namespaces its caller may read now); a change takes effect
// at the watch's next read. A store may wake the watch only for writes to
// the namespaces in its ranges (sqlstore does, and asks scope again at
// each scan of its log, every poll interval, so that a change of the
// ranges that no write announces still reaches a sleeping watch): scope
// must be cheap and safe to call from another goroutine than the
// consumer's. It is only a hint: the layer that gives it
// still filters what it is given, and a store may ignore it (the HTTP
// client does). The security layer passes it; sqlstore reads only the
// changes of those namespaces.
func WatchScopeOption(scope func() (namespaces []KeyRange, all bool)) Option {
	return NewOption(KindWatchScope, func(c *CallOptions) error {
		if scope == nil {
			return invalid(ErrInvalidOption, "WatchScope(nil)")
		}
		c.WatchScope = scope
		return nil
	})
}

// maxKeyRanges is the most ranges KeyRangesOption takes.
const maxKeyRanges = 1024

// keyRangesSpec is a KeyRangesOption's ranges, checked and merged once.
type keyRangesSpec struct {
	ranges []KeyRange
	err    error
}

// KeyRangesOption returns the data option of kind KindKeyRanges that gives
// ranges (storage.InKeyRanges), checked, sorted and merged here, once; an
// invalid range fails the call that resolves the option.
func KeyRangesOption(ranges ...KeyRange) Option {
	sp := &keyRangesSpec{}
	sp.ranges, sp.err = mergeKeyRanges(ranges)
	return Option{kind: KindKeyRanges, form: formKeyRanges, ref: sp}
}

// mergeKeyRanges checks ranges and returns them sorted by From, disjoint
// (touching or overlapping ranges merged), in a new slice.
func mergeKeyRanges(ranges []KeyRange) ([]KeyRange, error) {
	if len(ranges) > maxKeyRanges {
		return nil, invalid(ErrInvalidOption, "InKeyRanges: %d ranges, more than %d", len(ranges), maxKeyRanges)
	}
	rs := make([]KeyRange, 0, len(ranges))
	for _, r := range ranges {
		for _, b := range []string{r.From, r.To} {
			if !utf8.ValidString(b) || strings.IndexByte(b, 0) >= 0 {
				return nil, invalid(ErrInvalidOption, "InKeyRanges: bound %q is not valid UTF-8 without NUL", b)
			}
		}
		if r.To != "" && r.To <= r.From {
			return nil, invalid(ErrInvalidOption, "InKeyRanges: empty range [%q, %q)", r.From, r.To)
		}
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b KeyRange) int { return strings.Compare(a.From, b.From) })
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 && (out[n-1].To == "" || r.From <= out[n-1].To) {
			if out[n-1].To != "" && (r.To == "" || r.To > out[n-1].To) {
				out[n-1].To = r.To
			}
			continue
		}
		out = append(out, r)
	}
	return out[:len(out):len(out)], nil
}

// metadataSpec is a MetadataOption's metadata, encoded once.
type metadataSpec struct {
	b   []byte
	err error
}

// MetadataOption returns the data option of kind KindMetadata that gives
// md (storage.WithMetadata), encoded and checked here, once
// (EncodeMetadata; nil is {}); metadata that is not a JSON object fails
// the call that resolves the option.
func MetadataOption(md any) Option {
	sp := &metadataSpec{}
	sp.b, sp.err = EncodeMetadata(md, 0)
	if sp.b == nil {
		sp.b = []byte("{}")
	}
	return Option{kind: KindMetadata, form: formMetadata, ref: sp}
}

// WrittenOption returns the data option of kind KindWritten that reports
// a write's result in *w (storage.Written; nil fails).
func WrittenOption(w *WriteResult) Option {
	return Option{kind: KindWritten, form: formWritten, ref: w}
}

// record records data option o in c. It keeps c where the caller has it
// (c does not escape): this is what resolves data options without
// allocating.
func (o *Option) record(c *CallOptions) error {
	switch o.form {
	case formNamespace:
		switch r := o.ref.(type) {
		case error:
			return r
		case *NamespaceName:
			c.Namespace = *r
		default:
			c.Namespace = NamespaceName{Name: o.s}
			if o.n >= 0 {
				i, n := o.n>>32, o.n&(1<<32-1)
				c.Namespace.Owner = o.s[i : i+n]
			}
		}
	case formFlag:
		if err, _ := o.ref.(error); err != nil {
			return err
		}
		switch o.kind {
		case KindNoOverwrite:
			c.NoOverwrite = true
		case KindMustExist:
			c.MustExist = true
		case KindMerge:
			c.Merge = true
		case KindAtomic:
			c.Atomic = true
		case KindOmitValues:
			c.OmitValues = true
		}
	case formInt:
		return o.recordInt(c)
	case formTTL:
		d := time.Duration(o.n)
		if err := ValidateTTL(d); err != nil {
			return err
		}
		c.Expiry = Expiry{TTL: d}
	case formKeepTTL:
		c.Expiry = Expiry{Keep: true}
	case formExpiresAt:
		switch r := o.ref.(type) {
		case error:
			return r
		case *time.Time:
			if r.IsZero() {
				return invalid(ErrInvalidOption, "ExpiresAt: zero time")
			}
			c.Expiry = Expiry{At: *r}
		}
	case formRevision:
		if o.s != "" {
			if o.n < 0 {
				return invalid(ErrInvalidOption, "FromRevision(%d): want >= 0", o.n)
			}
			c.Revision, c.RevisionFrom = o.n, true
		} else {
			if o.n < 1 {
				return invalid(ErrInvalidOption, "AtRevision(%d): revisions start at 1", o.n)
			}
			c.Revision, c.RevisionFrom = o.n, false
		}
	case formCursor:
		if o.s == "" {
			return invalid(ErrInvalidOption, "After(\"\"): empty cursor")
		}
		c.Cursor = o.s
	case formPattern:
		if err, _ := o.ref.(error); err != nil {
			return err
		}
		c.Pattern = o.s
	case formSort:
		sp := o.ref.(*sortSpec)
		if sp.err != nil {
			return sp.err
		}
		c.Sort, c.SortFields = sp.sort, sp.fields
	case formFilter:
		sp := o.ref.(*filterSpec)
		if sp.err != nil {
			return sp.err
		}
		c.Filter, c.FilterSource = sp.expr, sp.src
	case formKeyRanges:
		sp := o.ref.(*keyRangesSpec)
		if sp.err != nil {
			return sp.err
		}
		c.KeyRanges = sp.ranges
	case formMetadata:
		sp := o.ref.(*metadataSpec)
		if sp.err != nil {
			return sp.err
		}
		c.Metadata = sp.b
	case formWritten:
		w := o.ref.(*WriteResult)
		if w == nil {
			return invalid(ErrInvalidOption, "Written(nil)")
		}
		c.Written = w
	}
	return nil
}

// recordInt records an IntOption.
func (o *Option) recordInt(c *CallOptions) error {
	switch o.kind {
	case KindLimit:
		if o.n < 0 {
			return invalid(ErrInvalidOption, "Limit(%d): want >= 0", o.n)
		}
		c.Limit = int(o.n)
	case KindOffset:
		if o.n < 0 {
			return invalid(ErrInvalidOption, "Offset(%d): want >= 0", o.n)
		}
		c.Offset = int(o.n)
	case KindIfVersion:
		if o.n < 1 {
			return invalid(ErrInvalidOption, "IfVersion(%d): versions start at 1", o.n)
		}
		c.IfVersion = o.n
	case KindIfRevision:
		if o.n < 1 {
			return invalid(ErrInvalidOption, "IfRevision(%d): revisions start at 1", o.n)
		}
		c.IfRevision = o.n
	case KindMaxBytes:
		if o.n < 1 {
			return invalid(ErrInvalidOption, "MaxBytes(%d): want >= 1", o.n)
		}
		c.MaxBytes = o.n
	default:
		return invalid(ErrInvalidOption, "IntOption(%s): not an integer option", o.kind)
	}
	return nil
}

// Kind reports which kind of option o is.
func (o Option) Kind() OptionKind { return o.kind }

// CallOptions are resolved per-call options. Backends obtain them with
// ResolveOptions; applications never build them.
type CallOptions struct {
	// Namespace is the validated namespace; DefaultNamespace when none given.
	Namespace NamespaceName
	// Metadata is the user metadata given by WithMetadata, valid JSON object
	// text; nil when not given.
	Metadata    []byte
	NoOverwrite bool
	// IfVersion is the expected version of a compare-and-swap; 0 = none.
	IfVersion int64
	// IfRevision is the expected revision of a compare-and-swap; 0 = none.
	IfRevision int64
	// MustExist makes a write replace-only.
	MustExist bool
	// Written is where a write reports what it wrote; nil when not asked.
	Written *WriteResult
	Merge   bool
	Atomic  bool
	// Pattern is List's glob pattern, validated; "" when not given.
	Pattern string
	// Limit is the page size; -1 when not given (no limit).
	Limit int
	// Offset is the number of results to skip.
	Offset int
	// Cursor is the opaque cursor given by After; "" when not given.
	Cursor string
	// MaxBytes is the read budget given by MaxBytes (see
	// storage.MaxBytes); 0 when not given (no budget).
	MaxBytes int64
	// Sort is Query's sort order, validated.
	Sort []SortField
	// SortFields are the parsed fields of Sort.
	SortFields []Field
	// Filter is Count's filter, validated; the zero Expr (ExprAll) when not
	// given.
	Filter Expr
	// FilterSource is the filter given by Where.
	FilterSource Filter
	// Expiry is the expiry given by WithTTL, ExpiresAt or KeepTTL; the
	// zero Expiry when none (see Expiry for the overwrite rule).
	Expiry Expiry
	// KeyRanges are the ranges given by InKeyRanges, sorted by From,
	// non-empty and disjoint (touching ranges merged); meaningful only when
	// Set has KindKeyRanges.
	KeyRanges []KeyRange
	// Revision is the revision given by FromRevision (RevisionFrom true)
	// or AtRevision (false); 0 when neither was given.
	Revision     int64
	RevisionFrom bool
	// OmitValues is OmitValues: events without values and metadata.
	OmitValues bool
	// OnStart is the function given by OnStart; nil when none.
	OnStart func(revision int64)
	// WatchScope is the function given by WatchScopeOption; nil when
	// none.
	WatchScope func() (namespaces []KeyRange, all bool)
	// Set records which kinds were given.
	Set OptionKind
}

// WriteResult is what a write wrote, reported through the Written option
// without another read.
type WriteResult struct {
	// Revision is the revision of the change the write made: of the new
	// value (Set), of the new metadata (SetMetadata), of the delete
	// (Delete). Inside a transaction it is the revision the change gets
	// when the transaction commits.
	Revision int64
	// Version is the entry's version after the write; for Delete, the
	// version the key had when it was deleted.
	Version int64
	// CreateRevision is the revision of the entry's creation (Set and
	// SetMetadata; 0 for Delete).
	CreateRevision int64
}

// KeyRange is a half-open range of keys in byte order: the keys k with
// From <= k and, unless To is "", k < To. From "" starts at the first key.
type KeyRange struct {
	From, To string
}

// Contains reports whether key lies in r.
func (r KeyRange) Contains(key string) bool {
	return key >= r.From && (r.To == "" || key < r.To)
}

// NamespaceOf is the name of the namespace opts select: that of their last
// option of kind KindNamespace that is valid, else DefaultNamespace. It is
// for the message of an error ResolveOptions found in opts, which names the
// namespace as the operation's other errors do.
func NamespaceOf(opts []Option) string {
	for i := len(opts) - 1; i >= 0; i-- {
		o := &opts[i]
		if o.kind != KindNamespace {
			continue
		}
		switch o.form {
		case formNamespace:
			if _, bad := o.ref.(error); !bad {
				return o.s
			}
		case formApply:
			var c CallOptions
			if o.apply != nil && o.apply(&c) == nil && c.Namespace.Name != "" {
				return c.Namespace.Name
			}
		}
	}
	return DefaultNamespace
}

// ResolveOptions applies opts for operation op, which accepts the kinds in
// allowed. A kind not allowed, a kind given twice, or an invalid option value
// is a *ValidationError wrapping ErrInvalidOption (or ErrInvalidNamespace /
// ErrInvalidValue / ErrInvalidFilter for a bad namespace, metadata or
// sort). Options that are all data (see Option) resolve without
// allocating. The slices of the answer (Metadata, Sort, SortFields,
// KeyRanges) may be shared with the options and with other resolutions of
// them: they are read-only.
func ResolveOptions(op string, allowed OptionKind, opts []Option) (CallOptions, error) {
	c := CallOptions{Namespace: NamespaceName{Name: DefaultNamespace}, Limit: -1}
	for i := range opts {
		o := &opts[i]
		if o.form == formApply {
			// From here on options are applied to a copy on the heap.
			return resolveApplied(op, allowed, c, opts[i:])
		}
		if err := admit(op, allowed, c.Set, o); err != nil {
			return c, err
		}
		c.Set |= o.kind
		if err := o.record(&c); err != nil {
			return c, err
		}
	}
	return c, checkCombination(op, &c)
}

// resolveApplied is ResolveOptions from the first option with an apply
// function, c what the options before it resolved to.
func resolveApplied(op string, allowed OptionKind, c CallOptions, opts []Option) (CallOptions, error) {
	h := new(CallOptions)
	*h = c
	for i := range opts {
		o := &opts[i]
		if err := admit(op, allowed, h.Set, o); err != nil {
			return *h, err
		}
		h.Set |= o.kind
		var err error
		if o.form == formApply {
			err = o.apply(h)
		} else {
			err = o.record(h)
		}
		if err != nil {
			return *h, err
		}
	}
	return *h, checkCombination(op, h)
}

// admit checks that option o may be applied for operation op, which
// accepts the kinds in allowed, after the kinds in set.
func admit(op string, allowed, set OptionKind, o *Option) error {
	if o.form == formApply && o.apply == nil {
		return invalid(ErrInvalidOption, "%s: zero Option value", op)
	}
	if o.kind&allowed == 0 {
		return invalid(ErrInvalidOption, "%s does not accept option %s", op, o.kind)
	}
	if set&o.kind != 0 {
		return invalid(ErrInvalidOption, "%s: option %s given twice", op, o.kind)
	}
	return nil
}

// checkCombination checks the options that exclude each other.
func checkCombination(op string, c *CallOptions) error {
	if c.Expiry.Keep && c.NoOverwrite {
		return invalid(ErrInvalidOption, "%s: KeepTTL means nothing with NoOverwrite", op)
	}
	if c.NoOverwrite && c.IfVersion != 0 {
		return invalid(ErrInvalidOption, "%s: NoOverwrite and IfVersion exclude each other", op)
	}
	if c.NoOverwrite && c.IfRevision != 0 {
		return invalid(ErrInvalidOption, "%s: NoOverwrite and IfRevision exclude each other", op)
	}
	if c.NoOverwrite && c.MustExist {
		return invalid(ErrInvalidOption, "%s: NoOverwrite and MustExist exclude each other", op)
	}
	return nil
}

// NamespaceOption is an option of CreateNamespace or DeleteNamespace.
// Applications build it with storage.WithIndexes,
// storage.WithNamespaceMetadata or storage.Recursive; backends resolve it
// with ResolveNamespaceOptions.
type NamespaceOption struct {
	kind  NamespaceOptionKind
	apply func(*NamespaceOptions) error
}

// NamespaceOptionKind names one kind of namespace option.
type NamespaceOptionKind uint8

// The namespace option kinds.
const (
	NamespaceKindMetadata NamespaceOptionKind = 1 << iota
	NamespaceKindRecursive
	NamespaceKindIndexes
)

// NewNamespaceOption returns a namespace option of kind that apply records
// in the NamespaceOptions being resolved.
func NewNamespaceOption(kind NamespaceOptionKind, apply func(*NamespaceOptions) error) NamespaceOption {
	return NamespaceOption{kind: kind, apply: apply}
}

// NamespaceOptions are resolved namespace options.
type NamespaceOptions struct {
	Metadata  []byte // JSON object text, nil when not given
	Recursive bool
	// Indexes are the fields given by WithIndexes, validated.
	Indexes []Field
}

// MaxIndexes is the most fields a namespace may declare indexes on. Each
// declared field is one index that every write to the namespace updates,
// and a namespace's writes should not cost unboundedly many.
const MaxIndexes = 16

// ResolveNamespaceOptions applies opts for "createNamespace" (which accepts
// WithNamespaceMetadata and WithIndexes) or "deleteNamespace" (which
// accepts Recursive).
func ResolveNamespaceOptions(op string, opts []NamespaceOption) (NamespaceOptions, error) {
	var allowed NamespaceOptionKind
	switch op {
	case "createNamespace":
		allowed = NamespaceKindMetadata | NamespaceKindIndexes
	case "deleteNamespace":
		allowed = NamespaceKindRecursive
	default:
		return NamespaceOptions{}, fmt.Errorf("driver: ResolveNamespaceOptions: unknown operation %q", op)
	}
	var o NamespaceOptions
	var seen NamespaceOptionKind
	for _, opt := range opts {
		if opt.apply == nil {
			return o, invalid(ErrInvalidOption, "%s: zero NamespaceOption value", op)
		}
		if opt.kind&allowed == 0 {
			return o, invalid(ErrInvalidOption, "%s does not accept this option", op)
		}
		if seen&opt.kind != 0 {
			return o, invalid(ErrInvalidOption, "%s: option given twice", op)
		}
		seen |= opt.kind
		if err := opt.apply(&o); err != nil {
			return o, err
		}
	}
	if len(o.Metadata) > MaxNamespaceMetadataSize {
		return o, invalid(ErrValueTooLarge, "%s: the namespace's metadata is %d bytes, more than the maximum %d",
			op, len(o.Metadata), MaxNamespaceMetadataSize)
	}
	return o, nil
}

// MaxNamespaceMetadataSize bounds a namespace's metadata (given by
// WithNamespaceMetadata), encoded as JSON. A ListNamespaces without
// OmitValues reads the metadata of every namespace it lists: with the
// bound of entries' metadata (16 MiB), one principal's eight namespaces of
// 8 MiB metadata made another's ListNamespaces, which saw none of them,
// take 2 s and allocate 450 MiB. The bound is also what the
// listNamespaces route sizes its reads by.
const MaxNamespaceMetadataSize = 64 << 10

// ReadBudget counts what a List, Query or GetMany reads against its
// MaxBytes (CallOptions.MaxBytes, Max; 0: no budget): each entry's key,
// value and metadata bytes (List: its key's).
type ReadBudget struct {
	Max, Used int64
}

// Add counts an entry of n bytes and reports whether the read stops after
// it: whether the bytes read reach Max. Without a budget it never does.
func (b *ReadBudget) Add(n int) bool {
	if b.Max <= 0 {
		return false
	}
	b.Used += int64(n)
	return b.Reached()
}

// Reached reports whether the bytes read reach Max: the read stops before
// its next entry. Without a budget it never does.
func (b *ReadBudget) Reached() bool {
	return b.Max > 0 && b.Used >= b.Max
}

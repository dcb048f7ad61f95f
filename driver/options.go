package driver

import (
	"fmt"
	"strings"
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
)

// lastKind is the highest option kind.
const lastKind = KindOnStart

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
type Option struct {
	kind  OptionKind
	apply func(*CallOptions) error
	// ns is the namespace of an option built by NamespaceSelector (apply
	// nil), which ResolveOptions records itself.
	ns *selectedNamespace
}

// selectedNamespace is a NamespaceSelector's namespace, or its error.
type selectedNamespace struct {
	name NamespaceName
	err  error
}

// NewOption returns an option of kind (a single OptionKind bit) that apply
// records in the CallOptions being resolved; an error from apply (a
// *ValidationError, see Invalidf) fails the call.
func NewOption(kind OptionKind, apply func(*CallOptions) error) Option {
	return Option{kind: kind, apply: apply}
}

// NamespaceSelector returns the option of kind KindNamespace that selects
// ns, or, when err is not nil, fails the call with err (storage.InNamespace
// builds it from ParseNamespace's answer). It is NewOption's option with
// an apply that records ns, except that ResolveOptions records it without
// calling a function: a call whose options are all such options (or none)
// resolves them without allocating (a CallOptions handed to an apply
// function escapes to the heap, since apply may keep it).
func NamespaceSelector(ns NamespaceName, err error) Option {
	return Option{kind: KindNamespace, ns: &selectedNamespace{name: ns, err: err}}
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

// ResolveOptions applies opts for operation op, which accepts the kinds in
// allowed. A kind not allowed, a kind given twice, or an invalid option value
// is a *ValidationError wrapping ErrInvalidOption (or ErrInvalidNamespace /
// ErrInvalidValue for a bad namespace or metadata).
func ResolveOptions(op string, allowed OptionKind, opts []Option) (CallOptions, error) {
	c := CallOptions{Namespace: NamespaceName{Name: DefaultNamespace}, Limit: -1}
	for i, o := range opts {
		if o.ns == nil {
			// From here on options are applied to a copy on the heap.
			return resolveApplied(op, allowed, c, opts[i:])
		}
		if err := admit(op, allowed, c.Set, o); err != nil {
			return c, err
		}
		c.Set |= o.kind
		if o.ns.err != nil {
			return c, o.ns.err
		}
		c.Namespace = o.ns.name
	}
	return c, checkCombination(op, &c)
}

// resolveApplied is ResolveOptions from the first option with an apply
// function, c what the options before it resolved to.
func resolveApplied(op string, allowed OptionKind, c CallOptions, opts []Option) (CallOptions, error) {
	h := new(CallOptions)
	*h = c
	for _, o := range opts {
		if err := admit(op, allowed, h.Set, o); err != nil {
			return *h, err
		}
		h.Set |= o.kind
		if o.ns != nil {
			if o.ns.err != nil {
				return *h, o.ns.err
			}
			h.Namespace = o.ns.name
		} else if err := o.apply(h); err != nil {
			return *h, err
		}
	}
	return *h, checkCombination(op, h)
}

// admit checks that option o may be applied for operation op, which
// accepts the kinds in allowed, after the kinds in set.
func admit(op string, allowed, set OptionKind, o Option) error {
	if o.apply == nil && o.ns == nil {
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
	return o, nil
}

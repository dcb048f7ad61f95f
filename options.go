package storage

import (
	"fmt"
	"strings"
)

// OptionKind names one kind of per-call option. Each operation documents the
// kinds it accepts; any other kind is ErrInvalidOption, never ignored.
type OptionKind uint16

// The option kinds.
const (
	KindNamespace OptionKind = 1 << iota
	KindMetadata
	KindNoOverwrite
	KindIfVersion
	KindMerge
	KindAtomic
)

var kindNames = map[OptionKind]string{
	KindNamespace:   "InNamespace",
	KindMetadata:    "WithMetadata",
	KindNoOverwrite: "NoOverwrite",
	KindIfVersion:   "IfVersion",
	KindMerge:       "Merge",
	KindAtomic:      "Atomic",
}

func (k OptionKind) String() string {
	var names []string
	for bit := OptionKind(1); bit != 0 && bit <= KindAtomic; bit <<= 1 {
		if k&bit != 0 {
			names = append(names, kindNames[bit])
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, "|")
}

// Option is a per-call option of a data operation. Build one with
// InNamespace, WithMetadata, NoOverwrite, IfVersion, Merge or Atomic.
type Option struct {
	kind  OptionKind
	apply func(*CallOptions) error
}

// Kind reports which kind of option o is.
func (o Option) Kind() OptionKind { return o.kind }

// CallOptions are resolved per-call options. Backends obtain them with
// ResolveOptions; callers never build them directly.
type CallOptions struct {
	// Namespace is the validated namespace; DefaultNamespace when none given.
	Namespace NamespaceName
	// Metadata is the user metadata given by WithMetadata, valid JSON object
	// text; nil when not given.
	Metadata    []byte
	NoOverwrite bool
	// IfVersion is the expected version of a compare-and-swap; 0 = none.
	IfVersion int64
	Merge     bool
	Atomic    bool
	// Set records which kinds were given.
	Set OptionKind
}

// InNamespace selects the namespace of the operation; without it the
// operation uses DefaultNamespace (Clear: every namespace).
func InNamespace(name string) Option {
	return Option{kind: KindNamespace, apply: func(c *CallOptions) error {
		ns, err := ParseNamespace(name)
		if err != nil {
			return err
		}
		c.Namespace = ns
		return nil
	}}
}

// WithMetadata sets the user metadata written with a value. md must marshal
// to a JSON object. Without it, Set keeps the metadata already stored (or {}
// for a new key).
func WithMetadata(md map[string]any) Option {
	return Option{kind: KindMetadata, apply: func(c *CallOptions) error {
		b, err := EncodeMetadata(md)
		if err != nil {
			return err
		}
		c.Metadata = b
		return nil
	}}
}

// NoOverwrite makes Set and SetMany fail with ErrAlreadyExists, atomically,
// for a key that already exists.
func NoOverwrite() Option {
	return Option{kind: KindNoOverwrite, apply: func(c *CallOptions) error {
		c.NoOverwrite = true
		return nil
	}}
}

// IfVersion makes a write a compare-and-swap: it succeeds only if the key
// exists at version v (v >= 1), else ErrConflict.
func IfVersion(v int64) Option {
	return Option{kind: KindIfVersion, apply: func(c *CallOptions) error {
		if v < 1 {
			return invalid(ErrInvalidOption, "IfVersion(%d): versions start at 1", v)
		}
		c.IfVersion = v
		return nil
	}}
}

// Merge makes SetMetadata apply its argument as an RFC 7396 JSON merge patch
// instead of replacing the metadata.
func Merge() Option {
	return Option{kind: KindMerge, apply: func(c *CallOptions) error {
		c.Merge = true
		return nil
	}}
}

// Atomic makes a batch all-or-nothing: if any key fails, nothing is written.
func Atomic() Option {
	return Option{kind: KindAtomic, apply: func(c *CallOptions) error {
		c.Atomic = true
		return nil
	}}
}

// ResolveOptions applies opts for operation op, which accepts the kinds in
// allowed. A kind not allowed, a kind given twice, or an invalid option value
// is a *ValidationError wrapping ErrInvalidOption (or ErrInvalidNamespace /
// ErrInvalidValue for a bad namespace or metadata).
func ResolveOptions(op string, allowed OptionKind, opts []Option) (CallOptions, error) {
	c := CallOptions{Namespace: NamespaceName{Name: DefaultNamespace}}
	for _, o := range opts {
		if o.apply == nil {
			return c, invalid(ErrInvalidOption, "%s: zero Option value", op)
		}
		if o.kind&allowed == 0 {
			return c, invalid(ErrInvalidOption, "%s does not accept option %s", op, o.kind)
		}
		if c.Set&o.kind != 0 {
			return c, invalid(ErrInvalidOption, "%s: option %s given twice", op, o.kind)
		}
		c.Set |= o.kind
		if err := o.apply(&c); err != nil {
			return c, err
		}
	}
	if c.NoOverwrite && c.IfVersion != 0 {
		return c, invalid(ErrInvalidOption, "%s: NoOverwrite and IfVersion exclude each other", op)
	}
	return c, nil
}

// NamespaceOption is an option of CreateNamespace or DeleteNamespace.
type NamespaceOption struct {
	kind  nsKind
	apply func(*NamespaceOptions) error
}

type nsKind uint8

const (
	nsKindMetadata nsKind = 1 << iota
	nsKindRecursive
)

// NamespaceOptions are resolved namespace options.
type NamespaceOptions struct {
	Metadata  []byte // JSON object text, nil when not given
	Recursive bool
}

// WithNamespaceMetadata attaches metadata (a JSON object) to a namespace
// created by CreateNamespace.
func WithNamespaceMetadata(md map[string]any) NamespaceOption {
	return NamespaceOption{kind: nsKindMetadata, apply: func(o *NamespaceOptions) error {
		b, err := EncodeMetadata(md)
		if err != nil {
			return err
		}
		o.Metadata = b
		return nil
	}}
}

// Recursive lets DeleteNamespace delete a namespace together with its entries.
func Recursive() NamespaceOption {
	return NamespaceOption{kind: nsKindRecursive, apply: func(o *NamespaceOptions) error {
		o.Recursive = true
		return nil
	}}
}

// ResolveNamespaceOptions applies opts for "createNamespace" (which accepts
// WithNamespaceMetadata) or "deleteNamespace" (which accepts Recursive).
func ResolveNamespaceOptions(op string, opts []NamespaceOption) (NamespaceOptions, error) {
	var allowed nsKind
	switch op {
	case "createNamespace":
		allowed = nsKindMetadata
	case "deleteNamespace":
		allowed = nsKindRecursive
	default:
		return NamespaceOptions{}, fmt.Errorf("storage: ResolveNamespaceOptions: unknown operation %q", op)
	}
	var o NamespaceOptions
	var seen nsKind
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

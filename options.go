package storage

import (
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/mycelia-kernel/storage/driver"
)

// Option is a per-call option of a data operation. Build one with
// InNamespace, WithMetadata, NoOverwrite, IfVersion, IfRevision,
// MustExist, Written, Merge or Atomic (and the others below). Each
// operation documents the options it accepts; any other is
// ErrInvalidOption, never ignored. Option is defined in package driver,
// whose ResolveOptions turns a call's options into driver.CallOptions.
type Option = driver.Option

// InNamespace selects the namespace of the operation; without it the
// operation uses DefaultNamespace (Clear: every namespace).
func InNamespace(name string) Option {
	return driver.NamespaceSelector(ParseNamespace(name))
}

// WithMetadata sets the user metadata written with a value. md is given
// as a value is: a map, a struct, or JSON text as json.RawMessage (passed
// through, checked once); it must be a JSON object (else ErrInvalidValue),
// and nil means {}. Without the option, Set keeps the metadata already
// stored (or {} for a new key). md is encoded and checked once, here, however
// many layers (security, observe, a client) resolve the option.
func WithMetadata(md any) Option {
	return driver.MetadataOption(md)
}

// NoOverwrite makes Set and SetMany fail with ErrAlreadyExists, atomically,
// for a key that already exists.
func NoOverwrite() Option {
	return driver.FlagOption(driver.KindNoOverwrite)
}

// IfVersion makes a write a compare-and-swap: it succeeds only if the key
// exists at version v (v >= 1), else ErrConflict. A version starts again
// at 1 when a key is deleted and created again (Entry.Version), so a stale
// version can match a later life of the key: IfRevision is the token that
// never repeats.
func IfVersion(v int64) Option {
	return driver.IntOption(driver.KindIfVersion, v)
}

// IfRevision makes a write a compare-and-swap on the key's revision
// (Entry.Revision): it succeeds only if the key exists and its last change
// has revision r (r >= 1), else ErrConflict (Delete and SetMetadata: a
// missing key is ErrNotFound). Unlike a version, a revision is never
// reused for a key: after a delete and a re-create by another writer, a
// stale revision fails. With IfVersion too, both must match.
func IfRevision(r int64) Option {
	return driver.IntOption(driver.KindIfRevision, r)
}

// MustExist makes Set (and SetMany, for every item) replace-only: the
// write fails with ErrNotFound, atomically, when the key does not exist
// (or has expired). It is the opposite of NoOverwrite.
func MustExist() Option {
	return driver.FlagOption(driver.KindMustExist)
}

// WriteResult is what a write wrote, reported through the Written option
// without another read (see driver.WriteResult for its fields).
type WriteResult = driver.WriteResult

// Written makes Set, Delete or SetMetadata store in *w what it wrote, on
// success (on failure *w is left alone). Chain compare-and-swap writes
// with it:
//
//	var w storage.WriteResult
//	err := s.Set(ctx, "k", v, storage.Written(&w))
//	err = s.Set(ctx, "k", v2, storage.IfRevision(w.Revision), storage.Written(&w))
func Written(w *WriteResult) Option {
	return driver.WrittenOption(w)
}

// Merge makes SetMetadata apply its argument as an RFC 7396 JSON merge patch
// instead of replacing the metadata, and Set its value as a merge patch to
// the stored value instead of replacing it: a member set to null is
// removed, objects merge member by member, anything else replaces. So a
// caller changes one field without a read-modify-write:
//
//	s.Set(ctx, "user:1", map[string]any{"email": "ada@example.org", "phone": nil}, storage.Merge())
//
// A Set merge into a missing key merges into null: the key is created with
// the patch, its null members removed (MustExist, IfVersion or IfRevision
// make a missing key fail as for any Set). The merged value is checked as
// a value is (storable, at most the maximum value size). The merge is
// atomic: a merge that races with other writers of the key re-reads and
// re-applies, and merges of different members never lose one another.
// Set's other options keep their meaning; NoOverwrite with Merge is
// ErrInvalidOption.
func Merge() Option {
	return driver.FlagOption(driver.KindMerge)
}

// Atomic makes a batch all-or-nothing: if any key fails, nothing is written.
func Atomic() Option {
	return driver.FlagOption(driver.KindAtomic)
}

// MaxPatternLen is the longest List pattern, in bytes.
const MaxPatternLen = 2 * MaxKeyLen

// Pattern makes List return only the keys that match a glob pattern: "*"
// matches any run of characters (none included), "?" exactly one
// character, and "\" makes the next character literal. Matching is
// byte-wise and case-sensitive. The pattern's literal prefix (everything
// before the first unescaped "*" or "?") becomes a key range on the primary
// key, so "user:*" reads only the keys that start with "user:".
func Pattern(pattern string) Option {
	return driver.PatternOption(pattern, ValidatePattern(pattern))
}

// ValidatePattern checks a List pattern: valid UTF-8, no NUL, at most
// MaxPatternLen bytes, and no "\" at its end.
func ValidatePattern(p string) error {
	switch {
	case len(p) > MaxPatternLen:
		return invalid(ErrInvalidOption, "Pattern is %d bytes, more than %d", len(p), MaxPatternLen)
	case !utf8.ValidString(p):
		return invalid(ErrInvalidOption, "Pattern is not valid UTF-8")
	case strings.IndexByte(p, 0) >= 0:
		return invalid(ErrInvalidOption, "Pattern contains NUL")
	}
	esc := false
	for i := 0; i < len(p); i++ {
		if esc {
			esc = false
		} else if p[i] == '\\' {
			esc = true
		}
	}
	if esc {
		return invalid(ErrInvalidOption, "Pattern %q ends with an unfinished \\ escape", p)
	}
	return nil
}

// Limit caps the number of results of List, Query or ListNamespaces at n
// (n >= 0). Without it every result is returned.
func Limit(n int) Option {
	return driver.IntOption(driver.KindLimit, int64(n))
}

// MaxBytes bounds what one List, Query or GetMany reads, so that no call
// holds much more than n bytes whatever the sizes of the entries: the call
// stops after the entry that makes the keys, values and metadata it has
// read (List: the keys) reach n bytes (n >= 1). At least one entry is
// always returned, so a caller that goes on always makes progress, and a
// call holds at most n bytes plus one entry (it reads the entry after, and
// drops it, to learn whether the call ends there). List and Query cut
// short by the budget answer a Cursor to go on from, exactly as a page cut
// by Limit does: a cursor only when another entry follows (the budget may
// cut a page before its Limit). GetMany cut short lists the keys it did
// not read in GetManyResult.Unread (they are in neither Entries nor
// Errors): ask for them again. MaxBytes is a bound on memory, not a page
// size: the backend still runs the page's statement, stopping when the
// budget is reached (PostgreSQL: the rest of the statement's rows, up to
// its Limit, are received and dropped, one at a time).
func MaxBytes(n int64) Option {
	return driver.IntOption(driver.KindMaxBytes, n)
}

// Offset skips the first n results of List or Query (after the cursor
// position, when After is given too). Deep pages are cheaper with After.
func Offset(n int) Option {
	return driver.IntOption(driver.KindOffset, int64(n))
}

// After continues a List or Query after the last result of an earlier page:
// cursor is the Cursor of that page's result. (ListNamespaces takes a
// namespace name instead: it continues after that name.) A cursor is opaque, and valid
// only for the same operation, namespace, pattern or filter, and sort; any
// other use is ErrInvalidOption. Pagination by cursor is keyset pagination:
// it stays correct when entries are inserted or deleted between pages.
func After(cursor string) Option {
	return driver.CursorOption(cursor)
}

// SortBy sets Query's order: by each field in turn, ascending or
// descending (Asc, Desc), then by key. Without it Query returns entries in
// key order.
func SortBy(fields ...SortField) Option {
	return driver.SortOption(fields...)
}

// Where gives Count a filter: only matching entries are counted. Given to
// Watch, it passes only the puts whose value matches (every other event
// passes).
func Where(f Filter) Option {
	return driver.FilterOption(f)
}

// KeyRange is a half-open range of keys in byte order: the keys k with
// From <= k and, unless To is "", k < To. From "" starts at the first key.
type KeyRange = driver.KeyRange

// PrefixRange is the range of the keys that start with prefix.
func PrefixRange(prefix string) KeyRange {
	p := prefix
	for p != "" {
		r, size := utf8.DecodeLastRuneInString(p)
		p = p[:len(p)-size]
		next := r + 1
		if next == 0xD800 {
			next = 0xE000
		}
		if next <= utf8.MaxRune {
			return KeyRange{From: prefix, To: p + string(next)}
		}
	}
	return KeyRange{From: prefix}
}

// InKeyRanges restricts List, Query and Count to the keys that lie in one
// of ranges (none: no key). Each range is a span of the primary key, so a
// backend reads only the keys inside the ranges: this is how an
// authorizing layer (package security) keeps the keys a caller may not see
// out of the database's answer, its pages and its counts. The ranges need
// not be sorted and may overlap; bounds must be valid UTF-8 without NUL,
// and To, unless "", must be greater than From. A cursor (After) stays
// valid across different ranges: it marks a position in key order.
func InKeyRanges(ranges ...KeyRange) Option {
	return driver.KeyRangesOption(ranges...)
}

// NamespaceOption is an option of CreateNamespace or DeleteNamespace:
// WithIndexes, WithNamespaceMetadata or Recursive.
type NamespaceOption = driver.NamespaceOption

// MaxNamespaceMetadataSize bounds a namespace's metadata (given by
// WithNamespaceMetadata), encoded as JSON: 64 KiB. CreateNamespace with
// more fails with ErrValueTooLarge. A ListNamespaces without OmitValues
// reads the metadata of every namespace it lists, so large ones would
// make every caller's listing slow and large; page it (Limit, After) or
// leave metadata out (OmitValues).
const MaxNamespaceMetadataSize = driver.MaxNamespaceMetadataSize

// MaxIndexes is the most fields a namespace may declare indexes on. Each
// declared field is one index that every write to the namespace updates,
// and a namespace's writes should not cost unboundedly many.
const MaxIndexes = driver.MaxIndexes

// WithIndexes declares fields of a namespace created by CreateNamespace to
// index: paths into the value, or $metadata.<path>. A backend builds the
// index from the very expressions its filters and sorts use, so eq, in and
// range filters (gt, gte, lt, lte) on the field, and sorts by it, can use it.
// Declaring an index is an optimization: results never depend on it. A
// field given twice is declared once; more than MaxIndexes fields (a
// repeat counted too, so that a list's cost is bounded before it is read,
// as on the wire) is ErrInvalidOption.
func WithIndexes(fields ...string) NamespaceOption {
	return driver.NewNamespaceOption(driver.NamespaceKindIndexes, func(o *driver.NamespaceOptions) error {
		if len(fields) == 0 {
			return invalid(ErrInvalidOption, "WithIndexes(): no fields")
		}
		if len(fields) > MaxIndexes {
			return invalid(ErrInvalidOption, "WithIndexes(): %d fields, more than the maximum %d per namespace", len(fields), MaxIndexes)
		}
		for _, name := range fields {
			f, err := driver.ParseField(name)
			if err != nil {
				return err
			}
			if f.Root != driver.RootValue && f.Root != driver.RootMetadata {
				return invalid(ErrInvalidOption, "WithIndexes(%q): only paths into the value or $metadata can be indexed", name)
			}
			if !slices.ContainsFunc(o.Indexes, func(g driver.Field) bool { return g.Text == f.Text }) {
				o.Indexes = append(o.Indexes, f)
			}
		}
		if len(o.Indexes) > MaxIndexes {
			return invalid(ErrInvalidOption, "WithIndexes(): %d fields, more than the maximum %d per namespace", len(o.Indexes), MaxIndexes)
		}
		return nil
	})
}

// WithNamespaceMetadata attaches metadata (a JSON object, given as for
// WithMetadata, at most MaxNamespaceMetadataSize bytes) to a namespace
// created by CreateNamespace.
func WithNamespaceMetadata(md any) NamespaceOption {
	b, err := driver.EncodeMetadata(md, 0)
	return driver.NewNamespaceOption(driver.NamespaceKindMetadata, func(o *driver.NamespaceOptions) error {
		if err != nil {
			return err
		}
		o.Metadata = b
		return nil
	})
}

// Recursive lets DeleteNamespace delete a namespace together with its entries.
func Recursive() NamespaceOption {
	return driver.NewNamespaceOption(driver.NamespaceKindRecursive, func(o *driver.NamespaceOptions) error {
		o.Recursive = true
		return nil
	})
}

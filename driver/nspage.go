package driver

import (
	"strings"
	"unicode/utf8"
)

// NamespaceListKinds are the option kinds ListNamespaces accepts: Limit
// (at most that many namespaces), After (continue after a name) and
// OmitValues (leave every namespace's metadata out).
const NamespaceListKinds = KindLimit | KindCursor | KindOmitValues

// MaxNamespaceAfter bounds ListNamespaces' After position, in bytes: it is
// longer than any namespace name (ParseNamespace), so every name can be
// a position, and a forged one cannot make the store compare megabytes.
const MaxNamespaceAfter = 512

// NamespacePage is the resolved options of a ListNamespaces call.
type NamespacePage struct {
	// Limit is the most namespaces returned; -1 when not given (all).
	Limit int
	// After is the position: only names after it (byte order) are
	// returned; "" from the first name.
	After string
	// OmitMetadata leaves Namespace.Metadata nil (OmitValues).
	OmitMetadata bool
}

// ResolveNamespacePage resolves the options of ListNamespaces. After's
// position must be valid UTF-8 without NUL and at most MaxNamespaceAfter
// bytes; like every invalid option, anything else is ErrInvalidOption.
func ResolveNamespacePage(opts []Option) (NamespacePage, error) {
	c, err := ResolveOptions("listNamespaces", NamespaceListKinds, opts)
	if err != nil {
		return NamespacePage{}, err
	}
	p := NamespacePage{Limit: c.Limit, After: c.Cursor, OmitMetadata: c.OmitValues}
	if len(p.After) > MaxNamespaceAfter || !utf8.ValidString(p.After) || strings.IndexByte(p.After, 0) >= 0 {
		return NamespacePage{}, invalid(ErrInvalidOption,
			"listNamespaces: After: a position is valid UTF-8 without NUL, at most %d bytes", MaxNamespaceAfter)
	}
	return p, nil
}

// Options returns options that resolve to p, for a layer that passes a
// page on (the security layer asks its store for the rest of a filtered
// page with another After and Limit).
func (p NamespacePage) Options() []Option {
	opts := make([]Option, 0, 3)
	if p.Limit >= 0 {
		opts = append(opts, IntOption(KindLimit, int64(p.Limit)))
	}
	if p.After != "" {
		opts = append(opts, CursorOption(p.After))
	}
	if p.OmitMetadata {
		opts = append(opts, FlagOption(KindOmitValues))
	}
	return opts
}

// Full reports whether a page of n namespaces read with p filled its
// Limit, so that more may follow it.
func (p NamespacePage) Full(n int) bool { return p.Limit >= 0 && n >= p.Limit }

package storage

import "github.com/mycelia-kernel/storage/driver"

// Operator is the operator of a filter leaf.
type Operator = driver.Operator

// The operators of the filter language.
const (
	OpEq         = driver.OpEq
	OpNe         = driver.OpNe
	OpGt         = driver.OpGt
	OpGte        = driver.OpGte
	OpLt         = driver.OpLt
	OpLte        = driver.OpLte
	OpContains   = driver.OpContains
	OpStartsWith = driver.OpStartsWith
	OpEndsWith   = driver.OpEndsWith
	OpIn         = driver.OpIn
	OpNin        = driver.OpNin
	OpExists     = driver.OpExists
)

// Limits of the filter language (see ParseField for the path grammar).
const (
	// MaxPathSegments is the most segments a field path may have.
	MaxPathSegments = driver.MaxPathSegments
	// MaxPathLen is the longest field path, in bytes.
	MaxPathLen = driver.MaxPathLen
	// MaxSegmentLen is the longest path segment, in bytes.
	MaxSegmentLen = driver.MaxSegmentLen
	// MaxArrayIndex is the largest array index a numeric segment may name.
	MaxArrayIndex = driver.MaxArrayIndex
	// MaxFilterDepth is the deepest nesting of and/or/not nodes.
	MaxFilterDepth = driver.MaxFilterDepth
	// MaxFilterNodes is the most nodes (leaves, and, or, not) a filter may have.
	MaxFilterNodes = driver.MaxFilterNodes
	// MaxInValues is the most values an in or nin leaf may list.
	MaxInValues = driver.MaxInValues
	// MaxFilterValues is the most values a filter may hold in all: those
	// of its in and nin leaves, and one for each other leaf (10,000).
	MaxFilterValues = driver.MaxFilterValues
	// MaxSortFields is the most fields a Query may sort on.
	MaxSortFields = driver.MaxSortFields
	// MaxContainsLen is the longest string, in bytes, a contains leaf may
	// look for (1024): a substring search costs the string's length at
	// every position of every value read.
	MaxContainsLen = driver.MaxContainsLen
)

// Filter is a node of the filter language: a leaf {Field, Op, Value}, or an
// And, Or or Not node. Exactly one of the four shapes is set; the zero Filter
// matches every entry. Build filters with the constructors below (Eq, Gt,
// And, …) or decode them from JSON (ParseFilter) in the seed's shape:
//
//	{"field":"age","operator":"gte","value":18}
//	{"and":[…]}   {"or":[…]}   {"not":{…}}
//
// A leaf in JSON has all three members: one without "value" is
// ErrInvalidFilter, not a comparison with null, which is "value": null
// (Eq(field, nil) in Go).
//
// A field is a path into the value ("address.city", "tags.0") or a
// reserved root ($key, $version, $createdAt, $updatedAt,
// $metadata.<path>); the grammar is driver.ParseField's. Filter is defined
// in package driver, which compiles it for backends (Filter.Compile); its
// JSON encoding and methods are documented there.
//
// Numbers in a filter compare as IEEE 754 doubles: a number beyond
// ±1.7976931348623157e+308 (1e400 as a json.Number or on the wire) is
// ErrInvalidFilter, "number 1e400 is out of range for a filter", though a
// stored value may hold it; one too small for a double is 0. NaN and the
// infinities are ErrInvalidFilter too ("+Inf is not representable in
// JSON", as EncodeValue says of a value).
type Filter = driver.Filter

// All is the filter that matches every entry (the zero Filter).
func All() Filter { return Filter{} }

// Eq matches entries whose field equals value (a string, number, boolean or
// nil for JSON null; a time for $createdAt and $updatedAt).
func Eq(field string, value any) Filter { return Filter{Field: field, Op: OpEq, Value: value} }

// Ne matches entries whose field does not equal value, or is missing.
func Ne(field string, value any) Filter { return Filter{Field: field, Op: OpNe, Value: value} }

// Gt matches entries whose field is greater than value (a number or string).
func Gt(field string, value any) Filter { return Filter{Field: field, Op: OpGt, Value: value} }

// Gte matches entries whose field is greater than or equal to value.
func Gte(field string, value any) Filter { return Filter{Field: field, Op: OpGte, Value: value} }

// Lt matches entries whose field is less than value.
func Lt(field string, value any) Filter { return Filter{Field: field, Op: OpLt, Value: value} }

// Lte matches entries whose field is less than or equal to value.
func Lte(field string, value any) Filter { return Filter{Field: field, Op: OpLte, Value: value} }

// Contains matches a string field that contains value (a string) as a
// substring, or an array field with an element equal to value (a scalar).
func Contains(field string, value any) Filter {
	return Filter{Field: field, Op: OpContains, Value: value}
}

// StartsWith matches a string field that starts with prefix.
func StartsWith(field, prefix string) Filter {
	return Filter{Field: field, Op: OpStartsWith, Value: prefix}
}

// EndsWith matches a string field that ends with suffix.
func EndsWith(field, suffix string) Filter {
	return Filter{Field: field, Op: OpEndsWith, Value: suffix}
}

// In matches entries whose field equals one of values (scalars).
func In(field string, values ...any) Filter {
	return Filter{Field: field, Op: OpIn, Value: values}
}

// Nin matches entries whose field equals none of values, or is missing.
func Nin(field string, values ...any) Filter {
	return Filter{Field: field, Op: OpNin, Value: values}
}

// Exists matches entries that have the field (exists true) or lack it
// (exists false). A field holding JSON null exists.
func Exists(field string, exists bool) Filter {
	return Filter{Field: field, Op: OpExists, Value: exists}
}

// And matches entries that match every filter; And() matches everything.
func And(filters ...Filter) Filter {
	if filters == nil {
		filters = []Filter{}
	}
	return Filter{And: filters}
}

// Or matches entries that match at least one filter; Or() matches nothing.
func Or(filters ...Filter) Filter {
	if filters == nil {
		filters = []Filter{}
	}
	return Filter{Or: filters}
}

// Not matches entries that do not match f (including entries where f's
// fields are missing).
func Not(f Filter) Filter { return Filter{Not: &f} }

// ParseFilter decodes a filter from JSON and validates it: a malformed or
// invalid filter is a *ValidationError wrapping ErrInvalidFilter.
func ParseFilter(b []byte) (Filter, error) { return driver.ParseFilter(b) }

// SortField is one field of a Query's sort order (SortBy). Build it with
// Asc or Desc.
type SortField = driver.SortField

// Asc sorts by field in ascending order.
func Asc(field string) SortField { return SortField{Field: field} }

// Desc sorts by field in descending order.
func Desc(field string) SortField { return SortField{Field: field, Desc: true} }

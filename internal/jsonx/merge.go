package jsonx

import (
	"bytes"
	"fmt"
)

// maxMergeDepth bounds the nesting of MergePatch's inputs (the limit
// encoding/json applies too); it also bounds MergePatch's recursion.
const maxMergeDepth = 10000

// MergePatch applies patch to target as an RFC 7396 JSON merge patch and
// returns compact JSON.
//
// target may be nil or empty (treated as null). Numbers, strings and keys are
// copied exactly as written (no float64 round trip); whitespace outside
// strings is dropped. Members of target keep their order; members the patch
// adds follow, in the patch's order. Both inputs must be valid JSON (RFC 8259,
// UTF-8, nesting at most 10000 deep), else an error; the storability checks
// of Check are not applied. If the patch has duplicate keys its members are
// applied in order; if the target has, the last one wins.
func MergePatch(target, patch []byte) ([]byte, error) {
	ps := getScanner(patch, maxMergeDepth, true)
	ps.record = true
	defer putScanner(ps)
	if err := ps.run(); err != nil {
		return nil, fmt.Errorf("merge patch: patch: %w", err)
	}
	pd := &doc{b: patch, spans: ps.spans}
	pstart := skipWS(patch, 0)
	pend := pd.valueEnd(pstart)

	var root node
	if tstart := skipWS(target, 0); tstart < len(target) {
		ts := getScanner(target, maxMergeDepth, true)
		ts.record = true
		defer putScanner(ts)
		if err := ts.run(); err != nil {
			return nil, fmt.Errorf("merge patch: target: %w", err)
		}
		td := &doc{b: target, spans: ts.spans}
		root = node{d: td, s: tstart, e: td.valueEnd(tstart)}
	}
	root.merge(pd, pstart, pend)
	return root.appendTo(make([]byte, 0, len(target)+len(patch))), nil
}

// doc is a valid JSON document and where its containers open and close.
type doc struct {
	b     []byte
	spans []span // sorted by open
}

// closeOf returns the offset of the bracket closing the container opened at
// b[open].
func (d *doc) closeOf(open int) int {
	sp := d.spans
	lo, hi := 0, len(sp)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if sp[m].open < open {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return sp[lo].close
}

// valueEnd returns the offset just past the value starting at b[i].
func (d *doc) valueEnd(i int) int {
	b := d.b
	switch b[i] {
	case '{', '[':
		return d.closeOf(i) + 1
	case '"':
		return skipString(b, i)
	}
	j := i + 1
	for j < len(b) && numChar[b[j]] {
		j++
	}
	return j
}

// skipString returns the offset just past the valid string starting with the
// quote at b[i].
func skipString(b []byte, i int) int {
	i++
	for {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return len(b) // cannot happen on valid input
		}
		i += j
		// The quote ends the string unless an odd number of backslashes
		// precede it.
		k := i
		for b[k-1] == '\\' {
			k--
		}
		if (i-k)%2 == 0 {
			return i + 1
		}
		i++
	}
}

// memberIter walks the members of a valid object.
type memberIter struct {
	d      *doc
	i, end int
}

func (d *doc) members(open int) memberIter {
	return memberIter{d: d, i: skipWS(d.b, open+1), end: d.closeOf(open)}
}

// next returns the next member: its quoted key b[ks:ke] and its value
// b[vs:ve].
func (it *memberIter) next() (ks, ke, vs, ve int, ok bool) {
	if it.i >= it.end {
		return 0, 0, 0, 0, false
	}
	b := it.d.b
	ks = it.i
	ke = skipString(b, ks)
	vs = skipWS(b, skipWS(b, ke)+1) // past the ':'
	ve = it.d.valueEnd(vs)
	j := skipWS(b, ve)
	if b[j] == ',' {
		j = skipWS(b, j+1)
	}
	it.i = j
	return ks, ke, vs, ve, true
}

// decodeKey returns the decoded form of the quoted key q.
func decodeKey(q []byte) string {
	c := q[1 : len(q)-1]
	if bytes.IndexByte(c, '\\') < 0 {
		return string(c)
	}
	return string(appendUnquoted(nil, c))
}

// node is a value being merged: either raw JSON text d.b[s:e] (d == nil
// meaning null), or an object whose members are listed.
type node struct {
	d       *doc
	s, e    int
	obj     bool
	members []member
	index   map[string]int // key to position in members, for large objects
}

type member struct {
	key  string // decoded
	qkey []byte // as written, with its quotes
	val  node
	gone bool
}

const indexAbove = 16 // objects with more members get an index

func (n *node) find(key string) int {
	if n.index != nil {
		if i, ok := n.index[key]; ok {
			return i
		}
		return -1
	}
	for i := range n.members {
		if m := &n.members[i]; !m.gone && m.key == key {
			return i
		}
	}
	return -1
}

func (n *node) add(key string, qkey []byte, val node) int {
	n.members = append(n.members, member{key: key, qkey: qkey, val: val})
	i := len(n.members) - 1
	switch {
	case n.index != nil:
		n.index[key] = i
	case len(n.members) > indexAbove:
		n.index = make(map[string]int, 2*len(n.members))
		for j := range n.members {
			if m := &n.members[j]; !m.gone {
				n.index[m.key] = j
			}
		}
	}
	return i
}

func (n *node) remove(i int) {
	m := &n.members[i]
	m.gone, m.val = true, node{}
	if n.index != nil {
		delete(n.index, m.key)
	}
}

// expand turns n into a listed object: its members if it is an object, else
// none (RFC 7396: a non-object target is replaced by {}).
func (n *node) expand() {
	d, s := n.d, n.s
	*n = node{obj: true}
	if d == nil || d.b[s] != '{' {
		return
	}
	it := d.members(s)
	for {
		ks, ke, vs, ve, ok := it.next()
		if !ok {
			return
		}
		q := d.b[ks:ke]
		key := decodeKey(q)
		val := node{d: d, s: vs, e: ve}
		if i := n.find(key); i >= 0 {
			n.members[i].val = val // duplicate key: the last one wins
			continue
		}
		n.add(key, q, val)
	}
}

// merge applies the patch pd.b[ps:pe] to n (RFC 7396 MergePatch).
func (n *node) merge(pd *doc, ps, pe int) {
	if pd.b[ps] != '{' {
		*n = node{d: pd, s: ps, e: pe}
		return
	}
	if !n.obj {
		n.expand()
	}
	it := pd.members(ps)
	for {
		ks, ke, vs, ve, ok := it.next()
		if !ok {
			return
		}
		q := pd.b[ks:ke]
		key := decodeKey(q)
		i := n.find(key)
		if pd.b[vs] == 'n' { // null: remove
			if i >= 0 {
				n.remove(i)
			}
			continue
		}
		if i < 0 {
			i = n.add(key, q, node{})
		}
		n.members[i].val.merge(pd, vs, ve)
	}
}

// appendTo appends n as compact JSON.
func (n *node) appendTo(dst []byte) []byte {
	switch {
	case n.obj:
		dst = append(dst, '{')
		first := true
		for i := range n.members {
			m := &n.members[i]
			if m.gone {
				continue
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = append(dst, m.qkey...)
			dst = append(dst, ':')
			dst = m.val.appendTo(dst)
		}
		return append(dst, '}')
	case n.d == nil:
		return append(dst, "null"...)
	default:
		return appendCompact(dst, n.d.b[n.s:n.e])
	}
}

// appendCompact appends the valid JSON value v without whitespace outside
// strings.
func appendCompact(dst, v []byte) []byte {
	for i := 0; i < len(v); {
		switch c := v[i]; {
		case c == '"':
			j := skipString(v, i)
			dst = append(dst, v[i:j]...)
			i = j
		case isWS(c):
			i++
		default:
			j := i + 1
			for j < len(v) && v[j] != '"' && !isWS(v[j]) {
				j++
			}
			dst = append(dst, v[i:j]...)
			i = j
		}
	}
	return dst
}

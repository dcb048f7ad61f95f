package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
)

// System is one store under test: the engine or a peer, each doing the same
// work on the same dataset its own best way.
type System interface {
	// Name identifies the system in the tables.
	Name() string
	// Durability says what a committed write survives.
	Durability() string
	Get(ctx context.Context, key string) (Rec, bool, error)
	Has(ctx context.Context, key string) (bool, error)
	Set(ctx context.Context, key string, value []byte) error
	GetMany(ctx context.Context, keys []string) ([]Rec, error)
	SetMany(ctx context.Context, keys []string, values [][]byte) error
	// QueryEq returns the entries whose field n equals v, by key.
	QueryEq(ctx context.Context, v int) ([]Rec, error)
	// QueryTop returns the limit entries of largest n in [lo, hi), ties
	// by ascending key (the engine breaks ties of every sort by ascending
	// key).
	QueryTop(ctx context.Context, lo, hi, limit int) ([]Rec, error)
	// Count counts the entries whose n is in [lo, hi).
	Count(ctx context.Context, lo, hi int) (int64, error)
	// ListPrefix returns the first limit entries whose key starts with
	// prefix, by key.
	ListPrefix(ctx context.Context, prefix string, limit int) ([]Rec, error)
	// RMW reads key, bumps its counter field c and writes it back, in one
	// transaction.
	RMW(ctx context.Context, key string) error
	// DiskBytes is the space the system's data takes ("" when shared).
	DiskBytes(ctx context.Context) (int64, error)
	Close() error
}

// twoFields is a system that also keeps a second dataset whose two fields n
// and t are both indexed (issue 13: "setMany of 1000 with two declared
// fields"): the engine a namespace declaring both, the raw baselines a
// table of their own with one expression index per field. bbolt does not
// take part (it has no declared indexes to compare).
type twoFields interface {
	// SetMany2 writes the items into the second dataset.
	SetMany2(ctx context.Context, keys []string, values [][]byte) error
}

// Rec is one entry as a system returns it: the value's JSON and version.
type Rec struct {
	Key     string
	Value   []byte
	Version int64
}

// Key is the key of dataset entry i: 100 keys share each 5-character
// prefix "k" + the first 4 digits only from 10k entries on, so prefixes
// are drawn among the first size/1000.
func Key(i int) string { return fmt.Sprintf("k%07d", i) }

// Groups is how many entries share each value of n (so indexed eq returns
// about Groups rows at every size).
const Groups = 10

// value is the JSON value of entry i, about size bytes: n is the indexed
// field (i / Groups), c a counter that RMW bumps, s padding.
func value(i, size int) []byte {
	pad := max(size-40, 1)
	return fmt.Appendf(nil, `{"n":%d,"c":0,"s":"%s"}`, i/Groups, strings.Repeat("x", pad))
}

// value2 is a value of the second dataset, about size bytes, with its two
// indexed fields: n (a number) and t (a short string).
func value2(n, t, size int) []byte {
	pad := max(size-50, 1)
	return fmt.Appendf(nil, `{"n":%d,"t":"t%05d","c":0,"s":"%s"}`, n, t, strings.Repeat("x", pad))
}

// bump is the modification of RMW: decode, increment c, encode (the same
// work on every system).
func bump(v []byte) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(v, &m); err != nil {
		return nil, err
	}
	c, _ := m["c"].(float64)
	m["c"] = c + 1
	return json.Marshal(m)
}

// numberOf reads field n of a value (bbolt keeps its index by hand).
func numberOf(v []byte) (float64, bool) {
	var x struct {
		N *float64 `json:"n"`
	}
	if json.Unmarshal(v, &x) != nil || x.N == nil {
		return 0, false
	}
	return *x.N, true
}

func randKey(size int) string { return Key(rand.IntN(size)) }

package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// boltSys is go.etcd.io/bbolt, the embedded key/value store a Go program
// picks instead: bucket e maps a key to its version (8 bytes) and JSON
// value; bucket n is a secondary index on the value's field n, kept by hand
// (sortable number + key). It runs with fsync at every commit or with
// NoSync (one handle, the flag switched between runs).
type boltSys struct {
	db     *bolt.DB
	noSync bool
}

var (
	bucketE = []byte("e")
	bucketN = []byte("n")
)

func openBolt(path string) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketE); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(bucketN)
		return err
	})
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

func (b *boltSys) Name() string {
	if b.noSync {
		return "bbolt NoSync"
	}
	return "bbolt"
}

func (b *boltSys) Durability() string {
	if b.noSync {
		return "NoSync: no fsync (a crash loses recent commits and may corrupt the file)"
	}
	return "fsync at every commit"
}

// with runs fn with the handle's NoSync set for this system.
func (b *boltSys) update(fn func(tx *bolt.Tx) error) error {
	b.db.NoSync = b.noSync
	return b.db.Update(fn)
}

// numKey encodes n so that byte order is numeric order.
func numKey(n float64, key []byte) []byte {
	u := math.Float64bits(n)
	if n >= 0 {
		u ^= 1 << 63
	} else {
		u = ^u
	}
	out := make([]byte, 8, 8+len(key))
	binary.BigEndian.PutUint64(out, u)
	return append(out, key...)
}

func (b *boltSys) Get(_ context.Context, key string) (r Rec, ok bool, err error) {
	err = b.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketE).Get([]byte(key))
		if v == nil {
			return nil
		}
		ok = true
		r = Rec{Key: key, Version: int64(binary.BigEndian.Uint64(v)), Value: bytes.Clone(v[8:])}
		return nil
	})
	return r, ok, err
}

func (b *boltSys) Has(_ context.Context, key string) (ok bool, err error) {
	err = b.db.View(func(tx *bolt.Tx) error {
		ok = tx.Bucket(bucketE).Get([]byte(key)) != nil
		return nil
	})
	return ok, err
}

// put writes one entry and keeps the index.
func put(tx *bolt.Tx, key, v []byte) error {
	e, n := tx.Bucket(bucketE), tx.Bucket(bucketN)
	var ver uint64 = 1
	if old := e.Get(key); old != nil {
		ver = binary.BigEndian.Uint64(old) + 1
		if on, ok := numberOf(old[8:]); ok {
			if err := n.Delete(numKey(on, key)); err != nil {
				return err
			}
		}
	}
	rec := make([]byte, 8+len(v))
	binary.BigEndian.PutUint64(rec, ver)
	copy(rec[8:], v)
	if err := e.Put(key, rec); err != nil {
		return err
	}
	if nn, ok := numberOf(v); ok {
		return n.Put(numKey(nn, key), nil)
	}
	return nil
}

func (b *boltSys) Set(_ context.Context, key string, v []byte) error {
	return b.update(func(tx *bolt.Tx) error { return put(tx, []byte(key), v) })
}

func (b *boltSys) GetMany(_ context.Context, keys []string) (out []Rec, err error) {
	err = b.db.View(func(tx *bolt.Tx) error {
		e := tx.Bucket(bucketE)
		out = make([]Rec, 0, len(keys))
		for _, k := range keys {
			if v := e.Get([]byte(k)); v != nil {
				out = append(out, Rec{Key: k, Version: int64(binary.BigEndian.Uint64(v)), Value: bytes.Clone(v[8:])})
			}
		}
		return nil
	})
	return out, err
}

func (b *boltSys) SetMany(_ context.Context, keys []string, values [][]byte) error {
	return b.update(func(tx *bolt.Tx) error {
		for i, k := range keys {
			if err := put(tx, []byte(k), values[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// scanIndex calls fn for the index entries in [lo, hi), descending when
// desc, until fn returns false. An index entry is the number's 8 bytes
// (numKey) followed by the entry's key.
func scanIndex(tx *bolt.Tx, lo, hi float64, desc bool, fn func(key []byte) bool) {
	c := tx.Bucket(bucketN).Cursor()
	l, h := numKey(lo, nil), numKey(hi, nil)
	if !desc {
		for k, _ := c.Seek(l); k != nil && bytes.Compare(k, h) < 0; k, _ = c.Next() {
			if !fn(k) {
				return
			}
		}
		return
	}
	k, _ := c.Seek(h)
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	for ; k != nil && bytes.Compare(k, l) >= 0; k, _ = c.Prev() {
		if !fn(k) {
			return
		}
	}
}

func (b *boltSys) collect(lo, hi float64, desc bool, limit int) (out []Rec, err error) {
	err = b.db.View(func(tx *bolt.Tx) error {
		e := tx.Bucket(bucketE)
		get := func(key []byte) bool {
			v := e.Get(key)
			if v == nil {
				err = errors.New("bbolt: the index names a missing key")
				return false
			}
			out = append(out, Rec{Key: string(key), Version: int64(binary.BigEndian.Uint64(v)), Value: bytes.Clone(v[8:])})
			return limit <= 0 || len(out) < limit
		}
		if !desc {
			scanIndex(tx, lo, hi, false, func(k []byte) bool { return get(k[8:]) })
			return err
		}
		// Descending n, ties by ascending key (as the engine answers): the
		// backward scan meets each group of ties in descending key order,
		// so read the index up to the end of the group the limit cuts and
		// reverse each group before reading the entries.
		var ix [][]byte
		scanIndex(tx, lo, hi, true, func(k []byte) bool {
			if limit > 0 && len(ix) >= limit && !bytes.Equal(ix[len(ix)-1][:8], k[:8]) {
				return false
			}
			ix = append(ix, k)
			return true
		})
		for i := 0; i < len(ix); {
			j := i + 1
			for j < len(ix) && bytes.Equal(ix[j][:8], ix[i][:8]) {
				j++
			}
			slices.Reverse(ix[i:j])
			i = j
		}
		for _, k := range ix {
			if !get(k[8:]) {
				break
			}
		}
		return err
	})
	return out, err
}

func (b *boltSys) QueryEq(_ context.Context, v int) ([]Rec, error) {
	return b.collect(float64(v), math.Nextafter(float64(v), math.Inf(1)), false, 0)
}

func (b *boltSys) QueryTop(_ context.Context, lo, hi, limit int) ([]Rec, error) {
	return b.collect(float64(lo), float64(hi), true, limit)
}

func (b *boltSys) Count(_ context.Context, lo, hi int) (n int64, err error) {
	err = b.db.View(func(tx *bolt.Tx) error {
		scanIndex(tx, float64(lo), float64(hi), false, func([]byte) bool { n++; return true })
		return nil
	})
	return n, err
}

func (b *boltSys) ListPrefix(_ context.Context, prefix string, limit int) (out []Rec, err error) {
	err = b.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketE).Cursor()
		p := []byte(prefix)
		for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p) && len(out) < limit; k, _ = c.Next() {
			out = append(out, Rec{Key: string(k)})
		}
		return nil
	})
	return out, err
}

func (b *boltSys) RMW(_ context.Context, key string) error {
	return b.update(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketE).Get([]byte(key))
		if v == nil {
			return errors.New("bbolt: missing key")
		}
		nv, err := bump(v[8:])
		if err != nil {
			return err
		}
		return put(tx, []byte(key), nv)
	})
}

func (b *boltSys) DiskBytes(context.Context) (int64, error) { return fileBytes(b.db.Path()) }

// Close closes the handle once (the NoSync system shares it).
func (b *boltSys) Close() error {
	if b.noSync {
		return nil
	}
	return b.db.Close()
}

package storage_test

import (
	"errors"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

func TestExpiryResolve(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		e    storage.Expiry
		want time.Time
		err  bool
	}{
		{"none", storage.Expiry{}, time.Time{}, false},
		{"keep", storage.Expiry{Keep: true}, time.Time{}, false},
		{"ttl", storage.Expiry{TTL: time.Minute}, now.Add(time.Minute), false},
		{"ttl rounded up to a microsecond", storage.Expiry{TTL: 1500 * time.Nanosecond}, now.Add(2 * time.Microsecond), false},
		{"one nanosecond", storage.Expiry{TTL: 1}, now.Add(time.Microsecond), false},
		{"max", storage.Expiry{TTL: storage.MaxTTL}, now.Add(storage.MaxTTL), false},
		{"over max", storage.Expiry{TTL: storage.MaxTTL + 1}, time.Time{}, true},
		{"negative", storage.Expiry{TTL: -time.Second}, time.Time{}, true},
		{"at", storage.Expiry{At: now.Add(time.Hour).In(time.FixedZone("x", 7200))}, now.Add(time.Hour), false},
		{"at truncated", storage.Expiry{At: now.Add(time.Hour + 999)}, now.Add(time.Hour), false},
		{"at now", storage.Expiry{At: now}, time.Time{}, true},
		{"at within the microsecond", storage.Expiry{At: now.Add(999)}, time.Time{}, true},
		{"at past", storage.Expiry{At: now.Add(-time.Hour)}, time.Time{}, true},
		{"at too far", storage.Expiry{At: now.Add(storage.MaxTTL + time.Second)}, time.Time{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.e.Resolve(now)
			if tc.err {
				if !errors.Is(err, storage.ErrInvalidOption) {
					t.Fatalf("Resolve = %v, %v; want ErrInvalidOption", got, err)
				}
				return
			}
			if err != nil || !got.Equal(tc.want) || (!got.IsZero() && got.Location() != time.UTC) {
				t.Fatalf("Resolve = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestItemExpiry(t *testing.T) {
	batch := storage.Expiry{TTL: time.Hour}
	if e, err := storage.ItemExpiry(storage.Item{Key: "k"}, batch); err != nil || e != batch {
		t.Errorf("an item without its own expiry: %+v, %v; want the batch's", e, err)
	}
	if e, err := storage.ItemExpiry(storage.Item{Key: "k", KeepTTL: true}, batch); err != nil || !e.Keep || e.TTL != 0 {
		t.Errorf("an item with KeepTTL: %+v, %v", e, err)
	}
	for _, it := range []storage.Item{
		{Key: "k", TTL: time.Second, KeepTTL: true},
		{Key: "k", TTL: time.Second, ExpiresAt: time.Now()},
		{Key: "k", TTL: -1},
	} {
		if _, err := storage.ItemExpiry(it, batch); !errors.Is(err, storage.ErrInvalidOption) {
			t.Errorf("ItemExpiry(%+v) = %v, want ErrInvalidOption", it, err)
		}
	}
}

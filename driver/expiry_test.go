package driver_test

import (
	"errors"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage/driver"
)

func TestExpiryResolve(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		e    driver.Expiry
		want time.Time
		err  bool
	}{
		{"none", driver.Expiry{}, time.Time{}, false},
		{"keep", driver.Expiry{Keep: true}, time.Time{}, false},
		{"ttl", driver.Expiry{TTL: time.Minute}, now.Add(time.Minute), false},
		{"ttl rounded up to a microsecond", driver.Expiry{TTL: 1500 * time.Nanosecond}, now.Add(2 * time.Microsecond), false},
		{"one nanosecond", driver.Expiry{TTL: 1}, now.Add(time.Microsecond), false},
		{"max", driver.Expiry{TTL: driver.MaxTTL}, now.Add(driver.MaxTTL), false},
		{"over max", driver.Expiry{TTL: driver.MaxTTL + 1}, time.Time{}, true},
		{"negative", driver.Expiry{TTL: -time.Second}, time.Time{}, true},
		{"at", driver.Expiry{At: now.Add(time.Hour).In(time.FixedZone("x", 7200))}, now.Add(time.Hour), false},
		{"at truncated", driver.Expiry{At: now.Add(time.Hour + 999)}, now.Add(time.Hour), false},
		{"at now", driver.Expiry{At: now}, time.Time{}, true},
		{"at within the microsecond", driver.Expiry{At: now.Add(999)}, time.Time{}, true},
		{"at past", driver.Expiry{At: now.Add(-time.Hour)}, time.Time{}, true},
		{"at too far", driver.Expiry{At: now.Add(driver.MaxTTL + time.Second)}, time.Time{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.e.Resolve(now)
			if tc.err {
				if !errors.Is(err, driver.ErrInvalidOption) {
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
	batch := driver.Expiry{TTL: time.Hour}
	if e, err := driver.ItemExpiry(driver.Expiry{}, batch); err != nil || e != batch {
		t.Errorf("an item without its own expiry: %+v, %v; want the batch's", e, err)
	}
	if e, err := driver.ItemExpiry(driver.Expiry{Keep: true}, batch); err != nil || !e.Keep || e.TTL != 0 {
		t.Errorf("an item with KeepTTL: %+v, %v", e, err)
	}
	for _, it := range []driver.Expiry{
		{TTL: time.Second, Keep: true},
		{TTL: time.Second, At: time.Now()},
		{TTL: -1},
	} {
		if _, err := driver.ItemExpiry(it, batch); !errors.Is(err, driver.ErrInvalidOption) {
			t.Errorf("ItemExpiry(%+v) = %v, want ErrInvalidOption", it, err)
		}
	}
}

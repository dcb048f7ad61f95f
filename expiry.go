package storage

import (
	"time"

	"github.com/mycelia-kernel/storage/driver"
)

// Expiry.
//
// An entry may carry an expiry time. Set and SetMany take it as a duration
// (WithTTL, Item.TTL) or an absolute time (ExpiresAt, Item.ExpiresAt); the
// store turns a duration into a time against its own clock when it writes.
// From the instant of expiry the entry is gone for every operation: reads
// do not see it, counts and Status do not count it, capacity does not
// charge it, exports skip it, and a write treats the key as missing (a
// create-only Set succeeds; a compare-and-swap conflicts as on a missing
// key). A background sweeper removes the rows later; when it runs never
// changes an answer.
//
// The overwrite rule: a write without an expiry option clears the expiry
// of the entry it overwrites, unless it asks for KeepTTL (Item.KeepTTL),
// which keeps the stored expiry (none for a new or expired key).
// SetMetadata never changes the expiry.

const (
	// MaxTTL is the longest expiry a write may ask for, counted from the
	// store's clock.
	MaxTTL = driver.MaxTTL
)

// WithTTL makes Set (or every item of SetMany without an expiry of its own)
// expire d after the write, by the store's clock. d must be > 0 and at most
// MaxTTL; it is rounded up to a whole microsecond. The expiry must fall in
// year 9999 at the latest (RFC 3339, so the wire and a dump, cannot carry
// a later one): else ErrInvalidOption, nothing written.
func WithTTL(d time.Duration) Option {
	return driver.TTLOption(d)
}

// ExpiresAt makes Set (or every item of SetMany without an expiry of its
// own) expire at t. t must be after the store's time of the write (else
// ErrInvalidOption, nothing written), at most MaxTTL after it, and in year
// 9999 at the latest.
func ExpiresAt(t time.Time) Option {
	return driver.ExpiryOption(driver.Expiry{At: t})
}

// KeepTTL makes an overwrite by Set (or by the items of SetMany without an
// expiry of their own) keep the expiry already stored, instead of clearing
// it. A new key, or an expired one, gets no expiry.
func KeepTTL() Option {
	return driver.ExpiryOption(driver.Expiry{Keep: true})
}

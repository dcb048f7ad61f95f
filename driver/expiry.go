package driver

import (
	"time"
)

const (
	// MaxTTL is the longest expiry a write may ask for, counted from the
	// store's clock.
	MaxTTL = 100 * 365 * 24 * time.Hour
)

// Expiry is a resolved expiry request of one write (see package storage's
// "Expiry" section for the rules): at most one of its fields is set. The zero Expiry asks for no expiry (and clears a stored
// one).
type Expiry struct {
	// TTL is a duration from the time of the write (> 0, <= MaxTTL).
	TTL time.Duration
	// At is an absolute expiry time; it must be after the time of the write.
	At time.Time
	// Keep keeps the expiry already stored.
	Keep bool
}

// IsZero reports whether e asks for no expiry.
func (e Expiry) IsZero() bool { return e.TTL == 0 && e.At.IsZero() && !e.Keep }

// Resolve returns the absolute expiry time of a write at now (UTC,
// microsecond precision), or the zero time for none. A TTL is rounded up to
// a whole microsecond. It fails with ErrInvalidOption for a TTL that is not
// positive or longer than MaxTTL, for a time that is not after now or
// further than MaxTTL from it, and for an expiry after the end of year
// 9999 (which RFC 3339, so the wire and a dump, cannot carry). Keep
// resolves to the zero time: the caller keeps what is stored.
func (e Expiry) Resolve(now time.Time) (time.Time, error) {
	switch {
	case e.TTL != 0:
		if err := ValidateTTL(e.TTL); err != nil {
			return time.Time{}, err
		}
		d := (e.TTL + time.Microsecond - 1).Truncate(time.Microsecond)
		at := now.Add(d).UTC().Truncate(time.Microsecond)
		if at.After(lastExpiry) {
			return time.Time{}, invalid(ErrInvalidOption, "TTL %s: the expiry %s is after %s, the last time RFC 3339 (the wire, a dump) can carry", e.TTL, at.Format(time.RFC3339Nano), lastExpiry.Format(time.RFC3339Nano))
		}
		return at, nil
	case !e.At.IsZero():
		at := e.At.UTC().Truncate(time.Microsecond)
		if !at.After(now) {
			return time.Time{}, invalid(ErrInvalidOption, "ExpiresAt(%s): not after the store's time %s", e.At.UTC().Format(time.RFC3339Nano), now.Format(time.RFC3339Nano))
		}
		if at.Sub(now) > MaxTTL {
			return time.Time{}, invalid(ErrInvalidOption, "ExpiresAt(%s): more than MaxTTL after the store's time", e.At.UTC().Format(time.RFC3339Nano))
		}
		if at.After(lastExpiry) {
			return time.Time{}, invalid(ErrInvalidOption, "ExpiresAt(%s): after %s, the last time RFC 3339 (the wire, a dump) can carry", e.At.UTC().Format(time.RFC3339Nano), lastExpiry.Format(time.RFC3339Nano))
		}
		return at, nil
	}
	return time.Time{}, nil
}

// lastExpiry is the latest expiry a write may set: the last microsecond of
// year 9999, the last time RFC 3339 spells. A later one (a TTL from a
// clock near the end of 9999) could be stored but not carried by the wire
// or a dump, so every read of the entry through them would fail.
var lastExpiry = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)

// ValidateTTL checks a TTL: more than zero and at most MaxTTL.
func ValidateTTL(d time.Duration) error {
	switch {
	case d <= 0:
		return invalid(ErrInvalidOption, "TTL %s: want > 0", d)
	case d > MaxTTL:
		return invalid(ErrInvalidOption, "TTL %s: more than the maximum %s", d, MaxTTL)
	}
	return nil
}

// check validates what can be checked without a clock.
func (e Expiry) check() error {
	n := 0
	if e.TTL != 0 {
		n++
		if err := ValidateTTL(e.TTL); err != nil {
			return err
		}
	}
	if !e.At.IsZero() {
		n++
	}
	if e.Keep {
		n++
	}
	if n > 1 {
		return invalid(ErrInvalidOption, "at most one of TTL, ExpiresAt and KeepTTL")
	}
	return nil
}

// ItemExpiry is the expiry of one SetMany item: item, the item's own
// request (built from storage.Item's TTL, ExpiresAt and KeepTTL), when it
// asks for one, else the batch's. An item that asks for more than one of
// TTL, ExpiresAt and KeepTTL, or for an invalid TTL, is ErrInvalidOption.
func ItemExpiry(item, batch Expiry) (Expiry, error) {
	if err := item.check(); err != nil {
		return Expiry{}, err
	}
	if item.IsZero() {
		return batch, nil
	}
	return item, nil
}

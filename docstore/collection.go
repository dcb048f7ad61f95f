package storagedocstore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"

	"github.com/mycelia-kernel/storage"
	"gocloud.dev/docstore"
	"gocloud.dev/docstore/driver"
	"gocloud.dev/gcerrors"
)

// Options are the options of OpenCollection and OpenCollectionWithKeyFunc.
type Options struct {
	// RevisionField is the name of the document field that holds the
	// revision; "" means docstore.DefaultRevisionField.
	RevisionField string
}

// metaRevision is the member of an entry's metadata that says its document
// was written with a revision field, so reads give it one.
const metaRevision = "docstoreRevision"

type collection struct {
	store     storage.Store
	ns        string
	keyField  string
	keyFunc   func(docstore.Document) any
	revField  string
	nsOption  storage.Option
	queryPage int
}

// OpenCollection returns a collection of the namespace ns of s whose
// documents' keys are in the field keyField (a string field).
func OpenCollection(s storage.Store, ns, keyField string, opts *Options) (*docstore.Collection, error) {
	c, err := newCollection(s, ns, keyField, nil, opts)
	if err != nil {
		return nil, err
	}
	return docstore.NewCollection(c), nil
}

// OpenCollectionWithKeyFunc returns a collection of the namespace ns of s
// whose documents' keys are computed by keyFunc, which must return a
// string ("" for a document without a key). Create cannot make up a key
// for such a collection.
func OpenCollectionWithKeyFunc(s storage.Store, ns string, keyFunc func(docstore.Document) any, opts *Options) (*docstore.Collection, error) {
	c, err := newCollection(s, ns, "", keyFunc, opts)
	if err != nil {
		return nil, err
	}
	return docstore.NewCollection(c), nil
}

func newCollection(s storage.Store, ns, keyField string, keyFunc func(docstore.Document) any, opts *Options) (*collection, error) {
	if s == nil {
		return nil, fmt.Errorf("storagedocstore: nil store: %w", storage.ErrInvalidOption)
	}
	if _, err := storage.ParseNamespace(ns); err != nil {
		return nil, err
	}
	if (keyField == "") == (keyFunc == nil) {
		return nil, fmt.Errorf("storagedocstore: exactly one of a key field and a key function: %w", storage.ErrInvalidOption)
	}
	if opts == nil {
		opts = &Options{}
	}
	rev := opts.RevisionField
	if rev == "" {
		rev = docstore.DefaultRevisionField
	}
	return &collection{
		store: s, ns: ns, keyField: keyField, keyFunc: keyFunc, revField: rev,
		nsOption: storage.InNamespace(ns), queryPage: 500,
	}, nil
}

// Key implements driver.Collection: the key is a non-empty string.
func (c *collection) Key(doc driver.Document) (any, error) {
	var k any
	if c.keyField != "" {
		k, _ = doc.GetField(c.keyField)
	} else {
		k = c.keyFunc(doc.Origin)
	}
	if k == nil || driver.IsEmptyValue(reflect.ValueOf(k)) {
		if c.keyFunc != nil {
			return nil, fmt.Errorf("storagedocstore: the key function gave no key, and a collection with a key function cannot make one up: %w", storage.ErrInvalidKey)
		}
		return nil, nil
	}
	if _, ok := k.(string); !ok {
		return nil, fmt.Errorf("storagedocstore: key %v is a %T, not a string: %w", k, k, storage.ErrInvalidKey)
	}
	return k, nil
}

// RevisionField implements driver.Collection.
func (c *collection) RevisionField() string { return c.revField }

// RevisionToBytes implements driver.Collection: a revision is the entry's
// storage revision, an int64, spelled in decimal.
func (c *collection) RevisionToBytes(rev any) ([]byte, error) {
	r, err := revisionOf(rev)
	if err != nil {
		return nil, err
	}
	return strconv.AppendInt(nil, r, 10), nil
}

// BytesToRevision implements driver.Collection.
func (c *collection) BytesToRevision(b []byte) (any, error) {
	r, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || r < 1 {
		return nil, fmt.Errorf("storagedocstore: %q is not a revision: %w", b, storage.ErrInvalidOption)
	}
	return r, nil
}

// revisionOf reads a revision given by the caller: a positive integer.
func revisionOf(rev any) (int64, error) {
	v := reflect.ValueOf(rev)
	var r int64
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		r = v.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if v.Uint() <= 1<<62 {
			r = int64(v.Uint())
		}
	}
	if r < 1 {
		return 0, fmt.Errorf("storagedocstore: revision %v (%T) is not a revision (an int64 of at least 1): %w", rev, rev, storage.ErrInvalidOption)
	}
	return r, nil
}

// As implements driver.Collection: it exposes the storage.Store.
func (c *collection) As(i any) bool {
	p, ok := i.(*storage.Store)
	if ok {
		*p = c.store
	}
	return ok
}

// ErrorAs implements driver.Collection: errors.As on the storage error
// (*storage.OpError, *storage.ValidationError, ...).
func (c *collection) ErrorAs(err error, i any) bool { return errors.As(err, i) }

// ErrorCode implements driver.Collection.
func (c *collection) ErrorCode(err error) gcerrors.ErrorCode { return errorCode(err) }

var codes = []struct {
	err  error
	code gcerrors.ErrorCode
}{
	{context.Canceled, gcerrors.Canceled},
	{context.DeadlineExceeded, gcerrors.DeadlineExceeded},
	{storage.ErrNotFound, gcerrors.NotFound},
	{storage.ErrNamespaceNotFound, gcerrors.NotFound},
	{storage.ErrAlreadyExists, gcerrors.AlreadyExists},
	{storage.ErrConflict, gcerrors.FailedPrecondition},
	{storage.ErrInvalidKey, gcerrors.InvalidArgument},
	{storage.ErrInvalidNamespace, gcerrors.InvalidArgument},
	{storage.ErrInvalidValue, gcerrors.InvalidArgument},
	{storage.ErrValueTooLarge, gcerrors.InvalidArgument},
	{storage.ErrInvalidOption, gcerrors.InvalidArgument},
	{storage.ErrInvalidFilter, gcerrors.InvalidArgument},
	{storage.ErrUnsupported, gcerrors.Unimplemented},
	{storage.ErrUnauthenticated, gcerrors.PermissionDenied},
	{storage.ErrPermissionDenied, gcerrors.PermissionDenied},
	{storage.ErrCapacityExceeded, gcerrors.ResourceExhausted},
	{storage.ErrStorageFull, gcerrors.ResourceExhausted},
	{storage.ErrTooManyTx, gcerrors.ResourceExhausted},
	{storage.ErrReadOnly, gcerrors.FailedPrecondition},
	{storage.ErrClosed, gcerrors.FailedPrecondition},
	{storage.ErrCorrupt, gcerrors.Internal},
}

func errorCode(err error) gcerrors.ErrorCode {
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	// ErrUnavailable, ErrTxConflict, ErrCommitUnknown, ...: gcerrors has
	// no code for "try again".
	return gcerrors.Unknown
}

// Close implements driver.Collection. It does not close the store, which
// the caller owns.
func (c *collection) Close() error { return nil }

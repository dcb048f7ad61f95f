// Package txmanager holds what every transactional backend needs beyond
// BEGIN and COMMIT: a registry of open transactions by ID, with an idle
// timeout that rolls back abandoned ones and a cap on how many may be open,
// and RunInTx, which runs a function in a transaction and retries it when
// the database aborts it to keep it isolated.
//
//	err := txmanager.RunInTx(ctx, store, storage.TxOptions{Isolation: storage.LevelSerializable},
//		func(tx storage.Tx) error {
//			e, err := tx.Get(ctx, "account:a")
//			if err != nil {
//				return err
//			}
//			...
//			return tx.Set(ctx, "account:a", balance-10)
//		})
//
// RunInTx commits when the function returns nil and rolls back when it
// returns an error or panics. It retries the whole function, with capped,
// jittered exponential backoff, when an operation or the commit fails with
// storage.ErrTxConflict (PostgreSQL serialization failures and deadlocks,
// SQLite busy errors, a namespace deleted under the transaction) or
// storage.ErrUnavailable (the database could not be reached; nothing was
// committed). It never retries storage.ErrCommitUnknown: a commit whose
// outcome is unknown may have happened.
package txmanager

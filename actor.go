package storage

import "context"

// actorKey is the context key of the acting principal.
type actorKey struct{}

// ContextWithActor returns a context that names actor (a principal's PKR)
// as the one acting. Stores record it on every write as the entry's
// created-by and updated-by audit fields, returned by GetMetadata. The
// security package sets it when it authorizes a call.
func ContextWithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorFromContext returns the acting principal named by ContextWithActor,
// or "" when there is none.
func ActorFromContext(ctx context.Context) string {
	a, _ := ctx.Value(actorKey{}).(string)
	return a
}

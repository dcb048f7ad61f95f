// Package httpapi carries the storage routes (package routes) over HTTP:
// the server side is Handler, the client side is Transport, which
// implements client.Transport so that client.New(ctx, transport) is a
// storage.Store on the network. The command cmd/storeserver puts them
// together with the engine and access control.
//
//	tokens, err := httpapi.LoadAuthFile("auth.json")
//	inner, err := sqlstore.Open(ctx, dsn)
//	mux := routes.NewMux()
//	routes.Register(mux, security.NewStore(inner, tokens.Policy()))
//	h := httpapi.NewHandler(mux, httpapi.Config{Auth: tokens, Ready: inner})
//	err = http.ListenAndServe("127.0.0.1:8080", h) // with timeouts set, see cmd/storeserver
//
//	tr, err := httpapi.NewTransport("http://127.0.0.1:8080", token)
//	st, err := client.New(ctx, tr)
//	err = st.Set(ctx, "u1", user, storage.InNamespace("users"))
//
// # Endpoints
//
//	POST /v1/storage/{op}   the route storage://{op}, e.g. POST /v1/storage/getMany
//	                        is storage://getMany; the request body is the route's
//	                        JSON body (an empty body is {}), the response body
//	                        its envelope {success, data, error:{code, message}}
//	GET  /healthz           200 while the process serves: {"success":true,"data":{"status":"ok"}}
//	GET  /readyz            200 when the store's Status reports Healthy, else 503
//	                        (unavailable); 503 as soon as shutdown begins (Drain)
//
// HEAD is accepted wherever GET is. {op} is a letter followed by letters
// and digits; any other path is 404 unknown_route, and so is an {op} the
// routes do not know.
//
// # Streams
//
// POST /v1/storage/watch is the streaming route storage://watch (when the
// Caller is a routes.Streamer, as routes.Mux is). It is checked like any
// storage request; a refusal before the stream starts is an envelope with
// its status. A stream is 200 with Content-Type application/x-ndjson: one
// JSON object per line, flushed as it is written, an empty line every 15
// seconds while idle (keep-alive: Transport takes a stream that sent
// nothing for WithStreamSilence, 45 seconds by default, for a dark
// connection and breaks it, so that client.Store.Watch resumes on a new
// one). Config.Timeout does not bound it, and
// the handler lifts the server's write timeout for it; its request body
// stops counting against MaxBytesInFlight once read. It ends when the
// client leaves, when the client does not take a line within
// Config.Timeout (so a client that stops reading cannot hold the stream,
// its connection and the events buffered for it), when the watch ends
// with an error (its envelope is the last line), or at Drain, so that a
// graceful shutdown need not wait for it: the client resumes from its
// last revision (client.Store.Watch does so by itself). A stream asked
// for after Drain, or that Drain ends before it started, is refused 503
// unavailable (never 499 canceled, which would say the client gave up),
// so that the client opens it again elsewhere or later. One principal
// holds at most Config.MaxStreamsPerPrincipal streams (default 16) at
// once, and all principals together at most Config.MaxStreams (default
// 1024). A stream beyond the principal's bound is refused before its body
// is read with 429 too_many_streams (routes.ErrTooManyStreams, which also
// satisfies errors.Is storage.ErrUnavailable), not 503 unavailable: the
// server is up, and a client retrying at once would be refused again
// until one of the principal's streams ends. client.Store.Watch fails at
// once when the first stream of a watch is refused so, and keeps trying
// (as for an outage) when a resumed one is (the server may not yet have
// seen the broken stream end). A stream beyond the server-wide bound is
// 503 unavailable with a Retry-After: the server is full, not the
// principal at fault.
// The store (package sqlstore) reads the change log for the streams of
// every principal in turn, so that one principal's streams, however slow
// their reads, keep another's waiting for about one of their reads, not
// for all of them (TestHostileWatchReads). Transport.Stream is the client
// side.
//
// # Requests
//
// A storage request is checked in this order, and a refusal at any step
// reaches no store:
//
//  1. the path (404 unknown_route) and the method (405 method_not_allowed,
//     with an Allow header);
//  2. authentication (401 unauthenticated, with WWW-Authenticate: Bearer);
//  3. Content-Type must be application/json, with charset utf-8 if a
//     charset is given, and the body must not be sent with a content
//     coding such as gzip (415 unsupported_media_type, with
//     Accept-Encoding: identity). Requiring the type even for
//     an empty body means a browser cannot send a storage request from
//     another origin without a CORS preflight, which this server never
//     grants;
//  4. the body is read up to Config.MaxBodyBytes (default 32 MiB, twice the
//     engine's default maximum value size): a larger one is 413 too_large;
//     before it is read, the request takes its Content-Length (at least
//     4 KiB; MaxBodyBytes without one) out of Config.MaxBytesInFlight
//     (default 128 MiB, server-wide) and out of its principal's share of
//     it (Config.MaxBytesInFlightPerPrincipal, default a quarter) until
//     its response is written; when there is no room it waits up to
//     Config.Timeout, then is 503 unavailable with its body unread, so
//     concurrent large bodies cannot exhaust memory, nor one principal's
//     slow large bodies keep the others out;
//  5. unless it is a call on an open transaction (a transactionId, at the
//     top or in options), the request waits for its principal's turn:
//     one principal runs at most Config.MaxRequestsPerPrincipal requests
//     (default 4) in the store at once, the others waiting in the order
//     they came, so another principal's request waits behind at most
//     that many of them at SQLite's one writer or for a connection, not
//     behind all of them (a principal alone, a shared service account,
//     still has all its requests served, that many at a time); all
//     principals together run at most Config.MaxRequestsInStore (default
//     5, what SQLite serves at once) and the waiting requests are served
//     in turn across principals, the principal served least recently
//     first, so that many principals flooding at once keep another's
//     request waiting behind about that many, not behind all of theirs
//     (at most Config.MaxWritesInStore, default 3, of them writes, and
//     at most Config.MaxScansInStore, default 2, of them scans: list,
//     query and count, which may read a whole namespace for up to
//     Config.Timeout, and history, which reads the key's changes in the
//     log (a million at most), so that slow scans leave other principals' gets and
//     sets connections; and one createIndex or dropIndex, apart from the
//     writes, so that index builds of seconds leave other principals'
//     sets their places; Handler.Admit lets a server's other paths to the store, such as
//     cmd/storeserver's console, count under the same bounds); a request
//     leaves the store when the route returns, before its answer is
//     written, but keeps its principal's place until the answer is
//     written, so a client reading its answers slowly holds its own
//     places, not the store's; a request
//     still waiting after Config.Timeout is 503 unavailable, having
//     reached no store, and so is one of a principal that has
//     MaxWaitingPerPrincipal (256) waiting already;
//  6. the route runs with a context that ends after Config.Timeout
//     (default 30 s; a route that outlives it answers deadline_exceeded,
//     504), or for createIndex and dropIndex, whose builds and drops grow
//     with the namespace, after Config.IndexTimeout (default 10 minutes),
//     the response's write deadline moved past it (their wait for a turn
//     stays bounded by Config.Timeout; Drain cancels them).
//
// The route's envelope is sent with the HTTP status routes.HTTPStatus
// gives its error code (200 on success): malformed JSON, an unknown
// member or a member of the wrong type is 400 invalid_request, an unknown
// transaction ID 404 tx_not_found, a denied call 403 permission_denied,
// and so on (the table is in package routes). A route that fails outside
// its envelope, or panics, is 500 internal; the cause is logged, never
// sent. An error answers kilobytes whatever the request sent: an invalid
// key or namespace name of megabytes is named by its first bytes, and a
// message is cut at routes.MaxMessageBytes (TestHostileEchoedInput). Every response is application/json with Cache-Control: no-store.
//
// # Authentication
//
// Each storage request carries Authorization: Bearer TOKEN (the scheme in
// any letter case). Config.Auth maps the token to a principal, which goes
// into the request's context with security.WithPrincipal, so a
// security.Store behind the routes enforces that principal's grants and
// records it as the actor of writes. A missing, malformed or unknown token
// is refused before any store call. With Config.AllowAnonymous a request
// without an Authorization header runs with no principal (the security
// store then decides, see security.AllowAnonymous); a request with a token
// is still checked. /healthz and /readyz need no token: they reveal only
// whether the server and its store are up.
//
// Tokens builds an Authenticator from an auth file:
//
//	{"principals": [
//	  {"tokenSHA256": "<hex SHA-256 of the token>", "pkr": "alice-pk",
//	   "profiles": [{"name": "users-rw", "scopes": {"storage://namespace/users": "rw"}}]},
//	  {"token": "<the token itself, 16 bytes or more>", "pkr": "admin-pk",
//	   "attributes": {"name": "Admin"},
//	   "profiles": [{"name": "admin", "scopes": {"storage://namespace/*": "rw", "principal://*": "rw"}}]}
//	]}
//
// Each entry names one token, in plain text ("token") or, better, as its
// SHA-256 ("tokenSHA256", printf %s "$TOKEN" | sha256sum; HashToken); the
// principal's public key ("pkr"); and the profiles applied to it (scopes
// as in package security). A principal may have several entries, one per
// token; its grants are the union. The file is parsed strictly: unknown
// members, a duplicate token, an invalid PKR, scope or permission are
// errors. Only token hashes are kept in memory, and a presented token's
// hash is compared with every known hash in constant time. Tokens are read
// once: restart the server to change them.
//
// # Transport
//
// Transport POSTs each call to {base}/v1/storage/{op} with the bearer
// token and returns the envelope the server sent, error envelopes
// included: those are results, which the client turns into storage
// errors. Call returns a Go error only when no envelope came back (the
// connection failed, the context ended, the response was too large or was
// not an envelope, as from a proxy), naming the route, the URL and what
// arrived. It keeps connections alive (up to 64 idle) and never retries:
// a call whose answer was lost may or may not have taken effect.
package httpapi

// Command storeserver serves the storage routes over HTTP, on the embedded
// SQLite default or any DSN, with every call authorized for the caller's
// principal.
//
//	storeserver --auth auth.json                          # sqlite:storage.db on 127.0.0.1:8080
//	storeserver --dsn postgres://u@db/app --addr :8080 --auth /etc/storage/auth.json
//	STORAGE_DSN=sqlite:/var/lib/app.db storeserver --auth auth.json
//	storeserver --insecure-anonymous --dsn sqlite::memory: # local development only
//
//	curl -s -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
//	     -d '{"key":"u1","value":{"name":"Ada"},"options":{"namespace":"users"}}' \
//	     http://127.0.0.1:8080/v1/storage/set
//	{"success":true,"revision":3,"version":1,"createRevision":3}
//
// # Flags
//
//	--dsn DSN               sqlite:PATH, sqlite::memory: or postgres://…; default
//	                        $STORAGE_DSN, else sqlite:storage.db (cmd/migrate's default).
//	                        The store migrates the schema when it opens.
//	--direct-dsn DSN        PostgreSQL behind a connection pooler in transaction mode
//	                        (PgBouncer; give --dsn default_query_exec_mode=exec or the
//	                        like): the server's own address for the same database, for
//	                        the migrations' advisory lock and the watches' LISTEN, which
//	                        need a session of their own (sqlstore.WithDirectDSN; Open
//	                        checks both reach the same database and schema). Default
//	                        $STORAGE_DIRECT_DSN (for a PostgreSQL --dsn; a SQLite one
//	                        leaves it aside). Without it a --dsn that goes through
//	                        such a pooler is refused, exit 2.
//	--addr HOST:PORT        default 127.0.0.1:8080; port 0 picks a free port, and
//	                        the "listening" log record says which.
//	--auth FILE             the auth file (below); required unless --insecure-anonymous.
//	--insecure-anonymous    no authentication: every caller is the anonymous
//	                        principal with rw on storage://namespace/* and
//	                        principal://*. For local development only: anyone who
//	                        can reach the port can read and erase everything.
//	--max-body BYTES        largest request body (default 32 MiB): larger is 413 too_large.
//	--max-bytes-in-flight BYTES
//	                        most request body bytes held at once, server-wide
//	                        (default 128 MiB, at least --max-body): a request with no
//	                        room waits up to --timeout, then is 503 unavailable.
//	--max-bytes-in-flight-per-principal BYTES
//	                        most of those bytes one principal's requests hold at
//	                        once (default a quarter of --max-bytes-in-flight, at
//	                        least --max-body), so that one principal sending large
//	                        bodies slowly cannot keep the others out.
//	--timeout D             longest time one request may take (default 30s): the
//	                        request's context ends then (504 deadline_exceeded).
//	--index-timeout D       longest time one createIndex or dropIndex (or the
//	                        console's index forms) may take instead (default 10m, at
//	                        least --timeout): a build reads every entry of its
//	                        namespace, about a minute at 1M entries on SQLite, and
//	                        cut at --timeout it could never end on a large one.
//	                        The response's write deadline moves past it for them.
//	                        Their wait for a turn (one index operation at a time in
//	                        the store) stays bounded by --timeout, then is 503
//	                        unavailable: retry later. A client calling them must
//	                        allow as long (client.Store and httpapi.Transport set
//	                        no timeout of their own).
//	--shutdown-timeout D    how long in-flight requests may take to finish on
//	                        SIGINT/SIGTERM (default 15s).
//	--max-open-tx N, --tx-idle-timeout D
//	                        the engine's limits on open transactions (defaults 128
//	                        and 1m: a transaction idle that long is rolled back).
//	--no-console            do not serve the web console at /console/ (package
//	                        console; it is served only with --auth).
//	--console-secure-cookies
//	                        mark the console's cookies Secure on plain HTTP, for a
//	                        server behind a TLS-terminating proxy.
//	--trusted-proxy CIDR[,CIDR]
//	                        the reverse proxies in front of the server: CIDR
//	                        prefixes or single addresses, comma-separated,
//	                        repeatable (default none). The console's sign-in
//	                        throttle counts a request from one of them under
//	                        the rightmost address of its X-Forwarded-For that
//	                        is not a trusted proxy (the client the outermost
//	                        proxy saw; without the header, the proxy's own),
//	                        and a request from any other address under that
//	                        address, its X-Forwarded-For ignored: a client
//	                        cannot pick its allowance by writing one
//	                        (console.ForwardedClientAddr). Without it every
//	                        client behind a proxy shares the proxy's
//	                        allowance. Name only proxies that set the header
//	                        (append their peer's address to it). It does not
//	                        change --max-conns-per-ip, which counts
//	                        connections.
//	--max-tx-per-principal N
//	                        most transactions one principal may hold open (default 4);
//	                        beyond it beginTransaction is 429 too_many_tx.
//	--max-watches-per-principal N
//	                        most watch streams one principal may hold open (default
//	                        16); beyond it storage://watch is 429 too_many_streams
//	                        (routes.ErrTooManyStreams; the Go client's Watch fails
//	                        at once). A stream whose client does not take a line
//	                        within --timeout ends. The console's live tails have
//	                        the same bound, counted apart (429 beyond).
//	--max-watches N
//	                        most watch streams all principals together may hold
//	                        open (default 1024, at least --max-watches-per-principal);
//	                        beyond it storage://watch is 503 unavailable with a
//	                        Retry-After. The console's live tails have the same
//	                        bound, counted apart.
//	--watch-buffer-bytes BYTES
//	                        most event bytes the server holds for one watch
//	                        stream whose client reads slower than the writes come
//	                        (default 4 MiB; an event larger is held alone); the
//	                        stream then ends with watch_lagged, which carries the
//	                        revision to resume from (storage.ErrWatchLagged).
//	--tx-contended-idle-timeout D
//	                        a write transaction that runs nothing for this long
//	                        while another writer waits for it is rolled back
//	                        (default 2s): SQLite has one writer and PostgreSQL
//	                        writes take the store's revision lock, so an idle
//	                        transaction would stall every principal's writes
//	                        until --tx-idle-timeout. One that keeps running
//	                        operations holds them up to --tx-contended-max-hold.
//	--tx-contended-max-hold D
//	                        a transaction that has held SQLite's writer or
//	                        PostgreSQL's revision lock, or a connection
//	                        transactions may hold, this long while another
//	                        writer or a Begin waits for it is rolled back,
//	                        however busy (default 5s).
//	--max-requests-per-principal N
//	                        most storage requests one principal runs in the store at
//	                        once (default 4); one beyond waits for its turn, up to
//	                        --timeout, then is 503 unavailable. Another principal's
//	                        write then waits behind at most 4 of its requests at
//	                        SQLite's one writer (without the bound: behind all of
//	                        them, 5 s beside 64 large batches), and its reads find
//	                        a reader. Calls on an open transaction and watch streams
//	                        do not count (they have their own bounds). A single
//	                        principal, a shared service account, still gets all its
//	                        requests served, 4 at a time: raise it when one
//	                        principal alone uses a large PostgreSQL pool.
//	--max-requests-in-store N
//	                        most storage requests all principals run in the store
//	                        at once, counted as above, the console's pages too
//	                        (default 0: what the store serves at once, 5 on SQLite,
//	                        its 4 readers and writer, a quarter of the pool on
//	                        PostgreSQL, what transactions cannot hold, at least 5).
//	                        One beyond waits up to --timeout, then is 503; the
//	                        waiting ones are served in turn across principals, the
//	                        principal served least recently first, each principal's
//	                        in the order they came, so another principal's request
//	                        waits behind about N of them, not behind every flooding
//	                        principal's (16 principals with 4 large batches each:
//	                        0.3 s instead of 2 s on SQLite, 5 s on PostgreSQL). A
//	                        principal has at most 256 requests waiting; one beyond
//	                        is 503 at once.
//	--max-writes-in-store N most writes (every request but a read) among them
//	                        (default 3): one beyond waits while reads are served,
//	                        so that writes stuck at SQLite's one writer or
//	                        PostgreSQL's revision lock (behind a transaction, a
//	                        long CreateIndex) do not keep every read out.
//	--max-scans-in-store N  most scans (list, query, count, whose cost grows with
//	                        the namespace; history, with the key's changes in
//	                        the log) among them; one beyond waits while
//	                        other requests are served, so that slow scans do not
//	                        hold every connection and another principal's get
//	                        waits for none of them. 0 (default): 2 on SQLite (of
//	                        its 4 readers), half of --max-requests-in-store on
//	                        PostgreSQL, at least 2.
//	--tx-max-lifetime D     a transaction is rolled back this long after it began,
//	                        however busy it is (default 5m).
//	--pg-max-conns N        the PostgreSQL pool size when the DSN sets no
//	                        pool_max_conns (default 32). Transactions hold at most
//	                        three quarters of the pool (the rest always serves the
//	                        calls outside transactions); a beginTransaction that
//	                        finds them all taken waits, up to --timeout. Beside the
//	                        pool the store keeps two lanes of connections, for the
//	                        point reads and for the writes outside transactions
//	                        (each an eighth of the pool, at least 2; 4 each beside
//	                        32): the server opens up to N plus both lanes'.
//	--max-namespaces-per-principal N
//	                        most namespaces one principal may own, principal://PKR
//	                        and principal://PKR/namespace/… (default 10,000); a
//	                        createNamespace beyond, or a write that would create
//	                        a namespace beyond, is 507 capacity_exceeded and
//	                        creates nothing (security.MaxNamespacesPerPrincipal).
//	                        One principal's creates take turns, so the bound is
//	                        exact on one server; servers sharing a database may
//	                        each pass it by one racing create. Principals with
//	                        write on principal://* (operators) are not bound. 0:
//	                        no bound.
//	--max-entries-per-principal N
//	                        most entries the namespaces one principal owns may
//	                        hold together (default 0: no bound); a set or setMany
//	                        that could pass it is 507 capacity_exceeded and writes
//	                        nothing (security.MaxEntriesPerPrincipal). An overwrite
//	                        at the quota still goes; entries written in an open
//	                        transaction count. Exact on one server; servers sharing
//	                        a database may each pass it by up to 1,024 entries.
//	                        Principals with write on principal://* (operators) are
//	                        not bound.
//	--max-conns-per-ip N    most TCP connections one remote IP address may hold
//	                        open at once (default 256; loopback counts like any
//	                        other address; an IPv6 address counts by its /64);
//	                        one beyond is closed as soon as it is
//	                        accepted, before a byte is read or written
//	                        (httpapi.LimitConnsPerIP): the client sees the
//	                        connection closed or reset. Idle connections close
//	                        after 2 minutes, and one that sends no headers after
//	                        10 s. Behind a proxy every client has the proxy's
//	                        address: raise it there, or 0 for no bound.
//	--no-metrics            do not serve /metrics (below).
//	--otlp-endpoint URL     export traces to an OpenTelemetry collector (below);
//	                        default $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else
//	                        $OTEL_EXPORTER_OTLP_ENDPOINT; off when none is set.
//	--otlp-header KEY=VALUE header of the export requests (repeatable; also
//	                        $OTEL_EXPORTER_OTLP_HEADERS), e.g. Authorization.
//	--otlp-sample-ratio R   share of new traces recorded (default 1).
//	--otlp-queue-size N, --otlp-flush-interval D
//	                        most spans waiting for export (default 2048) and the
//	                        longest one waits (default 5s).
//	--log-format text|json, --log-level debug|info|warn|error
//	                        structured logs (log/slog) on stderr, one record per
//	                        request: method, path, route, principal, status, code,
//	                        duration. Tokens are never logged.
//	--version               print the build's version and exit.
//
// # Auth file
//
//	{"principals": [
//	  {"tokenSHA256": "<hex SHA-256 of the token>", "pkr": "alice-pk",
//	   "profiles": [{"name": "users-rw", "scopes": {"storage://namespace/users": "rw"}}]},
//	  {"token": "<the token, 16 bytes or more>", "pkr": "admin-pk",
//	   "profiles": [{"name": "admin", "scopes": {"storage://namespace/*": "rw", "principal://*": "rw"}}]}
//	]}
//
// Each entry gives a bearer token (prefer tokenSHA256, printf %s "$TOKEN" |
// sha256sum, so the file holds no secret), the principal's public key, and
// the profiles granted to it (scopes and permissions as in package
// security; every principal also owns its principal://{pkr} space). The
// file is read at start, strictly (an unknown member or an invalid scope
// stops the server); a warning is logged when other users may read it. See
// package httpapi for the details.
//
// SIGHUP reads the file again without a restart: from the next request the
// new tokens authenticate, the tokens it no longer holds do not, and every
// principal has the grants of the new profiles (a console session of a
// dropped principal keeps its cookie but no longer has any grant). A file
// that does not parse is logged ("auth file reload failed") and the last
// good one stays in force.
//
// # Minting tokens
//
//	storeserver token --pkr PKR [--scope SCOPE=PERM]... [--profile NAME] [--add FILE | --json]
//
// makes a random token (256 bits, base64url) and prints the auth file entry
// that grants it on stdout, holding only its SHA-256, and the token on
// stderr; give the token to the client. --add FILE appends the entry to the
// auth file instead (created with mode 0600 when missing, checked whole,
// replaced atomically) and prints only the token; then send the server
// SIGHUP:
//
//	TOKEN=$(storeserver token --pkr alice-pk --scope storage://namespace/users=rw --add auth.json)
//	kill -HUP "$(pidof storeserver)"
//
// # Metrics
//
// GET /metrics answers in the Prometheus text format (version 0.0.4), with
// no token: storage_http_requests_total and the histogram
// storage_http_request_duration_seconds by route (the operation, healthz,
// readyz or other) and code (ok or the error code),
// storage_http_requests_in_flight, storage_open_transactions, and the
// connection pools' storage_pool_connections{pool,state},
// storage_pool_max_connections, storage_pool_waits_total and
// storage_pool_wait_seconds_total (pool postgres and its lanes
// postgres_point_reads and postgres_writes, or sqlite_writer,
// sqlite_reader and sqlite_point_reader: every pool the store opens
// connections in). No metrics library is linked in (httpapi.Metrics writes
// the format). Keep the port from untrusted networks or use --no-metrics:
// the figures tell how busy the server is, never what it stores.
//
// # Traces
//
// With an OTLP endpoint the server exports OpenTelemetry traces over
// OTLP/HTTP in the JSON encoding (POST {endpoint}/v1/traces; a
// $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is the full URL, used as it is):
//
//	storeserver --auth auth.json --otlp-endpoint http://otel-collector:4318
//	OTEL_EXPORTER_OTLP_ENDPOINT=https://collector.example OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer%20$KEY" \
//	    storeserver --auth auth.json
//
// Each request is a server span named "{METHOD} {route}" (POST
// /v1/storage/set; the console's are /console/*; /healthz, /readyz and
// /metrics are not traced) with http.request.method, http.route and
// http.response.status_code; a 5xx is an Error status. A request carrying
// a valid W3C traceparent header joins the caller's trace, as a child of
// its span, sampled as the caller decided; an invalid one is ignored (a
// new trace, sampled by --otlp-sample-ratio). Each storage operation the
// request makes is a client span "storage.{op}" under it, from package
// observe's hooks, with the attributes observe/otelobserve records by
// default: db.operation.name, db.system.name, storage.namespace,
// db.operation.batch.size, storage.tx.id, storage.rows, error.type. A
// refused or failed operation (not a get of a missing key) has status
// Error with its error type as the message. Keys, values, metadata, URLs'
// paths, headers and tokens are never exported (an error's text names the
// key, so it is left out too). The resource is service.name
// ($OTEL_SERVICE_NAME, default storeserver) and service.version (the
// module version of the build).
//
// Ended spans wait in a bounded queue (--otlp-queue-size) and are sent in
// batches every --otlp-flush-interval and at shutdown, after the last
// request; a full queue drops spans rather than slow requests. Export
// errors are logged at most once a minute, never retried, and counted in
// /metrics: storage_otlp_spans_exported_total,
// storage_otlp_spans_dropped_total{reason="queue_full"|"export_failed"},
// storage_otlp_export_errors_total. Only the JSON encoding over HTTP is
// spoken ($OTEL_EXPORTER_OTLP_PROTOCOL is not read): collectors accept it
// on their OTLP/HTTP port, 4318. The exporter is written on the standard
// library (internal/otlp), so the module has no telemetry dependency and
// go install …/cmd/storeserver@latest keeps working. Programs that embed
// the engine get spans and metrics of its operations from package
// observe/otelobserve (a module of its own) instead.
//
// # Endpoints and status codes
//
//	POST /v1/storage/{op}   the route storage://{op}; JSON body in, envelope out
//	GET  /healthz           200 while the process serves (no token needed)
//	GET  /readyz            200 when the store answers Status healthy, else 503;
//	                        503 from the moment shutdown begins (no token needed)
//	     /console/          the web console (package console): sign in with a
//	                        token of the auth file; it acts as that principal
//	GET  /metrics           Prometheus text format (below; no token needed)
//
// 200 success; 400 invalid_request (malformed JSON, wrong member types, an
// unknown member) and the validation codes (invalid_key, invalid_value, …);
// 401 unauthenticated (missing or unknown token); 403 permission_denied;
// 404 unknown_route, not_found, tx_not_found; 405 method_not_allowed; 409
// conflicts; 413 too_large; 415 unsupported_media_type; 500 internal; 503
// closed or unavailable; 504 deadline_exceeded. The full table is package
// routes' HTTPStatus.
//
// # Transactions and shutdown
//
// beginTransaction returns a transactionId; later requests pass it in
// options.transactionId, and commit or rollback end it. It belongs to the
// principal that began it, and beginning one needs the scope
// storage://transactions in the auth file (r: read-only, w: read-write;
// administrators holding storage://namespace/* and principal://* have it):
// a transaction holds a database connection, on SQLite a read-write one
// holds the only writer, and on PostgreSQL one that has written holds the
// store's revision lock, until it ends: every other principal's writes wait
// for it. A transaction left open is rolled
// back after --tx-idle-timeout, --tx-max-lifetime after it began whatever
// its activity, or at shutdown.
//
// On SIGINT or SIGTERM the server drains: /readyz turns 503, the listener
// closes, idle connections close, and in-flight requests get
// --shutdown-timeout to finish. Then the store is closed, which rolls back
// every transaction still open: a write made in a transaction nobody
// committed is never visible after a restart. A second signal kills the
// process at once. A request still running when the shutdown timeout ends
// has its connection closed (exit status 1). An index build or drop in
// flight (it may take up to --index-timeout, longer than
// --shutdown-timeout) is cancelled as the server drains, and answered 503
// unavailable: the engine deletes what a build wrote (no index is
// declared, nothing of it stays) or finishes a drop it had begun, before
// the store closes; the client retries once the server is back.
//
// At start the server reads the auth file, binds --addr, then opens the
// store (applying pending migrations), then serves: an address that
// cannot be listened on (in use) fails before the database is touched. A
// database that cannot be reached is one log line naming it (the file, or
// the server's host, port and database; never the user or password) and
// why, wrapping the library's sentinel (storage.ErrUnavailable, …).
//
// Exit status: 0 after a clean shutdown (130 when SIGINT, Ctrl-C at a
// terminal, asked for it), 1 on a failure (the auth file,
// the listener, the database, or a shutdown that had to cut requests off),
// 2 on a usage error: a flag, or a DSN that does not parse or whose
// parameters the store refuses (as for migrate and store).
package main

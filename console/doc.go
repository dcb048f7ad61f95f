// Package console is a web console for a store, served by cmd/storeserver
// at /console/: namespaces, entries, editing, queries, status and export,
// for people who run a store and want to look inside without writing code.
//
//	tokens, err := httpapi.LoadAuthFile("auth.json")
//	sec := security.NewStore(inner, tokens.Policy())
//	con, err := console.New(console.Config{Store: sec, Auth: tokens,
//		OpenTransactions: inner.OpenTransactions})
//	mux := http.NewServeMux()
//	mux.Handle(console.Prefix, con)
//	mux.Handle("/", api) // the httpapi.Handler
//
// # Pages
//
//	/console/signin             sign in with a bearer token of the auth file
//	/console/namespaces         the namespaces the principal may read: entry
//	                            count, declared indexes, owner, creation time;
//	                            create (with indexes), delete (confirmation page
//	                            naming the entry count and first keys; the name
//	                            must be typed), export, query; add and drop
//	                            indexes when the store is a storage.Indexer
//	/console/entries?ns=&prefix=&after=
//	                            a namespace's entries by key prefix, in key
//	                            order, paged by key (after: the last key of
//	                            the previous page), each with
//	                            version, times, audit actors and a preview
//	                            of its value (at most PageBytes of values
//	                            a page: see Bounds)
//	/console/entry?ns=&key=     one entry: value pretty-printed, metadata,
//	                            system fields; edit and delete (a value
//	                            over InlineValueBytes: a preview and a
//	                            download, no edit form)
//	/console/entry/download?ns=&key=&what=
//	                            the entry's value (what=metadata: its
//	                            metadata) as a JSON file, as stored
//	/console/query              a filter (the JSON form, or builder rows of
//	                            field / operator / value combined with "and"),
//	                            a sort field, a limit; the matches and their count
//	/console/status             health, dialect, schema version, capacity; size,
//	                            namespaces and open transactions for principals
//	                            that read everything; a live tail of changes
//	/console/status/changes     the live tail: server-sent events, one "change"
//	                            (type, namespace, key, revision, version, time;
//	                            no value) per change the principal may read
//	                            (storage.Watcher), its id the revision, so a
//	                            reconnecting browser resumes with
//	                            Last-Event-ID; no timeout, but a change the
//	                            browser does not take within Config.Timeout
//	                            ends it; ended by Drain, and when its
//	                            session ends (sign-out, expiry: an "error"
//	                            event says so, and the page stops); at most
//	                            Config.MaxTailsPerPrincipal at once per
//	                            principal (429 beyond)
//	/console/export?ns=         the namespace as NDJSON in the dump format
//
// # Bounds
//
// What one page costs does not grow with what principals store, so that
// a principal who stores large values cannot make another's page views
// (an administrator's) exhaust the server's memory:
//
//   - The entry page shows a value or metadata of at most
//     InlineValueBytes (256 KiB of stored JSON) whole, pretty-printed once
//     for the page (indented only while that stays under 1 MiB: a value
//     nested a thousand deep would grow by its depth on every line, a
//     122 KB one to 220 MB; past it, it is shown as stored), and offers
//     it for editing. A larger one is shown as its first
//     ValuePreviewBytes (16 KiB) as stored, with its size and a link to
//     /console/entry/download, and the page has no edit form: download
//     the value and write it through the API. The download is read as
//     the principal, as every page is (a principal that may not read the
//     entry gets 403, as on its page), and written as read, neither copied
//     nor formatted, as an export is: each chunk of 256 KiB to be taken
//     within Config.Timeout, the whole within ten times it, whatever the
//     server's WriteTimeout. The delete confirmation and the conflict page show
//     values the same way. One view of the page of a 3 MiB value
//     allocated 238 MiB; it allocates 3.5 MiB on SQLite, 8 on PostgreSQL
//     (the store's read), under a bound of 16 (TestEntryPageLargeValue).
//   - The entries and query pages show each value as a preview (80
//     characters, and its size when over 1 KiB) and read at most
//     PageBytes (4 MiB) of keys, values and metadata a page, as
//     routes.AnswerBytes bounds an API answer. The store cannot tell an
//     entry's size before it reads the entry, so a page reads its
//     entries one at a time and stops at the entry that reaches
//     PageBytes, whatever the sizes of those after it: the entries page
//     lists PagePart (16) keys at a time and reads each key's entry with
//     a Get; the query page runs one query per match (Limit 1 after the
//     previous match's cursor; the store reads one match ahead). The page
//     then shows fewer entries than its limit, says so, and its next page
//     goes on from there. A page holds one value at once (a row keeps
//     its preview, not its value), and reads at most PageBytes and one
//     entry past it (the query page two: the one ahead), at worst 16 MiB
//     each (the store's largest value by default). Before, a page read
//     in parts of 16 entries and checked PageBytes between parts, so
//     that a part after small values read 16 of the largest, 256 MiB.
//     A page of 500 entries of 1 MiB read 500 MiB; it reads 4
//     (TestPageBytesBounded: 4.2 MiB allocated on SQLite, 8.3 for the
//     query page; TestPageBoundWithinPart: small values, then large).
//     The entries page's next page goes on after a key (its "after"
//     parameter is the last key read): a key present from the first page
//     to the last is shown exactly once, whatever is written meanwhile,
//     and a key listed but gone when its entry is read is passed over.
//     The query page's queries each cost what the filter and sort cost
//     (a sort on a field without an index sorts the matches every time),
//     so it also stops once they ran PageReadTime (2 s), after at least
//     one match, says so, and goes on on the next page: a page costs
//     about PageReadTime and one query, not one query per row of its
//     limit, and Config.Timeout still bounds the whole request.
//   - Sign-in is throttled per client address (Config.ClientAddr; the
//     connection's remote IP address by default, IPv6 by its /64), with
//     a token bucket: DefaultSigninBurst (10) tries at once, one more
//     every DefaultSigninEvery (6 s); a sign-in that works gives its try
//     back, so only failures count. Past them the form answers 429 with
//     Retry-After, without looking at the token, whatever it is. The
//     throttle remembers at most DefaultSigninAddrs (10,000) addresses:
//     those whose tries are all back are forgotten, and while none is,
//     new addresses share one allowance. Config.SigninBurst,
//     SigninEvery and SigninAddrs change them. Behind a reverse proxy
//     every client has the proxy's address: give a ClientAddr that reads
//     the proxy's header (its first 64 bytes count), such as
//     ForwardedClientAddr(the proxies' prefixes) (storeserver's
//     --trusted-proxy): the rightmost address of X-Forwarded-For that is
//     not a trusted proxy, on a connection from a trusted proxy only; a
//     request from any other address counts under that address, its
//     header ignored, so that no client picks its own allowance.
//
// # Choices
//
//   - The console acts as the signed-in principal: every store call carries
//     it (security.WithPrincipal), and the store it is given decides. It
//     never filters or checks grants itself, so a principal sees in the
//     console exactly what it would see through the API. Give it an
//     authorizing store (security.NewStore).
//   - Sign-in takes the server's own bearer tokens. A session is an
//     in-memory random ID in a cookie (HttpOnly, SameSite=Strict, Path
//     /console/, Secure over TLS or with Config.SecureCookies); it ends on
//     sign-out, after Config.SessionIdle unused (30 min) or
//     Config.SessionMax (12 h), and when the server restarts; a
//     principal holds at most Config.MaxSessionsPerPrincipal (100), its
//     least recently used ended by a sign-in beyond, so that one token
//     cannot fill Config.MaxSessions. Sessions live
//     in the process: behind a load balancer, send a browser to the same
//     server (sticky sessions). The token is never written into a page, a
//     cookie or a log.
//   - Every state-changing request is a POST that must carry the session's
//     CSRF token in a hidden field (the sign-in form a double-submit token
//     in a cookie of its own) and must not come from another site
//     (Sec-Fetch-Site and Origin, when the browser sends them). Reads are
//     GETs and change nothing, so a query's address can be kept.
//   - Every response carries ContentSecurityPolicy: scripts and styles come
//     only from the console's embedded files, never inline; nothing may
//     frame it. Pages are html/template: every key, value and metadata is
//     escaped for where it lands. Pages are not cached (no-store).
//   - Server-rendered, and usable without JavaScript: the one script keeps
//     the query page's JSON in step with the builder rows.
//   - Saving an edited entry is a compare-and-swap on the entry the form
//     was loaded with: on its revision (storage.IfRevision), which the
//     entry created again after an expiry or a delete never has, though
//     its version starts again at 1; a new entry is create-only
//     (storage.NoOverwrite). When the entry moved on, nothing is written:
//     the page shows the stored version beside the typed text, and saving
//     again is a deliberate overwrite of the version now shown. A delete is
//     likewise of the confirmed version only.
//   - The entries page reads each entry with one Get and its audit
//     actors with one GetMetadata (a page is at most MaxPageSize
//     entries; see Bounds); an export reads the actors the same way
//     (dump.ExportStore). An export runs for up to
//     ten times Config.Timeout: a principal runs one at a time, and the
//     console Config.MaxExports (default 2) at once; one beyond is 503
//     (a principal's second, 429).
//     Its response's write deadline follows the export rather than the
//     server's WriteTimeout (which runs from the request's start and
//     would cut a long download, the file without its trailer): each
//     chunk of 256 KiB must be taken by the client within Config.Timeout.
//     A browser that downloads slowly but steadily gets the whole file
//     within the export's bound; one that stops reading is cut after
//     Config.Timeout, its export's place and transaction given back.
//   - Creating or dropping an index runs for up to Config.IndexTimeout
//     (default 10 minutes; a build reads every entry of its namespace),
//     one at a time in the store with the API's (Config.AdmitIndex), and
//     is cancelled at Drain (the engine deletes what a build wrote).
//   - Errors show the store's message with the HTTP status the routes give
//     its code (403 denied, 404 missing, 409 conflict, 400 invalid); an
//     internal error is logged and shown without detail.
package console

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/console"
	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/internal/cmdline"
	"github.com/mycelia-kernel/storage/internal/otlp"
	"github.com/mycelia-kernel/storage/observe"
	"github.com/mycelia-kernel/storage/routes"
	"github.com/mycelia-kernel/storage/security"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// Defaults of the flags.
const (
	// DefaultDSN is cmd/migrate's default: a SQLite file in the working
	// directory.
	DefaultDSN             = "sqlite:storage.db"
	DefaultAddr            = "127.0.0.1:8080"
	DefaultShutdownTimeout = 15 * time.Second
	// DefaultTxPerPrincipal is how many transactions one principal may
	// hold open at once.
	DefaultTxPerPrincipal = 4
	// DefaultTxMaxLifetime is the longest a transaction may stay open,
	// however busy.
	DefaultTxMaxLifetime = 5 * time.Minute
	// DefaultPGMaxConns is the PostgreSQL pool size when the DSN does not
	// set pool_max_conns (pgx's own default, max(4, CPUs), is a client's).
	DefaultPGMaxConns = 32
	// DefaultWatchBufferBytes is how many bytes of events the engine holds
	// for one watch stream whose client reads slower than the writes come
	// (sqlstore.WithWatchBufferBytes; the engine's own default, 64 MiB, is
	// an embedded caller's): with DefaultMaxStreamsPerPrincipal streams,
	// one principal's stalled streams hold at most 64 MiB.
	DefaultWatchBufferBytes = 4 << 20
	// DefaultTxContendedIdle is how long a write transaction may run
	// nothing while it keeps another writer waiting
	// (sqlstore.WithTxContendedIdleTimeout): SQLite has one writer, and
	// PostgreSQL writes take the store's revision lock, so one principal's
	// idle transaction would stall every other principal's writes until
	// --tx-idle-timeout.
	DefaultTxContendedIdle = 2 * time.Second
	// DefaultTxContendedMaxHold is how long a transaction may hold what
	// others wait for while one waits, however busy it is
	// (sqlstore.WithTxContendedMaxHold): a write transaction the store's
	// writer or revision lock, any transaction its connection: one that
	// keeps running operations is never idle, so without it only
	// --tx-max-lifetime would end one principal's stall of every other's
	// writes, or of every other's Begin.
	DefaultTxContendedMaxHold = 5 * time.Second
	// readHeaderTimeout bounds the time a client may take to send a
	// request's headers (slowloris).
	readHeaderTimeout = 10 * time.Second
	// writeSlack is how much longer a response may take to be written
	// than the three --timeout a request may take: waiting for room for
	// its body (--max-bytes-in-flight), for its turn
	// (--max-requests-per-principal), then running. The handlers move the
	// write deadline of an index build or drop past --index-timeout
	// (httpapi.Config.IndexTimeout), and lift it for streams.
	writeSlack  = 10 * time.Second
	idleTimeout = 2 * time.Minute
)

func main() {
	// After the first signal, a second one kills the process at once.
	ctx, sig := cmdline.NotifySignals(context.Background())
	code := run(ctx, os.Args[1:], os.Stderr, os.Getenv)
	sig.Stop()
	if code == exitOK && sig.Received() == os.Interrupt {
		code = 130 // Ctrl-C at a terminal: 128 + SIGINT, as terminal tools do
	}
	// A signal is how a server stops: a failure after one (a shutdown that
	// cut requests off) keeps its status, 1, not 128 plus the signal's.
	os.Exit(code)
}

// options are the parsed flags.
type options struct {
	dsn             string
	directDSN       string // --direct-dsn: the server's own address when dsn goes through a pooler
	addr            string
	authFile        string
	anonymous       bool
	maxBody         int64
	maxInFlight     int64
	maxInFlightPrin int64
	timeout         time.Duration
	indexTimeout    time.Duration
	shutdownTimeout time.Duration
	maxOpenTx       int
	txIdleTimeout   time.Duration
	txPerPrincipal  int
	watchesPerPrin  int
	maxWatches      int
	watchBuffer     int64
	txContendedIdle time.Duration
	txMaxHold       time.Duration
	requestsPerPrin int
	requestsInStore int
	writesInStore   int
	scansInStore    int
	txMaxLifetime   time.Duration
	pgMaxConns      int
	maxNamespaces   int
	maxEntries      int64
	connsPerIP      int
	logFormat       string
	logLevel        string
	version         bool
	noConsole       bool
	secureCookies   bool
	trustedProxies  proxyFlags
	noMetrics       bool
	otlpEndpoint    string
	otlpHeaders     headerFlags
	otlpRatio       float64
	otlpQueue       int
	otlpFlush       time.Duration
	tracing         tracing // resolved from the otlp flags and the environment
}

func newFlagSet(o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("storeserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.dsn, "dsn", "", "database `DSN`: sqlite:PATH, sqlite::memory: or postgres://… (default $STORAGE_DSN, else "+DefaultDSN+")")
	fs.StringVar(&o.directDSN, "direct-dsn", "", "PostgreSQL: a `DSN` that reaches --dsn's database without the connection pooler (PgBouncer in\n"+
		"transaction mode) --dsn goes through, for the migrations and the watches' LISTEN (sqlstore.WithDirectDSN;\n"+
		"default $STORAGE_DIRECT_DSN)")
	fs.StringVar(&o.addr, "addr", DefaultAddr, "`HOST:PORT` to listen on (port 0 picks a free port; the log says which)")
	fs.StringVar(&o.authFile, "auth", "", "auth `FILE`: the principals, their bearer tokens and profiles (JSON; see the package documentation)")
	fs.BoolVar(&o.anonymous, "insecure-anonymous", false, "serve without authentication: every caller is anonymous with full rights.\nFOR LOCAL DEVELOPMENT ONLY; excludes --auth")
	fs.Int64Var(&o.maxBody, "max-body", httpapi.DefaultMaxBodyBytes, "largest request body in `BYTES`")
	fs.Int64Var(&o.maxInFlight, "max-bytes-in-flight", httpapi.DefaultMaxBytesInFlight, "most request body `BYTES` held at once, server-wide (at least --max-body);\na request beyond waits up to --timeout, then is 503 unavailable")
	fs.Int64Var(&o.maxInFlightPrin, "max-bytes-in-flight-per-principal", 0, "most request body `BYTES` one principal's requests hold at once\n(0: a quarter of --max-bytes-in-flight; at least --max-body)")
	fs.DurationVar(&o.timeout, "timeout", httpapi.DefaultTimeout, "longest time one request may take (index builds and drops: --index-timeout)")
	fs.DurationVar(&o.indexTimeout, "index-timeout", httpapi.DefaultIndexTimeout, "longest time one index build or drop (createIndex, dropIndex, the console's index forms)\nmay take, at least --timeout: a build reads every entry of its namespace (about a minute\nat 1M entries on SQLite). Their wait for a turn stays bounded by --timeout; at shutdown\nthe ones in flight are cancelled (a build leaves nothing behind) and answered 503 unavailable")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", DefaultShutdownTimeout, "on SIGINT/SIGTERM, how long in-flight requests may take to finish")
	fs.IntVar(&o.maxOpenTx, "max-open-tx", 0, "most transactions open at once (0: the engine's default, 128)")
	fs.DurationVar(&o.txIdleTimeout, "tx-idle-timeout", 0, "roll back a transaction idle this long (0: the engine's default, 1m)")
	fs.BoolVar(&o.noConsole, "no-console", false, "do not serve the web console at "+console.Prefix)
	fs.BoolVar(&o.noMetrics, "no-metrics", false, "do not serve "+httpapi.MetricsPath+" (request counts and latencies, open transactions, pool figures;\nPrometheus text format, without authentication)")
	fs.BoolVar(&o.secureCookies, "console-secure-cookies", false, "mark the console's cookies Secure (behind a TLS-terminating proxy)")
	fs.Var(&o.trustedProxies, "trusted-proxy", "the reverse proxies in front of the server, `CIDR[,CIDR]` (an address alone: that one; repeatable):\non a connection from one of them the console's sign-in throttle counts a client under the rightmost\naddress of X-Forwarded-For that is not a trusted proxy; from any other address the header is ignored")
	fs.IntVar(&o.txPerPrincipal, "max-tx-per-principal", DefaultTxPerPrincipal, "most transactions one principal may hold open at once")
	fs.IntVar(&o.watchesPerPrin, "max-watches-per-principal", httpapi.DefaultMaxStreamsPerPrincipal, "most watch streams one principal may hold open at once;\none beyond is 429 too_many_streams (and a live tail of the console beyond, 429)")
	fs.IntVar(&o.maxWatches, "max-watches", httpapi.DefaultMaxStreams, "most watch streams all principals together may hold open at once, and as many\nconsole live tails (at least --max-watches-per-principal); one beyond is 503 with a Retry-After")
	fs.Int64Var(&o.watchBuffer, "watch-buffer-bytes", DefaultWatchBufferBytes, "most event `BYTES` the server holds for one watch stream whose client reads\nslower than the writes come; beyond, the stream ends with watch_lagged, which carries the revision to resume from")
	fs.DurationVar(&o.txMaxHold, "tx-contended-max-hold", DefaultTxContendedMaxHold, "roll back a transaction that has held SQLite's writer or PostgreSQL's revision\nlock, or a connection transactions may hold, this long while another writer or\nBegin waits for it, however busy")
	fs.DurationVar(&o.txContendedIdle, "tx-contended-idle-timeout", DefaultTxContendedIdle, "roll back a write transaction idle this long while another writer waits for it\n(SQLite's one writer, PostgreSQL's revision lock)")
	fs.IntVar(&o.requestsPerPrin, "max-requests-per-principal", httpapi.DefaultMaxRequestsPerPrincipal, "most storage requests one principal runs in the store at once (calls on its open\ntransactions and watch streams apart); one beyond waits for its turn up to --timeout,\nthen is 503 unavailable. The default keeps another principal's write behind at most\nthat many of its requests at SQLite's one writer, and its reads clear of SQLite's 4 readers;\nraise it when one principal alone uses a large PostgreSQL pool (--pg-max-conns)")
	fs.IntVar(&o.requestsInStore, "max-requests-in-store", 0, "most storage requests all principals run in the store at once (counted as under\n--max-requests-per-principal; the console's pages count too); one beyond waits, and the\nwaiting ones are served in turn across principals, the principal served least recently\nfirst, so that another principal's request waits behind about this many, not behind every\nflooding principal's. 0 means what the store serves at once: 5 on SQLite (4 readers, one\nwriter), a quarter of the pool on PostgreSQL (what transactions cannot hold; 8 by default)\nbut at least 5")
	fs.IntVar(&o.writesInStore, "max-writes-in-store", httpapi.DefaultMaxWritesInStore, "most writes (every request but a read) among --max-requests-in-store: one beyond\nwaits while reads are served, so that writes stuck at SQLite's one writer or PostgreSQL's\nrevision lock (behind a transaction, a long CreateIndex) do not keep every read out")
	fs.IntVar(&o.scansInStore, "max-scans-in-store", 0, "most scans (list, query, count: their cost grows with the namespace; history:\nwith the key's changes in the log) among\n--max-requests-in-store: one beyond waits while other requests are served, so that\nslow scans do not hold every connection. 0 means 2 on SQLite (of its 4 readers),\nhalf of --max-requests-in-store on PostgreSQL but at least 2")
	fs.DurationVar(&o.txMaxLifetime, "tx-max-lifetime", DefaultTxMaxLifetime, "roll back a transaction this long after it began, however busy")
	fs.IntVar(&o.pgMaxConns, "pg-max-conns", DefaultPGMaxConns, "PostgreSQL connection pool size, when the DSN sets no pool_max_conns;\ntransactions may hold three quarters of the pool, the rest serves other calls;\nbeside it the store keeps two lanes (point reads, writes) of an eighth of it each,\nat least 2: up to N plus both lanes' connections are opened")
	fs.IntVar(&o.maxNamespaces, "max-namespaces-per-principal", security.DefaultMaxNamespacesPerPrincipal, "most namespaces one principal may own (principal://PKR and principal://PKR/namespace/…);\na createNamespace beyond, or a write that would create one, is 507 capacity_exceeded. Principals with write on principal://*\n(operators) are not bound. 0: no bound")
	fs.Int64Var(&o.maxEntries, "max-entries-per-principal", 0, "most entries the namespaces one principal owns may hold together; a set or setMany\nthat could pass it is 507 capacity_exceeded and writes nothing (an overwrite at the quota\nstill goes). Principals with write on principal://* (operators) are not bound. 0: no bound")
	fs.IntVar(&o.connsPerIP, "max-conns-per-ip", httpapi.DefaultMaxConnsPerIP, "most TCP connections one remote IP address (IPv6: one /64) may hold open at once (loopback too);\none beyond is closed as soon as it is accepted. Behind a proxy every client has the\nproxy's address: raise it or use 0 (no bound)")
	fs.StringVar(&o.otlpEndpoint, "otlp-endpoint", "", "export traces to the OpenTelemetry collector at `URL` (OTLP/HTTP, JSON; /v1/traces is appended);\ndefault $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else $OTEL_EXPORTER_OTLP_ENDPOINT; off when none is set")
	fs.Var(&o.otlpHeaders, "otlp-header", "add `KEY=VALUE` to the trace export requests (authentication; repeatable; also $OTEL_EXPORTER_OTLP_HEADERS)")
	fs.Float64Var(&o.otlpRatio, "otlp-sample-ratio", 1, "share of new traces recorded, 0 to 1 (a caller's traceparent decides for its trace)")
	fs.IntVar(&o.otlpQueue, "otlp-queue-size", otlp.DefaultQueueSize, "most spans waiting for export; beyond, spans are dropped (and counted in /metrics)")
	fs.DurationVar(&o.otlpFlush, "otlp-flush-interval", otlp.DefaultFlushInterval, "longest a span waits before it is exported")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format on stderr: text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "least log level: debug, info, warn or error")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.Usage = func() {} // run prints the help for -h, a short line for a mistake
	return fs
}

// printHelp writes the whole help.
func printHelp(fs *flag.FlagSet) {
	{
		fmt.Fprint(fs.Output(), `Usage: storeserver [flags]
       storeserver token --pkr PKR [--scope SCOPE=PERM]... [--add FILE]

Serves the storage routes over HTTP: POST /v1/storage/{op} with a JSON body
is the route storage://{op}; GET /healthz and /readyz report liveness and
readiness. Every storage request needs Authorization: Bearer TOKEN with a
token from the --auth file, unless --insecure-anonymous.

Flags:
`)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), `
Environment:
  STORAGE_DSN   the DSN when --dsn is not given
  STORAGE_DIRECT_DSN
                the direct DSN when --direct-dsn is not given
  OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
  OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_TRACES_HEADERS, OTEL_SERVICE_NAME
                trace export, when --otlp-endpoint and --otlp-header are not given

GET /metrics reports request counts and latencies by route and code, open
transactions and pool figures in the Prometheus text format (--no-metrics
turns it off). With an OTLP endpoint, each request is a trace span (joining
the caller's trace when it sends a W3C traceparent) with a child span per
storage operation; keys, values and tokens are never exported. SIGHUP reads the --auth file again without a restart; a file
that does not parse leaves the last good one in force.

storeserver token mints a bearer token and prints its auth file entry
(storeserver token -h).

Auth file (--auth), JSON:
  {"principals": [
    {"tokenSHA256": "<hex SHA-256 of the token>", "pkr": "alice-pk",
     "profiles": [{"name": "users", "scopes": {"storage://namespace/users": "rw",
                                               "storage://transactions": "rw"}}]},
    {"token": "<16 bytes or more>", "pkr": "admin-pk",
     "profiles": [{"name": "admin", "scopes": {"storage://namespace/*": "rw", "principal://*": "rw"}}]}]}

SIGINT or SIGTERM stops the server gracefully: it stops accepting
connections, lets in-flight requests finish (--shutdown-timeout), then closes
the store, which rolls back every open transaction. A second signal kills it.

Exit status: 0 after a clean shutdown, 1 on failure (the auth file; the
address cannot be listened on, which is checked before the store is opened
and migrated; the database cannot be reached; or in-flight requests had to
be cut off), 2 on a usage error (a flag, or a DSN that does not parse or
whose parameters are refused); 130 after a graceful stop on SIGINT (Ctrl-C).
`)
	}
}

// run is the whole program; it returns the exit code. It serves until ctx
// ends.
func run(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) int {
	if len(args) > 0 && args[0] == "token" {
		return runToken(args[1:], os.Stdout, stderr)
	}
	var o options
	fs := newFlagSet(&o, stderr)
	if err := fs.Parse(args); err != nil {
		return cmdline.ParseFailed(err, fs, func() { printHelp(fs) }, "usage: storeserver [flags]; storeserver -h for help")
	}
	if o.version {
		fmt.Fprintln(os.Stdout, cmdline.Version("storeserver"))
		return exitOK
	}
	if err := o.check(fs.Args()); err != nil {
		fmt.Fprintf(stderr, "storeserver: %v\nusage: storeserver [flags]; storeserver -h for help\n", err)
		return exitUsage
	}
	tr, err := o.resolveTracing(getenv)
	switch {
	case err != nil || tr.url == "":
	case o.otlpQueue <= 0:
		err = fmt.Errorf("--otlp-queue-size %d: want a positive number", o.otlpQueue)
	case o.otlpFlush <= 0:
		err = fmt.Errorf("--otlp-flush-interval %v: want a positive duration", o.otlpFlush)
	}
	if err != nil {
		fmt.Fprintf(stderr, "storeserver: %v\nusage: storeserver [flags]; storeserver -h for help\n", err)
		return exitUsage
	}
	o.tracing = tr
	o.dsn, _ = cmdline.DSN(o.dsn, getenv)
	o.directDSN = cmdline.DirectDSN(o.directDSN, o.dsn, getenv)
	// A DSN that does not parse is a usage error, as for migrate and
	// store, found before anything is opened.
	if _, err := dialect.ParseDSN(o.dsn); err != nil {
		fmt.Fprintf(stderr, "storeserver: %v\nusage: storeserver [flags]; storeserver -h for help\n", err)
		return exitUsage
	}
	log := newLogger(stderr, o.logFormat, o.logLevel)
	if err := serve(ctx, o, log); err != nil {
		log.Error("storeserver failed", "error", err)
		if errors.Is(err, storage.ErrInvalidOption) {
			return exitUsage // a DSN parameter sqlstore.Open refuses
		}
		return exitFailure
	}
	return exitOK
}

// check validates the flags.
func (o *options) check(rest []string) error {
	switch {
	case len(rest) > 0:
		return fmt.Errorf("unexpected argument %q", rest[0])
	case o.authFile == "" && !o.anonymous:
		return errors.New("--auth FILE is required (or --insecure-anonymous for local development)")
	case o.authFile != "" && o.anonymous:
		return errors.New("--auth and --insecure-anonymous exclude each other")
	case o.maxBody <= 0:
		return fmt.Errorf("--max-body %d: want a positive number of bytes", o.maxBody)
	case o.maxInFlight < o.maxBody:
		return fmt.Errorf("--max-bytes-in-flight %d: want at least --max-body (%d)", o.maxInFlight, o.maxBody)
	case o.maxInFlightPrin < 0:
		return fmt.Errorf("--max-bytes-in-flight-per-principal %d: want 0 or more", o.maxInFlightPrin)
	case o.timeout <= 0:
		return fmt.Errorf("--timeout %v: want a positive duration", o.timeout)
	case o.indexTimeout < o.timeout:
		return fmt.Errorf("--index-timeout %v: want at least --timeout (%v)", o.indexTimeout, o.timeout)
	case o.shutdownTimeout <= 0:
		return fmt.Errorf("--shutdown-timeout %v: want a positive duration", o.shutdownTimeout)
	case o.maxOpenTx < 0:
		return fmt.Errorf("--max-open-tx %d: want 0 or more", o.maxOpenTx)
	case o.txIdleTimeout < 0:
		return fmt.Errorf("--tx-idle-timeout %v: want 0 or more", o.txIdleTimeout)
	case o.txPerPrincipal <= 0:
		return fmt.Errorf("--max-tx-per-principal %d: want a positive number", o.txPerPrincipal)
	case o.maxWatches <= 0:
		return fmt.Errorf("--max-watches %d: want a positive number", o.maxWatches)
	case o.watchesPerPrin <= 0:
		return fmt.Errorf("--max-watches-per-principal %d: want a positive number", o.watchesPerPrin)
	case o.txContendedIdle <= 0:
		return fmt.Errorf("--tx-contended-idle-timeout %v: want a positive duration", o.txContendedIdle)
	case o.txMaxHold <= 0:
		return fmt.Errorf("--tx-contended-max-hold %v: want a positive duration", o.txMaxHold)
	case o.watchBuffer <= 0:
		return fmt.Errorf("--watch-buffer-bytes %d: want a positive number of bytes", o.watchBuffer)
	case o.writesInStore <= 0:
		return fmt.Errorf("--max-writes-in-store %d: want a positive number", o.writesInStore)
	case o.scansInStore < 0:
		return fmt.Errorf("--max-scans-in-store %d: want 0 or more", o.scansInStore)
	case o.requestsInStore < 0:
		return fmt.Errorf("--max-requests-in-store %d: want 0 (the store's) or a positive number", o.requestsInStore)
	case o.requestsPerPrin <= 0:
		return fmt.Errorf("--max-requests-per-principal %d: want a positive number", o.requestsPerPrin)
	case o.txMaxLifetime <= 0:
		return fmt.Errorf("--tx-max-lifetime %v: want a positive duration", o.txMaxLifetime)
	case o.pgMaxConns < 2:
		return fmt.Errorf("--pg-max-conns %d: want 2 or more", o.pgMaxConns)
	case o.maxNamespaces < 0:
		return fmt.Errorf("--max-namespaces-per-principal %d: want 0 (no bound) or a positive number", o.maxNamespaces)
	case o.maxEntries < 0:
		return fmt.Errorf("--max-entries-per-principal %d: want 0 (no bound) or a positive number", o.maxEntries)
	case o.connsPerIP < 0:
		return fmt.Errorf("--max-conns-per-ip %d: want 0 (no bound) or a positive number", o.connsPerIP)
	case o.logFormat != "text" && o.logFormat != "json":
		return fmt.Errorf("--log-format %q: want text or json", o.logFormat)
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", o.logLevel)
	}
	return nil
}

func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level)) // checked by options.check
	ho := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

// serve opens the store, serves until ctx ends, and shuts down.
func serve(ctx context.Context, o options, log *slog.Logger) error {
	var (
		policy *security.Policy
		cfg    = httpapi.Config{MaxBodyBytes: o.maxBody, MaxBytesInFlight: o.maxInFlight, Timeout: o.timeout,
			IndexTimeout:                 o.indexTimeout,
			MaxBytesInFlightPerPrincipal: o.maxInFlightPrin,
			MaxStreamsPerPrincipal:       o.watchesPerPrin, MaxStreams: o.maxWatches, MaxRequestsPerPrincipal: o.requestsPerPrin, Logger: log}
		secOpt []security.Option
		tokens *httpapi.AuthFileTokens
	)
	if o.anonymous {
		policy = security.NewPolicy()
		if err := policy.ApplyAnonymous(security.Profile{Name: "insecure-anonymous", Scopes: map[string]string{
			"storage://namespace/*": "rw",
			"principal://*":         "rw",
		}}); err != nil {
			return err
		}
		secOpt = append(secOpt, security.AllowAnonymous())
		cfg.AllowAnonymous = true
		log.Warn("serving WITHOUT AUTHENTICATION (--insecure-anonymous): every caller has full rights; for local development only")
	} else {
		var err error
		tokens, err = httpapi.LoadAuthFileTokens(o.authFile)
		if err != nil {
			return err
		}
		warnAuthFileMode(log, o.authFile)
		policy = tokens.Policy()
		cfg.Auth = tokens
		log.Info("auth file loaded", "file", o.authFile, "tokens", tokens.Len())
	}
	stop := reloadOnHangup(tokens, log)
	defer stop()

	var engOpts []sqlstore.Option
	if o.maxOpenTx > 0 {
		engOpts = append(engOpts, sqlstore.WithMaxOpenTx(o.maxOpenTx))
	}
	if o.txIdleTimeout > 0 {
		engOpts = append(engOpts, sqlstore.WithTxIdleTimeout(o.txIdleTimeout))
	}
	engOpts = append(engOpts, sqlstore.WithMaxTxPerActor(o.txPerPrincipal), sqlstore.WithTxMaxLifetime(o.txMaxLifetime),
		sqlstore.WithWatchBufferBytes(o.watchBuffer), sqlstore.WithTxContendedIdleTimeout(o.txContendedIdle),
		sqlstore.WithTxContendedMaxHold(o.txMaxHold))
	if o.directDSN != "" {
		engOpts = append(engOpts, sqlstore.WithDirectDSN(o.directDSN))
	}
	// The address is bound before the store is opened (and migrated):
	// one that cannot be listened on (in use, not this host's) fails at
	// once, before anything is written to the database.
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", o.addr, err)
	}
	defer func() { _ = ln.Close() }() // on a failure before serving
	openCtx, cancel := context.WithTimeout(ctx, time.Minute)
	inner, err := sqlstore.Open(openCtx, withPoolSize(o.dsn, o.pgMaxConns), engOpts...)
	cancel()
	if err != nil {
		return fmt.Errorf("opening the store: %w", err)
	}
	defer func() {
		// Close rolls back every open transaction.
		if err := inner.Close(); err != nil {
			log.Error("closing the store", "error", err)
		} else {
			log.Info("store closed; open transactions rolled back")
		}
	}()
	st, err := inner.Status(ctx)
	if err != nil {
		return fmt.Errorf("store status: %w", err)
	}
	log.Info("store open", "dialect", st.Dialect, "schemaVersion", st.SchemaVersion)
	cfg.MaxRequestsInStore, cfg.MaxWritesInStore = o.requestsInStore, o.writesInStore
	if cfg.MaxRequestsInStore == 0 {
		cfg.MaxRequestsInStore = requestsInStore(st.Dialect, withPoolSize(o.dsn, o.pgMaxConns))
	}
	cfg.MaxScansInStore = o.scansInStore
	if cfg.MaxScansInStore == 0 && st.Dialect == "postgres" {
		cfg.MaxScansInStore = max(cfg.MaxRequestsInStore/2, httpapi.DefaultMaxScansInStore)
	}
	if st.ReadOnly {
		log.Warn("store is read-only", "why", st.Degraded)
	}

	exp, err := startTracing(o, log)
	if err != nil {
		return err
	}
	var store storage.Store = inner
	if exp != nil {
		// Registered after the store's Close, so it runs before: the
		// spans of the last requests are sent while the store closes.
		defer stopTracing(exp, o, log)
		store = observe.Wrap(inner, exp.Hook(st.Dialect))
	}
	mux := routes.NewMux()
	secOpt = append(secOpt, security.MaxNamespacesPerPrincipal(o.maxNamespaces), security.MaxEntriesPerPrincipal(o.maxEntries))
	sec := security.NewStore(store, policy, secOpt...)
	routes.Register(mux, sec)
	cfg.Ready = inner
	var metrics *httpapi.Metrics
	if !o.noMetrics {
		metrics = httpapi.NewMetrics()
		metrics.Register(storeMetrics(inner))
		if exp != nil {
			metrics.Register(traceMetrics(exp))
		}
		cfg.Metrics = metrics
	}
	h := httpapi.NewHandler(mux, cfg)
	var handler http.Handler = h
	drain := drainers{h}
	if tokens != nil && !o.noConsole {
		con, err := console.New(console.Config{Store: sec, Auth: tokens, OpenTransactions: inner.OpenTransactions,
			SecureCookies: o.secureCookies, MaxBodyBytes: o.maxBody, Timeout: o.timeout, IndexTimeout: o.indexTimeout,
			MaxTailsPerPrincipal: o.watchesPerPrin, MaxTails: o.maxWatches, Admit: h.Admit, AdmitScan: h.AdmitScan, AdmitIndex: h.AdmitIndex, Logger: log,
			ClientAddr: o.clientAddr()})
		if err != nil {
			return err
		}
		handler = withConsole(h, con)
		drain = append(drain, con)
	}
	if metrics != nil {
		handler = withMetrics(handler, metrics)
	}
	if exp != nil {
		handler = exp.Handler(handler, traceRoute(mux.Routes()))
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       o.timeout,
		WriteTimeout:      3*o.timeout + writeSlack,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	ln = httpapi.LimitConnsPerIP(ln, o.connsPerIP)
	if cl, ok := ln.(*httpapi.ConnLimiter); ok && metrics != nil {
		metrics.Register(cl.Families)
	}
	log.Info("listening", "addr", ln.Addr().String(), "url", "http://"+ln.Addr().String())
	if tokens != nil && !o.noConsole {
		log.Info("web console", "url", "http://"+ln.Addr().String()+console.Prefix)
	}
	if metrics != nil {
		log.Info("metrics", "url", "http://"+ln.Addr().String()+httpapi.MetricsPath)
	}
	return serveUntil(ctx, srv, ln, drain, o.shutdownTimeout, log)
}

// drainers drains several handlers: the API's (readiness, watch streams)
// and the console's (live tails), so that shutdown waits for no stream.
type drainers []interface{ Drain() }

func (d drainers) Drain() {
	for _, x := range d {
		x.Drain()
	}
}

// serveUntil serves on ln until ctx ends, then shuts srv down: d.Drain
// makes /readyz fail, the listener closes, idle connections close, and
// in-flight requests get shutdownTimeout to finish before their
// connections are closed under them (an error).
func serveUntil(ctx context.Context, srv *http.Server, ln net.Listener, d interface{ Drain() }, shutdownTimeout time.Duration, log *slog.Logger) error {
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", shutdownTimeout)
	d.Drain()
	shCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shCtx); err != nil {
		_ = srv.Close()
		if serr := <-serveErr; !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
		return fmt.Errorf("in-flight requests did not finish within %v; their connections were closed: %w", shutdownTimeout, err)
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	log.Info("server stopped")
	return nil
}

// requestsInStore is --max-requests-in-store's default: what the store
// serves at once outside transactions. SQLite serves 5 (its 4 readers,
// unless the DSN sets readers=, and its writer); PostgreSQL a quarter of
// its pool (pool_max_conns in dsn, withPoolSize's), which transactions
// cannot hold, but at least 5.
func requestsInStore(dialect, dsn string) int {
	if dialect != "postgres" {
		return httpapi.DefaultMaxRequestsInStore
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return httpapi.DefaultMaxRequestsInStore
	}
	n, err := strconv.Atoi(u.Query().Get("pool_max_conns"))
	if err != nil {
		return httpapi.DefaultMaxRequestsInStore
	}
	return max(n/4, httpapi.DefaultMaxRequestsInStore)
}

// withPoolSize adds pool_max_conns=n to a PostgreSQL DSN that sets none;
// any other DSN is returned as it is.
func withPoolSize(dsn string, n int) string {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn // sqlstore.Open reports it
	}
	q := u.Query()
	if q.Has("pool_max_conns") {
		return dsn
	}
	q.Set("pool_max_conns", strconv.Itoa(n))
	u.RawQuery = q.Encode()
	return u.String()
}

// reloadOnHangup reads the auth file again on every SIGHUP until stop is
// called: new tokens and grants apply to the next request; a file that does
// not parse is logged and the previous one stays in force. Without an auth
// file (tokens nil) a SIGHUP is logged and otherwise ignored.
func reloadOnHangup(tokens *httpapi.AuthFileTokens, log *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-hup:
				if tokens == nil {
					log.Warn("SIGHUP: no auth file to reload (--insecure-anonymous)")
					continue
				}
				if err := tokens.Reload(); err != nil {
					log.Error("auth file reload failed; the previous one stays in force", "file", tokens.Path(), "error", err)
					continue
				}
				warnAuthFileMode(log, tokens.Path())
				log.Info("auth file reloaded", "file", tokens.Path(), "tokens", tokens.Len())
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
	}
}

// warnAuthFileMode warns when the auth file may be read by other users.
func warnAuthFileMode(log *slog.Logger, path string) {
	fi, err := os.Stat(path)
	if err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("the auth file is readable by other users; prefer mode 0600 and tokenSHA256", "file", path, "mode", fi.Mode().Perm().String())
	}
}

// withMetrics serves httpapi.MetricsPath from m and every other request
// from next.
func withMetrics(next http.Handler, m *httpapi.Metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == httpapi.MetricsPath {
			m.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// withConsole sends the paths under console.Prefix (and the prefix without
// its slash) to con and every other request to api, unchanged.
func withConsole(api, con http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case strings.HasPrefix(p, console.Prefix):
			con.ServeHTTP(w, r)
		case p == strings.TrimSuffix(console.Prefix, "/") && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			http.Redirect(w, r, console.Prefix, http.StatusMovedPermanently)
		default:
			api.ServeHTTP(w, r)
		}
	})
}

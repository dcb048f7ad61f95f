package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/admit"
	"github.com/mycelia-kernel/storage/internal/jsonx"
	"github.com/mycelia-kernel/storage/internal/perkey"
	"github.com/mycelia-kernel/storage/routes"
	"github.com/mycelia-kernel/storage/security"
)

// Defaults of Config.
const (
	// DefaultMaxBodyBytes is the default request size limit: twice the
	// engine's default maximum value size, so a value at that maximum fits
	// with its key, options and metadata.
	DefaultMaxBodyBytes = 2 * storage.DefaultMaxValueSize
	// DefaultTimeout is the default time one request may take.
	DefaultTimeout = 30 * time.Second
	// DefaultIndexTimeout is the default time one createIndex or
	// dropIndex may take (see Config.IndexTimeout): a build over 1M
	// entries took 65 s on SQLite on a loaded 2-core machine, twice
	// DefaultTimeout.
	DefaultIndexTimeout = 10 * time.Minute
	// DefaultMaxBytesInFlight is the default bound on the request bodies
	// the handler holds at once: four bodies of the default maximum size.
	DefaultMaxBytesInFlight = 4 * DefaultMaxBodyBytes
	// DefaultMaxStreamsPerPrincipal is the default bound on the streams
	// (storage://watch) one principal holds open at once.
	DefaultMaxStreamsPerPrincipal = 16
	// DefaultMaxStreams is the default bound on the streams all
	// principals hold open at once (see Config.MaxStreams).
	DefaultMaxStreams = 1024
	// streamsFullRetryAfter is the Retry-After, in seconds, of a stream
	// refused under Config.MaxStreams.
	streamsFullRetryAfter = "5"
	// DefaultMaxRequestsPerPrincipal is the default bound on the storage
	// requests one principal runs in the store at once (see
	// Config.MaxRequestsPerPrincipal for the reasoning).
	DefaultMaxRequestsPerPrincipal = 4
	// DefaultMaxRequestsInStore is the default bound on the storage
	// requests all principals run in the store at once (see
	// Config.MaxRequestsInStore for the reasoning).
	DefaultMaxRequestsInStore = 5
	// DefaultMaxWritesInStore is the default bound on the writes among
	// them (see Config.MaxWritesInStore).
	DefaultMaxWritesInStore = 3
	// DefaultMaxScansInStore is the default bound on the scans among
	// them (see Config.MaxScansInStore).
	DefaultMaxScansInStore = 2
	// MaxWaitingPerPrincipal bounds the requests of one principal that
	// wait at once for their turn, under MaxRequestsPerPrincipal and
	// MaxRequestsInStore or for room under MaxBytesInFlight: one beyond
	// is refused at once with 503 unavailable, so that what waits (a
	// goroutine, a small record, the body read) stays bounded.
	MaxWaitingPerPrincipal = 256
	// minRequestWeight is what a request counts for in MaxBytesInFlight at
	// least, whatever its body: its headers, envelope and response.
	minRequestWeight = 4 << 10
)

// The paths the handler serves.
const (
	// StoragePrefix is followed by an operation name: POST
	// /v1/storage/{op} is the route storage://{op}.
	StoragePrefix = "/v1/storage/"
	HealthPath    = "/healthz"
	ReadyPath     = "/readyz"
)

// Error codes of the HTTP layer, beside those of package routes. They are
// about the HTTP request itself; no store is called.
const (
	// CodeMethodNotAllowed: the path exists but not with this method
	// (405, with an Allow header).
	CodeMethodNotAllowed = "method_not_allowed"
	// CodeUnsupportedMediaType: a storage request whose Content-Type is
	// not application/json (415).
	CodeUnsupportedMediaType = "unsupported_media_type"
	// CodeUnavailable: /readyz when the store is not healthy or the
	// server is shutting down, or a storage request for which
	// Config.MaxBytesInFlight had no room in time, one that waited beyond
	// Config.Timeout for its turn under Config.MaxRequestsPerPrincipal
	// and Config.MaxRequestsInStore, one beyond MaxWaitingPerPrincipal,
	// or a stream beyond Config.MaxStreams (503). A stream beyond
	// Config.MaxStreamsPerPrincipal is routes.CodeTooManyStreams (429).
	CodeUnavailable = "unavailable"
)

// Caller routes one message and returns its envelope. *routes.Mux is one;
// so is a Transport, which makes a handler able to proxy.
type Caller interface {
	Call(ctx context.Context, route string, body []byte) ([]byte, error)
}

// StatusReporter is what /readyz asks; every storage.Store is one.
type StatusReporter interface {
	Status(ctx context.Context) (storage.Status, error)
}

// Config configures NewHandler. The zero value refuses every storage
// request (no Authenticator, no anonymous access).
type Config struct {
	// Auth authenticates the bearer token of a storage request. A request
	// whose token it does not know is refused (401, unauthenticated).
	Auth Authenticator
	// AllowAnonymous lets storage requests without an Authorization header
	// through without a principal. The store behind the Caller then decides
	// (security.AllowAnonymous); meant for local development.
	AllowAnonymous bool
	// Ready is asked for its Status by /readyz; nil means ready whenever
	// the handler is not draining.
	Ready StatusReporter
	// MaxBodyBytes limits a request's body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Timeout bounds each request's context; 0 means DefaultTimeout.
	// createIndex and dropIndex have IndexTimeout instead.
	Timeout time.Duration
	// IndexTimeout bounds the context of createIndex and dropIndex, whose
	// cost grows with the namespace (a build reads every entry: 65 s over
	// 1M entries on SQLite), in place of Timeout; 0 means
	// DefaultIndexTimeout (10 minutes), and it is raised to Timeout if
	// smaller. Under Timeout alone a build over a large namespace could
	// never end: cut at Timeout (504 deadline_exceeded), the engine
	// cleaned it up, whatever the client's retries. For these requests
	// the handler moves the response's write deadline
	// (http.ResponseController) to IndexTimeout plus Timeout after their
	// turn came, so that the server's WriteTimeout (cmd/storeserver's is
	// three times --timeout and 10 s) does not cut their answer (nor,
	// over HTTP/2, reset their stream while the route runs), then to
	// Timeout for the writing of the answer, then clears it; a
	// ResponseWriter wrapped without an Unwrap method keeps the server's.
	// The wait for their turn (one index
	// operation at a time in the store, all principals together, and
	// room for their body under MaxBytesInFlight) stays bounded by
	// Timeout: a createIndex behind another principal's build of minutes
	// is refused with 503 unavailable after Timeout, to retry later,
	// rather than holding its connection and a waiting place as long. At
	// Drain the index operations in flight are cancelled, so that a
	// graceful shutdown need not wait minutes for a build: the engine
	// deletes what the build wrote (nothing of it stays, no index is
	// declared) and finishes a drop it had begun, and the client gets
	// 503 unavailable, to retry once the server is back. Clients must
	// allow as long: client.Store and Transport set no timeout of their
	// own (an http.Client given with WithHTTPClient must not either, or
	// a longer one).
	IndexTimeout time.Duration
	// MaxBytesInFlight bounds the request bodies held at once, server-wide
	// (0 means DefaultMaxBytesInFlight; it is raised to MaxBodyBytes if
	// smaller). An authenticated storage request counts for its
	// Content-Length (MaxBodyBytes when it sends none, at least 4 KiB)
	// from before its body is read until its response is written. One
	// that does not fit waits for room up to Timeout, then is refused with
	// 503 unavailable, its body unread; the waiting requests are given
	// room in turn across principals, as under MaxRequestsInStore, so
	// that many principals' large bodies do not keep another's small one
	// waiting behind all of them. Memory use is a small multiple of
	// this bound: the body, its decoded form and the response.
	MaxBytesInFlight int64
	// MaxBytesInFlightPerPrincipal bounds the share of MaxBytesInFlight
	// one principal's requests hold at once (anonymous requests counting
	// as one principal), so that one principal sending large bodies
	// slowly cannot keep every other principal out. 0 means a quarter of
	// MaxBytesInFlight; it is raised to MaxBodyBytes if smaller and
	// lowered to MaxBytesInFlight if larger. A request beyond its
	// principal's share waits for room up to Timeout, then is refused
	// like one beyond MaxBytesInFlight.
	MaxBytesInFlightPerPrincipal int64
	// MaxStreamsPerPrincipal bounds the streams (storage://watch) one
	// principal holds open at once, anonymous requests counting as one
	// principal; 0 means DefaultMaxStreamsPerPrincipal. Each stream holds
	// a connection, goroutines and the events the store buffers for it.
	// A stream beyond is refused with 429 too_many_streams
	// (routes.ErrTooManyStreams, which also satisfies errors.Is
	// storage.ErrUnavailable) before its body is read: not 503
	// unavailable, since retrying does not help until one of the
	// principal's streams ends (client.Store.Watch fails at once when a
	// watch's first stream is refused). The others of that principal,
	// and every other principal's, go on.
	MaxStreamsPerPrincipal int
	// MaxStreams bounds the streams all principals together hold open at
	// once; 0 means DefaultMaxStreams (1024). MaxStreamsPerPrincipal alone
	// bounded nothing server-wide: every principal (each token of an auth
	// file, and the anonymous one) could hold its own bound, so that many
	// principals together held as many connections, goroutines and watch
	// buffers as they liked. A stream beyond is refused before its body is
	// read with 503 unavailable and a Retry-After header (client.Store.Watch
	// retries it, as a server restarting); the streams open go on, and so
	// do every other request. It is raised to MaxStreamsPerPrincipal if
	// smaller.
	MaxStreams int
	// MaxRequestsPerPrincipal bounds the storage requests one principal
	// runs in the store at once, anonymous requests counting as one
	// principal; 0 means DefaultMaxRequestsPerPrincipal (4). A request
	// beyond waits for one of them to end (its body read, in the order
	// they came), for at most Config.Timeout (the route then has its own
	// Timeout): one that did not get its turn by then is refused with 503
	// unavailable, having reached no store. So one principal sending
	// many requests at once (or slow ones) holds at most this many of
	// the store's connections and places in its queues: another
	// principal's request waits behind at most this many of them, not
	// behind all of them (SQLite has one writer: beside 64 large batches
	// of one principal, another's single write waited behind all 64),
	// while a principal alone, a shared service account, still runs them
	// all, this many at a time. The default is 4: SQLite's readers (4
	// unless the DSN sets readers=) and its writer serve at most five
	// requests at once, so four of one principal leave room for another's
	// read and keep another's write behind at most four of theirs;
	// PostgreSQL's pool in cmd/storeserver has 32 connections, of which
	// one principal then holds four outside transactions. Raise it for a
	// deployment that serves one principal from a large PostgreSQL pool
	// (and MaxRequestsInStore with it, which bounds it).
	// A request holds its place under MaxRequestsPerPrincipal until its
	// answer is written, but its place under MaxRequestsInStore (and
	// MaxWritesInStore) only while it runs in the store: a client that
	// reads its answers slowly (an 8 MiB get, not read) holds its own
	// principal's places, which bounds the answers the server holds for
	// it, and none of the store's (eight such answers of two principals
	// held all five of the store's places until they were written, and
	// every other principal's request was refused after Timeout).
	// Calls on an open transaction (options.transactionId, commit,
	// rollback, lookupTransaction) do not count: they run on the
	// transaction's own connection, one at a time, and transactions have
	// their own bounds (sqlstore.WithMaxTxPerActor); counting them would
	// let a principal's requests waiting for the writer its own
	// transaction holds keep that transaction's commit out. Streams do
	// not count either (MaxStreamsPerPrincipal).
	MaxRequestsPerPrincipal int
	// MaxRequestsInStore bounds the storage requests all principals run
	// in the store at once, counted as under MaxRequestsPerPrincipal
	// (calls on open transactions and streams apart; beginTransaction
	// counts, as it takes a connection and, on SQLite, may wait for the
	// writer); 0 means DefaultMaxRequestsInStore (5). A request beyond
	// waits, up to Timeout as under MaxRequestsPerPrincipal, and the
	// waiting requests are served in turn across principals: the next
	// free place goes to the principal served least recently (one that
	// had nothing running nor waiting counts as never served), each
	// principal's requests in the order they came. So however many
	// principals flood the store, each at its own bound, another
	// principal's request waits for about one place to free and behind
	// at most this many requests in the store, not behind all of theirs
	// (16 principals with 4 requests each put 64 in the store at once,
	// and a single write waited 2 s on SQLite, 5 s on PostgreSQL, behind
	// them). The default 5 is what SQLite serves at once (4 readers, one
	// writer): a request let in finds its connection, or waits behind at
	// most 4 others at the writer. With PostgreSQL, set it to what the
	// pool serves outside transactions (cmd/storeserver sets a quarter of
	// its pool, 8 by default): higher lets more principals' requests run
	// at once, at the cost of one request waiting behind more of them. It
	// bounds MaxRequestsPerPrincipal too. At most MaxWaitingPerPrincipal
	// requests of one principal wait at once.
	MaxRequestsInStore int
	// MaxWritesInStore bounds the writes among MaxRequestsInStore (every
	// route but the reads: get, has, getMany, list, query, count,
	// listNamespaces, getMetadata, getStatus, getCapabilities, history,
	// lookupTransaction; nor createIndex and dropIndex, whose cost grows
	// with the namespace: they run one at a time in the store, all
	// principals together, beside the writes, so that one principal's
	// index builds, seconds each, cannot hold every write's place); 0
	// means DefaultMaxWritesInStore (3). A write
	// beyond waits as above, while other principals' reads are served:
	// SQLite has one writer, and PostgreSQL writes take the store's
	// revision lock, so writes waiting there (behind a transaction that
	// holds the writer, or a long CreateIndex) would otherwise fill
	// MaxRequestsInStore and keep every read out though readers are
	// free. Three keep the writer busy, one running while the next are
	// decoded (with two, 16 principals' large batches went through 40%
	// slower on a loaded machine), and leave reads two places of the
	// default five. It is at most MaxRequestsInStore.
	MaxWritesInStore int
	// MaxScansInStore bounds the scans among MaxRequestsInStore: list,
	// query and count, whose cost grows with the namespace rather than
	// with their answer (a filter or sort no index serves, a pattern, a
	// huge offset, a count of everything read every entry) and may last
	// up to Timeout, and history, whose cost grows with the key's changes
	// in the change log (on SQLite a history of a key of 20,000 changes
	// took 6 s, of 30,000 changes 13 s, and the log keeps up to a million;
	// four of one principal held all of SQLite's readers,
	// TestHandlerHistoryIsAScan); 0 means DefaultMaxScansInStore (2). A scan beyond
	// waits as above, fairly across principals, while other principals'
	// gets, sets and other requests are served: one principal's four
	// slow scans held every one of SQLite's four readers (or the
	// connections of a small PostgreSQL pool), and another principal's
	// get of one entry waited until the first of them ended, 26 s
	// beside queries sorted on unindexed fields (TestHostileScans). Two
	// leave SQLite two readers for everything else. It is at most
	// MaxRequestsInStore; with a large PostgreSQL pool (cmd/storeserver
	// --max-requests-in-store), raise it with it, below what the pool
	// serves outside transactions. Scans on open transactions do not
	// count (they run on the transaction's connection); the engine bounds
	// what they hold: on SQLite a read-only transaction holds one of the
	// readers, and gets, has and getMany have connections of their own
	// beside them (three read-only transactions scanning and two scans
	// held every reader, and another principal's get waited 11 s,
	// TestHostileTxScans), and a write transaction that holds the writer
	// while others wait past sqlstore.WithTxContendedMaxHold
	// (--tx-contended-max-hold) is rolled back with its running scan cut
	// short (TestHostileTxHold).
	MaxScansInStore int
	// Logger receives one record per request; nil means slog.Default().
	Logger *slog.Logger
	// Metrics, when set, counts every request by route and code (see
	// Metrics); the handler does not serve it.
	Metrics *Metrics
}

// Handler serves the storage routes over HTTP (see the package
// documentation). It is safe for concurrent use.
type Handler struct {
	mux      Caller
	cfg      Config
	log      *slog.Logger
	draining atomic.Bool
	// known are the routes the Caller had when the handler was made, when
	// it lists them (*routes.Mux does), for the metrics' route label.
	known   map[string]bool
	drained chan struct{} // closed by Drain: streams end
	drain   sync.Once

	streams *perkey.Counts // open streams by principal ("" anonymous)
	// allStreams counts the open streams of every principal under one
	// key, "" (MaxStreams).
	allStreams *perkey.Counts
	// bytes are the request bytes held (MaxBytesInFlight, a principal's
	// share), running the requests in the store (MaxRequestsInStore) and
	// those of each principal until their answer is written
	// (MaxRequestsPerPrincipal), by principal ("" anonymous).
	bytes, running *admit.Gate
}

var _ http.Handler = (*Handler)(nil)

// NewHandler returns a handler that serves mux's routes as POST
// /v1/storage/{op} plus /healthz and /readyz. A negative MaxBodyBytes,
// Timeout or IndexTimeout is replaced by the default.
func NewHandler(mux Caller, cfg Config) *Handler {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.IndexTimeout <= 0 {
		cfg.IndexTimeout = DefaultIndexTimeout
	}
	cfg.IndexTimeout = max(cfg.IndexTimeout, cfg.Timeout)
	if cfg.MaxBytesInFlight <= 0 {
		cfg.MaxBytesInFlight = DefaultMaxBytesInFlight
	}
	cfg.MaxBytesInFlight = max(cfg.MaxBytesInFlight, cfg.MaxBodyBytes, minRequestWeight)
	if cfg.MaxBytesInFlightPerPrincipal <= 0 {
		cfg.MaxBytesInFlightPerPrincipal = cfg.MaxBytesInFlight / 4
	}
	cfg.MaxBytesInFlightPerPrincipal = min(max(cfg.MaxBytesInFlightPerPrincipal, cfg.MaxBodyBytes, minRequestWeight), cfg.MaxBytesInFlight)
	if cfg.MaxStreamsPerPrincipal <= 0 {
		cfg.MaxStreamsPerPrincipal = DefaultMaxStreamsPerPrincipal
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = DefaultMaxStreams
	}
	cfg.MaxStreams = max(cfg.MaxStreams, cfg.MaxStreamsPerPrincipal)
	if cfg.MaxRequestsInStore <= 0 {
		cfg.MaxRequestsInStore = DefaultMaxRequestsInStore
	}
	if cfg.MaxRequestsPerPrincipal <= 0 {
		cfg.MaxRequestsPerPrincipal = DefaultMaxRequestsPerPrincipal
	}
	cfg.MaxRequestsPerPrincipal = min(cfg.MaxRequestsPerPrincipal, cfg.MaxRequestsInStore)
	if cfg.MaxWritesInStore <= 0 {
		cfg.MaxWritesInStore = DefaultMaxWritesInStore
	}
	cfg.MaxWritesInStore = min(cfg.MaxWritesInStore, cfg.MaxRequestsInStore)
	if cfg.MaxScansInStore <= 0 {
		cfg.MaxScansInStore = DefaultMaxScansInStore
	}
	cfg.MaxScansInStore = min(cfg.MaxScansInStore, cfg.MaxRequestsInStore)
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	h := &Handler{mux: mux, cfg: cfg, log: log, drained: make(chan struct{}),
		streams:    &perkey.Counts{Max: cfg.MaxStreamsPerPrincipal},
		allStreams: &perkey.Counts{Max: cfg.MaxStreams},
		bytes: &admit.Gate{Total: cfg.MaxBytesInFlight, PerKey: cfg.MaxBytesInFlightPerPrincipal,
			MaxWaitingPerKey: MaxWaitingPerPrincipal},
		running: &admit.Gate{Total: int64(cfg.MaxRequestsInStore), PerKey: int64(cfg.MaxRequestsPerPrincipal),
			ClassTotal: []int64{int64(cfg.MaxWritesInStore), int64(cfg.MaxScansInStore), indexOpsInStore}, MaxWaitingPerKey: MaxWaitingPerPrincipal}}
	if cfg.Metrics != nil {
		cfg.Metrics.Register(h.admissionFamilies)
	}
	if rl, ok := mux.(interface{ Routes() []string }); ok {
		h.known = make(map[string]bool)
		for _, r := range rl.Routes() {
			h.known[r] = true
		}
	}
	return h
}

// Drain makes /readyz answer 503 from now on, so that load balancers stop
// sending requests while the server shuts down. Storage requests are still
// served, but open streams (storage://watch) end (a stream asked for
// from now on is refused, 503 unavailable), and so do the index
// operations in flight (createIndex, dropIndex: cancelled, answered 503
// unavailable, see Config.IndexTimeout), so that a graceful shutdown
// does not wait for them: their clients resume or retry elsewhere or
// later.
func (h *Handler) Drain() {
	h.draining.Store(true)
	h.drain.Do(func() { close(h.drained) })
}

// errDraining is the cause of the cancellation of an index operation's
// context at Drain (Config.IndexTimeout).
var errDraining = errors.New("httpapi: the server is shutting down")

// cancelAtDrain returns ctx, cancelled with the cause errDraining at
// Drain (at once if the handler is draining already); stop releases it.
func (h *Handler) cancelAtDrain(ctx context.Context) (_ context.Context, stop context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-h.drained:
			cancel(errDraining)
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(nil) }
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &record{}
	if m := h.cfg.Metrics; m != nil {
		m.inFlight.Add(1)
		defer func() {
			m.inFlight.Add(-1)
			m.observe(h.routeLabel(r.URL.Path, rec), rec.code, time.Since(start))
		}()
	}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler { //nolint:errorlint // a sentinel panic value, never wrapped
				panic(v)
			}
			h.log.Error("http handler panic", "panic", fmt.Sprint(v), "stack", string(debug.Stack()),
				"method", r.Method, "path", r.URL.Path)
			if !rec.written {
				h.writeEnvelope(w, rec, http.StatusInternalServerError,
					routes.ErrorEnvelope(routes.CodeInternal, "internal error"))
			}
		}
		h.logRequest(r, rec, time.Since(start))
	}()
	switch path := r.URL.Path; {
	case path == HealthPath:
		if h.allowMethods(w, r, rec, http.MethodGet, http.MethodHead) {
			h.writeEnvelope(w, rec, http.StatusOK, []byte(`{"success":true,"data":{"status":"ok"}}`))
		}
	case path == ReadyPath:
		if h.allowMethods(w, r, rec, http.MethodGet, http.MethodHead) {
			h.ready(w, r, rec)
		}
	case strings.HasPrefix(path, StoragePrefix) && validOp(path[len(StoragePrefix):]):
		rec.route = RoutePrefix + path[len(StoragePrefix):]
		if h.allowMethods(w, r, rec, http.MethodPost) {
			h.storage(w, r, rec)
		}
	default:
		h.fail(w, rec, http.StatusNotFound, routes.CodeUnknownRoute, "no route at "+quotePath(path))
	}
}

// record is what the access log says about one request.
type record struct {
	route     string
	principal string
	status    int
	code      string
	written   bool
	routed    bool // the request reached the Caller
}

// RoutePrefix is the scheme of the storage routes: /v1/storage/{op} is
// RoutePrefix+{op}.
const RoutePrefix = "storage://"

// validOp reports whether op can name a route: a letter, then letters and
// digits. Anything else (empty, a further "/", punctuation) is no route.
func validOp(op string) bool {
	if op == "" || len(op) > 64 {
		return false
	}
	for i, c := range []byte(op) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func quotePath(p string) string {
	if len(p) > 200 {
		p = p[:200] + "…"
	}
	return fmt.Sprintf("%q", p)
}

// allowMethods answers 405 and returns false unless r's method is one of
// methods.
func (h *Handler) allowMethods(w http.ResponseWriter, r *http.Request, rec *record, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	allow := strings.Join(methods, ", ")
	w.Header().Set("Allow", allow)
	h.fail(w, rec, http.StatusMethodNotAllowed, CodeMethodNotAllowed,
		fmt.Sprintf("method %s is not allowed here; use %s", r.Method, allow))
	return false
}

// ready answers /readyz.
func (h *Handler) ready(w http.ResponseWriter, r *http.Request, rec *record) {
	if h.draining.Load() {
		h.fail(w, rec, http.StatusServiceUnavailable, CodeUnavailable, "the server is shutting down")
		return
	}
	if h.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), h.cfg.Timeout)
		defer cancel()
		st, err := h.cfg.Ready.Status(ctx)
		if err != nil || !st.Healthy {
			h.log.Warn("store not ready", "error", err, "healthy", st.Healthy)
			h.fail(w, rec, http.StatusServiceUnavailable, CodeUnavailable, "the store is not ready")
			return
		}
	}
	h.writeEnvelope(w, rec, http.StatusOK, []byte(`{"success":true,"data":{"status":"ready"}}`))
}

// storage serves one POST /v1/storage/{op}: authentication, content type,
// body, then the route.
func (h *Handler) storage(w http.ResponseWriter, r *http.Request, rec *record) {
	ctx := r.Context()
	if header := r.Header.Get("Authorization"); header != "" || !h.cfg.AllowAnonymous {
		p, err := h.authenticate(header)
		if err != nil {
			w.Header().Set("WWW-Authenticate", wwwAuthenticate)
			h.fail(w, rec, http.StatusUnauthorized, routes.CodeUnauthenticated, err.Error())
			return
		}
		rec.principal = p.String()
		ctx = security.WithPrincipal(ctx, p)
	}
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		h.fail(w, rec, http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, err.Error())
		return
	}
	if err := checkContentEncoding(r.Header.Values("Content-Encoding")); err != nil {
		// RFC 7694: the codings the server takes.
		w.Header().Set("Accept-Encoding", "identity")
		h.fail(w, rec, http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, err.Error())
		return
	}
	if r.ContentLength > h.cfg.MaxBodyBytes {
		h.tooLarge(w, rec)
		return
	}
	sm, isStream := h.mux.(routes.Streamer)
	isStream = isStream && sm.IsStream(rec.route)
	if isStream {
		if h.draining.Load() {
			// It would end at once (and might send its head first).
			h.fail(w, rec, http.StatusServiceUnavailable, CodeUnavailable, msgStreamDraining)
			return
		}
		if !h.streams.Take(rec.principal) {
			// Not 503 unavailable: the server is up, and a client that
			// retried would be refused again until one of the
			// principal's streams ends.
			h.fail(w, rec, http.StatusTooManyRequests, routes.CodeTooManyStreams, fmt.Sprintf(
				"this principal holds %d streams open, as many as it may; end one first", h.cfg.MaxStreamsPerPrincipal))
			return
		}
		defer h.streams.Release(rec.principal)
		if !h.allStreams.Take("") {
			h.streamsFull(w, rec)
			return
		}
		defer h.allStreams.Release("")
	}
	weight := r.ContentLength
	if weight < 0 {
		weight = h.cfg.MaxBodyBytes
	}
	weight = max(weight, minRequestWeight)
	release, err := h.acquireBytes(ctx, rec.principal, weight)
	if err != nil {
		h.fail(w, rec, http.StatusServiceUnavailable, CodeUnavailable, err.Error())
		return
	}
	defer release()
	body, err := h.readBody(w, r)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.tooLarge(w, rec)
			return
		}
		h.fail(w, rec, http.StatusBadRequest, routes.CodeInvalidRequest, "reading the request body: "+err.Error())
		return
	}
	if isStream {
		// A stream lives long: its body no longer counts.
		release()
		h.stream(ctx, w, rec, sm, body)
		return
	}
	leaveStore := func() {}
	if !onTransaction(body) {
		var done func()
		leaveStore, done, err = h.admit(ctx, rec.principal, routeClass(rec.route))
		if err != nil {
			h.fail(w, rec, http.StatusServiceUnavailable, CodeUnavailable, err.Error())
			return
		}
		defer done()
	}
	timeout := h.cfg.Timeout
	isIndex := indexRoutes[rec.route]
	var rc *http.ResponseController
	if isIndex {
		// The server's WriteTimeout runs from the request's start; the
		// answer comes after the build: the deadline moves past it, then
		// (below) bounds the writing of the answer alone, then goes (a
		// server without WriteTimeout would keep it for the connection's
		// next requests).
		timeout = h.cfg.IndexTimeout
		rc = http.NewResponseController(w)
		_ = rc.SetWriteDeadline(time.Now().Add(timeout + h.cfg.Timeout))
		defer func() {
			if rec.written {
				_ = rc.SetWriteDeadline(time.Time{})
			}
		}()
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if isIndex {
		var stop context.CancelFunc
		ctx, stop = h.cancelAtDrain(ctx)
		defer stop()
	}
	resp, err := h.mux.Call(ctx, rec.route, body)
	// The answer is written without the place in the store: a client that
	// reads it slowly holds its principal's place alone.
	leaveStore()
	rec.routed = true
	if rc != nil {
		_ = rc.SetWriteDeadline(time.Now().Add(h.cfg.Timeout))
	}
	if err != nil {
		h.log.Error("route failed", "route", rec.route, "error", err)
		h.fail(w, rec, http.StatusInternalServerError, routes.CodeInternal, "internal error")
		return
	}
	rec.code = routes.EnvelopeCode(resp)
	if isIndex && rec.code == routes.CodeCanceled && errors.Is(context.Cause(ctx), errDraining) {
		h.fail(w, rec, http.StatusServiceUnavailable, CodeUnavailable,
			"the server is shutting down: the index operation was cancelled before it took effect (a build leaves nothing behind); retry later")
		return
	}
	status := http.StatusOK
	if rec.code != "" {
		status = routes.HTTPStatus(rec.code)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", wwwAuthenticate)
	}
	h.writeEnvelope(w, rec, status, resp)
}

// Admit waits for principal p's turn to run one request in the store (a
// write, one that may change it, or a read), under
// Config.MaxRequestsPerPrincipal, Config.MaxRequestsInStore and for a
// write Config.MaxWritesInStore, for
// up to Config.Timeout (or until ctx ends); done ends the request's turn
// (call it once). The error, when there is one, says why in words for the
// client: the request is to be refused as unavailable (503), having
// reached no store. The storage routes are admitted so, except calls on
// open transactions and streams; a server that calls the store for the
// same principals by other paths (cmd/storeserver's console) admits those
// calls with it, so that they share the bounds. p is the principal's
// PKR, "" for anonymous requests.
//
// The turn ends in two parts: leaveStore gives back the place under
// MaxRequestsInStore (and MaxWritesInStore), once the request is done
// with the store, before its answer is written; done gives back the place
// under MaxRequestsPerPrincipal once the answer is written, and leaves the
// store too if leaveStore was not called (each may be called more than
// once). So a principal whose client reads its answers slowly holds its
// own places, not the store's: the answers the server holds for one
// principal stay bounded, and other principals' requests run meanwhile.
func (h *Handler) Admit(ctx context.Context, p string, write bool) (leaveStore, done func(), err error) {
	class := classRead
	if write {
		class = classWrite
	}
	return h.admit(ctx, p, class)
}

// AdmitScan is Admit for a request that is a scan, as the storage API's
// list, query and count are: it counts under Config.MaxScansInStore
// too (console.Config.AdmitScan: the console's entries and query
// pages).
func (h *Handler) AdmitScan(ctx context.Context, p string) (leaveStore, done func(), err error) {
	return h.admit(ctx, p, classScan)
}

// AdmitIndex is Admit for an index build or drop, as the storage API's
// createIndex and dropIndex are: it runs one at a time in the store, all
// principals together, apart from the writes (console.Config.AdmitIndex:
// the console's index forms). Its wait stays bounded by Config.Timeout;
// what it then runs has Config.IndexTimeout.
func (h *Handler) AdmitIndex(ctx context.Context, p string) (leaveStore, done func(), err error) {
	return h.admit(ctx, p, classIndex)
}

// The classes of requests under Config.MaxRequestsInStore (the
// running gate's classes): the writes bounded by MaxWritesInStore, the
// scans by MaxScansInStore, and the other reads by it alone.
const (
	classRead  = 0
	classWrite = 1
	classScan  = 2
	classIndex = 3
)

// indexOpsInStore bounds the index builds and drops (createIndex,
// dropIndex) that run in the store at once, all principals together:
// each reads or deletes a row per entry of its namespace and may last
// seconds, and they do not count among the writes under
// Config.MaxWritesInStore. Four of one principal's builds on a namespace
// of 300,000 entries held all three of the writes' places for 10 s to
// 15 s, each build waiting for the others at the writer (SQLite) or the
// database (PostgreSQL), and another principal's set of one entry
// waited as long for a place (TestHostileIndexBuilds).
const indexOpsInStore = 1

// routeClass is the class of a request of route.
func routeClass(route string) int {
	switch {
	case indexRoutes[route]:
		return classIndex
	case scanRoutes[route]:
		return classScan
	case readRoutes[route]:
		return classRead
	}
	return classWrite
}

// admit is Admit for a request of class.
func (h *Handler) admit(ctx context.Context, p string, class int) (leaveStore, done func(), err error) {
	// Waited for up to Timeout; the route then has its own Timeout, so
	// that a request served late under a long queue still runs to its end
	// instead of wasting its turn.
	wait, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	leave, end, err := h.running.AcquireSplit(wait, p, class, 1)
	if err == nil {
		var ended sync.Once
		leaveStore = leave // gives back once
		done = func() { ended.Do(end) }
	}
	switch {
	case errors.Is(err, admit.ErrQueueFull):
		return nil, nil, fmt.Errorf("this principal has %d requests waiting for their turn, as many as it may; retry later",
			MaxWaitingPerPrincipal)
	case err != nil:
		return nil, nil, errors.New("the store runs as many requests as it may (this principal's, or all principals'), " +
			"and this one's turn did not come in time; retry later")
	}
	return leaveStore, done, nil
}

// readRoutes are the routes that only read; every other counts as a write
// under Config.MaxWritesInStore.
var readRoutes = map[string]bool{
	routes.RouteGet: true, routes.RouteHas: true, routes.RouteGetMany: true, routes.RouteList: true,
	routes.RouteQuery: true, routes.RouteCount: true, routes.RouteListNamespaces: true,
	routes.RouteGetMetadata: true, routes.RouteGetStatus: true, routes.RouteGetCapabilities: true,
	routes.RouteHistory: true, routes.RouteLookupTransaction: true,
}

// scanRoutes are the reads that count as scans under
// Config.MaxScansInStore: their cost grows with the namespace (list,
// query, count) or with the key's changes in the log (history), not with
// their answer.
var scanRoutes = map[string]bool{routes.RouteList: true, routes.RouteQuery: true, routes.RouteCount: true,
	routes.RouteHistory: true}

// indexRoutes are the writes that count under indexOpsInStore rather than
// Config.MaxWritesInStore.
var indexRoutes = map[string]bool{routes.RouteCreateIndex: true, routes.RouteDropIndex: true}

// acquireBytes takes weight bytes out of principal p's share and out of
// MaxBytesInFlight, waiting up to Timeout for room; release gives them
// back (it may be called more than once).
func (h *Handler) acquireBytes(ctx context.Context, p string, weight int64) (release func(), err error) {
	wait, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	leave, err := h.bytes.Acquire(wait, p, weight)
	switch {
	case errors.Is(err, admit.ErrQueueFull):
		return nil, fmt.Errorf("this principal has %d requests waiting for their turn, as many as it may; retry later",
			MaxWaitingPerPrincipal)
	case err != nil:
		return nil, errors.New("the server holds as many request bytes as it may (this principal's share, or all); retry later")
	}
	var once sync.Once
	return func() { once.Do(leave) }, nil
}

// admissionFamilies are the metrics of the handler's admission (see
// Metrics).
func (h *Handler) admissionFamilies() []Family {
	r, b := h.running.Stats(), h.bytes.Stats()
	return []Family{
		{Name: "storage_http_requests_running", Type: "gauge",
			Help:    "Storage requests in the store, under the bounds on requests (calls on open transactions and streams apart).",
			Samples: []Sample{{Value: float64(r.Held)}}},
		{Name: "storage_http_requests_waiting", Type: "gauge",
			Help: "Storage requests waiting for their turn, by what they wait for: room for their body (bytes) or a place in the store (store).",
			Samples: []Sample{{Labels: [][2]string{{"for", "bytes"}}, Value: float64(b.Waiting)},
				{Labels: [][2]string{{"for", "store"}}, Value: float64(r.Waiting)}}},
	}
}

// onTransaction reports whether body is a call on an open transaction:
// a transactionId member at the top (commit, rollback,
// lookupTransaction) or in options (the data routes). Such a call runs on
// the transaction's connection and does not count under
// MaxRequestsPerPrincipal. The routes decode strictly (exact member
// names, no duplicates, no unknown members), so a body this lenient
// reading takes for one either runs on a transaction or is refused
// before any store call; a body without the exact text "transactionId"
// is none, and is not decoded twice. Parts nested deeper than
// encoding/json decodes are flattened first (jsonx.Flatten), as the routes
// flatten them, so that they do not hide the transactionId beside them.
func onTransaction(body []byte) bool {
	if !bytes.Contains(body, []byte(`"transactionId"`)) {
		return false
	}
	var b struct {
		TransactionID *string `json:"transactionId"`
		Options       *struct {
			TransactionID *string `json:"transactionId"`
		} `json:"options"`
	}
	if json.Unmarshal(jsonx.Flatten(body, jsonx.DecodeDepth), &b) != nil {
		return false
	}
	return b.TransactionID != nil || (b.Options != nil && b.Options.TransactionID != nil)
}

// wwwAuthenticate is the challenge of a 401 answer.
const wwwAuthenticate = `Bearer realm="storage"`

var (
	errNoToken  = errors.New("missing bearer token: send Authorization: Bearer TOKEN")
	errBadToken = errors.New("invalid bearer token")
)

func (h *Handler) authenticate(header string) (security.PKR, error) {
	if header == "" {
		return security.PKR{}, errNoToken
	}
	token, ok := bearerToken(header)
	if !ok || h.cfg.Auth == nil {
		return security.PKR{}, errBadToken
	}
	p, ok := h.cfg.Auth.Authenticate(token)
	if !ok {
		return security.PKR{}, errBadToken
	}
	return p, nil
}

// checkContentType accepts application/json, with charset utf-8 if a
// charset is given.
func checkContentType(ct string) error {
	if ct == "" {
		return errors.New("missing Content-Type: want application/json")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return fmt.Errorf("Content-Type %q: want application/json", ct)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return fmt.Errorf("Content-Type %q: the body must be UTF-8", ct)
	}
	return nil
}

// checkContentEncoding refuses a body sent with a content coding (gzip,
// …): the server reads bodies as sent, so such a body was answered as
// JSON that is not valid UTF-8 (400), which named the wrong fault.
func checkContentEncoding(codings []string) error {
	for _, v := range codings {
		for c := range strings.SplitSeq(v, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "identity") {
				return fmt.Errorf("Content-Encoding %q: the body must be sent unencoded", c)
			}
		}
	}
	return nil
}

// readBody reads r's body up to the size limit. An empty body is the empty
// object {}.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > h.cfg.MaxBodyBytes {
		return nil, &http.MaxBytesError{Limit: h.cfg.MaxBodyBytes}
	}
	// A body of known length is read into one buffer of its size (plus
	// one byte, to see its end), not grown by doubling.
	buf := bytes.NewBuffer(make([]byte, 0, max(r.ContentLength, 0)+bytes.MinRead))
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes)); err != nil {
		return nil, err
	}
	body := buf.Bytes()
	if len(body) == 0 {
		body = []byte("{}")
	}
	return body, nil
}

// tooLarge answers a request whose body is over MaxBodyBytes.
func (h *Handler) tooLarge(w http.ResponseWriter, rec *record) {
	h.fail(w, rec, http.StatusRequestEntityTooLarge, routes.CodeTooLarge,
		fmt.Sprintf("the request body is larger than %d bytes", h.cfg.MaxBodyBytes))
}

// streamsFull refuses a stream beyond Config.MaxStreams: 503 unavailable
// with a Retry-After. Not too_many_streams (429): this principal is not
// at fault, the server is full, and a client retrying later may be served.
func (h *Handler) streamsFull(w http.ResponseWriter, rec *record) {
	w.Header().Set("Retry-After", streamsFullRetryAfter)
	h.fail(w, rec, http.StatusServiceUnavailable, CodeUnavailable, fmt.Sprintf(
		"the server holds %d streams open, as many as it may; open it again later", h.cfg.MaxStreams))
}

// fail writes an error envelope.
func (h *Handler) fail(w http.ResponseWriter, rec *record, status int, code, msg string) {
	rec.code = code
	h.writeEnvelope(w, rec, status, routes.ErrorEnvelope(code, msg))
}

func (h *Handler) writeEnvelope(w http.ResponseWriter, rec *record, status int, body []byte) {
	rec.status, rec.written = status, true
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body) // the client went away: nothing to do
}

func (h *Handler) logRequest(r *http.Request, rec *record, d time.Duration) {
	status := rec.status
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	if !h.log.Enabled(r.Context(), level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Duration("duration", d),
		slog.String("remote", r.RemoteAddr),
	}
	if rec.route != "" {
		attrs = append(attrs, slog.String("route", rec.route))
	}
	if rec.principal != "" {
		attrs = append(attrs, slog.String("principal", rec.principal))
	}
	if rec.code != "" {
		attrs = append(attrs, slog.String("code", rec.code))
	}
	h.log.LogAttrs(context.WithoutCancel(r.Context()), level, "http request", attrs...)
}

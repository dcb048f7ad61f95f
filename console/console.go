package console

import (
	"bytes"
	"cmp"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/internal/perkey"
	"github.com/mycelia-kernel/storage/routes"
	"github.com/mycelia-kernel/storage/security"
)

// Prefix is the path under which the console is served; mount the Handler
// there (it serves nothing else).
const Prefix = "/console/"

// Defaults of Config.
const (
	DefaultSessionIdle = 30 * time.Minute
	DefaultSessionMax  = 12 * time.Hour
	DefaultMaxSessions = 10000
	DefaultTimeout     = 30 * time.Second
	// DefaultMaxTailsPerPrincipal is how many live tails one principal
	// may hold open at once, as many as its watch streams over the API.
	DefaultMaxTailsPerPrincipal = httpapi.DefaultMaxStreamsPerPrincipal
	// DefaultMaxTails is how many live tails all principals together may
	// hold open at once, as many as watch streams over the API.
	DefaultMaxTails = httpapi.DefaultMaxStreams
	// DefaultMaxExports is how many exports run at once (Config.MaxExports).
	DefaultMaxExports = 2
	// DefaultMaxSessionsPerPrincipal is how many sessions one principal
	// holds at most (Config.MaxSessionsPerPrincipal).
	DefaultMaxSessionsPerPrincipal = 100
)

// Cookie names.
const (
	sessionCookie = "console_session"
	loginCookie   = "console_login" // the sign-in form's CSRF token (double submit)
)

// ContentSecurityPolicy is sent with every response: scripts, styles and
// images only from the console itself, no inline script or style, no
// framing, forms only to the console.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config configures New.
type Config struct {
	// Store is what the console reads and writes, as the signed-in
	// principal (security.WithPrincipal on every call's context). Give it
	// an authorizing store (security.NewStore) so that the security layer
	// decides what each principal sees and may change. Required.
	Store storage.Store
	// Auth maps the token typed into the sign-in form to its principal:
	// the server's own bearer tokens (httpapi.Tokens). Required.
	Auth httpapi.Authenticator
	// OpenTransactions, when set, is shown on the status page to
	// principals that read everything (see security.Store.ReadsEverything);
	// sqlstore.Store.OpenTransactions is one.
	OpenTransactions func() int
	// SecureCookies marks the cookies Secure even on plain HTTP, for a
	// console behind a TLS-terminating proxy. Over TLS they always are.
	SecureCookies bool
	// SessionIdle ends a session unused this long (0: DefaultSessionIdle);
	// SessionMax ends any session this old (0: DefaultSessionMax).
	SessionIdle, SessionMax time.Duration
	// MaxSessions bounds the sessions signed in at once (0:
	// DefaultMaxSessions); past it sign-in fails until some expire.
	MaxSessions int
	// MaxSessionsPerPrincipal bounds one principal's sessions (0:
	// DefaultMaxSessionsPerPrincipal; at most MaxSessions): its sign-in
	// beyond ends its least recently used session, so that the holder of
	// one token cannot fill MaxSessions and keep every other principal
	// from signing in.
	MaxSessionsPerPrincipal int
	// SigninBurst, SigninEvery and SigninAddrs throttle the sign-in form
	// per client address (ClientAddr): an address may try SigninBurst
	// sign-ins at once (0: DefaultSigninBurst; negative: no throttle) and
	// gets one more try back every SigninEvery (0: DefaultSigninEvery), up
	// to SigninBurst. A sign-in that works gives its try back, so only
	// failures count. Past them the form answers 429 with Retry-After,
	// without looking at the token. At most SigninAddrs addresses are
	// remembered (0: DefaultSigninAddrs), each a few dozen bytes: those
	// whose tries are all back are forgotten, and while none is, new
	// addresses share one allowance.
	SigninBurst int
	SigninEvery time.Duration
	SigninAddrs int
	// ClientAddr, when set, is the address a sign-in counts under. Nil:
	// the connection's remote IP address (IPv6: its /64). Behind a reverse
	// proxy every client has the proxy's: give one that reads the
	// client's address from the header the proxy sets (and only the
	// proxy can), such as ForwardedClientAddr; its first 64 bytes count.
	ClientAddr func(*http.Request) string
	// MaxBodyBytes bounds a form's size (0: httpapi.DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// MaxTailsPerPrincipal bounds the live tails (the status page's
	// stream of changes) one principal holds open at once, whatever its
	// sessions (0: DefaultMaxTailsPerPrincipal); one beyond is refused
	// 429 Too Many Requests (as a watch stream beyond
	// httpapi.Config.MaxStreamsPerPrincipal is), not 503: the server is
	// up, and the tail opens once one of the principal's others ends.
	MaxTailsPerPrincipal int
	// MaxTails bounds the live tails all principals together hold open at
	// once (0: DefaultMaxTails; at least MaxTailsPerPrincipal), as
	// httpapi.Config.MaxStreams bounds the API's watch streams: the bound
	// per principal alone let many principals hold as many as they liked.
	// One beyond is 503 with a Retry-After. A refused tail (either bound,
	// or a malformed Last-Event-ID, 400) answers its status with a body in
	// the tail's own form, an "error" event whose data is the message as a
	// JSON string, as a tail that fails once started; a browser's
	// EventSource does not read the body of a refusal, so the page's script
	// says the tail stopped when its EventSource gives up.
	MaxTails int
	// Timeout bounds each request's store calls (0: DefaultTimeout); an
	// export gets ten times as long, the index forms IndexTimeout. An
	// export's response is not cut by the server's WriteTimeout: its
	// write deadline follows the export, each chunk (256 KiB) of it to be
	// taken by the client within Timeout.
	Timeout time.Duration
	// IndexTimeout bounds the store call of the forms that create and
	// drop an index (0: httpapi.DefaultIndexTimeout, 10 minutes; at least
	// Timeout), as httpapi.Config.IndexTimeout does the API's: a build
	// reads every entry of its namespace, and cut at Timeout one over a
	// large namespace could never end. The response's write deadline
	// moves past it; at Drain the one in flight is cancelled (the engine
	// deletes what a build wrote) and the page says so. cmd/storeserver
	// gives it --index-timeout.
	IndexTimeout time.Duration
	// MaxExports bounds the exports running at once, whoever runs them
	// (0: DefaultMaxExports); a principal runs one at a time. An export
	// holds its turn under Admit (a place among the storage API's
	// MaxRequestsInStore) and a read-only transaction for its whole run,
	// up to ten times Timeout: without the bound a few principals'
	// exports of large namespaces could take every place for minutes. One
	// beyond is 503 at once, before it asks for a turn; a principal's
	// second is 429 (its own export holds the place).
	MaxExports int
	// Admit, when set, is asked for the principal's turn before every
	// page that calls the store (the live tail apart, a stream);
	// leaveStore is called (maybe more than once) when the page starts to
	// be written (an export, which reads the store as it writes, apart),
	// done when it is written:
	// a client that reads a large page slowly then holds no place in the
	// store meanwhile (see httpapi.Handler.Admit); an error refuses the page with
	// 503 and the error's text, the store not called. Give it the storage
	// API's httpapi.Handler.Admit, so that the console's requests count
	// under the same bounds as the API's (MaxRequestsPerPrincipal,
	// MaxRequestsInStore) and wait their turn with them: without it a
	// principal could put as many requests in the store through the
	// console as it liked. cmd/storeserver does. p is the principal's
	// PKR (security.PKR.String); write is true for a form (POST), which
	// may change the store, false for a page (GET) that reads it.
	Admit func(ctx context.Context, p string, write bool) (leaveStore, done func(), err error)
	// AdmitScan, when set, is asked instead of Admit before the pages
	// whose store calls are scans: the entries page (a listing, which may
	// take a pattern), the query page (a filter and sort no index may
	// serve), the namespaces page (a count of each of up to
	// NamespacesPage namespaces) and a namespace's delete confirmation (a
	// count), whose cost grows with the namespaces rather than with the
	// page. Give it the storage API's httpapi.Handler.AdmitScan, so that
	// they count under its MaxScansInStore as the API's list, query and
	// count do: without it a principal's console queries of a large
	// namespace could hold every reader while another principal's get
	// waits. cmd/storeserver does. Nil: those pages are asked of Admit as
	// reads.
	AdmitScan func(ctx context.Context, p string) (leaveStore, done func(), err error)
	// AdmitIndex, when set, is asked instead of Admit before the forms
	// that create and drop an index. Give it the storage API's
	// httpapi.Handler.AdmitIndex, so that they run one at a time in the
	// store with the API's createIndex and dropIndex, apart from the
	// writes, and wait their turn (up to Timeout) with them.
	// cmd/storeserver does. Nil: they are asked of Admit as writes.
	AdmitIndex func(ctx context.Context, p string) (leaveStore, done func(), err error)
	// Logger receives errors the console hides from the page; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Handler serves the console. It is safe for concurrent use.
type Handler struct {
	cfg   Config
	log   *slog.Logger
	mux   *http.ServeMux
	sess  *sessions
	pages map[string]*template.Template
	all   func(context.Context) bool

	drained chan struct{} // closed by Drain: the live tails end
	drain   sync.Once

	tails    *perkey.Counts // open live tails by principal
	allTails *perkey.Counts // open live tails of every principal, under one key "" (MaxTails)

	signinLimit *throttle // nil: sign-ins are not throttled

	exportsBy *perkey.Counts // running exports by principal (one each)
	exports   chan struct{}  // running exports, at most Config.MaxExports
}

var _ http.Handler = (*Handler)(nil)

// New returns the console's handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil || cfg.Auth == nil {
		return nil, errors.New("console: Config.Store and Config.Auth are required")
	}
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = DefaultSessionIdle
	}
	if cfg.SessionMax <= 0 {
		cfg.SessionMax = DefaultSessionMax
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.MaxSessionsPerPrincipal <= 0 {
		cfg.MaxSessionsPerPrincipal = DefaultMaxSessionsPerPrincipal
	}
	cfg.MaxSessionsPerPrincipal = min(cfg.MaxSessionsPerPrincipal, cfg.MaxSessions)
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = httpapi.DefaultMaxBodyBytes
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.IndexTimeout <= 0 {
		cfg.IndexTimeout = httpapi.DefaultIndexTimeout
	}
	cfg.IndexTimeout = max(cfg.IndexTimeout, cfg.Timeout)
	if cfg.MaxTailsPerPrincipal <= 0 {
		cfg.MaxTailsPerPrincipal = DefaultMaxTailsPerPrincipal
	}
	if cfg.MaxTails <= 0 {
		cfg.MaxTails = DefaultMaxTails
	}
	cfg.MaxTails = max(cfg.MaxTails, cfg.MaxTailsPerPrincipal)
	if cfg.MaxExports <= 0 {
		cfg.MaxExports = DefaultMaxExports
	}
	h := &Handler{tails: &perkey.Counts{Max: cfg.MaxTailsPerPrincipal}, allTails: &perkey.Counts{Max: cfg.MaxTails}, exportsBy: &perkey.Counts{Max: 1},
		exports: make(chan struct{}, cfg.MaxExports), cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(),
		sess: &sessions{idle: cfg.SessionIdle, max: cfg.SessionMax, limit: cfg.MaxSessions,
			perPK: cfg.MaxSessionsPerPrincipal, now: time.Now, m: make(map[string]*session)},
		all: func(context.Context) bool { return false }, drained: make(chan struct{})}
	if h.log == nil {
		h.log = slog.Default()
	}
	if cfg.SigninBurst >= 0 {
		h.signinLimit = newThrottle(cmp.Or(cfg.SigninBurst, DefaultSigninBurst), cmp.Or(max(cfg.SigninEvery, 0), DefaultSigninEvery),
			cmp.Or(max(cfg.SigninAddrs, 0), DefaultSigninAddrs))
	}
	if h.cfg.ClientAddr == nil {
		h.cfg.ClientAddr = remoteAddr
	}
	if ra, ok := cfg.Store.(interface{ ReadsEverything(context.Context) bool }); ok {
		h.all = ra.ReadsEverything
	}
	var err error
	if h.pages, err = parsePages(); err != nil {
		return nil, err
	}
	h.routes()
	return h, nil
}

func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := make(map[string]*template.Template)
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", n, err)
		}
		pages[base] = t
	}
	return pages, nil
}

func (h *Handler) routes() {
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix(Prefix+"static/", http.FileServerFS(static))
	h.mux.Handle("GET "+Prefix+"static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	}))
	h.mux.HandleFunc("GET "+Prefix+"{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix+"namespaces", http.StatusSeeOther)
	})
	h.mux.HandleFunc("GET "+Prefix+"signin", h.signinPage)
	h.mux.HandleFunc("POST "+Prefix+"signin", h.signin)
	h.mux.HandleFunc("POST "+Prefix+"signout", h.in(h.signout))
	h.mux.HandleFunc("GET "+Prefix+"namespaces", h.inScan(h.namespaces))
	h.mux.HandleFunc("POST "+Prefix+"namespaces/create", h.in(h.createNamespace))
	h.mux.HandleFunc("POST "+Prefix+"namespaces/index/create", h.inIndex(h.createIndex))
	h.mux.HandleFunc("POST "+Prefix+"namespaces/index/drop", h.inIndex(h.dropIndex))
	h.mux.HandleFunc("GET "+Prefix+"namespaces/delete", h.inScan(h.deleteNamespacePage))
	h.mux.HandleFunc("POST "+Prefix+"namespaces/delete", h.in(h.deleteNamespace))
	h.mux.HandleFunc("GET "+Prefix+"entries", h.inScan(h.entries))
	h.mux.HandleFunc("GET "+Prefix+"entry", h.in(h.entry))
	h.mux.HandleFunc("GET "+Prefix+"entry/download", h.in(h.download))
	h.mux.HandleFunc("GET "+Prefix+"entry/new", h.in(h.newEntry))
	h.mux.HandleFunc("POST "+Prefix+"entry/save", h.in(h.saveEntry))
	h.mux.HandleFunc("GET "+Prefix+"entry/delete", h.in(h.deleteEntryPage))
	h.mux.HandleFunc("POST "+Prefix+"entry/delete", h.in(h.deleteEntry))
	h.mux.HandleFunc("GET "+Prefix+"query", h.inScan(h.query))
	h.mux.HandleFunc("GET "+Prefix+"status", h.in(h.status))
	h.mux.HandleFunc("GET "+Prefix+"status/changes", h.signedIn(0, false, h.changes))
	h.mux.HandleFunc("GET "+Prefix+"export", h.signedInBounded(0, true, admitPlain, h.exportSlot, h.export))
}

// ServeHTTP implements http.Handler: it sets the security headers every
// response carries, then routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	hd.Set("Cache-Control", "no-store")
	if _, pattern := h.mux.Handler(r); pattern == "" {
		h.render(w, r, http.StatusNotFound, "error", nil, &view{Title: "Not found",
			Error: "There is no console page at this address."})
		return
	}
	if r.Method == http.MethodPost {
		// The form is read here, so that one too large is refused as
		// such, not as a form without its CSRF token (cut off with the
		// rest of it).
		r.Body = http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes)
		if err := r.ParseForm(); err != nil {
			if mb := (*http.MaxBytesError)(nil); errors.As(err, &mb) {
				h.render(w, r, http.StatusRequestEntityTooLarge, "error", nil, &view{Title: "Form too large",
					Error: fmt.Sprintf("The form is larger than this console takes (%d bytes); nothing was done.", mb.Limit)})
				return
			}
			h.render(w, r, http.StatusBadRequest, "error", nil, &view{Title: "Form refused",
				Error: "The form could not be read; nothing was done."})
			return
		}
	}
	h.mux.ServeHTTP(w, r)
}

// sessionKey is the context key of the request's session.
type sessionKey struct{}

// in wraps a page that needs a signed-in session: without one a GET is sent
// to the sign-in page and anything else refused. A POST must come from
// this console (sameOrigin) and carry the session's CSRF token. The page
// runs with the session's principal in its context, with the Timeout.
func (h *Handler) in(page func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return h.signedIn(h.cfg.Timeout, true, page)
}

// inScan is in for a page whose store calls are scans: its turn is
// asked of Config.AdmitScan when set.
func (h *Handler) inScan(page func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return h.signedInBounded(h.cfg.Timeout, true, admitScan, nil, page)
}

// inIndex is in for the forms that create and drop an index: their turn
// is asked of Config.AdmitIndex when set, they run for up to
// Config.IndexTimeout, with the response's write deadline past it, and
// Drain cancels them.
func (h *Handler) inIndex(page func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return h.signedInBounded(h.cfg.IndexTimeout, true, admitIndex, nil, page)
}

// How a page's turn is asked (signedInBounded): of Config.Admit, of
// Config.AdmitScan for a scan, of Config.AdmitIndex for an index build
// or drop (each falling back to Admit when unset).
const (
	admitPlain = iota
	admitScan
	admitIndex
)

// signedIn is in with a timeout of its own, 0 meaning none (a stream,
// which ends when the client goes away, or a page that sets its own);
// admit tells whether the page waits for its turn under Config.Admit.
func (h *Handler) signedIn(timeout time.Duration, admit bool, page func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return h.signedInBounded(timeout, admit, admitPlain, nil, page)
}

// signedInBounded is signedIn where, when bound is not nil, the page
// first takes a place of its own (before its turn under Config.Admit):
// bound returns the func that gives it back, or the HTTP status (429,
// 503) and text of a refusal when there is none. kind tells how its turn is asked (admitPlain,
// admitScan, admitIndex).
func (h *Handler) signedInBounded(timeout time.Duration, admit bool, kind int, bound func(p string) (func(), int, string),
	page func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var ss *session
		if c, err := r.Cookie(sessionCookie); err == nil {
			ss, _ = h.sess.get(c.Value)
		}
		if ss == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, Prefix+"signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			h.render(w, r, http.StatusUnauthorized, "error", nil, &view{Title: "Signed out",
				Error: "You are not signed in (or your session expired). Sign in and try again."})
			return
		}
		if r.Method == http.MethodPost && (!sameOrigin(r) || !tokensEqual(r.PostFormValue("csrf"), ss.csrf)) {
			h.csrfFailed(w, r, ss)
			return
		}
		ctx := security.WithPrincipal(r.Context(), ss.pkr)
		if bound != nil {
			done, status, refusal := bound(ss.pkr.String())
			if done == nil {
				h.render(w, r, status, "error", ss, &view{Title: "Busy", Error: refusal})
				return
			}
			defer done()
		}
		if admit && h.cfg.Admit != nil {
			var (
				leave, done func()
				err         error
			)
			switch {
			case kind == admitScan && h.cfg.AdmitScan != nil:
				leave, done, err = h.cfg.AdmitScan(ctx, ss.pkr.String())
			case kind == admitIndex && h.cfg.AdmitIndex != nil:
				leave, done, err = h.cfg.AdmitIndex(ctx, ss.pkr.String())
			default:
				leave, done, err = h.cfg.Admit(ctx, ss.pkr.String(), r.Method == http.MethodPost)
			}
			if err != nil {
				h.render(w, r, http.StatusServiceUnavailable, "error", ss, &view{Title: "Busy",
					Error: "The store is busy: " + err.Error()})
				return
			}
			defer done()
			if bound == nil {
				// A page is rendered whole before it is written: the
				// store is done with by its first byte.
				w = &leaveOnWrite{ResponseWriter: w, leave: leave}
			}
		}
		if timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		if kind == admitIndex {
			// The server's write timeout runs from the request's start;
			// the page comes after the build (see
			// httpapi.Config.IndexTimeout).
			rc := http.NewResponseController(w)
			_ = rc.SetWriteDeadline(time.Now().Add(timeout + h.cfg.Timeout))
			defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
			var cancel context.CancelFunc
			ctx, cancel = contextUntil(r.WithContext(ctx), h.drained)
			defer cancel()
		}
		ctx = context.WithValue(ctx, sessionKey{}, ss)
		page(w, r.WithContext(ctx), ss)
	}
}

// leaveOnWrite calls leave before the first byte or header of the
// response it writes.
type leaveOnWrite struct {
	http.ResponseWriter
	leave func()
}

func (l *leaveOnWrite) WriteHeader(status int) {
	l.leave()
	l.ResponseWriter.WriteHeader(status)
}

func (l *leaveOnWrite) Write(p []byte) (int, error) {
	l.leave()
	return l.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (l *leaveOnWrite) Unwrap() http.ResponseWriter { return l.ResponseWriter }

func (h *Handler) csrfFailed(w http.ResponseWriter, r *http.Request, ss *session) {
	h.render(w, r, http.StatusForbidden, "error", ss, &view{Title: "Form refused",
		Error: "This form did not come from this console's page, or it has expired. Go back, reload the page and try again."})
}

// sameOrigin reports whether a state-changing request comes from a page of
// this server, as far as the browser tells: Sec-Fetch-Site, when sent,
// must be same-origin (or none: typed by the user); Origin, when sent,
// must name this host. Browsers send at least one of them with every POST.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	return true
}

// secure reports whether cookies get the Secure flag.
func (h *Handler) secure(r *http.Request) bool { return h.cfg.SecureCookies || r.TLS != nil }

func (h *Handler) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: Prefix, MaxAge: maxAge,
		HttpOnly: true, Secure: h.secure(r), SameSite: http.SameSiteStrictMode})
}

// view is what every page template gets: the layout's fields and the
// page's own Data.
type view struct {
	Title     string
	Principal string // the signed-in principal's PKR; "" on the sign-in page
	CSRF      string // the session's CSRF token for the forms
	Nav       string // the active navigation item
	Notice    string // a success message
	Error     string // a failure message (role=alert)
	Data      any
}

// render writes page with status. A template error is logged, and the
// client gets a plain 500.
func (h *Handler) render(w http.ResponseWriter, _ *http.Request, status int, page string, ss *session, v *view) {
	if ss != nil {
		v.Principal, v.CSRF = ss.pkr.String(), ss.csrf
	}
	var buf bytes.Buffer
	if err := h.pages[page].Execute(&buf, v); err != nil {
		h.log.Error("console: rendering a page", "page", page, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail renders the error page for a store error: its HTTP status and
// message as the routes map them (403 for a denial, 404 for a missing key,
// 409 for a conflict, 400 for invalid input). Internal errors are logged
// and shown as such, without detail.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, ss *session, title string, err error) {
	status, msg := h.errorStatus(r, err)
	h.render(w, r, status, "error", ss, &view{Title: title, Error: msg})
}

// errorStatus is the HTTP status and the message of a store error met
// by r; an internal one (5xx), whose message sends the reader to the
// server's log, is logged. Every page shows a store error through it.
func (h *Handler) errorStatus(r *http.Request, err error) (int, string) {
	status, msg := storeErrorStatus(err)
	if status >= 500 {
		h.log.Error("console: store error", "path", r.URL.Path, "error", err)
	}
	return status, msg
}

// storeErrorStatus is the HTTP status and the message of a store error.
func storeErrorStatus(err error) (int, string) {
	code := routes.CodeOf(err)
	status := routes.HTTPStatus(code)
	switch {
	case errors.Is(err, storage.ErrPermissionDenied):
		return status, "Permission denied: your principal may not do this here."
	case status >= 500:
		return status, "The store could not do this (" + code + "); the server's log has the details."
	}
	return status, err.Error()
}

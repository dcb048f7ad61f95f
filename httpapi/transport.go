package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mycelia-kernel/storage/routes"
)

// DefaultMaxResponseBytes is the default limit on a response's size at the
// client: a Query page of large values is bigger than any request.
const DefaultMaxResponseBytes = 256 << 20

// Transport calls the routes of a storage server over HTTP: it implements
// client.Transport, so client.New(ctx, transport) is a storage.Store on the
// network. It is safe for concurrent use and keeps its connections alive
// between calls.
type Transport struct {
	base    string // scheme://host[/path] without a trailing slash
	auth    string // "Bearer TOKEN", or "" for none
	hc      *http.Client
	maxResp int64
	// silent is how long a stream may send nothing (not even a
	// keep-alive) before Stream takes it for broken.
	silent time.Duration
}

// TransportOption configures NewTransport.
type TransportOption func(*Transport) error

// WithHTTPClient makes the transport send its requests with c instead of
// its own client (for TLS settings, proxies, or a test server's client).
// c's Timeout, if any, applies on top of each call's context: it must
// leave createIndex and dropIndex the server's Config.IndexTimeout (10
// minutes by default), or a build over a large namespace is cut by the
// client (the server then cancels it and deletes what it built). The
// transport's own client sets none: each call's context bounds it.
func WithHTTPClient(c *http.Client) TransportOption {
	return func(t *Transport) error {
		if c == nil {
			return errors.New("httpapi: WithHTTPClient(nil)")
		}
		t.hc = c
		return nil
	}
}

// WithMaxResponseBytes limits the size of a response; a larger one is an
// error. The default is DefaultMaxResponseBytes.
func WithMaxResponseBytes(n int64) TransportOption {
	return func(t *Transport) error {
		if n <= 0 {
			return fmt.Errorf("httpapi: WithMaxResponseBytes(%d): want a positive size", n)
		}
		t.maxResp = n
		return nil
	}
}

// DefaultStreamSilence is how long a stream (storage://watch) may send
// nothing before the transport takes it for broken: three of the server's
// keep-alive periods (it sends an empty line every 15 seconds on an idle
// stream).
const DefaultStreamSilence = 45 * time.Second

// WithStreamSilence sets how long a stream may send nothing, not even a
// keep-alive line, before Stream ends it as broken (the default is
// DefaultStreamSilence). A connection that went dark without a word (a
// stalled proxy, a host that vanished, a network partition) delivers
// nothing and reports no error: without this bound a watch would wait on
// it for ever instead of resuming elsewhere.
func WithStreamSilence(d time.Duration) TransportOption {
	return func(t *Transport) error {
		if d <= 0 {
			return fmt.Errorf("httpapi: WithStreamSilence(%v): want a positive duration", d)
		}
		t.silent = d
		return nil
	}
}

// NewTransport returns a transport to the server at baseURL (http or
// https, for example "http://127.0.0.1:8080"; a path prefix is kept)
// that authenticates with token as a bearer token. An empty token sends no
// Authorization header, for a server that allows anonymous access.
//
// Without WithHTTPClient the transport has its own connection pool, which
// keeps up to 64 idle connections to the server so that concurrent callers
// reuse connections instead of opening new ones.
func NewTransport(baseURL, token string, opts ...TransportOption) (*Transport, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("httpapi: base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("httpapi: base URL %q: want http://HOST[:PORT] or https://…", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("httpapi: base URL %q: no query, fragment or user info allowed", baseURL)
	}
	if strings.ContainsAny(token, "\r\n\x00 \t") {
		return nil, errors.New("httpapi: the token holds white space or control characters")
	}
	t := &Transport{
		base:    strings.TrimSuffix(u.String(), "/"),
		maxResp: DefaultMaxResponseBytes,
		silent:  DefaultStreamSilence,
	}
	if token != "" {
		t.auth = "Bearer " + token
	}
	for _, o := range opts {
		if err := o(t); err != nil {
			return nil, err
		}
	}
	if t.hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns = 64
		tr.MaxIdleConnsPerHost = 64
		tr.IdleConnTimeout = 90 * time.Second
		t.hc = &http.Client{Transport: tr}
	}
	return t, nil
}

// CloseIdleConnections closes the idle connections of the transport's
// HTTP client.
func (t *Transport) CloseIdleConnections() { t.hc.CloseIdleConnections() }

// Call implements client.Transport: it POSTs body to /v1/storage/{op} for
// the route storage://{op} and returns the envelope the server answered,
// whatever its success (an error envelope is a result, not an error). A
// route that is not storage://{op} is answered locally with an
// unknown_route envelope, as routes.Mux does.
//
// The error is non-nil only when no envelope came back: the request could
// not be sent or the connection failed (the error wraps the cause, so
// errors.Is(err, context.DeadlineExceeded) works), the response was larger
// than the limit, or it was not an envelope (a proxy's error page, say);
// the message names the route, the URL and what arrived. A call whose
// request was sent but whose answer was lost may or may not have taken
// effect.
func (t *Transport) Call(ctx context.Context, route string, body []byte) ([]byte, error) {
	resp, endpoint, unknown, err := t.post(ctx, route, body, "application/json")
	if resp == nil {
		return unknown, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, t.maxResp+1))
	if err != nil {
		return nil, fmt.Errorf("httpapi: %s: POST %s: HTTP %s, reading the response: %w", route, endpoint, resp.Status, err)
	}
	if int64(len(data)) > t.maxResp {
		return nil, fmt.Errorf("httpapi: %s: POST %s: HTTP %s, the response is larger than %d bytes", route, endpoint, resp.Status, t.maxResp)
	}
	if why := notEnvelope(data); why != "" {
		return nil, fmt.Errorf("httpapi: %s: POST %s: HTTP %s, %s: %s", route, endpoint, resp.Status, why, snippet(data))
	}
	return data, nil
}

// post POSTs body to the endpoint of route, accepting accept. A route
// that is not storage://{op} gets an unknown_route envelope (and no
// response); a failure to send, an error.
func (t *Transport) post(ctx context.Context, route string, body []byte, accept string) (resp *http.Response, endpoint string, unknown []byte, err error) {
	op, ok := strings.CutPrefix(route, RoutePrefix)
	if !ok || !validOp(op) {
		return nil, "", routes.ErrorEnvelope(routes.CodeUnknownRoute, fmt.Sprintf("unknown route %q", route)), nil
	}
	endpoint = t.base + StoragePrefix + op
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, endpoint, nil, fmt.Errorf("httpapi: %s: %w", route, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", accept)
	if t.auth != "" {
		req.Header.Set("Authorization", t.auth)
	}
	resp, err = t.hc.Do(req)
	if err != nil {
		return nil, endpoint, nil, fmt.Errorf("httpapi: %s: %w", route, err)
	}
	return resp, endpoint, nil, nil
}

// notEnvelope says why data is not an envelope, or returns "".
func notEnvelope(data []byte) string {
	var env struct {
		Success *bool `json:"success"`
		Error   *struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return "the response is not a JSON envelope"
	}
	switch {
	case env.Success == nil:
		return `the response has no boolean "success"`
	case !*env.Success && (env.Error == nil || env.Error.Code == ""):
		return "the error response has no error code"
	}
	return ""
}

// snippet quotes the start of data for an error message.
func snippet(data []byte) string {
	const n = 200
	if len(data) > n {
		return fmt.Sprintf("%q…", data[:n])
	}
	return fmt.Sprintf("%q", data)
}

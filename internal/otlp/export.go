package otlp

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Config.
const (
	DefaultQueueSize     = 2048
	DefaultBatchSize     = 512
	DefaultFlushInterval = 5 * time.Second
	DefaultTimeout       = 10 * time.Second
	// errorLogInterval is the least time between two logged export
	// errors; the errors between are counted, and the next record says
	// how many were not logged.
	errorLogInterval = time.Minute
	// ScopeName is the instrumentation scope of the spans.
	ScopeName = "github.com/mycelia-kernel/storage/cmd/storeserver"
)

// Config configures an Exporter.
type Config struct {
	// URL is where spans are posted: the collector's OTLP/HTTP traces
	// endpoint, such as http://localhost:4318/v1/traces.
	URL string
	// Headers are added to every export request (authentication).
	Headers map[string]string
	// ServiceName and ServiceVersion are the resource's service.name and
	// service.version.
	ServiceName, ServiceVersion string
	// SampleRatio is the share of new traces recorded, from 0 to 1; a
	// trace begun by a caller's traceparent follows its sampled flag.
	SampleRatio float64
	// QueueSize bounds the spans waiting for export: a span ended while
	// the queue is full is dropped and counted. 0 means DefaultQueueSize.
	QueueSize int
	// BatchSize is the most spans one request carries. 0 means
	// DefaultBatchSize.
	BatchSize int
	// FlushInterval is the longest a span waits in the queue before it
	// is sent. 0 means DefaultFlushInterval.
	FlushInterval time.Duration
	// Timeout bounds one export request. 0 means DefaultTimeout.
	Timeout time.Duration
	// Client sends the requests; nil means a client of its own.
	Client *http.Client
	// Logger receives the export errors, at most one record a minute;
	// nil means slog.Default().
	Logger *slog.Logger
}

// Stats are an Exporter's counters since it was made.
type Stats struct {
	// Exported counts the spans a collector accepted.
	Exported uint64
	// DroppedQueueFull counts the spans dropped because the queue was
	// full (or the exporter was shut down).
	DroppedQueueFull uint64
	// DroppedExportFailed counts the spans of failed export requests.
	DroppedExportFailed uint64
	// ExportErrors counts the failed export requests.
	ExportErrors uint64
}

// Exporter batches ended spans and posts them to an OTLP/HTTP collector
// in the JSON encoding, from a goroutine of its own: ending a span never
// waits for the network. Make it with New; call Shutdown to send what is
// queued and stop.
type Exporter struct {
	cfg      Config
	ratio    float64
	queue    chan spanData
	flush    chan chan struct{}
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	closed   atomic.Bool

	exported, droppedFull, droppedFailed, exportErrors atomic.Uint64

	logMu      sync.Mutex // protects lastLog and unlogged
	lastLog    time.Time
	unlogged   int
	resourceJS json.RawMessage
	// ctx is the export requests' context, cancelled when Shutdown's
	// context ends before the queue is sent.
	ctx    context.Context
	cancel context.CancelFunc
}

// New starts an exporter.
func New(cfg Config) (*Exporter, error) {
	if cfg.URL == "" {
		return nil, errors.New("otlp: no endpoint URL")
	}
	if cfg.SampleRatio < 0 || cfg.SampleRatio > 1 {
		return nil, fmt.Errorf("otlp: sample ratio %v: want 0 to 1", cfg.SampleRatio)
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = DefaultFlushInterval
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	res := []jsAttr{attrJSON(String("service.name", cfg.ServiceName))}
	if cfg.ServiceVersion != "" {
		res = append(res, attrJSON(String("service.version", cfg.ServiceVersion)))
	}
	resJS, err := json.Marshal(map[string]any{"attributes": res})
	if err != nil {
		return nil, err
	}
	e := &Exporter{
		cfg: cfg, ratio: cfg.SampleRatio, resourceJS: resJS,
		queue: make(chan spanData, cfg.QueueSize),
		flush: make(chan chan struct{}),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	go e.run()
	return e, nil
}

// Stats returns the exporter's counters.
func (e *Exporter) Stats() Stats {
	return Stats{
		Exported:            e.exported.Load(),
		DroppedQueueFull:    e.droppedFull.Load(),
		DroppedExportFailed: e.droppedFailed.Load(),
		ExportErrors:        e.exportErrors.Load(),
	}
}

// enqueue queues an ended span, or drops and counts it when the queue is
// full or the exporter stopped: it never blocks.
func (e *Exporter) enqueue(d spanData) {
	if e.closed.Load() {
		e.droppedFull.Add(1)
		return
	}
	select {
	case e.queue <- d:
	default:
		e.droppedFull.Add(1)
	}
}

// Flush sends every span queued so far and returns once they were
// posted (or failed), or when ctx ends.
func (e *Exporter) Flush(ctx context.Context) error {
	ack := make(chan struct{})
	select {
	case e.flush <- ack:
	case <-e.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ack:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Shutdown stops accepting spans, sends those queued, and stops. It
// returns ctx's error if ctx ends first (the last request is then cut
// off).
func (e *Exporter) Shutdown(ctx context.Context) error {
	e.stopOnce.Do(func() {
		e.closed.Store(true)
		close(e.stop)
	})
	select {
	case <-e.done:
		return nil
	case <-ctx.Done():
		e.cancel()
		return ctx.Err()
	}
}

// run collects spans into batches and sends one when it is full, at every
// flush interval, on Flush, and at Shutdown.
func (e *Exporter) run() {
	defer close(e.done)
	defer e.cancel()
	ctx := e.ctx
	tick := time.NewTicker(e.cfg.FlushInterval)
	defer tick.Stop()
	batch := make([]spanData, 0, e.cfg.BatchSize)
	send := func() {
		if len(batch) > 0 {
			e.export(ctx, batch)
			batch = batch[:0]
		}
	}
	drain := func() {
		for {
			select {
			case d := <-e.queue:
				if batch = append(batch, d); len(batch) == e.cfg.BatchSize {
					send()
				}
			default:
				send()
				return
			}
		}
	}
	for {
		select {
		case d := <-e.queue:
			if batch = append(batch, d); len(batch) == e.cfg.BatchSize {
				send()
			}
		case <-tick.C:
			send()
		case ack := <-e.flush:
			drain()
			close(ack)
		case <-e.stop:
			drain()
			return
		}
	}
}

// export posts one batch.
func (e *Exporter) export(parent context.Context, batch []spanData) {
	body, err := e.encode(batch)
	if err == nil {
		err = e.post(parent, body)
	}
	if err != nil {
		e.exportErrors.Add(1)
		e.droppedFailed.Add(uint64(len(batch)))
		e.logError(err, len(batch))
		return
	}
	e.exported.Add(uint64(len(batch)))
}

func (e *Exporter) post(parent context.Context, body []byte) error {
	ctx, cancel := context.WithTimeout(parent, e.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range e.cfg.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("collector answered %s", resp.Status)
	}
	return nil
}

// logError logs an export error, at most once per errorLogInterval.
func (e *Exporter) logError(err error, spans int) {
	e.logMu.Lock()
	now := time.Now()
	if !e.lastLog.IsZero() && now.Sub(e.lastLog) < errorLogInterval {
		e.unlogged++
		e.logMu.Unlock()
		return
	}
	e.lastLog = now
	unlogged := e.unlogged
	e.unlogged = 0
	e.logMu.Unlock()
	e.cfg.Logger.Error("trace export failed; spans dropped", "url", e.cfg.URL, "error", err,
		"spans", spans, "unloggedErrors", unlogged)
}

// The OTLP JSON encoding (the protobuf JSON mapping of
// ExportTraceServiceRequest): ids in hex, 64-bit integers as decimal
// strings, enums as numbers.
type (
	jsAttr struct {
		Key   string         `json:"key"`
		Value map[string]any `json:"value"`
	}
	jsStatus struct {
		Code    StatusCode `json:"code,omitempty"`
		Message string     `json:"message,omitempty"`
	}
	jsSpan struct {
		TraceID      string   `json:"traceId"`
		SpanID       string   `json:"spanId"`
		ParentSpanID string   `json:"parentSpanId,omitempty"`
		Name         string   `json:"name"`
		Kind         SpanKind `json:"kind"`
		Start        string   `json:"startTimeUnixNano"`
		End          string   `json:"endTimeUnixNano"`
		Attributes   []jsAttr `json:"attributes,omitempty"`
		Status       jsStatus `json:"status"`
	}
)

func attrJSON(a Attr) jsAttr {
	var v map[string]any
	switch x := a.Value.(type) {
	case string:
		v = map[string]any{"stringValue": x}
	case int64:
		v = map[string]any{"intValue": strconv.FormatInt(x, 10)}
	case bool:
		v = map[string]any{"boolValue": x}
	case float64:
		v = map[string]any{"doubleValue": x}
	default:
		v = map[string]any{"stringValue": fmt.Sprint(x)}
	}
	return jsAttr{Key: a.Key, Value: v}
}

// encode makes the request body of a batch.
func (e *Exporter) encode(batch []spanData) ([]byte, error) {
	spans := make([]jsSpan, len(batch))
	for i, d := range batch {
		s := jsSpan{
			TraceID: hex.EncodeToString(d.traceID[:]),
			SpanID:  hex.EncodeToString(d.spanID[:]),
			Name:    d.name,
			Kind:    d.kind,
			Start:   strconv.FormatInt(d.start.UnixNano(), 10),
			End:     strconv.FormatInt(d.end.UnixNano(), 10),
			Status:  jsStatus{Code: d.status, Message: d.message},
		}
		if d.parent != (SpanID{}) {
			s.ParentSpanID = hex.EncodeToString(d.parent[:])
		}
		for _, a := range d.attrs {
			s.Attributes = append(s.Attributes, attrJSON(a))
		}
		spans[i] = s
	}
	return json.Marshal(map[string]any{"resourceSpans": []any{map[string]any{
		"resource": e.resourceJS,
		"scopeSpans": []any{map[string]any{
			"scope": map[string]string{"name": ScopeName},
			"spans": spans,
		}},
	}}})
}

package otlp

import (
	"fmt"
	"net/url"
	"strings"
)

// The environment variables of the OpenTelemetry exporter specification
// that storeserver reads.
const (
	EnvEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	EnvHeaders        = "OTEL_EXPORTER_OTLP_HEADERS"
	EnvTracesHeaders  = "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
	EnvServiceName    = "OTEL_SERVICE_NAME"
	TracesPath        = "/v1/traces"
)

// TracesURL returns where to post spans, "" when tracing is off. endpoint
// (the --otlp-endpoint flag) and $OTEL_EXPORTER_OTLP_ENDPOINT are a
// collector's base URL, to which /v1/traces is appended (unless the path
// already ends with it); $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is the full
// URL, used as it is. The flag wins, then the traces variable, then the
// generic one. The URL must be http or https, with a host.
func TracesURL(endpoint string, getenv func(string) string) (string, error) {
	raw, base := endpoint, true
	if raw == "" {
		if raw = getenv(EnvTracesEndpoint); raw != "" {
			base = false
		} else {
			raw = getenv(EnvEndpoint)
		}
	}
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "", fmt.Errorf("OTLP endpoint %q: want http://HOST:PORT or https://HOST:PORT, without credentials (give them with --otlp-header)", raw)
	}
	if base && !strings.HasSuffix(u.Path, TracesPath) {
		u.Path = strings.TrimSuffix(u.Path, "/") + TracesPath
		u.RawPath = ""
	}
	return u.String(), nil
}

// ParseHeaders parses the exporter specification's header list,
// "key1=value1,key2=value2" with percent-encoded values, into h. A
// malformed entry is an error that does not quote the value (it may be a
// secret).
func ParseHeaders(h map[string]string, list string) error {
	for item := range strings.SplitSeq(list, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		if err := AddHeader(h, item, true); err != nil {
			return err
		}
	}
	return nil
}

// AddHeader adds one "key=value" header to h; with unescape, the value is
// percent-decoded.
func AddHeader(h map[string]string, item string, unescape bool) error {
	k, v, ok := strings.Cut(item, "=")
	k, v = strings.TrimSpace(k), strings.TrimSpace(v)
	if !ok || k == "" || !validToken(k) {
		return fmt.Errorf("OTLP header %q…: want KEY=VALUE", firstRunes(k, 20))
	}
	if unescape {
		d, err := url.PathUnescape(v)
		if err != nil {
			return fmt.Errorf("OTLP header %s: the value is not percent-encoded", k)
		}
		v = d
	}
	if strings.ContainsAny(v, "\r\n\x00") {
		return fmt.Errorf("OTLP header %s: the value holds a line break", k)
	}
	h[k] = v
	return nil
}

// validToken reports whether k is an HTTP header name.
func validToken(k string) bool {
	for _, c := range []byte(k) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func firstRunes(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		r = r[:n]
	}
	return string(r)
}

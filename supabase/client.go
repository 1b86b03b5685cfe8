package supabase

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/byok-go/byok/providers"
)

// Defaults of a [Client] built without options.
const (
	// DefaultTimeout bounds a whole call (connect, request, response body) made with the
	// default *http.Client. An injected client keeps its own Timeout.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxResponseBytes caps a response body; a larger one fails the call with
	// [ErrResponseTooLarge].
	DefaultMaxResponseBytes int64 = 1 << 20
	// DefaultSchema is the schema the functions live in, sent as Content-Profile.
	DefaultSchema = "public"
)

// drainBytes is how much of an unread body is discarded so that the connection can be
// reused; past it the connection is closed instead.
const drainBytes = 64 << 10

// ErrInvalidConfig: [New] refused its URL, key or options. Its text names the problem,
// never the URL or the key.
var ErrInvalidConfig = errors.New("supabase: invalid client configuration")

var _ Caller = (*Client)(nil)

// Client calls PostgreSQL functions over PostgREST: POST {url}/rest/v1/rpc/{fn}. It
// holds no mutable state after [New], never logs, and is safe for concurrent use.
// Every fmt verb and slog print only its host, never the key.
type Client struct {
	endpoint string // "{scheme}://{host}{path}/rest/v1/rpc/"
	host     string // for Format and LogValue
	key      providers.Secret
	bearer   bool // the key is a legacy JWT: also sent as Authorization: Bearer
	schema   string
	maxBytes int64
	hc       *http.Client
}

type config struct {
	hc       *http.Client
	maxBytes int64
	schema   string
}

// Option configures a [Client].
type Option interface{ apply(*config) }

type option func(*config)

func (o option) apply(c *config) { o(c) }

// WithHTTPClient sets the *http.Client that makes the calls; it is used as is (its
// Timeout, Transport and redirect policy). Nil, or no option, means a client with
// Timeout [DefaultTimeout] that never follows redirects: PostgREST answers an RPC
// without one, and following it would send the key to wherever it points.
func WithHTTPClient(c *http.Client) Option {
	return option(func(cfg *config) {
		if c != nil {
			cfg.hc = c
		}
	})
}

// WithMaxResponseBytes caps the response body. n <= 0, or no option, means
// [DefaultMaxResponseBytes].
func WithMaxResponseBytes(n int64) Option {
	return option(func(cfg *config) {
		if n > 0 {
			cfg.maxBytes = n
		}
	})
}

// WithSchema sets the schema the functions are called in, sent as the Content-Profile
// header; PostgREST must expose it. It must be a plain lowercase identifier, as for
// [ValidFunctionName], or [New] fails. "", or no option, means [DefaultSchema].
func WithSchema(name string) Option {
	return option(func(cfg *config) {
		if name != "" {
			cfg.schema = name
		}
	})
}

// New returns a Client for the Supabase project at url (e.g. https://abc.supabase.co;
// "/rest/v1" is appended unless url already ends with it) authenticated with
// serviceKey, the project's service role key.
//
// url must be https, or http for a loopback host (localhost, 127.0.0.0/8, ::1: a local
// Supabase stack or a test server), with no user info, query or fragment; a trailing
// slash is ignored. serviceKey is trimmed and must then be non-empty printable ASCII
// without spaces. It is always sent as the apikey header, and also as Authorization:
// Bearer when it is a legacy JWT key (three dot-separated parts); a new sb_secret_ key
// goes in apikey only.
//
// Errors wrap [ErrInvalidConfig] and never contain the URL or the key.
func New(url, serviceKey string, opts ...Option) (*Client, error) {
	cfg := config{maxBytes: DefaultMaxResponseBytes, schema: DefaultSchema}
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	if !ValidFunctionName(cfg.schema) {
		return nil, invalidConfig("schema must be a plain lowercase identifier")
	}
	endpoint, host, err := parseProjectURL(url)
	if err != nil {
		return nil, err
	}
	key := strings.TrimSpace(serviceKey)
	if key == "" {
		return nil, invalidConfig("empty service key")
	}
	for i := 0; i < len(key); i++ {
		if key[i] <= ' ' || key[i] >= 0x7f {
			return nil, invalidConfig("service key holds white space, control or non-ASCII characters")
		}
	}
	hc := cfg.hc
	if hc == nil {
		hc = &http.Client{
			Timeout: DefaultTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	return &Client{
		endpoint: endpoint,
		host:     host,
		key:      providers.NewSecret(key),
		bearer:   isJWT(key),
		schema:   cfg.schema,
		maxBytes: cfg.maxBytes,
		hc:       hc,
	}, nil
}

func invalidConfig(reason string) error { return fmt.Errorf("%w: %s", ErrInvalidConfig, reason) }

// parseProjectURL returns the RPC endpoint prefix (ending in "/rest/v1/rpc/") and the host.
func parseProjectURL(raw string) (endpoint, host string, err error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", "", invalidConfig("empty url")
	}
	if strings.ContainsAny(raw, "?#") {
		return "", "", invalidConfig("url must have no query or fragment")
	}
	u, perr := url.Parse(raw)
	if perr != nil { // its text quotes the URL
		return "", "", invalidConfig("url does not parse")
	}
	switch {
	case u.User != nil:
		return "", "", invalidConfig("url must have no user info")
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return "", "", invalidConfig("url must be absolute, with a host")
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return "", "", invalidConfig("url must use https (http only for a loopback host)")
	}
	path := strings.TrimRight(u.Path, "/")
	if !strings.HasSuffix(path, "/rest/v1") {
		path += "/rest/v1"
	}
	base := url.URL{Scheme: u.Scheme, Host: u.Host, Path: path + "/rpc/"}
	return base.String(), u.Host, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// isJWT reports whether key has the shape of a JWT: three non-empty dot-separated parts.
func isJWT(key string) bool {
	parts := strings.Split(key, ".")
	return len(parts) == 3 && parts[0] != "" && parts[1] != "" && parts[2] != ""
}

// Call implements [Caller]: it POSTs args, a JSON object of named arguments ({} when
// nil), to the function fn and decodes a 2xx body into out.
//
// A 204, or a 2xx with an empty body, leaves out untouched, as does a nil out. A body
// that does not decode into out fails with [ErrMalformedResponse]; out may then be
// partly written, as with encoding/json. Errors are [*Error] values:
//
//   - refused before any request, with [ErrInvalidArgument]: a nil ctx, fn not a
//     [ValidFunctionName], args that do not encode to a JSON object (a slice, a string,
//     null, a typed nil pointer), out neither nil nor a non-nil pointer;
//   - the caller's ctx ended: Err is ctx.Err(), so errors.Is finds context.Canceled or
//     context.DeadlineExceeded;
//   - no response: Err matches [ErrTransport] (the cause is reachable with errors.As, not
//     printed); when the *http.Client's own Timeout expired it also matches
//     context.DeadlineExceeded, and [IsRetryable] reports false, since the function may
//     still be running and the same timeout would likely expire again;
//   - a non-2xx answer: Status, and Code, Message, Details and Hint from PostgREST's
//     error body when it is one; any other body (a proxy's HTML page) leaves Code "" and
//     Err nil, so the classifiers judge by Status;
//   - a body over the size cap: Status and [ErrResponseTooLarge].
func (c *Client) Call(ctx context.Context, fn string, args any, out any) error {
	if ctx == nil || !ValidFunctionName(fn) {
		return &Error{Function: fn, Err: ErrInvalidArgument}
	}
	if out != nil {
		if v := reflect.ValueOf(out); v.Kind() != reflect.Pointer || v.IsNil() {
			return &Error{Function: fn, Err: ErrInvalidArgument}
		}
	}
	body := []byte("{}")
	if args != nil {
		b, err := json.Marshal(args) // the error text may quote argument values: dropped
		if err != nil || len(b) == 0 || b[0] != '{' {
			return &Error{Function: fn, Err: ErrInvalidArgument}
		}
		body = b
	}
	if err := ctx.Err(); err != nil {
		return &Error{Function: fn, Err: err}
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint+fn, bytes.NewReader(body))
	if err != nil { // unreachable: the method, URL and context are valid
		return &Error{Function: fn, Err: ErrInvalidArgument}
	}
	key := c.key.Reveal()
	req.Header.Set("apikey", key)
	if c.bearer {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Profile", c.schema)

	resp, err := c.hc.Do(req)
	if err != nil {
		return c.transportFailure(ctx, fn, 0, err)
	}
	data, tooLarge, err := readBody(resp.Body, c.maxBytes)
	if err != nil {
		return c.transportFailure(ctx, fn, resp.StatusCode, err)
	}
	if tooLarge {
		return &Error{Function: fn, Status: resp.StatusCode, Err: ErrResponseTooLarge}
	}

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeError(fn, resp.StatusCode, data)
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	// The body may hold a secret (a function can return one), and json's errors quote
	// it: the decoding error is dropped, not wrapped.
	if json.Unmarshal(data, out) != nil {
		return &Error{Function: fn, Status: resp.StatusCode, Err: ErrMalformedResponse}
	}
	return nil
}

func (c *Client) transportFailure(ctx context.Context, fn string, status int, cause error) error {
	if err := ctx.Err(); err != nil {
		return &Error{Function: fn, Status: status, Err: err}
	}
	var timeout interface{ Timeout() bool }
	t := errors.As(cause, &timeout) && timeout.Timeout()
	return &Error{Function: fn, Status: status, Err: &transportError{cause: cause, timeout: t}}
}

// transportError matches ErrTransport (and context.DeadlineExceeded after a timeout)
// and keeps the cause reachable for errors.As, but prints only ErrTransport's text:
// the cause's text names the URL.
type transportError struct {
	cause   error
	timeout bool
}

func (e *transportError) Error() string { return ErrTransport.Error() }

func (e *transportError) Unwrap() []error {
	if e.timeout {
		return []error{ErrTransport, context.DeadlineExceeded, e.cause}
	}
	return []error{ErrTransport, e.cause}
}

// readBody reads at most max bytes of body, reports whether there was more, and closes
// body after discarding a bounded remainder.
func readBody(body io.ReadCloser, max int64) (data []byte, tooLarge bool, err error) {
	defer func() {
		_, _ = io.CopyN(io.Discard, body, drainBytes)
		_ = body.Close()
	}()
	data, err = io.ReadAll(io.LimitReader(body, max+1))
	if err != nil {
		return nil, false, err
	}
	if int64(len(data)) > max {
		return nil, true, nil
	}
	return data, false, nil
}

// decodeError turns a non-2xx answer into an *Error, taking PostgREST's
// {code, message, details, hint} when the body is that object.
func decodeError(fn string, status int, data []byte) error {
	e := &Error{Function: fn, Status: status}
	var body struct {
		Code, Message, Details, Hint json.RawMessage
	}
	if json.Unmarshal(data, &body) != nil {
		return e // not a JSON object: a proxy's page, or nothing
	}
	if code := jsonText(body.Code); validCode(code) {
		e.Code = code
	}
	e.Message = jsonText(body.Message)
	e.Details = jsonText(body.Details)
	e.Hint = jsonText(body.Hint)
	return e
}

// jsonText returns a JSON string's value, "" for null or absent, and the compact JSON
// text of any other value (PostgREST's details can be an object).
func jsonText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return ""
	}
	return b.String()
}

// validCode reports whether code has the shape of a SQLSTATE (five digits or uppercase
// letters) or a PostgREST code (PGRST and digits). Error() prints Code, so anything else
// a server put there is dropped rather than printed.
func validCode(code string) bool {
	rest, pgrst := strings.CutPrefix(code, "PGRST")
	if pgrst {
		if rest == "" || len(rest) > 4 {
			return false
		}
		for i := 0; i < len(rest); i++ {
			if rest[i] < '0' || rest[i] > '9' {
				return false
			}
		}
		return true
	}
	if len(code) != 5 {
		return false
	}
	for i := 0; i < len(code); i++ {
		if (code[i] < '0' || code[i] > '9') && (code[i] < 'A' || code[i] > 'Z') {
			return false
		}
	}
	return true
}

// Format implements [fmt.Formatter]: every verb prints the type and host only.
func (c *Client) Format(f fmt.State, _ rune) {
	if c == nil {
		_, _ = io.WriteString(f, "<nil>")
		return
	}
	_, _ = io.WriteString(f, "supabase.Client{"+c.host+"}")
}

// LogValue implements [slog.LogValuer]: the host only.
func (c *Client) LogValue() slog.Value {
	if c == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(slog.String("host", c.host))
}

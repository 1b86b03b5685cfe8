package providers

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// AnthropicVersion is the anthropic-version header sent with an Anthropic key.
const AnthropicVersion = "2023-06-01"

// Reasons a [Validation] is not valid. A 4xx answer is read with [ClassifyFailure]; the
// reason names what its [Failure] says about the key.
const (
	// The provider refused the key: it does not know it ([FailureInvalidKey]), or it
	// answered a 4xx that says nothing more precise (a 400, 404, ..., or a 403 that is
	// not about the key's permissions). A [FailureModelNotAllowed] answer counts here
	// too: the checks name no model, so only a proxy or a changed API can give one, and
	// the key was not accepted. Also when the key was never sent: an unknown provider,
	// an empty key, or a key with anything but printable ASCII (white space, control
	// characters, ...), which could not be a real key and could inject a header.
	ReasonInvalidKey = "INVALID_KEY"
	// The provider knows the key, but its account cannot pay: no credit left, or a
	// spending limit reached ([FailureNoCredit]). Adding credit makes the same key work.
	ReasonInsufficientCredit = "INSUFFICIENT_CREDIT"
	// The provider knows the key but refuses it the check ([FailurePermission]): a
	// restricted key without the scope the check needs, a blocked team. Such a key may
	// still serve other requests (an OpenAI key allowed to call models but not to list
	// them).
	ReasonPermissionDenied = "PERMISSION_DENIED"
	// The provider answered 429, or another 4xx that [ClassifyFailure] reads as a rate
	// limit ([FailureRateLimited]): the key may be good, but it could not be checked now.
	ReasonRateLimited = "RATE_LIMITED"
	// No answer about the key: a transport error, a 5xx, a 3xx (redirects are not
	// followed), a malformed base-URL override, or the caller's ctx cancelled.
	ReasonNetworkError = "NETWORK_ERROR"
	// The check's deadline passed: [Validator.Timeout], the caller's ctx deadline, or a
	// timeout of the caller's own client or transport.
	ReasonRequestTimeout = "REQUEST_TIMEOUT"
)

const (
	defaultValidateTimeout = 5 * time.Second
	maxDrain               = 4 << 10 // bytes of a non-4xx response body read before closing it
)

// Validator checks keys against the providers' APIs, one GET per check on an
// authenticated endpoint that costs no tokens:
//
//	gateway     GET {base}/credits  Authorization: Bearer <key>
//	openai      GET {base}/models   Authorization: Bearer <key>
//	xai         GET {base}/models   Authorization: Bearer <key>
//	anthropic   GET {base}/v1/models  x-api-key: <key>, anthropic-version: 2023-06-01
//	openrouter  GET {base}/key      Authorization: Bearer <key> (its /models is public)
//
// base is the provider's [Spec] BaseURL unless BaseURLs overrides it. The zero value
// (and a nil *Validator) is ready to use. A Validator is safe for concurrent use as
// long as its fields are not changed meanwhile.
type Validator struct {
	// Client sends the requests: its transport, timeout and redirect policy, except that
	// a redirect to another scheme, host or port is never followed, whatever the policy
	// (Go drops only Authorization on such a redirect, and Anthropic's key travels in
	// x-api-key); the 3xx is then the answer, NETWORK_ERROR. Nil means a client on
	// [http.DefaultTransport] that follows no redirect at all.
	Client *http.Client

	// Timeout bounds each check, on top of the caller's ctx. Zero or negative means 5s.
	Timeout time.Duration

	// BaseURLs overrides a provider's base URL (a custom gateway, a test server). An
	// override must be an absolute http or https URL with a host and no user info,
	// query or fragment; any other gives NETWORK_ERROR without a request. An empty
	// string is no override. Overrides are trusted configuration: a gateway URL a user
	// supplied should pass [CheckGatewayURL] first.
	BaseURLs map[ID]string
}

// Validation is the outcome of one check. It never holds the key or the provider's
// answer beyond its status code.
type Validation struct {
	Valid  bool
	Reason string // "" when Valid; else ReasonInvalidKey, ReasonRateLimited, ...
	Status int    // the provider's HTTP status, 0 if none was received
}

// noRedirects is the client a Validator without one uses.
var noRedirects = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// maxRedirects is how many redirects a caller's client without a CheckRedirect follows,
// as net/http's default policy does.
const maxRedirects = 10

// sameOrigin returns a copy of c whose redirect policy first refuses to leave the original
// request's scheme and host (port included), then applies c's own policy, or net/http's
// default when c has none. Refusing answers the 3xx instead of following it.
func sameOrigin(c *http.Client) *http.Client {
	cc := *c
	next := c.CheckRedirect
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if o := via[0].URL; req.URL.Scheme != o.Scheme || req.URL.Host != o.Host {
			return http.ErrUseLastResponse
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= maxRedirects {
			return errors.New("providers: stopped after 10 redirects")
		}
		return nil
	}
	return &cc
}

// Validate checks key against provider id's API and reports what the provider said.
// A 2xx is valid. A 4xx is read with [ClassifyFailure], from its status and body:
// invalid_key is INVALID_KEY, insufficient_credit INSUFFICIENT_CREDIT,
// permission_denied PERMISSION_DENIED, rate_limited RATE_LIMITED; any other 4xx is
// RATE_LIMITED for a 429 and INVALID_KEY otherwise. 3xx, 5xx and transport errors are
// NETWORK_ERROR. Passing the deadline, the caller's or [Validator.Timeout], is
// REQUEST_TIMEOUT; the caller cancelling ctx is NETWORK_ERROR, since the check was
// given up rather than timed out. A ctx already done gives its result without a
// request. Once the status has arrived it decides, even if the body then stalls. At
// most 64 KiB of a 4xx body is read, and 4 KiB of any other.
func (v *Validator) Validate(ctx context.Context, id ID, key Secret) Validation {
	if v == nil {
		v = &Validator{}
	}
	spec, ok := id.Spec()
	if !ok || CheckKey(key.Reveal()) != nil {
		return Validation{Reason: ReasonInvalidKey}
	}
	endpoint, ok := v.endpoint(spec)
	if !ok {
		return Validation{Reason: ReasonNetworkError}
	}

	timeout := v.Timeout
	if timeout <= 0 {
		timeout = defaultValidateTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := ctx.Err(); err != nil {
		return Validation{Reason: failureReason(ctx, err)}
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return Validation{Reason: ReasonNetworkError}
	}
	Authorize(req.Header, id, key)
	req.Header.Set("Accept", "application/json")

	client := noRedirects
	if v.Client != nil {
		client = sameOrigin(v.Client)
	}
	resp, err := client.Do(req)
	if err != nil {
		res := Validation{Reason: failureReason(ctx, err)}
		if resp != nil { // a CheckRedirect error: the body is already closed
			res.Status = resp.StatusCode
		}
		return res
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode >= 400 && resp.StatusCode < 500 {
		// What arrived before an error or the deadline is classified; the status
		// alone decides if nothing readable did.
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxFailureBody))
		return fromFailure(resp.StatusCode, ClassifyFailure(id, resp.StatusCode, body))
	}
	// Read a little so a short answer can free the connection; closing with more
	// unread drops the connection instead of reading a large body to its end.
	_, _ = io.CopyN(io.Discard, resp.Body, maxDrain)
	return fromStatus(resp.StatusCode)
}

// endpoint returns the URL to check a key of provider s at, and false if s's base-URL
// override is malformed.
func (v *Validator) endpoint(s Spec) (string, bool) {
	base := s.BaseURL
	if o := v.BaseURLs[s.ID]; o != "" {
		if !validBase(o) {
			return "", false
		}
		base = o
	}
	path := "/models"
	switch s.ID {
	case Gateway:
		path = "/credits"
	case OpenRouter:
		path = "/key"
	case Anthropic: // its base URL is the host, as its SDK takes it
		path = "/v1/models"
	}
	return strings.TrimRight(base, "/") + path, true
}

// validBase reports whether raw is an absolute http or https URL with a host and no
// user info, query or fragment.
func validBase(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.Hostname() == "" || u.User != nil || strings.ContainsAny(raw, "?#") {
		return false
	}
	return u.Scheme == "http" || u.Scheme == "https" // Parse lower-cases the scheme
}

// Authorize sets the authentication headers of key for id on h: x-api-key and
// anthropic-version for Anthropic, "Authorization: Bearer <key>" for every other
// provider. It first removes both schemes' headers, so a reused header set never
// carries a second key; with a zero key it only removes them.
func Authorize(h http.Header, id ID, key Secret) {
	h.Del("Authorization")
	h.Del("X-Api-Key")
	if key.IsZero() {
		return
	}
	if id == Anthropic {
		h.Set("X-Api-Key", key.Reveal())
		h.Set("Anthropic-Version", AnthropicVersion)
		return
	}
	h.Set("Authorization", "Bearer "+key.Reveal())
}

// failureReason classifies an error from a request made under ctx.
func failureReason(ctx context.Context, err error) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return ReasonRequestTimeout
	}
	if ctx.Err() != nil { // the caller cancelled
		return ReasonNetworkError
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() { // the caller's client or transport timed out
		return ReasonRequestTimeout
	}
	return ReasonNetworkError
}

// fromStatus maps a provider's HTTP status other than 4xx to a Validation.
func fromStatus(code int) Validation {
	res := Validation{Status: code}
	if code >= 200 && code < 300 {
		res.Valid = true
	} else { // 3xx (not followed), 5xx, anything else
		res.Reason = ReasonNetworkError
	}
	return res
}

// fromFailure maps a provider's 4xx status and what ClassifyFailure read in it to a
// Validation.
func fromFailure(code int, f Failure) Validation {
	res := Validation{Status: code}
	switch f {
	case FailureInvalidKey:
		res.Reason = ReasonInvalidKey
	case FailureNoCredit:
		res.Reason = ReasonInsufficientCredit
	case FailurePermission:
		res.Reason = ReasonPermissionDenied
	case FailureRateLimited:
		res.Reason = ReasonRateLimited
	default: // model_not_allowed, or nothing about the key: as before classification
		res.Reason = ReasonInvalidKey
		if code == http.StatusTooManyRequests {
			res.Reason = ReasonRateLimited
		}
	}
	return res
}

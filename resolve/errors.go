package resolve

import (
	"context"
	"errors"
	"strings"

	"github.com/byok-go/byok/gateway"
	"github.com/byok-go/byok/providers"
)

// Sentinel errors. Test with errors.Is; messages never contain a key, a store's error
// text or a full URL.
var (
	// ErrNotFound is what stores return for "absent"; Resolve never returns it.
	ErrNotFound = errors.New("resolve: not found")
	// ErrInvalidUserID: the user id is empty (stores may also reject a non-UUID).
	ErrInvalidUserID = errors.New("resolve: invalid user id")
	// ErrInvalidModel: the model hint given with WithModel is malformed.
	ErrInvalidModel = errors.New("resolve: invalid model hint")
	// ErrInvalidConfig: New was given a nil store or an invalid option; every Resolve
	// of that Resolver fails with it.
	ErrInvalidConfig = errors.New("resolve: invalid resolver configuration")
	// ErrNoProvider: no credential applies to the user.
	ErrNoProvider = errors.New("resolve: no provider available")
	// ErrFallbackDisabled: the user has no credential of their own and has turned team
	// fallback off while a team credential exists. It also matches ErrNoProvider.
	ErrFallbackDisabled error = &childError{
		msg:    "resolve: no provider available: team fallback skipped because the user disabled it",
		parent: ErrNoProvider,
	}
	// ErrStoreUnavailable: a store failed, so resolution stopped instead of falling
	// through to a team credential.
	ErrStoreUnavailable = errors.New("resolve: store unavailable; refusing fallback")
	// ErrBaseURLRejected: a user or team gateway base URL failed the URL policy, so the
	// key was not used and no later path was tried. It also matches
	// providers.ErrGatewayURL.
	ErrBaseURLRejected error = &childError{
		msg:    "resolve: gateway base URL rejected",
		parent: providers.ErrGatewayURL,
	}
	// ErrKeyBroken: the user's key that resolution would use is marked broken (see
	// [KeyHealth]): its provider answered that it is invalid, out of credit or without
	// permission. Resolution stops there instead of trying the user's other keys or the
	// team's credentials, unless the Resolver has [WithSkipBrokenKeys]. The *[Error]
	// names the provider (Error.Provider) and the failure (Error.Reason).
	ErrKeyBroken = errors.New("resolve: key marked broken")
)

// childError is a sentinel that also matches a more general one.
type childError struct {
	msg    string
	parent error
}

func (e *childError) Error() string        { return e.msg }
func (e *childError) Is(target error) bool { return target == e.parent }

// Steps of a resolution, as named in [Error.Step].
const (
	StepInput          = "input"           // arguments and configuration
	StepSnapshot       = "snapshot"        // the Snapshotter's one round trip
	StepUserGateway    = "user-gateway"    // path 1
	StepUserProvider   = "user-provider"   // path 2
	StepGatewayBYOK    = "gateway-byok"    // the gateway-byok decision (WithGatewayBYOK)
	StepTeamGateway    = "team-gateway"    // path 3
	StepServerProvider = "server-provider" // path 4
	StepConsent        = "consent"         // the user's team-fallback consent
)

// Error says where resolution stopped and why. Its text names the step, the kind and a
// short reason only; the cause, which may echo database or provider text, is reachable
// with errors.Is and errors.As but never printed.
type Error struct {
	Step   string // one of the Step constants
	Kind   error  // a sentinel of this package, or a context error
	Reason string // a safe detail such as a URL policy reason ("private_host"); may be ""
	Cause  error  // the underlying error, if any; never printed

	// Provider is the service whose key the error is about: set with ErrKeyBroken
	// (Reason is then the providers.Failure), "" otherwise.
	Provider providers.ID
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("resolve ")
	b.WriteString(e.Step)
	b.WriteString(": ")
	b.WriteString(strings.TrimPrefix(e.Kind.Error(), "resolve: "))
	if e.Reason != "" || e.Provider != "" {
		b.WriteString(" (")
		if e.Provider != "" {
			b.WriteString(string(e.Provider))
			if e.Reason != "" {
				b.WriteString(": ")
			}
		}
		b.WriteString(e.Reason)
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap returns the kind and the cause, so errors.Is matches both.
func (e *Error) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Cause}
}

// Code returns a short, stable name for the kind of failure, suitable for metrics,
// span attributes and API responses: no_provider, fallback_disabled,
// store_unavailable, base_url_rejected, key_broken, invalid_user_id, invalid_model,
// invalid_gateway_options, invalid_config, canceled or deadline_exceeded.
func (e *Error) Code() string {
	if c, ok := errorCodes[e.Kind]; ok {
		return c
	}
	return "error"
}

// errorCodes are the Codes of the kinds.
var errorCodes = map[error]string{
	ErrKeyBroken:              "key_broken",
	ErrFallbackDisabled:       "fallback_disabled",
	ErrNoProvider:             "no_provider",
	ErrStoreUnavailable:       "store_unavailable",
	ErrBaseURLRejected:        "base_url_rejected",
	ErrInvalidUserID:          "invalid_user_id",
	ErrInvalidModel:           "invalid_model",
	gateway.ErrInvalidOptions: "invalid_gateway_options",
	ErrInvalidConfig:          "invalid_config",
	context.Canceled:          "canceled",
	context.DeadlineExceeded:  "deadline_exceeded",
}

// errorCode returns err's Code, or "error" for an error that is not an *Error.
func errorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return "error"
}

// storeError classifies a store failure at step: the caller's own cancellation is
// reported as the context's error, anything else, the store timeout included, as
// ErrStoreUnavailable.
func storeError(ctx context.Context, step string, cause error) *Error {
	if err := ctx.Err(); err != nil {
		if context.Cause(ctx) == errStoreTimeout {
			return &Error{Step: step, Kind: ErrStoreUnavailable, Reason: "timeout", Cause: cause}
		}
		return &Error{Step: step, Kind: err, Cause: cause}
	}
	return &Error{Step: step, Kind: ErrStoreUnavailable, Cause: cause}
}

// urlError reports a base URL that failed the policy at step.
func urlError(step string, cause error) *Error {
	e := &Error{Step: step, Kind: ErrBaseURLRejected, Cause: cause}
	var ue *providers.URLError
	if errors.As(cause, &ue) {
		e.Reason = ue.Reason
	}
	return e
}

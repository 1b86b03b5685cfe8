package resolve

import (
	"context"
	"errors"
	"slices"

	"github.com/byok-go/byok/internal/keyhealth"
	"github.com/byok-go/byok/internal/telemetry"
	"github.com/byok-go/byok/providers"
)

// Metrics of key health ([WithKeyHealth]), recorded through the Resolver's
// MeterProvider. Attribute values are small enums: never a user id, a key or a URL.
const (
	// MetricKeyFailures counts the provider answers that said something about the key
	// that made the request ("{failure}"). Attributes: "provider" (the providers.ID the
	// answer was read as), "failure" (the providers.Failure) and "path" (the resolution
	// path: a team path counts the team's own key, which is never marked).
	MetricKeyFailures = "byok.key.failures"
	// MetricKeyReports counts what became of each breaking failure on a user path
	// ("{report}"). Attribute "outcome": "written" (the KeyStore's ReportKeyFailure
	// returned nil), "error" (it failed), "throttled" (this process already reported the
	// key within the minute), "dropped" (too many reports in progress, or too many keys
	// reported within the minute; the answer was not read).
	MetricKeyReports = "byok.key.reports"
)

// newHealth returns the key health of r (see keyhealth.Observer), over store.
func newHealth(store KeyHealth, cfg *config, r *Resolver) *keyhealth.Observer {
	meter := meterOf(cfg.meterProvider)
	return keyhealth.New(keyhealth.Config{
		Report:     store.ReportKeyFailure,
		Invalidate: r.Invalidate,
		Timeout:    cfg.storeTimeout,
		Drain:      cfg.drainTimeout,
		Clock:      cfg.clock,
		Failures:   telemetry.Counter(meter, MetricKeyFailures, "Provider answers that said something about the key that made the request.", "{failure}"),
		Reports:    telemetry.Counter(meter, MetricKeyReports, "Breaking failures of users' keys, by what became of their report.", "{report}"),
	})
}

// marks reports whether a breaking failure seen on path marks the user's key. Only the
// user's own key on its own path does: on gateway-byok the gateway's answer judges the
// team's gateway key, and the gateway retries a request whose per-request BYOK
// credential failed on its own system credentials, so no answer reliably blames the
// user's key (see the package documentation, "Key health").
func marks(path Path) bool { return path == UserGateway || path == UserProvider }

// subject is what key health is told of an answer to a request o's Provider sent as id.
func (o *origin) subject(id providers.ID) keyhealth.Subject {
	return keyhealth.Subject{User: o.user, ID: id, Path: string(o.path), Marks: marks(o.path)}
}

// ReportOutcome tells the Resolver how the provider answered a request sent with p, for
// callers that do not send requests through [Provider.Transport] (which reports by
// itself): status is the HTTP status and body the answer's body, of which at most the
// first 64 KiB are read, before ReportOutcome returns; the caller keeps body.
//
// It does what the Transport does, with the same bounds (see [WithKeyHealth]): an answer
// of status 400 to 499 is read with providers.ClassifyFailure, counted in
// [MetricKeyFailures], and a breaking failure of the user's own key (paths user-gateway
// and user-provider) drops the user's cached results at once and is written to the
// KeyStore on a goroutine of its own. It never blocks on the store.
//
// p must be a Provider this Resolver resolved for userID; anything else (a Provider of
// another Resolver or user, one built by hand, or a Resolver without [WithKeyHealth]) is
// ignored, as is every status outside 400 to 499.
func (r *Resolver) ReportOutcome(ctx context.Context, userID string, p Provider, status int, body []byte) {
	if o := p.origin; r.health != nil && o != nil && o.r == r && o.user == userID {
		r.health.Report(ctx, o.subject(p.ID), status, body)
	}
}

// brokenKey turns a KeyStore's answer matching ErrKeyBroken for id, at step, into the
// Resolver's: nil when it skips broken keys, an *Error of kind ErrKeyBroken naming the
// provider and the failure otherwise. An answer that names no breaking failure, or
// another service, breaks the KeyStore's contract: the store is then treated as failing.
func (r *Resolver) brokenKey(step string, id providers.ID, err error) error {
	var bk *BrokenKey
	if !errors.As(err, &bk) || !bk.Failure.Breaks() || bk.ID != id {
		return &Error{Step: step, Kind: ErrStoreUnavailable, Reason: "inconsistent key health"}
	}
	if r.skipBroken {
		return nil
	}
	return &Error{Step: step, Kind: ErrKeyBroken, Reason: string(bk.Failure), Provider: id}
}

// brokenInSnapshot checks a Snapshot's Broken (services of order, in order, before ID,
// each with a breaking failure) and returns nil when the Resolver skips broken keys,
// ErrKeyBroken for the first of them otherwise. A Snapshot that breaks the contract is
// a failing store.
func (r *Resolver) brokenInSnapshot(s Snapshot, order []providers.ID) error {
	next := 0 // the position in order after the last broken key
	for _, b := range s.Broken {
		i := slices.Index(order[next:], b.ID)
		if i < 0 || !b.Failure.Breaks() {
			return &Error{Step: StepSnapshot, Kind: ErrStoreUnavailable, Reason: "inconsistent snapshot"}
		}
		next += i + 1
	}
	if s.ID != "" && !slices.Contains(order[next:], s.ID) {
		return &Error{Step: StepSnapshot, Kind: ErrStoreUnavailable, Reason: "inconsistent snapshot"}
	}
	if r.skipBroken {
		return nil
	}
	b := s.Broken[0]
	step := StepUserProvider
	if b.ID == providers.Gateway {
		step = StepUserGateway
	}
	return &Error{Step: step, Kind: ErrKeyBroken, Reason: string(b.Failure), Provider: b.ID}
}

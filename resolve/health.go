package resolve

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/byok-go/byok/internal/monoclock"
	"github.com/byok-go/byok/internal/peek"
	"github.com/byok-go/byok/internal/throttle"
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

// Bounds of key health.
const (
	// reportEvery is the shortest interval between two reports of one key by one
	// process.
	reportEvery = time.Minute
	// maxReports bounds the reports in progress (an answer being read after its
	// caller closed it, classified or written). More are dropped, not queued.
	maxReports = 16
	// maxRecentKeys bounds the keys remembered for the once-a-minute bound. A report
	// that would need more is dropped.
	maxRecentKeys = 1 << 16
	// peekLimit is how much of an error body is read: what providers.ClassifyFailure
	// reads at most.
	peekLimit = 64 << 10
	// defaultDrainTimeout bounds the reading of an error body its caller closed before
	// its end.
	defaultDrainTimeout = 5 * time.Second
)

// Outcomes of MetricKeyReports.
const (
	reportWritten   = "written"
	reportError     = "error"
	reportThrottled = "throttled"
	reportDropped   = "dropped"
)

// health is a Resolver's key health: it reads the providers' error answers and reports
// breaking failures on user paths to the KeyStore. Everything it does runs off the
// caller's path, on goroutines bounded by reports.
type health struct {
	store   KeyHealth
	timeout time.Duration               // bound on each ReportKeyFailure
	drain   time.Duration               // bound on reading a body its caller closed early
	reports *throttle.Limit             // one slot per report in progress: maxReports
	recent  *throttle.PerKey[healthKey] // the once-a-minute bound per key, of maxRecentKeys keys

	failures metric.Int64Counter // MetricKeyFailures
	reported metric.Int64Counter // MetricKeyReports
	outcomes map[string][]metric.AddOption
}

// healthKey names one stored key.
type healthKey struct {
	user string
	id   providers.ID
}

func newHealth(store KeyHealth, cfg *config) *health {
	now := monoclock.Now
	if cfg.clock != nil {
		clock := cfg.clock
		now = func() int64 { return int64(clock()) }
	}
	h := &health{
		store:   store,
		timeout: cfg.storeTimeout,
		drain:   defaultDrainTimeout,
		reports: throttle.NewLimit(maxReports),
		recent:  throttle.NewPerKey[healthKey](reportEvery, maxRecentKeys, now),
	}
	if cfg.drainTimeout > 0 {
		h.drain = cfg.drainTimeout
	}

	meter := meterOf(cfg.meterProvider)
	h.failures = counter(meter, MetricKeyFailures, "Provider answers that said something about the key that made the request.", "{failure}")
	h.reported = counter(meter, MetricKeyReports, "Breaking failures of users' keys, by what became of their report.", "{report}")
	h.outcomes = map[string][]metric.AddOption{}
	for _, o := range []string{reportWritten, reportError, reportThrottled, reportDropped} {
		h.outcomes[o] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", o)))}
	}
	return h
}

// marks reports whether a breaking failure seen on path marks the user's key. Only the
// user's own key on its own path does: on gateway-byok the gateway's answer judges the
// team's gateway key, and the gateway retries a request whose per-request BYOK
// credential failed on its own system credentials, so no answer reliably blames the
// user's key (see the package documentation, "Key health").
func marks(path Path) bool { return path == UserGateway || path == UserProvider }

// count records one MetricKeyReports outcome.
func (h *health) count(outcome string) {
	h.reported.Add(context.Background(), 1, h.outcomes[outcome]...)
}

// acquire takes a report slot without waiting; false means a report must be dropped,
// and it is counted.
func (h *health) acquire() bool {
	if h.reports.TryAcquire() {
		return true
	}
	h.count(reportDropped)
	return false
}

// classify reads a 4xx answer on a goroutine of its own and acts on what it says. body
// must not change afterwards. The store is called with ctx's values, not its
// cancellation.
func (h *health) classify(ctx context.Context, o *origin, id providers.ID, status int, body []byte) {
	if !h.acquire() {
		return
	}
	go func() {
		defer h.reports.Release()
		h.act(ctx, o, id, h.failure(o, id, status, body))
	}()
}

// failure classifies an answer and counts it in MetricKeyFailures.
func (h *health) failure(o *origin, id providers.ID, status int, body []byte) providers.Failure {
	f := providers.ClassifyFailure(id, status, body)
	if f != "" {
		h.failures.Add(context.Background(), 1, metric.WithAttributes(
			attribute.String("provider", string(id)),
			attribute.String("failure", string(f)),
			attribute.String("path", string(o.path))))
	}
	return f
}

// act reports a breaking failure of a user's key to the store, at most once a minute per
// key, and drops the user's cached results before and after the write: at once, so that
// this Resolver stops serving the key, and again once the mark is stored, so that a
// resolution that read the store in between does not keep the key cached. Other replicas
// learn of the mark from the store's own notification. A failed write keeps the key's
// slot: a store that is down is not asked again for each failure. It runs on a report
// goroutine.
func (h *health) act(ctx context.Context, o *origin, id providers.ID, f providers.Failure) {
	if !f.Breaks() || !marks(o.path) {
		return
	}
	switch h.recent.Claim(healthKey{o.user, id}) {
	case throttle.Throttled: // this process reported the key within the minute
		h.count(reportThrottled)
		return
	case throttle.Full: // too many keys were reported within the minute
		h.count(reportDropped)
		return
	}
	o.r.Invalidate(o.user)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.timeout)
	err := h.store.ReportKeyFailure(ctx, o.user, id, f)
	cancel()
	o.r.Invalidate(o.user)
	if err != nil {
		h.count(reportError)
		return
	}
	h.count(reportWritten)
}

// observeAnswer is what origin.received does when the Resolver keeps key health. An
// answer of status 400 to 499 gets a body that lets the caller read every byte as sent
// and keeps a copy of the first 64 KiB, which is classified once the caller has read
// to the end or closed the body (see errorBody). Any other answer is returned as it is,
// at the cost of a comparison.
func (r *Resolver) observeAnswer(o *origin, id providers.ID, resp *http.Response, err error) *http.Response {
	h := r.health
	if h == nil || err != nil || resp == nil || resp.StatusCode < 400 || resp.StatusCode > 499 {
		return resp
	}
	if resp.Body == nil || resp.Body == http.NoBody {
		h.classify(context.Background(), o, id, resp.StatusCode, nil)
		return resp
	}
	b := &errorBody{h: h, o: o, id: id, status: resp.StatusCode}
	b.Init(resp.Body, peekLimit, b)
	resp.Body = b
	return resp
}

// errorBody is the body of a 4xx answer on its way to the caller: the caller reads
// every byte as sent while peek.Body copies the first peekLimit bytes aside, and key
// health classifies them on a report goroutine once they are whole. A body its caller
// closes early is read on by a report goroutine, within the drain timeout; a body whose
// read fails, or that is closed during a Read, is not classified.
type errorBody struct {
	peek.Body
	h      *health
	o      *origin
	id     providers.ID
	status int
}

// Whole classifies the body's first bytes on a report goroutine.
func (b *errorBody) Whole(prefix []byte) {
	b.h.classify(context.Background(), b.o, b.id, b.status, prefix)
}

// ClosedEarly hands the body to a report goroutine, which reads on, closes it, and acts
// on what it read if that reached the end or peekLimit.
func (b *errorBody) ClosedEarly() bool {
	if !b.h.acquire() {
		return false
	}
	go func() {
		defer b.h.reports.Release()
		if prefix, whole := b.Drain(b.h.drain); whole {
			b.h.act(context.Background(), b.o, b.id, b.h.failure(b.o, b.id, b.status, prefix))
		}
	}()
	return true
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
	h, o := r.health, p.origin
	if h == nil || o == nil || o.r != r || o.user != userID || status < 400 || status > 499 {
		return
	}
	f := h.failure(o, p.ID, status, body)
	if !f.Breaks() || !marks(o.path) {
		return
	}
	r.Invalidate(userID)
	if !h.acquire() {
		return
	}
	go func() {
		defer h.reports.Release()
		h.act(ctx, o, p.ID, f)
	}()
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

// wait returns once no report is in progress (tests).
func (h *health) wait() { h.reports.Wait() }

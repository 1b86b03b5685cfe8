// Package keyhealth reads the providers' answers of status 400 to 499 off the caller's
// path, classifies them with providers.ClassifyFailure, and reports the failures that
// break a key, within bounds: a number of reports in progress, one report a minute per
// key, a bounded read of a body its caller closed early, a bounded write.
//
// It knows nothing of how keys are resolved: with each answer its user names the key
// that made the request and says whether its breaking failures are reported (a
// [Subject]), and it hands it the reports through [Config].
package keyhealth

import (
	"context"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/byok-go/byok/internal/monoclock"
	"github.com/byok-go/byok/internal/peek"
	"github.com/byok-go/byok/internal/throttle"
	"github.com/byok-go/byok/providers"
)

// Bounds of an [Observer].
const (
	// ReportEvery is the shortest interval between two reports of one key by one
	// Observer.
	ReportEvery = time.Minute
	// MaxReports bounds the reports in progress (an answer being read after its
	// caller closed it, classified or written). More are dropped, not queued.
	MaxReports = 16
	// MaxRecentKeys bounds the keys remembered for the once-a-minute bound. A report
	// that would need more is dropped.
	MaxRecentKeys = 1 << 16
	// PeekLimit is how much of an error body is read: what providers.ClassifyFailure
	// reads at most.
	PeekLimit = 64 << 10
	// DefaultDrainTimeout bounds the reading of an error body its caller closed before
	// its end.
	DefaultDrainTimeout = 5 * time.Second
)

// Outcomes of Config.Reports.
const (
	reportWritten   = "written"
	reportError     = "error"
	reportThrottled = "throttled"
	reportDropped   = "dropped"
)

// Subject names the key that made a request, and what becomes of its breaking
// failures. It is a small value: building one per answer allocates nothing.
type Subject struct {
	User string       // the key's user
	ID   providers.ID // the key's service: the answer is read as its provider's
	// Path is the value of attribute "path" of Config.Failures: a small enum, never a
	// user id, a key or a URL.
	Path string
	// Marks says that a breaking failure is reported (Config.Report) and drops the
	// user's cached results (Config.Invalidate); otherwise it is only counted.
	Marks bool
}

// Config configures an [Observer]. Report and Invalidate are required, and Timeout
// must be positive.
type Config struct {
	// Report writes a breaking failure of user's key id to the store. It is called on
	// a report goroutine, with a context bounded by Timeout that keeps the values, not
	// the cancellation, of the context the answer came with.
	Report func(ctx context.Context, user string, id providers.ID, f providers.Failure) error
	// Invalidate drops the user's cached results: before and after each Report, and
	// at once when Observer.Report is told of a breaking failure.
	Invalidate func(user string)
	// Timeout bounds each Report.
	Timeout time.Duration
	// Drain bounds the reading of a body its caller closed early; 0 means
	// DefaultDrainTimeout.
	Drain time.Duration
	// Clock is the clock of the once-a-minute bound, the time elapsed since some origin;
	// nil means monoclock.Now.
	Clock func() time.Duration
	// Failures counts the answers that said something about the key (attributes
	// "provider", "failure" and "path"); Reports counts what became of each breaking
	// failure of a Subject that marks (attribute "outcome": "written", "error",
	// "throttled" or "dropped"). Nil records nothing.
	Failures, Reports metric.Int64Counter
}

// Observer is key health: it reads the providers' error answers and reports breaking
// failures of the subjects that mark. Everything it does runs off the caller's path,
// on goroutines bounded by reports. It is safe for concurrent use.
type Observer struct {
	report     func(ctx context.Context, user string, id providers.ID, f providers.Failure) error
	invalidate func(user string)
	timeout    time.Duration               // bound on each report
	drain      time.Duration               // bound on reading a body its caller closed early
	reports    *throttle.Limit             // one slot per report in progress: MaxReports
	recent     *throttle.PerKey[healthKey] // the once-a-minute bound per key, of MaxRecentKeys keys

	failures metric.Int64Counter
	reported metric.Int64Counter
	outcomes map[string][]metric.AddOption
}

// healthKey names one stored key.
type healthKey struct {
	user string
	id   providers.ID
}

// New returns the Observer of cfg.
func New(cfg Config) *Observer {
	now := monoclock.Now
	if clock := cfg.Clock; clock != nil {
		now = func() int64 { return int64(clock()) }
	}
	o := &Observer{
		report:     cfg.Report,
		invalidate: cfg.Invalidate,
		timeout:    cfg.Timeout,
		drain:      DefaultDrainTimeout,
		reports:    throttle.NewLimit(MaxReports),
		recent:     throttle.NewPerKey[healthKey](ReportEvery, MaxRecentKeys, now),
		failures:   cfg.Failures,
		reported:   cfg.Reports,
	}
	if cfg.Drain > 0 {
		o.drain = cfg.Drain
	}
	if o.failures == nil {
		o.failures = noop.Int64Counter{}
	}
	if o.reported == nil {
		o.reported = noop.Int64Counter{}
	}
	o.outcomes = map[string][]metric.AddOption{}
	for _, s := range []string{reportWritten, reportError, reportThrottled, reportDropped} {
		o.outcomes[s] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", s)))}
	}
	return o
}

// Observed reports whether an answer of status is read: 400 to 499.
func Observed(status int) bool { return status >= 400 && status <= 499 }

// Observe returns the response the caller gets for an answer to a request sent with
// s's key. An answer of status 400 to 499 gets a body that lets the caller read every
// byte as sent and keeps a copy of the first 64 KiB, which is classified once the
// caller has read to the end or closed the body (see errorBody). Any other answer, or a
// nil one, is returned as it is.
func (o *Observer) Observe(resp *http.Response, s Subject) *http.Response {
	if resp == nil || !Observed(resp.StatusCode) {
		return resp
	}
	if resp.Body == nil || resp.Body == http.NoBody {
		o.classify(context.Background(), s, resp.StatusCode, nil)
		return resp
	}
	b := &errorBody{o: o, s: s, status: resp.StatusCode}
	b.Init(resp.Body, PeekLimit, b)
	resp.Body = b
	return resp
}

// Report does what Observe does for an answer its caller read by other means: status
// is the HTTP status and body the answer's body, of which at most the first 64 KiB are
// read, before Report returns; the caller keeps body. An answer of status 400 to 499 is
// classified and counted, and a breaking failure of a subject that marks drops the
// user's cached results at once and is reported on a goroutine of its own, with ctx's
// values. Every other status is ignored. It never blocks on the store.
func (o *Observer) Report(ctx context.Context, s Subject, status int, body []byte) {
	if !Observed(status) {
		return
	}
	f := o.failure(s, status, body)
	if !f.Breaks() || !s.Marks {
		return
	}
	o.invalidate(s.User)
	if !o.acquire() {
		return
	}
	go func() {
		defer o.reports.Release()
		o.act(ctx, s, f)
	}()
}

// Wait returns once no report is in progress.
func (o *Observer) Wait() { o.reports.Wait() }

// count records one outcome.
func (o *Observer) count(outcome string) {
	o.reported.Add(context.Background(), 1, o.outcomes[outcome]...)
}

// acquire takes a report slot without waiting; false means a report must be dropped,
// and it is counted.
func (o *Observer) acquire() bool {
	if o.reports.TryAcquire() {
		return true
	}
	o.count(reportDropped)
	return false
}

// classify reads a 4xx answer on a goroutine of its own and acts on what it says. body
// must not change afterwards. The store is called with ctx's values, not its
// cancellation.
func (o *Observer) classify(ctx context.Context, s Subject, status int, body []byte) {
	if !o.acquire() {
		return
	}
	go func() {
		defer o.reports.Release()
		o.act(ctx, s, o.failure(s, status, body))
	}()
}

// failure classifies an answer and counts it in Failures.
func (o *Observer) failure(s Subject, status int, body []byte) providers.Failure {
	f := providers.ClassifyFailure(s.ID, status, body)
	if f != "" {
		o.failures.Add(context.Background(), 1, metric.WithAttributes(
			attribute.String("provider", string(s.ID)),
			attribute.String("failure", string(f)),
			attribute.String("path", s.Path)))
	}
	return f
}

// act reports a breaking failure of a user's key to the store, at most once a minute per
// key, and drops the user's cached results before and after the write: at once, so that
// the cache stops serving the key, and again once the mark is stored, so that a
// resolution that read the store in between does not keep the key cached. Other replicas
// learn of the mark from the store's own notification. A failed write keeps the key's
// slot: a store that is down is not asked again for each failure. It runs on a report
// goroutine.
func (o *Observer) act(ctx context.Context, s Subject, f providers.Failure) {
	if !f.Breaks() || !s.Marks {
		return
	}
	switch o.recent.Claim(healthKey{s.User, s.ID}) {
	case throttle.Throttled: // this Observer reported the key within the minute
		o.count(reportThrottled)
		return
	case throttle.Full: // too many keys were reported within the minute
		o.count(reportDropped)
		return
	}
	o.invalidate(s.User)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.timeout)
	err := o.report(ctx, s.User, s.ID, f)
	cancel()
	o.invalidate(s.User)
	if err != nil {
		o.count(reportError)
		return
	}
	o.count(reportWritten)
}

// errorBody is the body of a 4xx answer on its way to the caller: the caller reads
// every byte as sent while peek.Body copies the first PeekLimit bytes aside, and the
// Observer classifies them on a report goroutine once they are whole. A body its caller
// closes early is read on by a report goroutine, within the drain timeout; a body whose
// read fails, or that is closed during a Read, is not classified.
type errorBody struct {
	peek.Body
	o      *Observer
	s      Subject
	status int
}

// Whole classifies the body's first bytes on a report goroutine.
func (b *errorBody) Whole(prefix []byte) {
	b.o.classify(context.Background(), b.s, b.status, prefix)
}

// ClosedEarly hands the body to a report goroutine, which reads on, closes it, and acts
// on what it read if that reached the end or PeekLimit.
func (b *errorBody) ClosedEarly() bool {
	if !b.o.acquire() {
		return false
	}
	go func() {
		defer b.o.reports.Release()
		if prefix, whole := b.Drain(b.o.drain); whole {
			b.o.act(context.Background(), b.s, b.o.failure(b.s, b.status, prefix))
		}
	}()
	return true
}

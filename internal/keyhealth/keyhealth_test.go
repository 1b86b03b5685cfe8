package keyhealth_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/byok-go/byok/internal/keyhealth"
	"github.com/byok-go/byok/internal/testkit"
	"github.com/byok-go/byok/providers"
)

// Error bodies as OpenAI writes them.
const (
	invalidKey = `{"error":{"message":"Incorrect API key provided: sk-user*******1234.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`
	noQuota    = `{"error":{"message":"You exceeded your current quota.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`
	rateLimit  = `{"error":{"message":"Rate limit reached for gpt-4o.","type":"requests","param":null,"code":"rate_limit_exceeded"}}`
)

// store is the fake behind an Observer: it records, in order, each Invalidate and each
// Report, and can fail the reports or hold them until released.
type store struct {
	mu     sync.Mutex
	events []string
	err    error         // what Report returns
	hold   chan struct{} // when set, Report waits until it is closed
	ctxs   []context.Context
	errs   []error // each Report's ctx.Err() as it was called
}

func (s *store) report(ctx context.Context, user string, id providers.ID, f providers.Failure) error {
	s.mu.Lock()
	s.events = append(s.events, fmt.Sprintf("report %s %s %s", user, id, f))
	s.ctxs = append(s.ctxs, ctx)
	s.errs = append(s.errs, ctx.Err())
	hold, err := s.hold, s.err
	s.mu.Unlock()
	if hold != nil {
		<-hold
	}
	return err
}

func (s *store) invalidate(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, "invalidate "+user)
}

// log returns the events so far.
func (s *store) log() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.events...)
}

// reports returns the Report calls so far.
func (s *store) reports() []string {
	var out []string
	for _, e := range s.log() {
		if strings.HasPrefix(e, "report ") {
			out = append(out, e)
		}
	}
	return out
}

// clock is a settable clock.
type clock struct{ now atomic.Int64 }

func (c *clock) read() time.Duration     { return time.Duration(c.now.Load()) }
func (c *clock) advance(d time.Duration) { c.now.Add(int64(d)) }

// fixture is an Observer over a store, with its metrics and clock.
type fixture struct {
	*keyhealth.Observer
	store  *store
	clock  *clock
	reader *sdkmetric.ManualReader
}

func newFixture(t *testing.T, edit ...func(*keyhealth.Config)) *fixture {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	meter := mp.Meter("keyhealth_test")
	failures, err := meter.Int64Counter("failures")
	require.NoError(t, err)
	reports, err := meter.Int64Counter("reports")
	require.NoError(t, err)
	f := &fixture{store: &store{}, clock: &clock{}, reader: reader}
	cfg := keyhealth.Config{
		Report:     f.store.report,
		Invalidate: f.store.invalidate,
		Timeout:    time.Minute,
		Clock:      f.clock.read,
		Failures:   failures,
		Reports:    reports,
	}
	for _, e := range edit {
		e(&cfg)
	}
	f.Observer = keyhealth.New(cfg)
	t.Cleanup(f.Wait)
	return f
}

// sums returns the sums of the Int64 counter name by its attributes, as "k=v,k=v".
func (f *fixture) sums(t *testing.T, name string) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, f.reader.Collect(t.Context(), &rm))
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				var parts []string
				for _, key := range []string{"provider", "failure", "path", "outcome"} {
					if v, ok := dp.Attributes.Value(attribute.Key(key)); ok {
						parts = append(parts, key+"="+v.AsString())
					}
				}
				require.Equal(t, len(parts), dp.Attributes.Len(), "only the documented attributes")
				out[strings.Join(parts, ",")] += dp.Value
			}
		}
	}
	return out
}

// outcomes returns the sums of the reports counter by outcome.
func (f *fixture) outcomes(t *testing.T) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for k, v := range f.sums(t, "reports") {
		out[strings.TrimPrefix(k, "outcome=")] = v
	}
	return out
}

// subject is a user's OpenAI key on a path that marks.
func subject(user string) keyhealth.Subject {
	return keyhealth.Subject{User: user, ID: providers.OpenAI, Path: "user-provider", Marks: true}
}

// body is a response body that records its Close.
type body struct {
	io.Reader
	closed atomic.Bool
}

func (b *body) Close() error {
	b.closed.Store(true)
	return nil
}

func answer(status int, rc io.ReadCloser) *http.Response {
	return &http.Response{StatusCode: status, Header: http.Header{}, Body: rc}
}

// An answer outside 400 to 499, or none, is handed back as it came: the same response,
// the same body, nothing read, counted or reported, and nothing allocated.
func TestObserve_otherAnswersAreUntouched(t *testing.T) {
	f := newFixture(t)
	for _, status := range []int{100, 200, 204, 301, 399, 500, 503} {
		b := &body{Reader: strings.NewReader(invalidKey)}
		resp := answer(status, b)
		got := f.Observe(resp, subject("u1"))
		require.Same(t, resp, got, "status %d", status)
		assert.Same(t, b, got.Body, "status %d: the body is not wrapped", status)
		assert.False(t, keyhealth.Observed(status), "status %d", status)
	}
	assert.Nil(t, f.Observe(nil, subject("u1")))
	f.Wait()
	assert.Empty(t, f.store.log())
	assert.Empty(t, f.sums(t, "failures"))
	assert.Empty(t, f.sums(t, "reports"))

	resp := answer(http.StatusOK, http.NoBody)
	s := subject("u1")
	assert.Zero(t, testing.AllocsPerRun(100, func() { f.Observe(resp, s) }), "a 2xx allocates nothing")

	for _, status := range []int{400, 401, 499} {
		assert.True(t, keyhealth.Observed(status), "status %d", status)
		b := &body{Reader: strings.NewReader(rateLimit)}
		got := f.Observe(answer(status, b), subject("u1"))
		assert.NotSame(t, b, got.Body, "status %d: the body is wrapped", status)
		require.NoError(t, got.Body.Close())
	}
}

// A body read to its end: the caller gets every byte as sent, the answer is classified
// and counted, and a breaking failure is reported, the user's results dropped before
// and after the write.
func TestObserve_bodyReadToItsEnd(t *testing.T) {
	f := newFixture(t)
	long := invalidKey + strings.Repeat(" ", keyhealth.PeekLimit) // longer than what is kept
	b := &body{Reader: iotest.HalfReader(strings.NewReader(long))}
	resp := f.Observe(answer(401, b), subject("u1"))
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, long, string(got), "the caller reads the body as sent")
	require.NoError(t, resp.Body.Close())
	assert.True(t, b.closed.Load())
	f.Wait()
	assert.Equal(t, []string{"invalidate u1", "report u1 openai invalid_key", "invalidate u1"}, f.store.log())
	assert.Equal(t, map[string]int64{"provider=openai,failure=invalid_key,path=user-provider": 1}, f.sums(t, "failures"))
	assert.Equal(t, map[string]int64{"written": 1}, f.outcomes(t))
}

// A body its caller closes before its end: Close returns at once, and the Observer reads
// on, closes the body, and reports what it read.
func TestObserve_bodyClosedEarly(t *testing.T) {
	f := newFixture(t)
	b := &body{Reader: strings.NewReader(noQuota)}
	resp := f.Observe(answer(429, b), subject("u1"))
	_, err := io.ReadFull(resp.Body, make([]byte, 10))
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	f.Wait()
	assert.True(t, b.closed.Load(), "the Observer closed the body")
	assert.Equal(t, []string{"invalidate u1", "report u1 openai insufficient_credit", "invalidate u1"}, f.store.log())
	assert.Equal(t, map[string]int64{"written": 1}, f.outcomes(t))
}

// A body that stalls, closed early by its caller: Close returns at once, the Observer
// gives up reading after Config.Drain and closes the body, and an answer not seen whole
// is neither counted nor reported.
func TestObserve_drainTimeout(t *testing.T) {
	f := newFixture(t, func(c *keyhealth.Config) { c.Drain = 20 * time.Millisecond })
	b := testkit.NewStallingBody(`{"error":{"code":"invalid_api_key"`)
	resp := f.Observe(answer(401, b), subject("u1"))
	_, err := io.ReadFull(resp.Body, make([]byte, 5))
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close()) // would hang if Close waited for the body
	f.Wait()                              // would hang if nothing bounded the read
	select {
	case <-b.Closed():
	default:
		t.Fatal("the body was not closed")
	}
	assert.Empty(t, f.store.log())
	assert.Empty(t, f.sums(t, "failures"))
	assert.Empty(t, f.sums(t, "reports"))
}

// A body whose read fails, or that is closed during a read, says nothing.
func TestObserve_incompleteBodies(t *testing.T) {
	t.Run("failed read", func(t *testing.T) {
		f := newFixture(t)
		b := &body{Reader: io.MultiReader(strings.NewReader(`{"error":{"code":"invalid_api_key"`), iotest.ErrReader(errors.New("connection reset")))}
		resp := f.Observe(answer(401, b), subject("u1"))
		_, err := io.ReadAll(resp.Body)
		require.Error(t, err)
		require.NoError(t, resp.Body.Close())
		f.Wait()
		assert.True(t, b.closed.Load())
		assert.Empty(t, f.store.log())
		assert.Empty(t, f.sums(t, "failures"))
	})
	t.Run("closed during a read", func(t *testing.T) {
		f := newFixture(t)
		b := testkit.NewStallingBody(`{"error":{"code":"invalid_api_key"`)
		resp := f.Observe(answer(401, b), subject("u1"))
		done := make(chan error)
		go func() {
			_, err := io.ReadAll(resp.Body)
			done <- err
		}()
		<-b.Blocked()
		require.NoError(t, resp.Body.Close())
		require.Error(t, <-done)
		f.Wait()
		assert.Empty(t, f.store.log())
		assert.Empty(t, f.sums(t, "failures"))
	})
}

// An empty body is an answer seen whole: the status decides (OpenAI's 401 is an invalid
// key, its 403 says nothing), whatever the body's type.
func TestObserve_emptyBodies(t *testing.T) {
	for name, rc := range map[string]func() io.ReadCloser{
		"nil":          func() io.ReadCloser { return nil },
		"NoBody":       func() io.ReadCloser { return http.NoBody },
		"empty reader": func() io.ReadCloser { return &body{Reader: strings.NewReader("")} },
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			for _, status := range []int{403, 401} {
				resp := f.Observe(answer(status, rc()), subject("u1"))
				if resp.Body != nil {
					got, err := io.ReadAll(resp.Body)
					require.NoError(t, err)
					assert.Empty(t, got)
					require.NoError(t, resp.Body.Close())
				}
			}
			f.Wait()
			assert.Equal(t, []string{"invalidate u1", "report u1 openai invalid_key", "invalidate u1"}, f.store.log())
			assert.Equal(t, map[string]int64{"provider=openai,failure=invalid_key,path=user-provider": 1}, f.sums(t, "failures"))
		})
	}
}

// A subject that does not mark has its failures counted, under its path, and nothing
// else: no report, no invalidation, no outcome. A failure that does not break is counted
// only.
func TestObserve_onlyBreakingFailuresOfMarkingSubjectsAreReported(t *testing.T) {
	f := newFixture(t)
	team := keyhealth.Subject{User: "u1", ID: providers.OpenAI, Path: "team-gateway"}
	for _, a := range []struct {
		s      keyhealth.Subject
		status int
		body   string
	}{{team, 401, invalidKey}, {subject("u1"), 429, rateLimit}} {
		resp := f.Observe(answer(a.status, &body{Reader: strings.NewReader(a.body)}), a.s)
		_, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		f.Report(t.Context(), a.s, a.status, []byte(a.body))
	}
	f.Wait()
	assert.Empty(t, f.store.log())
	assert.Equal(t, map[string]int64{
		"provider=openai,failure=invalid_key,path=team-gateway":   2,
		"provider=openai,failure=rate_limited,path=user-provider": 2,
	}, f.sums(t, "failures"))
	assert.Empty(t, f.sums(t, "reports"))
}

// At most MaxReports reports are in progress: a breaking failure beyond is dropped and
// counted, whichever way it came (Report, a body read to its end, a body closed early,
// which is then closed at once), and the reports in progress all complete.
func TestObserver_reportsInProgressAreBounded(t *testing.T) {
	require.Equal(t, 16, keyhealth.MaxReports)
	f := newFixture(t)
	f.store.hold = make(chan struct{})
	release := sync.OnceFunc(func() { close(f.store.hold) })
	t.Cleanup(release) // before the fixture's Wait, should the test fail
	for i := range keyhealth.MaxReports {
		f.Report(t.Context(), subject(fmt.Sprint("u", i)), 401, []byte(invalidKey))
	}
	f.Report(t.Context(), subject("over"), 401, []byte(invalidKey))
	assert.Equal(t, map[string]int64{"dropped": 1}, f.outcomes(t), "the slots are taken before Report returns")
	assert.Contains(t, f.store.log(), "invalidate over", "a dropped report still drops the user's results")

	whole := f.Observe(answer(401, &body{Reader: strings.NewReader(invalidKey)}), subject("whole"))
	_, err := io.ReadAll(whole.Body)
	require.NoError(t, err)
	require.NoError(t, whole.Body.Close())
	early := &body{Reader: strings.NewReader(invalidKey)}
	resp := f.Observe(answer(401, early), subject("early"))
	require.NoError(t, resp.Body.Close())
	assert.True(t, early.closed.Load(), "a body no slot can read on is closed at once")
	assert.Equal(t, map[string]int64{"dropped": 3}, f.outcomes(t))

	release()
	f.Wait()
	assert.Len(t, f.store.reports(), keyhealth.MaxReports)
	assert.NotContains(t, f.store.log(), "report over openai invalid_key")
	assert.Equal(t, map[string]int64{"dropped": 3, "written": keyhealth.MaxReports}, f.outcomes(t))

	f.Report(t.Context(), subject("after"), 401, []byte(invalidKey)) // the slots are free again
	f.Wait()
	assert.Contains(t, f.store.reports(), "report after openai invalid_key")
}

// One key is reported at most once a ReportEvery; other keys are not held back, and a
// failed write keeps the key's slot.
func TestObserver_onceAMinutePerKey(t *testing.T) {
	require.Equal(t, time.Minute, keyhealth.ReportEvery)
	f := newFixture(t)
	report := func(s keyhealth.Subject) {
		f.Report(t.Context(), s, 401, []byte(invalidKey))
		f.Wait()
	}
	anthropic := keyhealth.Subject{User: "u1", ID: providers.Anthropic, Path: "user-provider", Marks: true}
	report(subject("u1"))
	report(subject("u1"))
	report(subject("u2"))
	f.Report(t.Context(), anthropic, 401, []byte(`{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`))
	f.Wait()
	assert.Equal(t, []string{"report u1 openai invalid_key", "report u2 openai invalid_key", "report u1 anthropic invalid_key"}, f.store.reports())
	assert.Equal(t, map[string]int64{"written": 3, "throttled": 1}, f.outcomes(t))

	f.clock.advance(keyhealth.ReportEvery - 1)
	report(subject("u1"))
	assert.Len(t, f.store.reports(), 3, "still within the minute")
	f.clock.advance(1)
	report(subject("u1"))
	assert.Len(t, f.store.reports(), 4, "a minute later")

	f.store.err = errors.New("store down")
	report(subject("u3"))
	report(subject("u3"))
	assert.Len(t, f.store.reports(), 5, "a failed write is not retried within the minute")
	assert.Equal(t, map[string]int64{"written": 4, "throttled": 3, "error": 1}, f.outcomes(t))
}

// Report drops the user's results before it returns; the write keeps ctx's values but
// not its cancellation, under Config.Timeout; the caller keeps body; a status outside
// 400 to 499 is ignored.
func TestObserver_report(t *testing.T) {
	f := newFixture(t, func(c *keyhealth.Config) { c.Timeout = time.Hour })
	f.store.hold = make(chan struct{})
	release := sync.OnceFunc(func() { close(f.store.hold) })
	t.Cleanup(release) // before the fixture's Wait, should the test fail
	type key struct{}
	ctx, cancel := context.WithCancel(context.WithValue(t.Context(), key{}, "request"))
	cancel()
	b := []byte(invalidKey)
	f.Report(ctx, subject("u1"), 401, b)
	assert.Contains(t, f.store.log(), "invalidate u1", "dropped before Report returns")
	copy(b, strings.Repeat("x", len(b)))
	release()
	f.Wait()
	assert.Equal(t, []string{"invalidate u1", "invalidate u1", "report u1 openai invalid_key", "invalidate u1"}, f.store.log())
	rctx := f.store.ctxs[0]
	assert.NoError(t, f.store.errs[0], "not canceled with the caller's context")
	assert.Equal(t, "request", rctx.Value(key{}))
	deadline, ok := rctx.Deadline()
	assert.True(t, ok, "the write is bounded")
	assert.True(t, deadline.After(time.Now().Add(time.Hour/2)), "by Config.Timeout, not the caller's context")

	for _, status := range []int{200, 399, 500} {
		f.Report(t.Context(), subject("u2"), status, []byte(invalidKey))
	}
	f.Wait()
	assert.NotContains(t, f.store.log(), "invalidate u2")
	assert.Equal(t, map[string]int64{"provider=openai,failure=invalid_key,path=user-provider": 1}, f.sums(t, "failures"))
}

// Without instruments, and with the default clock and drain, an Observer works.
func TestObserver_defaults(t *testing.T) {
	s := &store{}
	o := keyhealth.New(keyhealth.Config{Report: s.report, Invalidate: s.invalidate, Timeout: time.Second})
	resp := o.Observe(answer(401, &body{Reader: strings.NewReader(invalidKey)}), subject("u1"))
	_, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	o.Wait()
	o.Report(t.Context(), subject("u1"), 401, []byte(invalidKey)) // within the minute: throttled
	o.Wait()
	assert.Equal(t, []string{"invalidate u1", "report u1 openai invalid_key", "invalidate u1", "invalidate u1"}, s.log())
}

// Many answers at once, for a few keys: each breaking failure ends in exactly one
// outcome, and each key is written at most once.
func TestObserver_concurrentAnswers(t *testing.T) {
	f := newFixture(t)
	const users, answers = 5, 200
	var wg sync.WaitGroup
	for i := range answers {
		wg.Go(func() {
			s := subject(fmt.Sprint("u", i%users))
			if i%2 == 0 {
				f.Report(t.Context(), s, 401, []byte(invalidKey))
				return
			}
			resp := f.Observe(answer(401, &body{Reader: strings.NewReader(invalidKey)}), s)
			_, _ = io.ReadAll(resp.Body)
			_ = resp.Body.Close()
		})
	}
	wg.Wait()
	f.Wait()
	var total int64
	for _, n := range f.outcomes(t) {
		total += n
	}
	assert.EqualValues(t, answers, total)
	reports := f.store.reports()
	assert.NotEmpty(t, reports)
	seen := map[string]bool{}
	for _, r := range reports {
		assert.False(t, seen[r], "%s written twice", r)
		seen[r] = true
	}
	assert.EqualValues(t, len(reports), f.outcomes(t)["written"])
}

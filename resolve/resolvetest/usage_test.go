package resolvetest_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
)

func TestUsage(t *testing.T) {
	ctx := t.Context()
	u := resolvetest.NewUsage()
	d1 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	d2 := d1.AddDate(0, 0, 1)
	require.NoError(t, u.RecordTeamUse(ctx, []resolve.TeamUse{
		{UserID: "a", Day: d1, Path: resolve.TeamGateway, Provider: providers.Gateway, Requests: 2},
		{UserID: "a", Day: d1.Add(5 * time.Hour), Path: resolve.TeamGateway, Provider: providers.Gateway, Requests: 3}, // same UTC day
		{UserID: "a", Day: d2, Path: resolve.ServerProvider, Provider: providers.OpenAI, Requests: 1},
		{UserID: "b", Day: d2, Path: resolve.GatewayBYOK, Provider: providers.Gateway, Requests: 4},
		{UserID: "a", Day: d2, Path: resolve.UserProvider, Provider: providers.OpenAI, Requests: 9}, // skipped
		{UserID: "", Day: d2, Path: resolve.TeamGateway, Provider: providers.Gateway, Requests: 9},  // skipped
		{UserID: "a", Day: d2, Path: resolve.TeamGateway, Provider: providers.Gateway, Requests: 0}, // skipped
	}))
	assert.Equal(t, int64(5), u.Requests("a", resolve.TeamGateway))
	assert.Equal(t, 1, u.Batches())

	got, err := u.TeamUsage(ctx, "a", d2.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, []resolve.TeamUse{{UserID: "a", Day: d2, Path: resolve.ServerProvider, Provider: providers.OpenAI, Requests: 1}}, got)
	got, err = u.TeamUsage(ctx, "a", d1)
	require.NoError(t, err)
	assert.Len(t, got, 2)
	assert.Len(t, u.All(), 3)

	for i := range 5 {
		u.AddConsentEvent("a", resolve.ConsentEvent{Allow: i%2 == 0, At: d1.Add(time.Duration(5-i) * time.Hour), Source: "api"})
	}
	events, err := u.ConsentEvents(ctx, "a", d1.Add(2*time.Hour), 2)
	require.NoError(t, err)
	require.Len(t, events, 2, "the latest two of the four since then")
	assert.Equal(t, d1.Add(4*time.Hour), events[0].At, "oldest first")
	assert.Equal(t, d1.Add(5*time.Hour), events[1].At)
	_, err = u.ConsentEvents(ctx, "a", d1, 0)
	assert.ErrorIs(t, err, resolvetest.ErrLimit)
	_, err = u.TeamUsage(ctx, " ", d1)
	assert.ErrorIs(t, err, resolve.ErrInvalidUserID)

	calls := u.Calls()
	boom := errors.New("boom")
	u.FailWith(boom)
	assert.ErrorIs(t, u.RecordTeamUse(ctx, []resolve.TeamUse{{UserID: "a", Day: d1, Path: resolve.TeamGateway, Provider: providers.Gateway, Requests: 1}}), boom)
	_, err = u.TeamUsage(ctx, "a", d1)
	assert.ErrorIs(t, err, boom)
	_, err = u.ConsentEvents(ctx, "a", d1, 10)
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, calls+3, u.Calls())
	assert.Equal(t, int64(5), u.Requests("a", resolve.TeamGateway), "a failed call stores nothing")
	u.FailWith(nil)

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, u.RecordTeamUse(canceled, nil), context.Canceled)
}

func TestUsage_concurrent(t *testing.T) {
	u := resolvetest.NewUsage()
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				assert.NoError(t, u.RecordTeamUse(context.Background(), []resolve.TeamUse{{UserID: "a", Day: day, Path: resolve.TeamGateway, Provider: providers.Gateway, Requests: 1}}))
				_, err := u.TeamUsage(context.Background(), "a", day)
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(800), u.Requests("a", resolve.TeamGateway))
}

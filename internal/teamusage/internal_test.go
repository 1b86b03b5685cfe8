package teamusage

import (
	"slices"
	"testing"
	"time"

	"github.com/byok-go/byok/providers"
)

// dayOf rounds down on both sides of the epoch, in any zone.
func TestDayOf(t *testing.T) {
	est := time.FixedZone("EST", -5*60*60)
	for _, c := range []struct {
		t    time.Time
		want int64
	}{
		{time.Unix(0, 0), 0},
		{time.Unix(secondsPerDay-1, 999_999_999), 0},
		{time.Unix(secondsPerDay, 0), 1},
		{time.Unix(-1, 0), -1},
		{time.Unix(-1, 999_999_999), -1}, // the last instant before the epoch
		{time.Unix(-secondsPerDay, 0), -1},
		{time.Unix(-secondsPerDay-1, 0), -2},
		{time.Date(2026, 12, 3, 19, 0, 0, 0, est), 20791},   // midnight UTC on the 4th
		{time.Date(2026, 12, 3, 18, 59, 59, 0, est), 20790}, // the 3rd, UTC
		{time.Date(1969, 12, 31, 18, 59, 59, 0, est), -1},
		{time.Date(1969, 12, 31, 19, 0, 0, 0, est), 0},
	} {
		if got := dayOf(c.t); got != c.want {
			t.Errorf("dayOf(%v) = %d, want %d", c.t, got, c.want)
		}
		if got := time.Unix(dayOf(c.t)*secondsPerDay, 0).UTC(); !got.Equal(c.t.Truncate(24 * time.Hour)) {
			t.Errorf("day %d of %v is %v, not its UTC midnight", dayOf(c.t), c.t, got)
		}
	}
}

// compareKeys orders by user, then day, then path, then provider: each field decides
// only when the ones before it are equal.
func TestCompareKeys(t *testing.T) {
	want := []key{
		{user: "a", day: -1, path: "z", id: providers.OpenAI},
		{user: "a", day: 0, path: "b", id: providers.Anthropic},
		{user: "a", day: 0, path: "b", id: providers.OpenAI},
		{user: "a", day: 0, path: "c", id: providers.Anthropic},
		{user: "a", day: 1, path: "a", id: providers.Anthropic},
		{user: "b", day: -5, path: "a", id: providers.Anthropic},
	}
	for i := range want {
		for j := range want {
			got := compareKeys(want[i], want[j])
			if (i < j && got >= 0) || (i > j && got <= 0) || (i == j && got != 0) {
				t.Errorf("compareKeys(%v, %v) = %d", want[i], want[j], got)
			}
		}
	}
	got := slices.Clone(want)
	slices.Reverse(got)
	slices.SortFunc(got, compareKeys)
	if !slices.Equal(got, want) {
		t.Errorf("sorted: %v, want %v", got, want)
	}
}

package resolve

import (
	"testing"
	"time"

	"github.com/byok-go/byok/providers"
)

// The once-a-minute bound remembers at most maxKeys keys: beyond, reports are dropped
// until a minute has passed for the oldest, and a full map is walked at most once a
// second.
func TestHealthClaim_boundedKeys(t *testing.T) {
	var now time.Duration
	h := newHealth(nil, &config{storeTimeout: time.Second, clock: func() time.Duration { return now }})
	h.maxKeys = 3
	key := func(u string) healthKey { return healthKey{u, providers.OpenAI} }
	for _, u := range []string{"a", "b", "c"} {
		if got := h.claim(key(u)); got != "" {
			t.Fatalf("claim %s = %q, want the slot", u, got)
		}
	}
	if got := h.claim(key("a")); got != reportThrottled {
		t.Errorf("a again = %q, want throttled", got)
	}
	if got := h.claim(key("d")); got != reportDropped {
		t.Errorf("d on a full map = %q, want dropped", got)
	}
	now += 30 * time.Second
	if got := h.claim(key("e")); got != reportDropped {
		t.Errorf("e: nothing is a minute old yet: %q, want dropped", got)
	}
	now += 31 * time.Second
	if got := h.claim(key("d")); got != "" {
		t.Errorf("d a minute later = %q, want the slot", got)
	}
	if n := len(h.recent); n != 1 {
		t.Errorf("%d keys remembered after pruning, want 1", n)
	}
	if got := h.claim(key("a")); got != "" {
		t.Errorf("a a minute later = %q, want the slot", got)
	}
}

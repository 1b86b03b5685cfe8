package monoclock

import (
	"testing"
	"time"
)

// waitFor polls cond until it holds, failing the test after a generous bound (the
// clocks run on timers; nothing here asserts how long they take).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
	}
}

func TestNow_monotonic(t *testing.T) {
	prev := Now()
	for range 1000 {
		n := Now()
		if n < prev {
			t.Fatalf("Now went back: %d after %d", n, prev)
		}
		prev = n
	}
}

// Coarse is a past reading of Now: never ahead of it, never going back, and it moves on
// while it is read.
func TestCoarse_followsNow(t *testing.T) {
	first := Coarse()
	if now := Now(); first > now {
		t.Fatalf("Coarse %d is ahead of Now %d", first, now)
	}
	prev := first
	waitFor(t, "Coarse moves on", func() bool {
		c := Coarse()
		if c < prev {
			t.Fatalf("Coarse went back: %d after %d", c, prev)
		}
		if now := Now(); c > now {
			t.Fatalf("Coarse %d is ahead of Now %d", c, now)
		}
		prev = c
		return c > first
	})
}

// The timer stops once a tick passes without a read, and the next read starts it again
// with a fresh value.
func TestCoarse_idleClockStopsItsTimer(t *testing.T) {
	Coarse()
	waitFor(t, "the timer stops when nobody reads", func() bool { return coarse.state.Load()&clockRunning == 0 })
	before := Now()
	if c := Coarse(); c < before {
		t.Errorf("the first read after idling gives a stale %d, want at least %d", c, before)
	}
	if coarse.state.Load()&clockRunning == 0 {
		t.Error("a read did not start the timer again")
	}
}

package throttle_test

import (
	"sync"
	"testing"
	"time"

	"github.com/byok-go/byok/internal/throttle"
)

// A PerKey remembers at most max keys: beyond, claims are refused until the interval
// has passed for the oldest, and a full map is walked at most once a second.
func TestPerKey_boundedKeys(t *testing.T) {
	var now time.Duration
	p := throttle.NewPerKey[string](time.Minute, 3, func() int64 { return int64(now) })
	for _, k := range []string{"a", "b", "c"} {
		if got := p.Claim(k); got != throttle.Claimed {
			t.Fatalf("claim %s = %d, want the slot", k, got)
		}
	}
	if got := p.Claim("a"); got != throttle.Throttled {
		t.Errorf("a again = %d, want throttled", got)
	}
	if got := p.Claim("d"); got != throttle.Full {
		t.Errorf("d on a full map = %d, want full", got)
	}
	now += 30 * time.Second
	if got := p.Claim("e"); got != throttle.Full {
		t.Errorf("e: nothing is a minute old yet: %d, want full", got)
	}
	now += 31 * time.Second
	if got := p.Claim("d"); got != throttle.Claimed {
		t.Errorf("d a minute later = %d, want the slot", got)
	}
	if n := p.Len(); n != 1 {
		t.Errorf("%d keys remembered after pruning, want 1", n)
	}
	if got := p.Claim("a"); got != throttle.Claimed {
		t.Errorf("a a minute later = %d, want the slot", got)
	}
}

// While a PerKey is full, its keys are walked at most once a second: a key that became
// old enough in between is forgotten only at the next walk.
func TestPerKey_fullMapIsWalkedOncePerSecond(t *testing.T) {
	var now time.Duration
	p := throttle.NewPerKey[string](time.Minute, 2, func() int64 { return int64(now) })
	p.Claim("a")
	now = 30 * time.Second
	p.Claim("b")
	now = 59*time.Second + 500*time.Millisecond // full: walked now, nothing to forget
	if got := p.Claim("c"); got != throttle.Full {
		t.Fatalf("c = %d, want full", got)
	}
	now = time.Minute // a is a minute old, but the last walk was half a second ago
	if got := p.Claim("c"); got != throttle.Full {
		t.Fatalf("c = %d, want full until the next walk", got)
	}
	now = time.Minute + 500*time.Millisecond // a second after the last walk: a is forgotten
	if got := p.Claim("c"); got != throttle.Claimed {
		t.Fatalf("c = %d, want the slot", got)
	}
	if got := p.Claim("b"); got != throttle.Throttled {
		t.Errorf("b = %d, want throttled: it is 30.5 s old", got)
	}
}

// A key claimed exactly one interval later gets its slot again.
func TestPerKey_intervalIsInclusive(t *testing.T) {
	var now time.Duration
	p := throttle.NewPerKey[int](time.Minute, 10, func() int64 { return int64(now) })
	if p.Claim(1) != throttle.Claimed {
		t.Fatal("first claim refused")
	}
	now += time.Minute - 1
	if got := p.Claim(1); got != throttle.Throttled {
		t.Errorf("just under a minute = %d, want throttled", got)
	}
	now++
	if got := p.Claim(1); got != throttle.Claimed {
		t.Errorf("a minute later = %d, want the slot", got)
	}
}

func TestLimit(t *testing.T) {
	l := throttle.NewLimit(2)
	if !l.TryAcquire() || !l.TryAcquire() {
		t.Fatal("a free slot refused")
	}
	if l.TryAcquire() {
		t.Fatal("a third slot of two taken")
	}
	l.Release()
	if !l.TryAcquire() {
		t.Fatal("a released slot refused")
	}

	waited := make(chan struct{})
	go func() {
		l.Wait()
		close(waited)
	}()
	select {
	case <-waited:
		t.Fatal("Wait returned while slots are held")
	case <-time.After(10 * time.Millisecond):
	}
	l.Release()
	l.Release()
	<-waited
}

func TestLimit_concurrent(t *testing.T) {
	const n = 3
	l := throttle.NewLimit(n)
	var mu sync.Mutex
	running, peak := 0, 0
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			for range 100 {
				if !l.TryAcquire() {
					continue
				}
				mu.Lock()
				running++
				peak = max(peak, running)
				mu.Unlock()
				mu.Lock()
				running--
				mu.Unlock()
				l.Release()
			}
		})
	}
	wg.Wait()
	l.Wait()
	if peak > n {
		t.Errorf("%d slots held at once, want at most %d", peak, n)
	}
}

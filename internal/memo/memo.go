// Package memo remembers the results of a pure function of a string, in a bounded map
// safe for concurrent use that starts over when it is full.
package memo

import (
	"sync"
	"sync/atomic"
)

// Map remembers up to a bound of values by key. Storing past the bound forgets
// everything first: the bound holds whatever the keys, and a key seen again is simply
// computed again. The zero Map is not usable; call [New].
type Map[V any] struct {
	max  int64
	m    sync.Map // string -> V
	size atomic.Int64
}

// New returns a Map that holds at most n values (at least 1).
func New[V any](n int) *Map[V] {
	return &Map[V]{max: int64(max(n, 1))}
}

// Load returns the value stored for key, if any.
func (m *Map[V]) Load(key string) (V, bool) {
	v, ok := m.m.Load(key)
	if !ok {
		var zero V
		return zero, false
	}
	return v.(V), true
}

// Store remembers v for key, forgetting every value first when the Map is full.
func (m *Map[V]) Store(key string, v V) {
	if m.size.Add(1) > m.max {
		m.m.Clear()
		m.size.Store(1)
	}
	m.m.Store(key, v)
}

// Len returns how many values the Map counts as held (tests).
func (m *Map[V]) Len() int { return int(m.size.Load()) }

package memo_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/byok-go/byok/internal/memo"
)

func TestMap_remembers(t *testing.T) {
	m := memo.New[string](4)
	if _, ok := m.Load("a"); ok {
		t.Fatal("an empty Map answered")
	}
	m.Store("a", "A")
	if v, ok := m.Load("a"); !ok || v != "A" {
		t.Fatalf("Load(a) = %q, %v; want A, true", v, ok)
	}
}

func TestMap_boundStartsOver(t *testing.T) {
	m := memo.New[int](3)
	for i := range 3 {
		m.Store(fmt.Sprint(i), i)
	}
	for i := range 3 {
		if v, ok := m.Load(fmt.Sprint(i)); !ok || v != i {
			t.Fatalf("Load(%d) = %d, %v within the bound", i, v, ok)
		}
	}
	m.Store("3", 3) // past the bound: everything before is forgotten
	if _, ok := m.Load("0"); ok {
		t.Error("a value outlived the bound")
	}
	if v, ok := m.Load("3"); !ok || v != 3 {
		t.Errorf("the value stored past the bound was lost: %d, %v", v, ok)
	}
	if m.Len() != 1 {
		t.Errorf("Len = %d after starting over, want 1", m.Len())
	}
}

func TestMap_concurrentStoresStayBounded(t *testing.T) {
	const bound = 64
	m := memo.New[int](bound)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				k := fmt.Sprint(g, "/", i)
				m.Store(k, i)
				m.Load(k)
			}
		}()
	}
	wg.Wait()
	if n := m.Len(); n > bound {
		t.Errorf("Len = %d after concurrent stores, bound %d", n, bound)
	}
}

package pgcall

import (
	"testing"
	"time"
)

func TestNew_timeoutOption(t *testing.T) {
	for _, tc := range []struct {
		opts []Option
		want time.Duration
	}{
		{nil, DefaultTimeout},
		{[]Option{WithTimeout(time.Second)}, time.Second},
		{[]Option{WithTimeout(0)}, 0},
		{[]Option{WithTimeout(-time.Second)}, 0},
		{[]Option{nil}, DefaultTimeout},
	} {
		if got := New(nil, tc.opts...).(*caller).timeout; got != tc.want {
			t.Errorf("timeout = %v, want %v", got, tc.want)
		}
	}
}

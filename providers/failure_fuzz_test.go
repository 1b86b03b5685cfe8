package providers_test

import (
	"bytes"
	"testing"

	"github.com/byok-go/byok/providers"
)

// fuzzIDs are the providers a fuzzed input is classified for, picked by a byte.
var fuzzIDs = []providers.ID{
	providers.OpenAI, providers.Anthropic, providers.XAI, providers.OpenRouter, providers.Gateway,
	"", "google",
}

// known are the only values ClassifyFailure may return.
var known = map[providers.Failure]bool{
	"":                               true,
	providers.FailureInvalidKey:      true,
	providers.FailureNoCredit:        true,
	providers.FailurePermission:      true,
	providers.FailureModelNotAllowed: true,
	providers.FailureRateLimited:     true,
}

// FuzzClassifyFailure checks that ClassifyFailure never panics, returns only one of
// its fixed words (so nothing of a body leaves it), answers the same twice, and leaves
// the body unchanged. The seed corpus is every answer of TestClassifyFailure, real
// provider bodies, and runs in every go test.
//
// Fuzzed locally without a failure, on 2 shared cores:
//
//	go test ./providers -run '^$' -fuzz FuzzClassifyFailure -fuzztime 5m -parallel 2
//	  4,500,320 executions in 5m0s
//	go test ./providers -run '^$' -fuzz FuzzClassifyFailure -fuzztime 10m -parallel 2
//	  11,233,334 executions in 10m0s (resuming the first run's corpus: 312 inputs)
func FuzzClassifyFailure(f *testing.F) {
	for _, c := range failureCases {
		i := 0
		for j, id := range fuzzIDs {
			if id == c.id {
				i = j
			}
		}
		f.Add(uint8(i), c.status, []byte(c.body))
	}
	f.Fuzz(func(t *testing.T, which uint8, status int, body []byte) {
		id := fuzzIDs[int(which)%len(fuzzIDs)]
		before := bytes.Clone(body)

		got := providers.ClassifyFailure(id, status, body)
		if !known[got] {
			t.Fatalf("ClassifyFailure(%q, %d, ...) = %q, not one of the fixed words", id, status, got)
		}
		if again := providers.ClassifyFailure(id, status, body); again != got {
			t.Fatalf("ClassifyFailure(%q, %d, ...) = %q, then %q", id, status, got, again)
		}
		if !bytes.Equal(before, body) {
			t.Fatalf("ClassifyFailure changed the body")
		}
		if got != "" && (status < 400 || status > 499) {
			t.Fatalf("ClassifyFailure(%q, %d, ...) = %q outside 4xx", id, status, got)
		}
	})
}

package resolve

import (
	"github.com/byok-go/byok/internal/memo"
	"github.com/byok-go/byok/providers"
)

// maxURLMemo bounds the remembered accepted base URLs; past it the memo starts over.
const maxURLMemo = 1024

// urlPolicy applies providers.CheckGatewayURL with a Resolver's allowed hosts. The
// check is a pure function of the raw URL, so accepted URLs are remembered: a user's
// stored base URL is then parsed once, not on every resolution. Rejections are not
// remembered (they are rare, and the raw text may carry credentials).
type urlPolicy struct {
	allowed []string
	memo    *memo.Map[string] // raw URL -> normalized URL
}

func newURLPolicy(allowed []string) *urlPolicy {
	return &urlPolicy{allowed: allowed, memo: memo.New[string](maxURLMemo)}
}

func (p *urlPolicy) check(raw string) (string, error) {
	if u, ok := p.memo.Load(raw); ok {
		return u, nil
	}
	u, err := providers.CheckGatewayURL(raw, p.allowed...)
	if err != nil {
		return "", err
	}
	p.memo.Store(raw, u)
	return u, nil
}

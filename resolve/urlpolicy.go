package resolve

import (
	"sync"
	"sync/atomic"

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
	memo    sync.Map // raw URL -> normalized URL
	size    atomic.Int64
}

func (p *urlPolicy) check(raw string) (string, error) {
	if v, ok := p.memo.Load(raw); ok {
		return v.(string), nil
	}
	u, err := providers.CheckGatewayURL(raw, p.allowed...)
	if err != nil {
		return "", err
	}
	if p.size.Add(1) > maxURLMemo {
		p.memo.Clear()
		p.size.Store(0)
	}
	p.memo.Store(raw, u)
	return u, nil
}

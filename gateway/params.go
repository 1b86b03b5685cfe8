package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/byok-go/byok/providers"
)

// Params is what a gateway credential carries to its transport: compiled options and,
// on per-request BYOK, the user's provider key and the gateway's slug for its provider.
// It is immutable, safe for concurrent use, and never prints the key: every fmt verb,
// slog and JSON show the option names and "[REDACTED]". A nil *Params sends nothing.
type Params struct {
	opts     *Compiled        // nil: no options
	byokSlug string           // "" unless per-request BYOK
	byokKey  providers.Secret // the user's provider key, sent only in the request body
}

// NewParams returns the Params of compiled options (nil: none) and, when slug is not
// "", the user's key to send as per-request BYOK under slug. It returns nil when there
// is nothing to send.
func NewParams(opts *Compiled, slug string, key providers.Secret) *Params {
	if opts == nil && slug == "" {
		return nil
	}
	return &Params{opts: opts, byokSlug: slug, byokKey: key}
}

// WithOptions returns p (which may be nil) with opts instead of its options, keeping its
// BYOK credential; nil when that sends nothing.
func (p *Params) WithOptions(opts *Compiled) *Params {
	if p == nil {
		return NewParams(opts, "", providers.Secret{})
	}
	return NewParams(opts, p.byokSlug, p.byokKey)
}

// Compiled returns p's options, or nil.
func (p *Params) Compiled() *Compiled {
	if p == nil {
		return nil
	}
	return p.opts
}

// Options returns p's compiled options (see [Compiled.Options]); the zero Options when
// there are none.
func (p *Params) Options() Options { return p.Compiled().Options() }

// BYOK returns the provider slug under which p carries the user's key as per-request
// BYOK, and whether it does. The key itself is never returned.
func (p *Params) BYOK() (slug string, ok bool) {
	if p == nil || p.byokSlug == "" {
		return "", false
	}
	return p.byokSlug, true
}

// String describes p without the key: "gateway{order user byok=anthropic:[REDACTED]}".
func (p *Params) String() string {
	if p == nil {
		return "gateway{}"
	}
	var b strings.Builder
	b.WriteString("gateway{")
	if p.opts != nil {
		for i, m := range p.opts.members {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(m.name)
		}
	}
	if p.byokSlug != "" {
		if p.opts != nil {
			b.WriteByte(' ')
		}
		b.WriteString("byok=" + p.byokSlug + ":" + p.byokKey.String())
	}
	b.WriteByte('}')
	return b.String()
}

// Format implements [fmt.Formatter]: every verb prints String.
func (p *Params) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, p.String()) }

// LogValue implements [slog.LogValuer].
func (p *Params) LogValue() slog.Value { return slog.StringValue(p.String()) }

// MarshalJSON implements [json.Marshaler].
func (p *Params) MarshalJSON() ([]byte, error) { return json.Marshal(p.String()) }

package providers

import (
	"crypto/subtle"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// redacted is what every rendering of a Secret shows.
const redacted = "[REDACTED]"

// Secret carries key material. Every fmt verb (%v %+v %#v %s %q %x %d ...), slog, and
// text, JSON and XML encoding show "[REDACTED]", also inside structs, slices and maps;
// [Secret.Reveal] is the only way out.
//
// The value sits behind a pointer, so even reflection-based printing of a struct that
// holds a Secret in an unexported field shows an address, never the key. Compare
// Secrets with [Secret.Equal], not ==. The zero value is the empty secret.
type Secret struct{ p *string }

// NewSecret returns a Secret holding s with surrounding white space trimmed.
func NewSecret(s string) Secret {
	s = strings.TrimSpace(s)
	if s == "" {
		return Secret{}
	}
	return Secret{p: &s}
}

// Reveal returns the key. Call it only where a request header is built.
func (s Secret) Reveal() string {
	if s.p == nil {
		return ""
	}
	return *s.p
}

// IsZero reports whether s holds no key.
func (s Secret) IsZero() bool { return s.p == nil || *s.p == "" }

// Equal reports whether s and o hold the same key, in time independent of the
// contents (but not of the lengths).
func (s Secret) Equal(o Secret) bool {
	return subtle.ConstantTimeCompare([]byte(s.Reveal()), []byte(o.Reveal())) == 1
}

// Format implements [fmt.Formatter]: every verb prints "[REDACTED]". (A String method
// alone would not do: %d and %x print a struct's fields.)
func (Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// String returns "[REDACTED]".
func (Secret) String() string { return redacted }

// GoString returns "[REDACTED]".
func (Secret) GoString() string { return redacted }

// LogValue implements [slog.LogValuer].
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText implements [encoding.TextMarshaler], which encoding/json and encoding/xml use.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// MarshalJSON implements [encoding/json.Marshaler].
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

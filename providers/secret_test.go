package providers_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/providers"
)

const canary = "sk-canary-3f9d2c71e4b8a605"

func TestNewSecret(t *testing.T) {
	s := providers.NewSecret("  " + canary + "\n")
	assert.Equal(t, canary, s.Reveal())
	assert.False(t, s.IsZero())

	for _, empty := range []string{"", "   ", "\t\n"} {
		assert.True(t, providers.NewSecret(empty).IsZero(), "%q", empty)
		assert.Equal(t, "", providers.NewSecret(empty).Reveal())
	}
	var zero providers.Secret
	assert.True(t, zero.IsZero())
	assert.Equal(t, "", zero.Reveal())
}

func TestSecret_Equal(t *testing.T) {
	a, b := providers.NewSecret(canary), providers.NewSecret(" "+canary)
	assert.True(t, a.Equal(b))
	assert.False(t, a.Equal(providers.NewSecret(canary+"x")))
	assert.False(t, a.Equal(providers.Secret{}))
	assert.True(t, providers.Secret{}.Equal(providers.NewSecret(" ")))
}

// holder mixes exported and unexported Secret fields, a slice, a map and a pointer.
type holder struct {
	Key     providers.Secret
	hidden  providers.Secret
	List    []providers.Secret
	ByName  map[string]providers.Secret
	Pointer *providers.Secret
}

type xmlHolder struct{ K providers.Secret }

func TestSecret_neverPrinted(t *testing.T) {
	s := providers.NewSecret(canary)
	h := holder{Key: s, hidden: s, List: []providers.Secret{s}, ByName: map[string]providers.Secret{"k": s}, Pointer: &s}

	var out bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T", "%10.3s", "%-8v"} {
		for _, v := range []any{s, &s, h, &h, []providers.Secret{s}, map[providers.Secret]int{s: 1}} {
			fmt.Fprintf(&out, verb+"\n", v)
		}
	}
	fmt.Fprint(&out, s, h)
	fmt.Fprintln(&out, s, h)
	out.WriteString(s.String() + s.GoString())

	for _, v := range []any{s, h, &h, map[string]providers.Secret{"k": s}} {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		out.Write(b)
		b, err = xml.Marshal(xmlHolder{K: s})
		require.NoError(t, err)
		out.Write(b)
	}
	text, err := s.MarshalText()
	require.NoError(t, err)
	out.Write(text)

	for _, handler := range []slog.Handler{
		slog.NewJSONHandler(&out, &slog.HandlerOptions{AddSource: true}),
		slog.NewTextHandler(&out, nil),
	} {
		l := slog.New(handler)
		l.Info("secret", "key", s, "holder", h, "ptr", &h, "list", []providers.Secret{s})
		l.Info("group", slog.Group("g", slog.Any("key", s)))
		l.Error(fmt.Sprint(s), "err", fmt.Errorf("wrapped %v", s))
	}

	assert.NotContains(t, out.String(), canary)
	assert.NotContains(t, out.String(), canary[3:], "no part of the key either")
	assert.Contains(t, out.String(), "[REDACTED]", "the output was produced")
}

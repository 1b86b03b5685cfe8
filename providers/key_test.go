package providers_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/providers"
)

func TestCheckKey(t *testing.T) {
	for _, ok := range []string{"sk-abc", "x", strings.Repeat("k", providers.MaxKeyLen), "sk-proj_AZaz09-._~+/="} {
		assert.NoError(t, providers.CheckKey(ok), "%q", ok)
	}
	for name, bad := range map[string]string{
		"empty":        "",
		"too long":     strings.Repeat("k", providers.MaxKeyLen+1),
		"inner space":  "sk- abc",
		"tab":          "sk-\tabc",
		"newline":      "sk-abc\r\nX-Evil: 1",
		"nul":          "sk-\x00abc",
		"del":          "sk-\x7fabc",
		"zero-width":   "sk-\u200babc",
		"rtl mark":     "sk-\u202eabc",
		"non-ascii":    "sk-ä",
		"invalid utf8": "sk-\xff",
	} {
		err := providers.CheckKey(bad)
		require.ErrorIs(t, err, providers.ErrInvalidKey, name)
		if bad != "" {
			assert.NotContains(t, err.Error(), bad, name)
		}
	}
}

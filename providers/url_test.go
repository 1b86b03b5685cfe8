package providers_test

import (
	"errors"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/providers"
)

func TestCheckGatewayURL_accepts(t *testing.T) {
	tests := []struct {
		raw     string
		allowed []string
		want    string
	}{
		{"https://ai-gateway.vercel.sh/v1", nil, "https://ai-gateway.vercel.sh/v1"},
		{"https://AI-Gateway.vercel.sh:443/v1/", nil, "https://ai-gateway.vercel.sh/v1"},
		{"HTTPS://ai-gateway.vercel.sh", nil, "https://ai-gateway.vercel.sh"},
		{"https://ai-gateway.vercel.sh/", nil, "https://ai-gateway.vercel.sh"},
		{"https://ai-gateway.vercel.sh:/v1//", nil, "https://ai-gateway.vercel.sh/v1"},
		{"  https://ai-gateway.vercel.sh/v1  ", nil, "https://ai-gateway.vercel.sh/v1"},
		{"https://ai-gateway.vercel.sh/V1/Chat", nil, "https://ai-gateway.vercel.sh/V1/Chat"},
		{"https://ai-gateway.vercel.sh/a%20b", nil, "https://ai-gateway.vercel.sh/a%20b"},
		{"https://gw.example.com/v1", []string{"gw.example.com"}, "https://gw.example.com/v1"},
		{"https://GW.Example.com/v1", []string{" Gw.EXAMPLE.com "}, "https://gw.example.com/v1"},
		{"https://gw.example.com/v1", []string{"", "other.example", "gw.example.com"}, "https://gw.example.com/v1"},
		{"https://8.8.8.8/v1", []string{"8.8.8.8"}, "https://8.8.8.8/v1"},
		{"https://[2606:4700::1111]/v1", []string{"2606:4700::1111"}, "https://[2606:4700::1111]/v1"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := providers.CheckGatewayURL(tt.raw, tt.allowed...)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			again, err := providers.CheckGatewayURL(got, tt.allowed...)
			require.NoError(t, err, "the normalized URL passes again")
			assert.Equal(t, got, again)
		})
	}
}

func TestCheckGatewayURL_rejects(t *testing.T) {
	// Every private host is also on the allowed list: the private check comes first.
	allowed := []string{"gw.example.com", "localhost", "127.0.0.1", "10.0.0.1", "::1", "169.254.169.254",
		"metadata.google.internal", "printer.local", "app.localhost", "100.64.0.1", "127.1", "2130706433"}
	tests := []struct {
		raw    string
		reason string
	}{
		{"", providers.ReasonInvalidURL},
		{"   ", providers.ReasonInvalidURL},
		{"ai-gateway.vercel.sh/v1", providers.ReasonInvalidURL},
		{"//ai-gateway.vercel.sh/v1", providers.ReasonInvalidURL},
		{"https:ai-gateway.vercel.sh", providers.ReasonInvalidURL},
		{"https:///v1", providers.ReasonInvalidURL},
		{"https://:443/v1", providers.ReasonInvalidURL},
		{"https://ai-gateway.vercel.sh\x7f/v1", providers.ReasonInvalidURL},
		{"https://ai gateway.vercel.sh/v1", providers.ReasonInvalidURL},
		{"https://[::1/v1", providers.ReasonInvalidURL},
		{"https://ai-gateway.vercel.sh:99999999999/v1", providers.ReasonPortNotAllowed},
		{"http://ai-gateway.vercel.sh/v1", providers.ReasonNonHTTPS},
		{"ftp://ai-gateway.vercel.sh/v1", providers.ReasonNonHTTPS},
		{"wss://ai-gateway.vercel.sh/v1", providers.ReasonNonHTTPS},
		{"https://user:pass@ai-gateway.vercel.sh/v1", providers.ReasonCredentials},
		{"https://user@ai-gateway.vercel.sh/v1", providers.ReasonCredentials},
		{"https://@ai-gateway.vercel.sh/v1", providers.ReasonCredentials},
		{"https://ai-gateway.vercel.sh:8443/v1", providers.ReasonPortNotAllowed},
		{"https://ai-gateway.vercel.sh:80/v1", providers.ReasonPortNotAllowed},
		{"https://ai-gateway.vercel.sh:0443/v1", providers.ReasonPortNotAllowed},
		{"https://ai-gateway.vercel.sh/v1?x=1", providers.ReasonQueryOrFragment},
		{"https://ai-gateway.vercel.sh/v1?", providers.ReasonQueryOrFragment},
		{"https://ai-gateway.vercel.sh/v1#frag", providers.ReasonQueryOrFragment},
		{"https://ai-gateway.vercel.sh/v1#", providers.ReasonQueryOrFragment},
		{"https://localhost/v1", providers.ReasonPrivateHost},
		{"https://LOCALHOST./v1", providers.ReasonPrivateHost},
		{"https://app.localhost/v1", providers.ReasonPrivateHost},
		{"https://printer.local/v1", providers.ReasonPrivateHost},
		{"https://metadata.google.internal/v1", providers.ReasonPrivateHost},
		{"https://%6c%6f%63%61%6c%68%6f%73%74/v1", providers.ReasonInvalidURL}, // Go refuses %-escapes in a host
		{"https://127.0.0.1/v1", providers.ReasonPrivateHost},
		{"https://127.0.0.1./v1", providers.ReasonPrivateHost},
		{"https://127.1/v1", providers.ReasonPrivateHost},
		{"https://127.0.1/v1", providers.ReasonPrivateHost},
		{"https://2130706433/v1", providers.ReasonPrivateHost},
		{"https://0x7f000001/v1", providers.ReasonPrivateHost},
		{"https://0x7f.0.0.1/v1", providers.ReasonPrivateHost},
		{"https://0177.0.0.1/v1", providers.ReasonPrivateHost},
		{"https://017700000001/v1", providers.ReasonPrivateHost},
		{"https://0/v1", providers.ReasonPrivateHost},
		{"https://0.0.0.0/v1", providers.ReasonPrivateHost},
		{"https://10.0.0.1/v1", providers.ReasonPrivateHost},
		{"https://012.0.0.1/v1", providers.ReasonPrivateHost}, // octal 012 = 10
		{"https://172.16.5.4/v1", providers.ReasonPrivateHost},
		{"https://192.168.1.1/v1", providers.ReasonPrivateHost},
		{"https://169.254.169.254/latest", providers.ReasonPrivateHost},
		{"https://100.64.0.1/v1", providers.ReasonPrivateHost},
		{"https://100.127.255.254/v1", providers.ReasonPrivateHost},
		{"https://224.0.0.1/v1", providers.ReasonPrivateHost},
		{"https://255.255.255.255/v1", providers.ReasonPrivateHost},
		{"https://[::1]/v1", providers.ReasonPrivateHost},
		{"https://[::]/v1", providers.ReasonPrivateHost},
		{"https://[0:0:0:0:0:0:0:1]/v1", providers.ReasonPrivateHost},
		{"https://[::ffff:127.0.0.1]/v1", providers.ReasonPrivateHost},
		{"https://[::ffff:7f00:1]/v1", providers.ReasonPrivateHost},
		{"https://[::ffff:10.0.0.1]:443/v1", providers.ReasonPrivateHost},
		{"https://[::ffff:a9fe:a9fe]/v1", providers.ReasonPrivateHost},
		{"https://[::127.0.0.1]/v1", providers.ReasonPrivateHost},
		{"https://[64:ff9b::7f00:1]/v1", providers.ReasonPrivateHost},
		{"https://[2002:7f00:1::]/v1", providers.ReasonPrivateHost},
		{"https://[2002:a00:1::1]/v1", providers.ReasonPrivateHost},
		{"https://[fe80::1]/v1", providers.ReasonPrivateHost},
		{"https://[fe80::1%25eth0]/v1", providers.ReasonPrivateHost},
		{"https://[fc00::1]/v1", providers.ReasonPrivateHost},
		{"https://[fd12:3456::1]/v1", providers.ReasonPrivateHost},
		{"https://[fec0::1]/v1", providers.ReasonPrivateHost},
		{"https://[ff02::1]/v1", providers.ReasonPrivateHost},
		{"https://evil.example.com/v1", providers.ReasonHostNotAllowed},
		{"https://ai-gateway.vercel.sh.evil.com/v1", providers.ReasonHostNotAllowed},
		{"https://evil.com/ai-gateway.vercel.sh", providers.ReasonHostNotAllowed},
		{"https://ai-gateway.vercel.sh./v1", providers.ReasonHostNotAllowed},
		{"https://xai-gateway.vercel.sh/v1", providers.ReasonHostNotAllowed},
		{"https://8.8.8.8/v1", providers.ReasonHostNotAllowed},
		{"https://[2606:4700::1111]/v1", providers.ReasonHostNotAllowed},
		{"https://api.openai.com/v1", providers.ReasonHostNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := providers.CheckGatewayURL(tt.raw, allowed...)
			require.Error(t, err)
			assert.Empty(t, got)
			require.ErrorIs(t, err, providers.ErrGatewayURL)
			var ue *providers.URLError
			require.ErrorAs(t, err, &ue)
			assert.Equal(t, tt.reason, ue.Reason)
			if tt.raw != "" && strings.TrimSpace(tt.raw) != "" {
				assert.NotContains(t, err.Error(), strings.TrimSpace(tt.raw), "the URL is never echoed")
			}
		})
	}
}

func TestCheckGatewayURL_credentialsNeverEchoed(t *testing.T) {
	_, err := providers.CheckGatewayURL("https://sk-canary-user:sk-canary-pass@ai-gateway.vercel.sh/v1")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "sk-canary")
	assert.True(t, errors.Is(err, providers.ErrGatewayURL))
}

// FuzzCheckGatewayURL asserts that whatever is accepted is safe: https, an allowed
// public host, no credentials, port or query, and stable under a second check. The
// allowed list deliberately contains private hosts, which must still be rejected.
func FuzzCheckGatewayURL(f *testing.F) {
	for _, seed := range []string{
		"https://ai-gateway.vercel.sh/v1",
		"https://AI-Gateway.vercel.sh:443/v1/",
		"https://gw.example.com/v1",
		"http://ai-gateway.vercel.sh/v1",
		"https://user:pass@ai-gateway.vercel.sh/v1",
		"https://ai-gateway.vercel.sh:8443/v1",
		"https://ai-gateway.vercel.sh/v1?q=1#f",
		"https://localhost/v1",
		"https://app.localhost/v1",
		"https://printer.local/v1",
		"https://metadata.google.internal/v1",
		"https://127.0.0.1/v1",
		"https://127.1/v1",
		"https://2130706433/v1",
		"https://0x7f.0.0.1/v1",
		"https://10.1.2.3/v1",
		"https://192.168.0.10/v1",
		"https://169.254.169.254/v1",
		"https://100.64.0.1/v1",
		"https://[::1]/v1",
		"https://[::ffff:127.0.0.1]/v1",
		"https://[::ffff:7f00:1]/v1",
		"https://[fe80::1%25eth0]/v1",
		"https://[fd00::1]/v1",
		"https://[64:ff9b::a00:1]/v1",
		"https://%6c%6f%63%61%6c%68%6f%73%74/v1",
		"https://0/v1",
	} {
		f.Add(seed)
	}
	allowed := []string{"gw.example.com", "localhost", "127.0.0.1", "10.1.2.3", "::1", "app.localhost",
		"169.254.169.254", "fd00::1", "0", "2130706433", "127.1", "printer.local"}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := providers.CheckGatewayURL(raw, allowed...)
		if err != nil {
			var ue *providers.URLError
			if !errors.As(err, &ue) || !errors.Is(err, providers.ErrGatewayURL) || ue.Reason == "" {
				t.Fatalf("rejection %v is not a *URLError matching ErrGatewayURL", err)
			}
			if got != "" {
				t.Fatalf("rejection returned %q", got)
			}
			return
		}
		u, perr := url.Parse(got)
		if perr != nil {
			t.Fatalf("accepted %q normalized to unparsable %q", raw, got)
		}
		if u.Scheme != "https" || u.User != nil || u.Port() != "" || u.RawQuery != "" || u.ForceQuery ||
			u.Fragment != "" || strings.HasSuffix(got, "/") {
			t.Fatalf("accepted %q as unsafe or unnormalized %q", raw, got)
		}
		if h := u.Hostname(); h != providers.DefaultGatewayHost && h != "gw.example.com" {
			t.Fatalf("accepted %q with host %q", raw, h)
		}
		if _, err := netip.ParseAddr(u.Hostname()); err == nil {
			t.Fatalf("accepted %q with an IP host", raw)
		}
		again, err := providers.CheckGatewayURL(got, allowed...)
		if err != nil || again != got {
			t.Fatalf("normalized %q does not pass again unchanged: %q, %v", got, again, err)
		}
	})
}

package providers_test

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/providers"
)

func TestCheckDialAddr(t *testing.T) {
	denied := map[string]string{
		// IPv4
		"127.0.0.1:443":       providers.EgressNonPublicAddress,
		"127.255.255.254:80":  providers.EgressNonPublicAddress,
		"10.0.0.8:443":        providers.EgressNonPublicAddress,
		"172.16.0.1:443":      providers.EgressNonPublicAddress,
		"172.31.255.255:443":  providers.EgressNonPublicAddress,
		"192.168.1.1:443":     providers.EgressNonPublicAddress,
		"169.254.1.1:443":     providers.EgressNonPublicAddress,
		"100.64.0.1:443":      providers.EgressNonPublicAddress, // CGNAT
		"100.127.255.254:443": providers.EgressNonPublicAddress,
		"0.0.0.0:443":         providers.EgressNonPublicAddress,
		"0.1.2.3:443":         providers.EgressNonPublicAddress,
		"224.0.0.1:443":       providers.EgressNonPublicAddress,
		"239.255.255.250:443": providers.EgressNonPublicAddress,
		"255.255.255.255:443": providers.EgressNonPublicAddress,
		"240.0.0.1:443":       providers.EgressNonPublicAddress,
		"198.18.0.1:443":      providers.EgressNonPublicAddress,
		"192.0.2.10:443":      providers.EgressNonPublicAddress,
		"198.51.100.7:443":    providers.EgressNonPublicAddress,
		"203.0.113.5:443":     providers.EgressNonPublicAddress,
		"192.0.0.8:443":       providers.EgressNonPublicAddress,
		// IPv6
		"[::1]:443":            providers.EgressNonPublicAddress,
		"[::]:443":             providers.EgressNonPublicAddress,
		"[fe80::1]:443":        providers.EgressNonPublicAddress,
		"[fe80::1%eth0]:443":   providers.EgressNonPublicAddress,
		"[fc00::1]:443":        providers.EgressNonPublicAddress,
		"[fd12:3456::1]:443":   providers.EgressNonPublicAddress,
		"[fec0::1]:443":        providers.EgressNonPublicAddress,
		"[ff02::1]:443":        providers.EgressNonPublicAddress,
		"[2001:db8::1]:443":    providers.EgressNonPublicAddress,
		"[100::1]:443":         providers.EgressNonPublicAddress,
		"[2001::1]:443":        providers.EgressNonPublicAddress, // Teredo
		"[64:ff9b::a00:1]:443": providers.EgressNonPublicAddress, // NAT64 of 10.0.0.1
		"[2002:7f00:1::]:443":  providers.EgressNonPublicAddress, // 6to4 of 127.0.0.1
		"[::127.0.0.1]:443":    providers.EgressNonPublicAddress, // IPv4-compatible
		// IPv4-mapped IPv6
		"[::ffff:127.0.0.1]:443":   providers.EgressNonPublicAddress,
		"[::ffff:7f00:1]:443":      providers.EgressNonPublicAddress,
		"[::ffff:10.1.2.3]:443":    providers.EgressNonPublicAddress,
		"[::ffff:192.168.0.1]:443": providers.EgressNonPublicAddress,
		"[::ffff:100.64.0.1]:443":  providers.EgressNonPublicAddress,
		// cloud metadata
		"169.254.169.254:80":          providers.EgressMetadataAddress,
		"169.254.170.2:80":            providers.EgressMetadataAddress,
		"[fd00:ec2::254]:80":          providers.EgressMetadataAddress,
		"[::ffff:169.254.169.254]:80": providers.EgressMetadataAddress,
		"[::ffff:a9fe:a9fe]:80":       providers.EgressMetadataAddress,
		"100.100.100.200:80":          providers.EgressMetadataAddress,
		"168.63.129.16:80":            providers.EgressMetadataAddress,
		"192.0.0.192:80":              providers.EgressMetadataAddress,
		// not an address
		"":                   providers.EgressInvalidAddress,
		"localhost:443":      providers.EgressInvalidAddress,
		"api.openai.com:443": providers.EgressInvalidAddress,
		"2130706433:443":     providers.EgressInvalidAddress, // inet_aton forms never reach a dialer
		"127.1:443":          providers.EgressInvalidAddress,
		"[::1:443":           providers.EgressInvalidAddress,
		"1.2.3.4.5:443":      providers.EgressInvalidAddress,
		"\x00:443":           providers.EgressInvalidAddress,
	}
	for addr, reason := range denied {
		t.Run(addr, func(t *testing.T) {
			err := providers.CheckDialAddr(addr)
			require.ErrorIs(t, err, providers.ErrEgressDenied)
			var ee *providers.EgressError
			require.ErrorAs(t, err, &ee)
			assert.Equal(t, reason, ee.Reason)
			if addr != "" {
				assert.NotContains(t, err.Error(), addr, "the text names the rule, not the address")
			}
		})
	}

	for _, addr := range []string{
		"1.1.1.1:443", "8.8.8.8:443", "104.18.6.192:443", "162.159.140.245:443", "76.76.21.21:443",
		"100.63.255.255:443", "100.128.0.0:443", "172.32.0.1:443", "169.253.255.255:443", "11.0.0.1:443",
		"[2606:4700::6810:84e5]:443", "[2a00:1450:4001:82a::200e]:443", "[::ffff:1.1.1.1]:443",
		"[64:ff9b::808:808]:443", "[2002:808:808::]:443",
		"8.8.8.8", // a bare IP is accepted too
	} {
		assert.NoError(t, providers.CheckDialAddr(addr), addr)
	}
}

func TestEgressError(t *testing.T) {
	err := error(&providers.EgressError{Reason: providers.EgressOtherHost})
	assert.Equal(t, "providers: egress denied: other_host", err.Error())
	assert.True(t, errors.Is(err, providers.ErrEgressDenied))
	assert.False(t, errors.Is(err, providers.ErrGatewayURL))
}

// FuzzCheckDialAddr: never panics; allows only what parses as an IP address that is
// public unicast, under every spelling the parser takes.
func FuzzCheckDialAddr(f *testing.F) {
	for _, s := range []string{
		"127.0.0.1:443", "[::1]:443", "[::ffff:127.0.0.1]:80", "169.254.169.254:80", "[fd00:ec2::254]:80",
		"1.1.1.1:443", "[2606:4700::1]:443", "10.0.0.1", "[fe80::1%eth0]:443", "", ":", "[]:1", "0:0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, address string) {
		err := providers.CheckDialAddr(address)
		if err != nil {
			if !errors.Is(err, providers.ErrEgressDenied) {
				t.Fatalf("%q: error %v does not match ErrEgressDenied", address, err)
			}
			return
		}
		host, _, serr := net.SplitHostPort(address)
		if serr != nil {
			host = address
		}
		a, perr := netip.ParseAddr(host)
		if perr != nil {
			t.Fatalf("%q allowed but %q is no IP address", address, host)
		}
		a = a.WithZone("").Unmap()
		if !a.IsGlobalUnicast() || a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() ||
			netip.MustParsePrefix("100.64.0.0/10").Contains(a) || a == netip.MustParseAddr("169.254.169.254") ||
			netip.MustParsePrefix("fc00::/7").Contains(a) {
			t.Fatalf("%q allowed but %v is not public unicast", address, a)
		}
	})
}

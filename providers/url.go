package providers

import (
	"errors"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// DefaultGatewayHost is the Vercel AI Gateway host that [CheckGatewayURL] always allows.
const DefaultGatewayHost = "ai-gateway.vercel.sh"

// ErrGatewayURL is matched (with errors.Is) by every rejection from [CheckGatewayURL].
// The error is a *[URLError] whose Reason says which rule failed.
var ErrGatewayURL = errors.New("providers: gateway base URL rejected")

// Reasons a gateway base URL is rejected, in the order [CheckGatewayURL] checks them.
const (
	ReasonInvalidURL      = "invalid_url"       // not an absolute URL with a host
	ReasonNonHTTPS        = "non_https"         // scheme other than https
	ReasonCredentials     = "credentials"       // user info (user:password@) present
	ReasonPortNotAllowed  = "port_not_allowed"  // a port other than 443
	ReasonQueryOrFragment = "query_or_fragment" // a query string or fragment present
	ReasonPrivateHost     = "private_host"      // loopback, private, link-local, ... in any notation
	ReasonHostNotAllowed  = "host_not_allowed"  // not ai-gateway.vercel.sh nor an allowed host
)

// URLError is the error [CheckGatewayURL] returns. Its text names the rule only, never
// the URL, which may carry credentials.
type URLError struct {
	Reason string // one of the Reason constants
}

func (e *URLError) Error() string { return ErrGatewayURL.Error() + ": " + e.Reason }

// Unwrap returns [ErrGatewayURL].
func (e *URLError) Unwrap() error { return ErrGatewayURL }

// CheckGatewayURL applies the gateway base-URL policy to raw and returns the normalized
// URL: lower-case scheme and host, no ":443", the path kept without trailing slashes.
//
// The rules, in order: an absolute URL with a host; scheme https; no user info; port
// empty or 443; no query or fragment; a host that is not loopback, private, link-local,
// unspecified, CGNAT, multicast or an IPv4-mapped or embedded form of those, in any
// notation Go or a C resolver accepts (127.1, 0x7f.0.0.1, 2130706433, [::ffff:7f00:1],
// ...), nor localhost, *.localhost, *.local or *.internal; and a host equal, after
// lower-casing, to [DefaultGatewayHost] or to one of allowedHosts. An allowed host that
// is private is still rejected as private_host.
//
// A rejection is a *[URLError] matching [ErrGatewayURL].
func CheckGatewayURL(raw string, allowedHosts ...string) (string, error) {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.Host == "" || u.Scheme == "" {
		return "", &URLError{Reason: ReasonInvalidURL}
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", &URLError{Reason: ReasonInvalidURL}
	}
	if !strings.EqualFold(u.Scheme, "https") {
		return "", &URLError{Reason: ReasonNonHTTPS}
	}
	if u.User != nil {
		return "", &URLError{Reason: ReasonCredentials}
	}
	if p := u.Port(); p != "" && p != "443" {
		return "", &URLError{Reason: ReasonPortNotAllowed}
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(raw, "?#") {
		return "", &URLError{Reason: ReasonQueryOrFragment}
	}
	if isPrivateHost(host) {
		return "", &URLError{Reason: ReasonPrivateHost}
	}
	if !hostAllowed(host, allowedHosts) {
		return "", &URLError{Reason: ReasonHostNotAllowed}
	}

	hostPart := host
	if strings.Contains(host, ":") { // an IPv6 literal (only reachable through allowedHosts)
		hostPart = "[" + host + "]"
	}
	return "https://" + hostPart + strings.TrimRight(u.EscapedPath(), "/"), nil
}

// hostAllowed reports whether host is the default gateway host or one of allowed,
// compared after trimming and lower-casing.
func hostAllowed(host string, allowed []string) bool {
	if host == DefaultGatewayHost {
		return true
	}
	for _, a := range allowed {
		if a = strings.ToLower(strings.TrimSpace(a)); a != "" && a == host {
			return true
		}
	}
	return false
}

// isPrivateHost reports whether host (lower-case, without brackets) names a machine
// that is not on the public internet.
func isPrivateHost(host string) bool {
	name := strings.TrimRight(host, ".")
	if name == "" {
		return true // "." or "..": the root, never a gateway
	}
	if addr, ok := parseIPHost(name); ok {
		return isPrivateAddr(addr)
	}
	if name == "localhost" {
		return true
	}
	for _, suffix := range [...]string{".localhost", ".local", ".internal"} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}

// parseIPHost parses host as an IP literal in any notation that some resolver may
// accept: standard IPv4 and IPv6 (with zone), and the inet_aton forms of IPv4 (one to
// four parts, each decimal, octal with a leading 0, or hex with 0x).
func parseIPHost(host string) (netip.Addr, bool) {
	if strings.Contains(host, ":") { // only IPv6 literals have colons
		addr, err := netip.ParseAddr(host)
		return addr, err == nil
	}
	if strings.IndexFunc(host, notAtonRune) >= 0 { // a name: the common case, decided cheaply
		return netip.Addr{}, false
	}
	return parseInetAton(host)
}

// notAtonRune reports whether r cannot occur in any IPv4 notation.
func notAtonRune(r rune) bool {
	return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F' || r == 'x' || r == 'X' || r == '.')
}

// parseInetAton parses the BSD inet_aton notations of an IPv4 address: "a.b.c.d",
// "a.b.c" (c is 16 bits), "a.b" (b is 24 bits) and "a" (32 bits), each part decimal,
// octal (leading 0) or hex (0x).
func parseInetAton(s string) (netip.Addr, bool) {
	var vals [4]uint64
	n := 0
	for part := range strings.SplitSeq(s, ".") {
		if n == len(vals) {
			return netip.Addr{}, false
		}
		v, ok := parseAtonPart(part)
		if !ok {
			return netip.Addr{}, false
		}
		vals[n] = v
		n++
	}
	for _, v := range vals[:n-1] {
		if v > 0xff {
			return netip.Addr{}, false
		}
	}
	if vals[n-1] >= 1<<(8*(5-n)) {
		return netip.Addr{}, false
	}
	var ip uint32
	for i, v := range vals[:n-1] {
		ip |= uint32(v) << (24 - 8*i)
	}
	ip |= uint32(vals[n-1])
	return netip.AddrFrom4([4]byte{byte(ip >> 24), byte(ip >> 16), byte(ip >> 8), byte(ip)}), true
}

func parseAtonPart(p string) (uint64, bool) {
	if p == "" {
		return 0, false
	}
	base := 10
	switch {
	case len(p) > 1 && (p[:2] == "0x" || p[:2] == "0X"):
		base, p = 16, p[2:]
		if p == "" {
			return 0, true // "0x" alone is 0 to inet_aton
		}
	case len(p) > 1 && p[0] == '0':
		base, p = 8, p[1:]
	}
	for _, r := range p { // ParseUint accepts '_' with base 0 only; be explicit anyway
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(p, base, 32)
	return v, err == nil
}

var (
	cgnat      = netip.MustParsePrefix("100.64.0.0/10")
	thisNet    = netip.MustParsePrefix("0.0.0.0/8")
	benchmark  = netip.MustParsePrefix("198.18.0.0/15")
	reserved4  = netip.MustParsePrefix("240.0.0.0/4") // includes 255.255.255.255
	siteLocal6 = netip.MustParsePrefix("fec0::/10")
	nat64      = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour  = netip.MustParsePrefix("2002::/16")
	compat4    = netip.MustParsePrefix("::/96") // deprecated IPv4-compatible IPv6 (::a.b.c.d)
	teredo     = netip.MustParsePrefix("2001::/32")
)

// isPrivateAddr reports whether addr is not a public unicast address, looking through
// the IPv6 forms that embed an IPv4 address.
func isPrivateAddr(addr netip.Addr) bool {
	addr = addr.WithZone("")
	if addr.Is4In6() {
		addr = addr.Unmap()
	}
	if addr.Is4() {
		return addr.IsLoopback() || addr.IsPrivate() || addr.IsLinkLocalUnicast() ||
			addr.IsLinkLocalMulticast() || addr.IsMulticast() || addr.IsUnspecified() ||
			cgnat.Contains(addr) || thisNet.Contains(addr) || benchmark.Contains(addr) ||
			reserved4.Contains(addr)
	}
	if addr.IsLoopback() || addr.IsPrivate() || addr.IsLinkLocalUnicast() || addr.IsLinkLocalMulticast() ||
		addr.IsInterfaceLocalMulticast() || addr.IsMulticast() || addr.IsUnspecified() ||
		siteLocal6.Contains(addr) || nat64Local.Contains(addr) || teredo.Contains(addr) {
		return true
	}
	b := addr.As16()
	switch {
	case nat64.Contains(addr), compat4.Contains(addr): // IPv4 in the last 32 bits
		return isPrivateAddr(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	case sixToFour.Contains(addr): // 2002:AABB:CCDD::/48 embeds AA.BB.CC.DD
		return isPrivateAddr(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
	}
	return false
}

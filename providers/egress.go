package providers

import (
	"errors"
	"net"
	"net/netip"
)

// ErrEgressDenied is matched (with errors.Is) by every refusal to send a request, or to
// open a connection, that would take a key where it must not go: a non-public or cloud
// metadata address ([CheckDialAddr]), or a request for another host than the one a key
// was resolved for. The error is an *[EgressError] whose Reason says which rule refused.
var ErrEgressDenied = errors.New("providers: egress denied")

// Reasons an egress is denied, as in [EgressError.Reason].
const (
	EgressMetadataAddress  = "metadata_address"   // a cloud metadata service address
	EgressNonPublicAddress = "non_public_address" // loopback, private, link-local, CGNAT, ...
	EgressInvalidAddress   = "invalid_address"    // not "ip:port" with an IP literal
	EgressOtherHost        = "other_host"         // a request for another scheme or host than the base URL's
	EgressInvalidBaseURL   = "invalid_base_url"   // the credential's base URL is not an absolute http(s) URL
	EgressNoKey            = "no_key"             // the credential holds no key
)

// EgressError is the error [CheckDialAddr] returns, and the error a guarded transport
// returns for a request it refuses. Its text names the rule only, never the address,
// URL or key.
type EgressError struct {
	Reason string // one of the Egress constants
}

func (e *EgressError) Error() string { return ErrEgressDenied.Error() + ": " + e.Reason }

// Unwrap returns [ErrEgressDenied].
func (e *EgressError) Unwrap() error { return ErrEgressDenied }

// metadataAddrs are cloud metadata and host-agent services, refused by name so the
// reason says so. Most also fall in a refused range; 168.63.129.16 does not.
var metadataAddrs = map[netip.Addr]bool{
	netip.MustParseAddr("169.254.169.254"): true, // AWS, GCP, Azure, Oracle, DigitalOcean, OpenStack
	netip.MustParseAddr("169.254.170.2"):   true, // AWS ECS task credentials
	netip.MustParseAddr("169.254.170.23"):  true, // AWS EKS pod identity
	netip.MustParseAddr("fd00:ec2::254"):   true, // AWS IMDS over IPv6
	netip.MustParseAddr("fd00:ec2::23"):    true, // AWS EKS pod identity over IPv6
	netip.MustParseAddr("100.100.100.200"): true, // Alibaba Cloud
	netip.MustParseAddr("192.0.0.192"):     true, // Oracle Cloud (classic)
	netip.MustParseAddr("168.63.129.16"):   true, // Azure WireServer (a public range)
}

// Ranges refused when dialing on top of the gateway URL policy's: none is a host an
// LLM API lives on.
var (
	ietfProto4 = netip.MustParsePrefix("192.0.0.0/24")    // IETF protocol assignments
	testNet1   = netip.MustParsePrefix("192.0.2.0/24")    // documentation
	testNet2   = netip.MustParsePrefix("198.51.100.0/24") // documentation
	testNet3   = netip.MustParsePrefix("203.0.113.0/24")  // documentation
	doc6       = netip.MustParsePrefix("2001:db8::/32")   // documentation
	discard6   = netip.MustParsePrefix("100::/64")        // discard-only
)

// CheckDialAddr reports whether a connection to address may carry a key. address is
// "ip:port" as [net.Dialer] passes it to its Control function after name resolution
// ("[v6]:port" for IPv6, a zone allowed). Loopback, private, link-local, CGNAT,
// unspecified, multicast, reserved and documentation addresses, the IPv4-mapped,
// IPv4-compatible, NAT64, 6to4 and Teredo forms of those, and cloud metadata addresses
// (169.254.169.254, fd00:ec2::254, ...) give an *[EgressError] matching
// [ErrEgressDenied]; so does anything that is not an IP address. A public unicast
// address gives nil.
//
// Use it as, or in, a [net.Dialer] Control function:
//
//	d := &net.Dialer{Control: func(_, address string, _ syscall.RawConn) error {
//		return providers.CheckDialAddr(address)
//	}}
func CheckDialAddr(address string) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		host = address // a bare IP, as some callers pass
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return &EgressError{Reason: EgressInvalidAddress}
	}
	addr = addr.WithZone("")
	if metadataAddrs[addr] || metadataAddrs[addr.Unmap()] {
		return &EgressError{Reason: EgressMetadataAddress}
	}
	if isPrivateAddr(addr) || dialReserved(addr.Unmap()) {
		return &EgressError{Reason: EgressNonPublicAddress}
	}
	return nil
}

// dialReserved reports the ranges refused when dialing besides isPrivateAddr's.
func dialReserved(a netip.Addr) bool {
	return ietfProto4.Contains(a) || testNet1.Contains(a) || testNet2.Contains(a) || testNet3.Contains(a) ||
		doc6.Contains(a) || discard6.Contains(a)
}

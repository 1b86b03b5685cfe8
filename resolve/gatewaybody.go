package resolve

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/byok-go/byok/providers"
)

// MaxGatewayBodyBytes bounds the JSON request body [Provider.Transport] reads to merge
// gateway options into: 8 MiB. A bigger body is refused (see [ErrGatewayBody]).
const MaxGatewayBodyBytes = 8 << 20

// ErrGatewayBody is matched by the error [Provider.Transport] returns, before anything
// is sent, for a JSON request body it cannot merge gateway options into: over
// [MaxGatewayBodyBytes], not valid JSON, not a JSON object, a providerOptions or
// providerOptions.gateway that is not an object, one of them (or byok) named twice, a
// Content-Encoding, or a body that fails to read. Sending such a request as it is would
// drop what the options ask for (a compliance filter, or on the gateway-byok path the
// user's key, leaving the team's gateway credentials to pay). The error is a
// *[GatewayBodyError].
var ErrGatewayBody = errors.New("resolve: request body cannot carry the gateway options")

// GatewayBodyError says why a request body could not carry the gateway options. Its text
// names the reason only; a read error is reachable with errors.Is and errors.As.
type GatewayBodyError struct {
	// Reason is one of too_large, invalid_json, not_object, provider_options_not_object,
	// gateway_not_object, duplicate_key, content_encoding, read_failed.
	Reason string
	Cause  error // the body's read error, for read_failed; never printed
}

func (e *GatewayBodyError) Error() string { return ErrGatewayBody.Error() + " (" + e.Reason + ")" }

// Unwrap returns ErrGatewayBody and the cause, so errors.Is matches both.
func (e *GatewayBodyError) Unwrap() []error {
	if e.Cause == nil {
		return []error{ErrGatewayBody}
	}
	return []error{ErrGatewayBody, e.Cause}
}

// gatewayEdit returns the request edit that merges g into the JSON body of a POST, or
// nil when g sends nothing.
func gatewayEdit(g *gatewayParams) requestEdit {
	if g == nil || (g.opts == nil && g.byokSlug == "") {
		return nil
	}
	var members []jsonMember
	if g.opts != nil {
		members = g.opts.members
	}
	slug, key := g.byokSlug, g.byokKey
	return func(r *http.Request) error {
		if r.Method != http.MethodPost || !isJSON(r.Header.Get("Content-Type")) || r.Body == nil || r.Body == http.NoBody {
			return nil
		}
		if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
			return &GatewayBodyError{Reason: "content_encoding"}
		}
		if r.ContentLength > MaxGatewayBodyBytes {
			return &GatewayBodyError{Reason: "too_large"}
		}
		body, err := readBody(r.Body, r.ContentLength)
		_ = r.Body.Close() // the caller's body: read to the end or to the bound
		if err != nil {
			return err
		}
		if len(body) == 0 {
			r.Body, r.GetBody, r.ContentLength = http.NoBody, func() (io.ReadCloser, error) { return http.NoBody, nil }, 0
			return nil
		}
		out, err := mergeGatewayBody(body, members, slug, key)
		if err != nil {
			return err
		}
		r.Body = newBodyReader(out)
		r.GetBody = func() (io.ReadCloser, error) { return newBodyReader(out), nil }
		r.ContentLength = int64(len(out))
		r.TransferEncoding = nil
		return nil
	}
}

// bodyReader is a request body over bytes.
type bodyReader struct{ bytes.Reader }

func newBodyReader(b []byte) *bodyReader {
	r := &bodyReader{}
	r.Reset(b)
	return r
}

// Close implements io.Closer.
func (*bodyReader) Close() error { return nil }

// isJSON reports whether a Content-Type is application/json, with any parameters.
func isJSON(ct string) bool {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.EqualFold(strings.TrimSpace(ct), "application/json")
}

// readBody reads at most MaxGatewayBodyBytes of body, in one allocation when n, the
// declared length, is known.
func readBody(body io.Reader, n int64) ([]byte, error) {
	size := 512
	if n > 0 {
		size = int(n) + 1 // room to see the end without growing
	}
	buf := make([]byte, 0, size)
	lr := io.LimitReader(body, MaxGatewayBodyBytes+1)
	for {
		k, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &GatewayBodyError{Reason: "read_failed", Cause: err}
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // grow
		}
	}
	if len(buf) > MaxGatewayBodyBytes {
		return nil, &GatewayBodyError{Reason: "too_large"}
	}
	return buf, nil
}

// mergeGatewayBody returns body with members (and, when slug is set, the byok credential
// {slug: [{"apiKey": key}]}) added to its providerOptions.gateway object, creating the
// objects as needed. A member the body's gateway object already has is left as the body
// has it; byok is merged one level deeper: the key is added under slug unless the body's
// byok object has slug already. Everything else in body is kept byte for byte.
func mergeGatewayBody(body []byte, members []jsonMember, slug string, key providers.Secret) ([]byte, error) {
	if !json.Valid(body) {
		return nil, &GatewayBodyError{Reason: "invalid_json"}
	}
	start := skipSpace(body, 0)
	if body[start] != '{' {
		return nil, &GatewayBodyError{Reason: "not_object"}
	}
	m := merger{body: body, members: members, slug: slug, key: key}
	po, last, err := findMember(body, start, "providerOptions")
	if err != nil {
		return nil, err
	}
	switch {
	case po.key < 0: // no providerOptions: add it whole
		m.add(edit{from: last, to: last, comma: sep(start, last), write: writeProviderOptionsMember})
	case body[po.val] == 'n': // null: the caller set none
		m.add(edit{from: po.val, to: po.end, write: writeProviderOptions})
	case body[po.val] != '{':
		return nil, &GatewayBodyError{Reason: "provider_options_not_object"}
	default:
		if err := m.intoProviderOptions(po.val); err != nil {
			return nil, err
		}
	}
	return m.output(), nil
}

// member locates one object member: the start of its key, the start and end of its value.
type member struct{ key, val, end int }

// findMember finds the member named name in the object starting at obj. It returns
// key -1 when there is none, and the end of the object's last value (or of its '{').
// A name that appears twice is refused: the gateway would read one of them, maybe not
// the one byok wrote into.
func findMember(b []byte, obj int, name string) (found member, last int, err error) {
	found.key = -1
	last = obj + 1
	for i := skipSpace(b, obj+1); b[i] != '}'; {
		if b[i] == ',' {
			i = skipSpace(b, i+1)
		}
		k := i
		kEnd := skipString(b, k)
		v := skipSpace(b, skipSpace(b, kEnd)+1) // past ':'
		end := skipValue(b, v)
		if keyIs(b[k:kEnd], name) {
			if found.key >= 0 {
				return member{}, 0, &GatewayBodyError{Reason: "duplicate_key"}
			}
			found = member{k, v, end}
		}
		last = end
		i = skipSpace(b, end)
	}
	return found, last, nil
}

// merger collects the edits of one body: at most two, an insertion into the byok
// object and one into (or a replacement of) a container further out.
type merger struct {
	body    []byte
	members []jsonMember
	slug    string
	key     providers.Secret
	edits   [2]edit
	n       int
}

// edit replaces body[from:to] with what write names, preceded by a comma when comma is
// set. have names the gateway members the caller has (for writeGatewayMembers).
type edit struct {
	from, to int
	comma    bool
	write    uint8
	have     uint8
}

// What an edit writes.
const (
	writeProviderOptionsMember = iota // "providerOptions":{"gateway":{...}}
	writeProviderOptions              // {"gateway":{...}}
	writeGatewayMember                // "gateway":{...}
	writeGateway                      // {...}
	writeGatewayMembers               // the members not in have, and byok
	writeCredential                   // "slug":[{"apiKey":"..."}]
)

func (m *merger) add(e edit) {
	m.edits[m.n] = e
	m.n++
}

// write appends what e writes.
func (m *merger) write(out []byte, e edit) []byte {
	if e.comma {
		out = append(out, ',')
	}
	switch e.write {
	case writeProviderOptionsMember:
		return append(m.gatewayObject(append(out, `"providerOptions":{"gateway":`...), 0), '}')
	case writeProviderOptions:
		return append(m.gatewayObject(append(out, `{"gateway":`...), 0), '}')
	case writeGatewayMember:
		return m.gatewayObject(append(out, `"gateway":`...), 0)
	case writeGateway:
		return m.gatewayObject(out, 0)
	case writeGatewayMembers:
		return m.gatewayMembers(out, e.have)
	default:
		return m.credential(out)
	}
}

// intoProviderOptions merges into the providerOptions object at obj.
func (m *merger) intoProviderOptions(obj int) error {
	b := m.body
	gw, last, err := findMember(b, obj, "gateway")
	if err != nil {
		return err
	}
	switch {
	case gw.key < 0:
		m.add(edit{from: last, to: last, comma: sep(obj, last), write: writeGatewayMember})
	case b[gw.val] == 'n':
		m.add(edit{from: gw.val, to: gw.end, write: writeGateway})
	case b[gw.val] != '{':
		return &GatewayBodyError{Reason: "gateway_not_object"}
	default:
		return m.intoGateway(gw.val)
	}
	return nil
}

// Bits of the members a caller's gateway object already has.
const byokBit = 1 << 7 // members hold at most 7 entries (bits 0-6)

// intoGateway merges into the caller's gateway object at obj: the caller's members win.
func (m *merger) intoGateway(obj int) error {
	b := m.body
	var have uint8
	var byok member
	byok.key = -1
	last := obj + 1
	for i := skipSpace(b, obj+1); b[i] != '}'; {
		if b[i] == ',' {
			i = skipSpace(b, i+1)
		}
		k := i
		kEnd := skipString(b, k)
		v := skipSpace(b, skipSpace(b, kEnd)+1)
		end := skipValue(b, v)
		for j, mem := range m.members {
			if keyIs(b[k:kEnd], mem.name) {
				have |= 1 << j
			}
		}
		if keyIs(b[k:kEnd], "byok") {
			if have&byokBit != 0 {
				return &GatewayBodyError{Reason: "duplicate_key"}
			}
			have |= byokBit
			byok = member{k, v, end}
		}
		last = end
		i = skipSpace(b, end)
	}
	if m.slug != "" && byok.key >= 0 && b[byok.val] == '{' {
		// The caller's byok object: add the user's key under its slug unless the caller
		// set that slug. Any other byok value is the caller's, kept as it is.
		slugMember, byokLast, err := findMember(b, byok.val, m.slug)
		if err != nil {
			return err
		}
		if slugMember.key < 0 {
			m.add(edit{from: byokLast, to: byokLast, comma: sep(byok.val, byokLast), write: writeCredential})
		}
	}
	missing := false
	for j := range m.members {
		missing = missing || have&(1<<j) == 0
	}
	if m.slug != "" && have&byokBit == 0 {
		missing = true
	}
	if missing {
		m.add(edit{from: last, to: last, comma: sep(obj, last), write: writeGatewayMembers, have: have})
	}
	return nil
}

// gatewayObject appends a gateway object with every member byok sends.
func (m *merger) gatewayObject(out []byte, have uint8) []byte {
	return append(m.gatewayMembers(append(out, '{'), have), '}')
}

// gatewayMembers appends the members not in have, comma-separated.
func (m *merger) gatewayMembers(out []byte, have uint8) []byte {
	first := true
	for j, mem := range m.members {
		if have&(1<<j) != 0 {
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = append(out, '"')
		out = append(out, mem.name...)
		out = append(out, `":`...)
		out = append(out, mem.value...)
	}
	if m.slug != "" && have&byokBit == 0 {
		if !first {
			out = append(out, ',')
		}
		out = append(out, `"byok":{`...)
		out = append(m.credential(out), '}')
	}
	return out
}

// credential appends "slug":[{"apiKey":"key"}].
func (m *merger) credential(out []byte) []byte {
	out = appendJSONString(out, m.slug)
	out = append(out, `:[{"apiKey":`...)
	out = appendJSONString(out, m.key.Reveal())
	return append(out, "}]"...)
}

// output applies the edits to a copy of body, or returns body when there are none.
func (m *merger) output() []byte {
	es := m.edits[:m.n]
	if len(es) == 0 {
		return m.body
	}
	if len(es) == 2 && es[1].from < es[0].from {
		es[0], es[1] = es[1], es[0]
	}
	size := len(m.body) + 64 + len(m.slug) + len(m.key.Reveal())
	for _, mem := range m.members {
		size += len(mem.name) + len(mem.value) + 4
	}
	out := make([]byte, 0, size)
	at := 0
	for _, e := range es {
		out = append(out, m.body[at:e.from]...)
		out = m.write(out, e)
		at = e.to
	}
	return append(out, m.body[at:]...)
}

// sep reports whether an insertion at last into the object at obj needs a comma: it
// does unless the object is empty.
func sep(obj, last int) bool { return last != obj+1 }

// keyIs reports whether the JSON string raw (with its quotes) is name.
func keyIs(raw []byte, name string) bool {
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner) == name
	}
	var s string
	return json.Unmarshal(raw, &s) == nil && s == name
}

// The scanners below walk JSON that json.Valid accepted; the bounds checks only keep a
// mistake from panicking.

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b)
	default: // number, true, false, null
		for ; i < len(b); i++ {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return i
			}
		}
		return i
	}
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json writes it.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/byok-go/byok/providers"
)

// MaxBodyBytes bounds the JSON request body [Params.Apply] reads to merge options into:
// 8 MiB. A bigger body is refused (see [ErrBody]).
const MaxBodyBytes = 8 << 20

// ErrBody is matched by the error [Params.Apply] returns for a request it cannot merge
// the options into, or whose body would override what the options must enforce.
// Sending such a request as it is would drop what the options ask for (a compliance
// filter, or on per-request BYOK the user's key, leaving the team's gateway credentials
// to pay). The error is a *[BodyError]; its Reason says why.
var ErrBody = errors.New("gateway: request body cannot carry the gateway options")

// Reasons of a [BodyError].
const (
	ReasonTooLarge                 = "too_large"                   // over MaxBodyBytes
	ReasonInvalidJSON              = "invalid_json"                // not valid JSON
	ReasonNotObject                = "not_object"                  // valid JSON, but not an object
	ReasonProviderOptionsNotObject = "provider_options_not_object" // providerOptions neither an object nor null
	ReasonGatewayNotObject         = "gateway_not_object"          // providerOptions.gateway neither an object nor null
	ReasonDuplicateKey             = "duplicate_key"               // a name the merge reads or writes appears twice in its object
	ReasonContentEncoding          = "content_encoding"            // a Content-Encoding other than identity
	ReasonReadFailed               = "read_failed"                 // the body failed to read; the cause is the read error
	ReasonComplianceConflict       = "compliance_conflict"         // the body loosens a compliance control the options set
	ReasonBYOKConflict             = "byok_conflict"               // on per-request BYOK, the body's byok would drop the user's key
	ReasonNotJSON                  = "not_json"                    // on per-request BYOK or under compliance options, a request with a body that is not a JSON POST
	ReasonEmptyBody                = "empty_body"                  // on per-request BYOK or under compliance options, a JSON POST without a body
)

// BodyError says why a request body could not carry the gateway options. Its text
// names the reason only; a read error is reachable with errors.Is and errors.As.
type BodyError struct {
	Reason string // one of the Reason constants
	Cause  error  // the body's read error, for ReasonReadFailed; never printed
}

func (e *BodyError) Error() string { return ErrBody.Error() + " (" + e.Reason + ")" }

// Unwrap returns ErrBody and the cause, so errors.Is matches both.
func (e *BodyError) Unwrap() []error {
	if e.Cause == nil {
		return []error{ErrBody}
	}
	return []error{ErrBody, e.Cause}
}

// Apply merges p into the JSON body of r, a POST whose Content-Type is application/json
// (any parameters): it reads the body (at most [MaxBodyBytes]), adds the option members
// the body's providerOptions.gateway lacks, creating providerOptions and gateway when
// absent or null, and sets r's Body, GetBody and ContentLength to the result. Every
// other byte of the body is kept as written: key order, white space, numbers.
//
// A member the body's gateway object already has is the caller's and is kept as it is,
// with these exceptions:
//
//   - compliance: where the options set zeroDataRetention or disallowPromptTraining,
//     the body's member must be true; where they set only, the body's only must be a
//     non-empty list of slugs the options' only names; where they set headquarters, the
//     body's headquarters must allow no country the options' list does not (a list of
//     some of its countries; under an exclusion list, one that excludes each of its
//     countries and maybe more, or one of assigned countries it does not exclude).
//     Entries are compared exactly as the options send them (lower-case slugs,
//     upper-case codes). A body may always tighten. Anything else (false, null, a
//     string, an empty list, a list that names something else, mixes '!' and plain
//     codes, or holds a non-string) cannot be proven at least as tight and is refused
//     with [ReasonComplianceConflict]: the gateway reads a null as unset, which loosens;
//   - byok, on per-request BYOK: the user's key is added under its slug to the body's
//     byok object, unless that object names the slug already with a credential of the
//     caller's own, a non-empty array of non-empty objects, which is kept. A byok that
//     is not an object (null, [], "x"), or an entry for the slug that is not such an
//     array (null, [], [{}], "x"), would send the request without the user's key, on
//     the team's credentials: it is refused with [ReasonBYOKConflict]. Without
//     per-request BYOK, byok is the caller's;
//   - providerTimeouts, when the options set BYOK timeouts: merged by slug into the
//     body's providerTimeouts.byok (created in a providerTimeouts object that lacks
//     it); a slug the body names keeps the body's value. A providerTimeouts or
//     providerTimeouts.byok that is not an object is the caller's, kept as it is.
//
// Other methods, other content types, empty bodies and a nil p leave r unchanged, except
// where p must ride in every request: on per-request BYOK (the user's key can only ride
// in a JSON body, and the gateway would serve any other request that carries one on the
// team's credentials) and under compliance options (zeroDataRetention,
// disallowPromptTraining, only, headquarters: a request without them would be routed
// without the operator's policy). There, a POST that is not JSON (another Content-Type,
// or none), or a request of another method with a body, is refused with
// [ReasonNotJSON], and a JSON POST with an empty body with [ReasonEmptyBody]; requests
// without a body (GET, HEAD, DELETE, ...) pass unchanged.
//
// r must be the caller's own copy of a request: Apply closes the original body and
// replaces it, and sets r's fields, but never writes into what r may share with another
// request (its URL, its headers' values). A request refused gives an error matching
// [ErrBody], with the original body closed.
func (p *Params) Apply(r *http.Request) error {
	if p == nil {
		return nil
	}
	hasBody := r.Body != nil && r.Body != http.NoBody
	if r.Method != http.MethodPost || !isJSON(r.Header.Get("Content-Type")) {
		if p.mustRide() && (r.Method == http.MethodPost || hasBody) {
			return refuse(r, ReasonNotJSON)
		}
		return nil
	}
	if !hasBody {
		if p.mustRide() {
			return refuse(r, ReasonEmptyBody)
		}
		return nil
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return refuse(r, ReasonContentEncoding)
	}
	if r.ContentLength > MaxBodyBytes {
		return refuse(r, ReasonTooLarge)
	}
	body, err := readBody(r.Body, r.ContentLength)
	_ = r.Body.Close() // the caller's body: read to the end or to the bound
	if err != nil {
		return err
	}
	if len(body) == 0 {
		if p.mustRide() {
			return &BodyError{Reason: ReasonEmptyBody}
		}
		r.Body, r.GetBody, r.ContentLength = http.NoBody, func() (io.ReadCloser, error) { return http.NoBody, nil }, 0
		return nil
	}
	out, err := p.merge(body)
	if err != nil {
		return err
	}
	r.Body = newBodyReader(out)
	r.GetBody = func() (io.ReadCloser, error) { return newBodyReader(out), nil }
	r.ContentLength = int64(len(out))
	r.TransferEncoding = nil
	return nil
}

// mustRide reports whether a request that cannot carry p must be refused: p holds the
// user's key (per-request BYOK) or compliance controls.
func (p *Params) mustRide() bool {
	if p.byokSlug != "" {
		return true
	}
	if p.opts == nil {
		return false
	}
	o := &p.opts.o
	return o.ZeroDataRetention || o.DisallowPromptTraining || len(o.Only) > 0 || len(o.Headquarters) > 0
}

// refuse closes r's body and returns a BodyError for reason.
func refuse(r *http.Request, reason string) error {
	if r.Body != nil {
		_ = r.Body.Close()
	}
	return &BodyError{Reason: reason}
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

// readBody reads at most MaxBodyBytes of body, in one allocation when n, the declared
// length, is known.
func readBody(body io.Reader, n int64) ([]byte, error) {
	size := 512
	if n > 0 {
		size = int(n) + 1 // room to see the end without growing
	}
	buf := make([]byte, 0, size)
	lr := io.LimitReader(body, MaxBodyBytes+1)
	for {
		k, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &BodyError{Reason: ReasonReadFailed, Cause: err}
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // grow
		}
	}
	if len(buf) > MaxBodyBytes {
		return nil, &BodyError{Reason: ReasonTooLarge}
	}
	return buf, nil
}

// merge returns body with p's members (and, on per-request BYOK, the credential
// {slug: [{"apiKey": key}]}) added to its providerOptions.gateway object, creating the
// objects as needed, under the rules [Params.Apply] describes. Everything else in body
// is kept byte for byte.
func (p *Params) merge(body []byte) ([]byte, error) {
	if !json.Valid(body) {
		return nil, &BodyError{Reason: ReasonInvalidJSON}
	}
	start := skipSpace(body, 0)
	if body[start] != '{' {
		return nil, &BodyError{Reason: ReasonNotObject}
	}
	m := merger{body: body, slug: p.byokSlug, key: p.byokKey, c: p.opts}
	if p.opts != nil {
		m.members = p.opts.members
	}
	po, last, err := findField(body, start, "providerOptions")
	if err != nil {
		return nil, err
	}
	switch {
	case po.key < 0: // no providerOptions: add it whole
		m.add(edit{from: last, to: last, comma: sep(start, last), write: writeProviderOptionsMember})
	case body[po.val] == 'n': // null: the caller set none
		m.add(edit{from: po.val, to: po.end, write: writeProviderOptions})
	case body[po.val] != '{':
		return nil, &BodyError{Reason: ReasonProviderOptionsNotObject}
	default:
		if err := m.intoProviderOptions(po.val); err != nil {
			return nil, err
		}
	}
	return m.output(), nil
}

// field locates one object member in a body: the start and end of its key (with the
// quotes), the start and end of its value.
type field struct{ key, keyEnd, val, end int }

// name reports whether f's key, in b, is name.
func (f field) is(b []byte, name string) bool { return keyIs(b[f.key:f.keyEnd], name) }

// walkObject calls fn for each member of the object starting at b[obj] == '{', in
// order, and returns the end of the object's last value (or of its '{'). It stops at
// fn's first error.
func walkObject(b []byte, obj int, fn func(f field) error) (last int, err error) {
	last = obj + 1
	for i := skipSpace(b, obj+1); b[i] != '}'; {
		if b[i] == ',' {
			i = skipSpace(b, i+1)
		}
		f := field{key: i, keyEnd: skipString(b, i)}
		f.val = skipSpace(b, skipSpace(b, f.keyEnd)+1) // past ':'
		f.end = skipValue(b, f.val)
		if err := fn(f); err != nil {
			return 0, err
		}
		last = f.end
		i = skipSpace(b, f.end)
	}
	return last, nil
}

// findField finds the member named name in the object starting at obj. It returns key
// -1 when there is none, and the end of the object's last value (or of its '{'). A name
// that appears twice is refused: the gateway would read one of them, maybe not the one
// written into or checked.
func findField(b []byte, obj int, name string) (found field, last int, err error) {
	found.key = -1
	last, err = walkObject(b, obj, func(f field) error {
		if !f.is(b, name) {
			return nil
		}
		if found.key >= 0 {
			return &BodyError{Reason: ReasonDuplicateKey}
		}
		found = f
		return nil
	})
	return found, last, err
}

// merger collects the edits of one body: at most three insertions into (or one
// replacement of) the containers it found: the byok object, the providerTimeouts
// object or its byok, and the gateway object or a container further out.
type merger struct {
	body    []byte
	c       *Compiled // the options; nil: none
	members []member  // c's members; nil: none
	slug    string
	key     providers.Secret
	have    flags // have.has(j): the body's gateway object has members[j]
	// timeoutsHave[i] reports whether the body's providerTimeouts.byok has c.timeouts[i].
	timeoutsHave []bool
	edits        [3]edit
	n            int
}

// edit replaces body[from:to] with what write names, preceded by a comma when comma is
// set. For writeGatewayMembers, withBYOK says whether to write byok (the caller has
// none).
type edit struct {
	from, to int
	comma    bool
	write    uint8
	withBYOK bool
}

// flags is a set of member indexes of any size, one flag per index so that no member
// can stand for another: the first ones in place, the rest in a slice made when there
// are more members than that.
type flags struct {
	first [16]bool
	rest  []bool
}

// init makes room for n flags, all unset.
func (f *flags) init(n int) {
	*f = flags{}
	if n > len(f.first) {
		f.rest = make([]bool, n-len(f.first))
	}
}

func (f *flags) has(i int) bool {
	if i < len(f.first) {
		return f.first[i]
	}
	return f.rest[i-len(f.first)]
}

func (f *flags) set(i int) {
	if i < len(f.first) {
		f.first[i] = true
		return
	}
	f.rest[i-len(f.first)] = true
}

// What an edit writes.
const (
	writeProviderOptionsMember = iota // "providerOptions":{"gateway":{...}}
	writeProviderOptions              // {"gateway":{...}}
	writeGatewayMember                // "gateway":{...}
	writeGateway                      // {...}
	writeGatewayMembers               // the members not in have, and byok when the caller has none
	writeCredential                   // "slug":[{"apiKey":"..."}]
	writeTimeoutsBYOKMember           // "byok":{"slug":ms,...}, into the caller's providerTimeouts
	writeTimeoutMembers               // "slug":ms,... not in timeoutsHave, into the caller's providerTimeouts.byok
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
		return append(m.gatewayObject(append(out, `"providerOptions":{"gateway":`...)), '}')
	case writeProviderOptions:
		return append(m.gatewayObject(append(out, `{"gateway":`...)), '}')
	case writeGatewayMember:
		return m.gatewayObject(append(out, `"gateway":`...))
	case writeGateway:
		return m.gatewayObject(out)
	case writeGatewayMembers:
		return m.gatewayMembers(out, &m.have, e.withBYOK)
	case writeCredential:
		return m.credential(out)
	case writeTimeoutsBYOKMember:
		return m.c.timeoutsObject(append(out, `"byok":`...), nil)
	default:
		return m.c.timeoutMembers(out, m.timeoutsHave)
	}
}

// intoProviderOptions merges into the providerOptions object at obj.
func (m *merger) intoProviderOptions(obj int) error {
	b := m.body
	gw, last, err := findField(b, obj, "gateway")
	if err != nil {
		return err
	}
	switch {
	case gw.key < 0:
		m.add(edit{from: last, to: last, comma: sep(obj, last), write: writeGatewayMember})
	case b[gw.val] == 'n':
		m.add(edit{from: gw.val, to: gw.end, write: writeGateway})
	case b[gw.val] != '{':
		return &BodyError{Reason: ReasonGatewayNotObject}
	default:
		return m.intoGateway(gw.val)
	}
	return nil
}

// intoGateway merges into the caller's gateway object at obj: the caller's members
// win, but for the compliance controls, byok and providerTimeouts.
func (m *merger) intoGateway(obj int) error {
	b := m.body
	m.have.init(len(m.members))
	byok := field{key: -1}
	last, err := walkObject(b, obj, func(f field) error {
		if f.is(b, "byok") {
			if byok.key >= 0 {
				return &BodyError{Reason: ReasonDuplicateKey}
			}
			byok = f
			return nil
		}
		for j := range m.members {
			if !f.is(b, m.members[j].name) {
				continue
			}
			if m.have.has(j) {
				return &BodyError{Reason: ReasonDuplicateKey}
			}
			m.have.set(j)
			return m.check(&m.members[j], f)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if m.slug != "" && byok.key >= 0 {
		if err := m.intoBYOK(byok); err != nil {
			return err
		}
	}
	withBYOK := m.slug != "" && byok.key < 0
	missing := withBYOK
	for j := range m.members {
		missing = missing || !m.have.has(j)
	}
	if missing {
		m.add(edit{from: last, to: last, comma: sep(obj, last), write: writeGatewayMembers, withBYOK: withBYOK})
	}
	return nil
}

// check checks the caller's own gateway member f, one of the options' members, against
// mem's rule, and merges into it where the rule says so.
func (m *merger) check(mem *member, f field) error {
	raw := m.body[f.val:f.end]
	ok := true
	switch mem.rule {
	case ruleTrue:
		ok = string(raw) == "true"
	case ruleOnly, ruleHeadquarters:
		var buf [16][]byte
		list, isList := bodyStrings(buf[:0], raw)
		if mem.rule == ruleOnly {
			ok = isList && onlyWithin(mem.set, list)
		} else {
			ok = isList && headquartersWithin(mem.set, list)
		}
	case ruleTimeouts:
		if raw[0] == '{' {
			return m.intoTimeouts(f.val)
		}
	}
	if !ok {
		return &BodyError{Reason: ReasonComplianceConflict}
	}
	return nil
}

// intoBYOK checks the caller's byok member f on per-request BYOK: it must be an object,
// and its entry for the user's slug, if any, a credential of the caller's own. The
// user's key is added under the slug unless the caller set it.
func (m *merger) intoBYOK(f field) error {
	b := m.body
	if b[f.val] != '{' {
		return &BodyError{Reason: ReasonBYOKConflict}
	}
	entry, last, err := findField(b, f.val, m.slug)
	if err != nil {
		return err
	}
	if entry.key < 0 {
		m.add(edit{from: last, to: last, comma: sep(f.val, last), write: writeCredential})
		return nil
	}
	if !credentials(b, entry.val) {
		return &BodyError{Reason: ReasonBYOKConflict}
	}
	return nil
}

// credentials reports whether the value at b[i] is a non-empty array of non-empty
// objects: credentials of the caller's own, which the gateway tries instead of the
// user's key.
func credentials(b []byte, i int) bool {
	if b[i] != '[' {
		return false
	}
	n := 0
	for i = skipSpace(b, i+1); b[i] != ']'; {
		if b[i] == ',' {
			i = skipSpace(b, i+1)
		}
		if b[i] != '{' || b[skipSpace(b, i+1)] == '}' {
			return false
		}
		n++
		i = skipSpace(b, skipValue(b, i))
	}
	return n > 0
}

// intoTimeouts merges the options' BYOK timeouts into the caller's providerTimeouts
// object at obj: into its byok object slug by slug, the caller's slugs winning; as a
// whole byok member when it has none. A byok that is not an object is the caller's.
func (m *merger) intoTimeouts(obj int) error {
	b := m.body
	bf, last, err := findField(b, obj, "byok")
	if err != nil {
		return err
	}
	switch {
	case bf.key < 0:
		m.add(edit{from: last, to: last, comma: sep(obj, last), write: writeTimeoutsBYOKMember})
	case b[bf.val] == '{':
		ts := m.c.timeouts
		have := make([]bool, len(ts))
		byokLast, err := walkObject(b, bf.val, func(f field) error {
			for i := range ts {
				if f.is(b, ts[i].slug) {
					if have[i] {
						return &BodyError{Reason: ReasonDuplicateKey}
					}
					have[i] = true
					break
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if slices.Contains(have, false) {
			m.timeoutsHave = have
			m.add(edit{from: byokLast, to: byokLast, comma: sep(bf.val, byokLast), write: writeTimeoutMembers})
		}
	}
	return nil
}

// gatewayObject appends a gateway object with every member to send.
func (m *merger) gatewayObject(out []byte) []byte {
	return append(m.gatewayMembers(append(out, '{'), nil, m.slug != ""), '}')
}

// gatewayMembers appends the members not in have (nil: none), comma-separated, then
// byok when withBYOK is set.
func (m *merger) gatewayMembers(out []byte, have *flags, withBYOK bool) []byte {
	first := true
	for j, mem := range m.members {
		if have != nil && have.has(j) {
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
	if withBYOK {
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

// output applies the edits, in the order of their positions, to a copy of body, or
// returns body when there are none. Edits never overlap: each inserts into, or
// replaces, a different object.
func (m *merger) output() []byte {
	es := m.edits[:m.n]
	if len(es) == 0 {
		return m.body
	}
	slices.SortFunc(es, func(a, b edit) int { return a.from - b.from })
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

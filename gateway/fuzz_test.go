package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/byok-go/byok/providers"
)

// fuzzParams are the Params FuzzMergeGatewayBody merges with: options without
// compliance, compliance by inclusion, by exclusion with BYOK timeouts, per-request
// BYOK alone, and per-request BYOK with every option. The key is the fuzzer's.
func fuzzParams(t testing.TB, cfg uint8, key string) *Params {
	t.Helper()
	var (
		o    Options
		slug string
	)
	switch cfg % 6 {
	case 0:
		o = Options{Order: []string{"bedrock", "anthropic"}, Models: []string{"gpt-4o"}, User: "end-user-7", Tags: []string{"app:chat"}}
	case 1:
		o = Options{ZeroDataRetention: true, DisallowPromptTraining: true, Only: []string{"anthropic", "bedrock"}, Headquarters: []string{"US", "DE"}}
	case 2:
		o = Options{Headquarters: []string{"!CN", "!RU"}, BYOKTimeouts: map[string]time.Duration{"anthropic": 2 * time.Second, "openai": 5 * time.Second}, Sort: "cost"}
	case 3:
		slug = "anthropic"
	case 4:
		o = fullOptions
		slug = "anthropic"
	case 5:
		o = Options{ZeroDataRetention: true, Headquarters: []string{"!CN"}, BYOKTimeouts: map[string]time.Duration{"openai": time.Second}, Has: []string{"vision"}}
		slug = "openai"
	}
	c, err := Compile(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	return NewParams(c, slug, providers.NewSecret(key))
}

// FuzzMergeGatewayBody checks Params.Apply against a reference merge written over
// encoding/json's tokenizer, which keeps every member of every object in order
// (duplicates too). For any body and Params:
//
//   - a body the reference finds a problem in is refused with one of the reasons the
//     reference found, and nothing else is refused;
//   - the output is valid JSON and, decoded with key order and repeats kept, equals the
//     decoded input with the expected members added at the expected places: the
//     caller's members are unchanged, and every byte outside the insertions is kept;
//   - no name the merge reads or writes appears twice in its object;
//   - on per-request BYOK, byok.<slug> holds the user's key unless the caller brought
//     a credential of their own there.
//
// The seed corpus runs in every go test. Fuzzed with
// go test ./gateway -run '^$' -fuzz FuzzMergeGatewayBody -fuzztime 10m -parallel 2:
// 6,146,333 executions in 10 minutes on 2 shared cores, no failure.
func FuzzMergeGatewayBody(f *testing.F) {
	keys := []string{"sk-ant-api03-fuzz", `k"\\</script>` + "\u2028\x01", "sk-\xff\xfe-invalid-utf8"}
	for _, body := range fuzzSeeds {
		for cfg := range uint8(6) {
			f.Add([]byte(body), cfg, keys[int(cfg)%len(keys)])
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, cfg uint8, key string) {
		p := fuzzParams(t, cfg, key)
		want, problems := referenceMerge(p, body)

		r := &http.Request{Method: http.MethodPost, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body))}
		if len(body) == 0 {
			r.Body, r.ContentLength = http.NoBody, 0
		}
		err := p.Apply(r)
		if len(problems) > 0 {
			var be *BodyError
			if !errors.As(err, &be) || !errors.Is(err, ErrBody) {
				t.Fatalf("accepted a body with problems %v: %q", problems, body)
			}
			if !slices.Contains(problems, be.Reason) {
				t.Fatalf("refused for %s, want one of %v: %q", be.Reason, problems, body)
			}
			return
		}
		if err != nil {
			t.Fatalf("refused a good body: %v: %q", err, body)
		}
		if want == nil { // nothing to merge into: unchanged
			if r.Body != http.NoBody && len(body) > 0 {
				out, _ := io.ReadAll(r.Body)
				if !bytes.Equal(out, body) {
					t.Fatalf("changed %q to %q", body, out)
				}
			}
			return
		}
		out, _ := io.ReadAll(r.Body)
		if r.ContentLength != int64(len(out)) {
			t.Fatalf("ContentLength %d for %d bytes", r.ContentLength, len(out))
		}
		if again, _ := r.GetBody(); again != nil {
			b, _ := io.ReadAll(again)
			if !bytes.Equal(b, out) {
				t.Fatal("GetBody gives another body")
			}
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON out: %q from %q", out, body)
		}
		got, err := parseTree(out)
		if err != nil {
			t.Fatal(err)
		}
		if !got.equal(want.tree) {
			t.Fatalf("merged\n%q\ninto\n%q\nwant\n%s", body, out, want.tree)
		}
		if !want.replaced && !isSubsequence(body, out) {
			t.Fatalf("bytes of the input lost: %q -> %q", body, out)
		}
		checkNoTouchedDuplicates(t, p, got)
		checkKey(t, p, key, want.ownCredential, got)
	})
}

// fuzzSeeds are real request bodies (chat completions, responses, embeddings, as SDKs
// write them), the bodies of the Transport tests, and conflict cases.
var fuzzSeeds = []string{
	``,
	`{}`,
	"{\n}",
	`[]`,
	`"text"`,
	`null`,
	`{"model":"m",}`,
	`{"model":"m"`,
	`{"model":"anthropic/claude-sonnet-4.5","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"hi \u00e9 \"q\""}],"temperature":0.70000000000000001,"seed":12345678901234567890,"stream":true,"n":1e2}`,
	`{"model":"openai/gpt-4o","messages":[{"role":"user","content":"weather?"}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}],"tool_choice":"auto","response_format":{"type":"json_object"},"stream_options":{"include_usage":true}}`,
	`{"model":"openai/gpt-5","input":[{"type":"message","role":"user","content":"Explain quantum computing."}],"instructions":"Be brief.","reasoning":{"effort":"low"},"providerOptions":{"gateway":{"models":["openai/gpt-5-mini"]}}}`,
	`{"model":"openai/text-embedding-3-small","input":["a","b"],"encoding_format":"float"}`,
	`{ "providerOptions" : { "anthropic" : {"thinking":{"type":"enabled","budgetTokens":1024}}, "gateway" : { "order" : ["vertex"], "caching":"auto", "user":null } } , "model":"m" }`,
	`{"providerOptions":{"gateway":{}}}`,
	`{"providerOptions":null}`,
	`{"providerOptions":{"openai":{}, "gateway":null}}`,
	`{"provider\u004fptions":{"gate\u0077ay":{"\u0075ser":"mine"}}}`,
	`{"providerOptions":"x"}`,
	`{"providerOptions":[]}`,
	`{"providerOptions":{"gateway":true}}`,
	`{"providerOptions":{},"providerOptions":{}}`,
	`{"providerOptions":{},"provider\u004Fptions":{}}`,
	`{"providerOptions":{"gateway":{},"gateway":{}}}`,
	`{"model":"m","model":"n","providerOptions":{"gateway":{"tags":["a"],"tags":["b"]}}}`,
	`{"providerOptions":{"gateway":{"byok":{"bedrock":[{"accessKeyId":"a"}]},"order":[]}}}`,
	`{"providerOptions":{"gateway":{"byok":{"anthropic":[{"apiKey":"callers-own"}]}}}}`,
	`{"providerOptions":{"gateway":{"byok":{"openai":[{"apiKey":"callers-own"},{"apiKey":"second"}]}}}}`,
	`{"providerOptions":{"gateway":{"byok":{}}}}`,
	`{"providerOptions":{"gateway":{"byok":{"anthropic":[],"anthropic":[]}}}}`,
	`{"providerOptions":{"gateway":{"byok":null}}}`,
	`{"providerOptions":{"gateway":{"byok":[]}}}`,
	`{"providerOptions":{"gateway":{"byok":"x"}}}`,
	`{"providerOptions":{"gateway":{"byok":{"anthropic":null,"openai":null}}}}`,
	`{"providerOptions":{"gateway":{"byok":{"anthropic":[],"openai":[]}}}}`,
	`{"providerOptions":{"gateway":{"byok":{"anthropic":[{"apiKey":"own"}],"openai":[["x"]]}}}}`,
	`{"providerOptions":{"gateway":{"byok":{"anthropic":[{}],"openai":[ { } ]}}}}`,
	`{"providerOptions":{"gateway":{"byok":{"\u0061nthropic":[{"apiKey":"x"},1]}}}}`,
	`{"providerOptions":{"gateway":{"zeroDataRetention":false,"only":["openai"]}}}`,
	`{"providerOptions":{"gateway":{"zeroDataRetention":true,"disallowPromptTraining":true,"only":["anthropic"],"headquarters":["US"]}}}`,
	`{"providerOptions":{"gateway":{"zero\u0044ataRetention":null,"disallowPromptTraining":"true"}}}`,
	`{"providerOptions":{"gateway":{"zeroDataRetention":true,"zeroDataRetention":false}}}`,
	`{"providerOptions":{"gateway":{"only":[],"headquarters":null}}}`,
	`{"providerOptions":{"gateway":{"only":["Anthropic",null,1]}}}`,
	`{"providerOptions":{"gateway":{"headquarters":["!CN","!RU","!IR"]}}}`,
	`{"providerOptions":{"gateway":{"headquarters":["!CN"]}}}`,
	`{"providerOptions":{"gateway":{"headquarters":["US","RU"]}}}`,
	`{"providerOptions":{"gateway":{"headquarters":["CN"]}}}`,
	`{"providerOptions":{"gateway":{"headquarters":["US","!CN"]}}}`,
	`{"providerOptions":{"gateway":{"headquarters":["GB","UK","us"]}}}`,
	`{"providerOptions":{"gateway":{"providerTimeouts":{"byok":{"anthropic":100}}}}}`,
	`{"providerOptions":{"gateway":{"providerTimeouts":{"byok":{"vertex":7,"openai":1}},"byok":{"openai":[{"apiKey":"own"}]}}}}`,
	`{"providerOptions":{"gateway":{"providerTimeouts":{}}}}`,
	`{"providerOptions":{"gateway":{"providerTimeouts":{"system":{"openai":9}}}}}`,
	`{"providerOptions":{"gateway":{"providerTimeouts":null}}}`,
	`{"providerOptions":{"gateway":{"providerTimeouts":{"byok":null}}}}`,
	`{"providerOptions":{"gateway":{"providerTimeouts":{"byok":{"openai":1,"openai":2}}}}}`,
	`{"providerOptions":{"gateway":{"providerTimeouts":{"byok":{},"byok":{}}}}}`,
	`{"providerOptions":{"gateway":{"sort":"tps","has":["reasoning"],"serviceTier":null,"caching":"auto","quotaEntityId":"x"}}}`,
	" \t\r\n{ \"a\" : [ 1 , { \"b\" : null } ] , \"providerOptions\" : { \"gateway\" : { \"byok\" : { } } } } \n",
}

// mergeWant is what the reference expects: the output tree, whether a null container
// was replaced (so not every input byte stays), and whether the caller brought their
// own credential for the BYOK slug.
type mergeWant struct {
	tree          *jnode
	replaced      bool
	ownCredential bool
}

// referenceMerge predicts Apply on a JSON POST of body: the problems that must refuse
// it (any one of them), or the tree the output must decode to; nil and no problems
// when the body is left unchanged.
func referenceMerge(p *Params, body []byte) (*mergeWant, []string) {
	slug, byok := p.BYOK()
	if len(body) == 0 {
		o := p.Options()
		if byok || o.ZeroDataRetention || o.DisallowPromptTraining || len(o.Only) > 0 || len(o.Headquarters) > 0 {
			return nil, []string{ReasonEmptyBody} // what must ride cannot
		}
		return nil, nil
	}
	if !json.Valid(body) {
		return nil, []string{ReasonInvalidJSON}
	}
	root, err := parseTree(body)
	if err != nil {
		panic(err) // json.Valid accepted it
	}
	if root.kind != '{' {
		return nil, []string{ReasonNotObject}
	}
	o := p.Options()
	members := referenceMembers(o)
	full := &jnode{kind: '{'}
	for _, m := range members {
		full.set(m.name, m.value)
	}
	if byok {
		full.set("byok", objectOf(slug, credentialOf(p)))
	}
	w := &mergeWant{tree: root}
	var problems []string
	problem := func(reason string) { problems = append(problems, reason) }

	po := root.lookup("providerOptions", problem)
	switch {
	case problems != nil:
	case po == nil:
		root.set("providerOptions", objectOf("gateway", full))
	case po.kind == 'z':
		root.replace("providerOptions", objectOf("gateway", full))
		w.replaced = true
	case po.kind != '{':
		problem(ReasonProviderOptionsNotObject)
	default:
		gw := po.lookup("gateway", problem)
		switch {
		case problems != nil:
		case gw == nil:
			po.set("gateway", full)
		case gw.kind == 'z':
			po.replace("gateway", full)
			w.replaced = true
		case gw.kind != '{':
			problem(ReasonGatewayNotObject)
		default:
			w.ownCredential = referenceIntoGateway(p, o, members, gw, problem)
		}
	}
	if problems != nil {
		return nil, problems
	}
	return w, nil
}

// referenceIntoGateway merges into the caller's gateway object gw, reporting problems;
// it reports whether the caller brought their own credential for the BYOK slug.
func referenceIntoGateway(p *Params, o Options, members []refMember, gw *jnode, problem func(string)) (own bool) {
	slug, byok := p.BYOK()
	var add []refMember
	for _, m := range members {
		vs := gw.all(m.name)
		if len(vs) > 1 {
			problem(ReasonDuplicateKey)
		}
		if len(vs) == 0 {
			add = append(add, m)
			continue
		}
		for _, v := range vs {
			if !referenceAllows(o, m.name, v) {
				problem(ReasonComplianceConflict)
			}
			if m.name == "providerTimeouts" && v.kind == '{' {
				referenceIntoTimeouts(o, v, problem)
			}
		}
	}
	bs := gw.all("byok")
	if len(bs) > 1 {
		problem(ReasonDuplicateKey)
	}
	for _, m := range add {
		gw.set(m.name, m.value)
	}
	if !byok {
		return false
	}
	if len(bs) == 0 {
		gw.set("byok", objectOf(slug, credentialOf(p)))
		return false
	}
	b := bs[0]
	if b.kind != '{' {
		problem(ReasonBYOKConflict)
		return false
	}
	entries := b.all(slug)
	switch {
	case len(entries) > 1:
		problem(ReasonDuplicateKey)
	case len(entries) == 0:
		b.set(slug, credentialOf(p))
	default:
		e := entries[0]
		ok := e.kind == '[' && len(e.vals) > 0
		for _, c := range e.vals {
			ok = ok && c.kind == '{' && len(c.keys) > 0
		}
		if !ok {
			problem(ReasonBYOKConflict)
		}
		return true
	}
	return false
}

// referenceIntoTimeouts merges the options' BYOK timeouts into the caller's
// providerTimeouts object pt.
func referenceIntoTimeouts(o Options, pt *jnode, problem func(string)) {
	bs := pt.all("byok")
	switch {
	case len(bs) > 1:
		problem(ReasonDuplicateKey)
	case len(bs) == 0:
		pt.set("byok", timeoutsNode(o))
	case bs[0].kind == '{':
		for _, slug := range slices.Sorted(maps.Keys(o.BYOKTimeouts)) {
			switch n := len(bs[0].all(slug)); {
			case n > 1:
				problem(ReasonDuplicateKey)
			case n == 0:
				bs[0].set(slug, mustTree(fmt.Sprint(o.BYOKTimeouts[slug].Milliseconds())))
			}
		}
	}
}

// referenceAllows reports whether v, the caller's member name, passes the options'
// compliance: true for true flags; for lists, nothing the options' list does not allow.
func referenceAllows(o Options, name string, v *jnode) bool {
	strs := func() ([]string, bool) {
		if v.kind != '[' || len(v.vals) == 0 {
			return nil, false
		}
		var out []string
		for _, e := range v.vals {
			if e.kind != 's' {
				return nil, false
			}
			out = append(out, e.str)
		}
		return out, true
	}
	switch name {
	case "zeroDataRetention", "disallowPromptTraining":
		return v.kind == 'b' && v.b
	case "only":
		list, ok := strs()
		for _, s := range list {
			ok = ok && slices.Contains(o.Only, s)
		}
		return ok
	case "headquarters":
		list, ok := strs()
		if !ok {
			return false
		}
		var plain, excluded []string
		for _, s := range list {
			if c, ok := strings.CutPrefix(s, "!"); ok {
				excluded = append(excluded, c)
			} else {
				plain = append(plain, s)
			}
		}
		if len(plain) > 0 && len(excluded) > 0 {
			return false
		}
		var policyExcluded []string
		for _, s := range o.Headquarters {
			if c, ok := strings.CutPrefix(s, "!"); ok {
				policyExcluded = append(policyExcluded, c)
			}
		}
		if len(policyExcluded) == 0 { // the policy lists allowed countries
			for _, s := range plain {
				if !slices.Contains(o.Headquarters, s) {
					return false
				}
			}
			return len(excluded) == 0
		}
		if len(excluded) > 0 {
			for _, c := range policyExcluded {
				if !slices.Contains(excluded, c) {
					return false
				}
			}
			return true
		}
		for _, s := range plain {
			if !isCountry(s) || slices.Contains(policyExcluded, s) {
				return false
			}
		}
		return true
	}
	return true
}

// refMember is a member the reference expects: its name and decoded value.
type refMember struct {
	name  string
	value *jnode
}

// referenceMembers encodes the compiled options o member by member, independently of
// Compile, in the order of Options' fields.
func referenceMembers(o Options) []refMember {
	var out []refMember
	add := func(name string, v any) { out = append(out, refMember{name, mustTree(mustJSON(v))}) }
	if len(o.Order) > 0 {
		add("order", o.Order)
	}
	if len(o.Only) > 0 {
		add("only", o.Only)
	}
	if len(o.Models) > 0 {
		add("models", o.Models)
	}
	if o.User != "" {
		add("user", o.User)
	}
	if len(o.Tags) > 0 {
		add("tags", o.Tags)
	}
	if o.ZeroDataRetention {
		add("zeroDataRetention", true)
	}
	if o.DisallowPromptTraining {
		add("disallowPromptTraining", true)
	}
	if o.Sort != "" {
		add("sort", o.Sort)
	}
	if len(o.Headquarters) > 0 {
		add("headquarters", o.Headquarters)
	}
	if len(o.Has) > 0 {
		add("has", o.Has)
	}
	if o.ServiceTier != "" {
		add("serviceTier", o.ServiceTier)
	}
	if o.Caching != "" {
		add("caching", o.Caching)
	}
	if len(o.BYOKTimeouts) > 0 {
		out = append(out, refMember{"providerTimeouts", objectOf("byok", timeoutsNode(o))})
	}
	if o.QuotaEntityID != "" {
		add("quotaEntityId", o.QuotaEntityID)
	}
	return out
}

// timeoutsNode is {"slug": ms, ...} of o's BYOK timeouts.
func timeoutsNode(o Options) *jnode {
	ms := map[string]int64{}
	for slug, d := range o.BYOKTimeouts {
		ms[slug] = d.Milliseconds()
	}
	return mustTree(mustJSON(ms)) // encoding/json sorts map keys
}

// credentialOf is [{"apiKey": key}] with p's key, as encoding/json writes it.
func credentialOf(p *Params) *jnode {
	return mustTree(mustJSON([]map[string]string{{"apiKey": p.byokKey.Reveal()}}))
}

// checkNoTouchedDuplicates fails when a name the merge reads or writes appears twice in
// its object of the output.
func checkNoTouchedDuplicates(t *testing.T, p *Params, root *jnode) {
	t.Helper()
	once := func(obj *jnode, names ...string) {
		for _, n := range names {
			if k := len(obj.all(n)); k > 1 {
				t.Fatalf("%s %d times", n, k)
			}
		}
	}
	once(root, "providerOptions")
	po := root.get("providerOptions")
	once(po, "gateway")
	gw := po.get("gateway")
	names := []string{"byok"}
	for _, m := range p.opts.membersOrNil() {
		names = append(names, m.name)
	}
	once(gw, names...)
	if slug, ok := p.BYOK(); ok {
		once(gw.get("byok"), slug)
	}
	if pt := gw.get("providerTimeouts"); pt != nil && pt.kind == '{' && p.opts != nil && len(p.opts.timeouts) > 0 {
		once(pt, "byok")
		if b := pt.get("byok"); b != nil && b.kind == '{' {
			for _, tm := range p.opts.timeouts {
				once(b, tm.slug)
			}
		}
	}
}

func (c *Compiled) membersOrNil() []member {
	if c == nil {
		return nil
	}
	return c.members
}

// checkKey fails unless, on per-request BYOK, byok.<slug> is the user's key, or the
// caller's own credential.
func checkKey(t *testing.T, p *Params, key string, own bool, root *jnode) {
	t.Helper()
	slug, ok := p.BYOK()
	if !ok {
		return
	}
	entry := root.get("providerOptions").get("gateway").get("byok").get(slug)
	if entry == nil {
		t.Fatal("no byok entry for the slug")
	}
	if own {
		return
	}
	want := mustTree(mustJSON(strings.TrimSpace(key))).str // as a Secret holds it; invalid UTF-8 as encoding/json writes it
	if entry.kind != '[' || len(entry.vals) != 1 || entry.vals[0].get("apiKey") == nil || entry.vals[0].get("apiKey").str != want {
		t.Fatalf("byok.%s does not hold the user's key", slug)
	}
}

// isSubsequence reports whether every byte of a appears in b, in order.
func isSubsequence(a, b []byte) bool {
	i := 0
	for j := 0; i < len(a) && j < len(b); j++ {
		if a[i] == b[j] {
			i++
		}
	}
	return i == len(a)
}

// jnode is a decoded JSON value that keeps the order and repeats of object members.
type jnode struct {
	kind byte     // '{', '[', 's' string, 'n' number, 'b' bool, 'z' null
	keys []string // object member names, in order, repeats kept
	vals []*jnode // object member values, or array elements
	str  string   // a string's value, a number's text
	b    bool
}

// parseTree decodes one JSON value with encoding/json's tokenizer.
func parseTree(b []byte) (*jnode, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	n, err := parseValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the value: %v", err)
	}
	return n, nil
}

func parseValue(dec *json.Decoder) (*jnode, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch v := tok.(type) {
	case json.Delim:
		n := &jnode{kind: byte(v)}
		for dec.More() {
			if v == '{' {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, k.(string))
			}
			e, err := parseValue(dec)
			if err != nil {
				return nil, err
			}
			n.vals = append(n.vals, e)
		}
		_, err := dec.Token() // the closing delimiter
		return n, err
	case string:
		return &jnode{kind: 's', str: v}, nil
	case json.Number:
		return &jnode{kind: 'n', str: string(v)}, nil
	case bool:
		return &jnode{kind: 'b', b: v}, nil
	default:
		return &jnode{kind: 'z'}, nil
	}
}

func mustTree(s string) *jnode {
	n, err := parseTree([]byte(s))
	if err != nil {
		panic(err)
	}
	return n
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func objectOf(name string, v *jnode) *jnode {
	return &jnode{kind: '{', keys: []string{name}, vals: []*jnode{v}}
}

// all returns the values of every member named name.
func (n *jnode) all(name string) []*jnode {
	var out []*jnode
	for i, k := range n.keys {
		if k == name {
			out = append(out, n.vals[i])
		}
	}
	return out
}

// get returns the value of the member named name, or nil (also on a nil n or a
// non-object).
func (n *jnode) get(name string) *jnode {
	if n == nil || n.kind != '{' {
		return nil
	}
	if vs := n.all(name); len(vs) > 0 {
		return vs[0]
	}
	return nil
}

// lookup returns the member named name, or nil; a repeat is a problem.
func (n *jnode) lookup(name string, problem func(string)) *jnode {
	vs := n.all(name)
	if len(vs) > 1 {
		problem(ReasonDuplicateKey)
		return nil
	}
	if len(vs) == 0 {
		return nil
	}
	return vs[0]
}

// set appends a member.
func (n *jnode) set(name string, v *jnode) {
	n.keys = append(n.keys, name)
	n.vals = append(n.vals, v)
}

// replace replaces the value of the member named name.
func (n *jnode) replace(name string, v *jnode) {
	for i, k := range n.keys {
		if k == name {
			n.vals[i] = v
		}
	}
}

func (n *jnode) equal(m *jnode) bool {
	if n.kind != m.kind || n.str != m.str || n.b != m.b || !slices.Equal(n.keys, m.keys) || len(n.vals) != len(m.vals) {
		return false
	}
	for i := range n.vals {
		if !n.vals[i].equal(m.vals[i]) {
			return false
		}
	}
	return true
}

func (n *jnode) String() string {
	var b strings.Builder
	n.write(&b)
	return b.String()
}

func (n *jnode) write(b *strings.Builder) {
	switch n.kind {
	case '{', '[':
		b.WriteByte(n.kind)
		for i, v := range n.vals {
			if i > 0 {
				b.WriteByte(',')
			}
			if n.kind == '{' {
				b.WriteString(mustJSON(n.keys[i]) + ":")
			}
			v.write(b)
		}
		b.WriteByte(map[byte]byte{'{': '}', '[': ']'}[n.kind])
	case 's':
		b.WriteString(mustJSON(n.str))
	case 'n':
		b.WriteString(n.str)
	case 'b':
		fmt.Fprint(b, n.b)
	default:
		b.WriteString("null")
	}
}

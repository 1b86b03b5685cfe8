package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/byok-go/byok/providers"
)

// fullOptions sets every field of Options. A field added to Options without a value
// here fails TestCompile_everyFieldIsAMember.
var fullOptions = Options{
	Order:                  []string{"anthropic"},
	Only:                   []string{"anthropic", "bedrock"},
	Models:                 []string{"claude-sonnet-4.5"},
	User:                   "u",
	Tags:                   []string{"t"},
	ZeroDataRetention:      true,
	DisallowPromptTraining: true,
	Sort:                   "cost",
	Headquarters:           []string{"US", "DE"},
	Has:                    []string{"tool-use", "!quantization:fp8"},
	ServiceTier:            "flex",
	Caching:                "auto",
	BYOKTimeouts:           map[string]time.Duration{"anthropic": 2 * time.Second},
	QuotaEntityID:          "q",
}

// fieldMembers names the JSON member each Options field becomes. A field added to
// Options without an entry here fails TestCompile_everyFieldIsAMember.
var fieldMembers = map[string]string{
	"Order":                  "order",
	"Only":                   "only",
	"Models":                 "models",
	"User":                   "user",
	"Tags":                   "tags",
	"ZeroDataRetention":      "zeroDataRetention",
	"DisallowPromptTraining": "disallowPromptTraining",
	"Sort":                   "sort",
	"Headquarters":           "headquarters",
	"Has":                    "has",
	"ServiceTier":            "serviceTier",
	"Caching":                "caching",
	"BYOKTimeouts":           "providerTimeouts",
	"QuotaEntityID":          "quotaEntityId",
}

// Every option field becomes its own JSON member: set alone, it gives exactly that
// member; all set, they give one member each under distinct names. A field added
// without a member (or two fields sharing one) fails.
func TestCompile_everyFieldIsAMember(t *testing.T) {
	v := reflect.ValueOf(fullOptions)
	typ := v.Type()
	names := map[string]string{}
	for i := range typ.NumField() {
		field := typ.Field(i).Name
		if v.Field(i).IsZero() {
			t.Errorf("fullOptions leaves %s unset", field)
			continue
		}
		want, ok := fieldMembers[field]
		if !ok {
			t.Errorf("%s has no entry in fieldMembers", field)
			continue
		}
		if other, dup := names[want]; dup {
			t.Errorf("%s and %s both become %s", other, field, want)
		}
		names[want] = field
		var one Options
		reflect.ValueOf(&one).Elem().Field(i).Set(v.Field(i))
		if one.IsZero() {
			t.Errorf("IsZero ignores %s", field)
		}
		c, err := Compile(one, nil)
		if err != nil {
			t.Fatalf("%s: %v", field, err)
		}
		if c == nil || len(c.members) != 1 || c.members[0].name != want {
			t.Errorf("%s alone compiles to %v, want the one member %s", field, memberNames(c), want)
		}
	}
	if len(fieldMembers) != typ.NumField() {
		t.Errorf("fieldMembers has %d entries for %d fields", len(fieldMembers), typ.NumField())
	}
	c, err := Compile(fullOptions, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.members) != typ.NumField() {
		t.Errorf("%d fields give members %v", typ.NumField(), memberNames(c))
	}
	seen := map[string]bool{}
	for _, m := range c.members {
		if seen[m.name] {
			t.Errorf("member %s twice", m.name)
		}
		seen[m.name] = true
	}
	if clone := fullOptions.Clone(); !reflect.DeepEqual(clone, fullOptions) {
		t.Error("Clone changes the options")
	}
}

func memberNames(c *Compiled) []string {
	if c == nil {
		return nil
	}
	var out []string
	for _, m := range c.members {
		out = append(out, m.name)
	}
	return out
}

// The merge's bookkeeping holds any number of members, one flag each: with n synthetic
// members (past the inline flags, and past a 64-bit set), a body that has every other
// one keeps them and gets each missing one exactly once; the user's key rides along;
// a compliance rule binds its own member only.
func TestMerge_anyNumberOfMembers(t *testing.T) {
	for _, n := range []int{1, 15, 16, 17, 63, 64, 65, 200} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			c := &Compiled{}
			for i := range n {
				mem := member{name: fmt.Sprintf("m%d", i), value: []byte(fmt.Sprint(i))}
				if i == n-1 {
					mem.rule = ruleTrue
					mem.value = []byte("true")
				}
				c.members = append(c.members, mem)
			}
			p := NewParams(c, "anthropic", providers.NewSecret("sk-ant-k"))
			var body strings.Builder
			body.WriteString(`{"providerOptions":{"gateway":{`)
			for i := 0; i < n; i += 2 {
				if i > 0 {
					body.WriteByte(',')
				}
				v := `"caller"`
				if i == n-1 {
					v = "true"
				}
				fmt.Fprintf(&body, `"m%d":%s`, i, v)
			}
			body.WriteString(`}}}`)
			out, err := p.merge([]byte(body.String()))
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				ProviderOptions struct {
					Gateway map[string]json.RawMessage
				}
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("%v in %s", err, out)
			}
			gw := got.ProviderOptions.Gateway
			if len(gw) != n+1 {
				t.Errorf("%d members, want %d and byok", len(gw), n)
			}
			for i := range n {
				want := fmt.Sprint(i)
				switch {
				case i == n-1:
					want = "true"
				case i%2 == 0:
					want = `"caller"`
				}
				if string(gw[fmt.Sprintf("m%d", i)]) != want {
					t.Errorf("m%d = %s, want %s", i, gw[fmt.Sprintf("m%d", i)], want)
				}
				if k := strings.Count(string(out), fmt.Sprintf(`"m%d":`, i)); k != 1 {
					t.Errorf("m%d written %d times", i, k)
				}
			}
			if string(gw["byok"]) != `{"anthropic":[{"apiKey":"sk-ant-k"}]}` {
				t.Errorf("byok = %s", gw["byok"])
			}

			// The compliance rule is the last member's: false there is refused, false on
			// any other member is the caller's.
			_, err = p.merge(fmt.Appendf(nil, `{"providerOptions":{"gateway":{"m%d":false}}}`, n-1))
			var be *BodyError
			if !errors.As(err, &be) || be.Reason != ReasonComplianceConflict {
				t.Errorf("last member false: %v", err)
			}
			if n > 1 {
				if _, err := p.merge([]byte(`{"providerOptions":{"gateway":{"m0":false}}}`)); err != nil {
					t.Errorf("m0 false: %v", err)
				}
			}
		})
	}
}

// A flags set holds any number of indexes, each its own flag.
func TestFlags(t *testing.T) {
	for _, n := range []int{0, 1, 16, 17, 64, 65, 300} {
		var f flags
		f.set(0) // dirty it: init must clear
		f.init(n)
		for i := 0; i < n; i += 3 {
			f.set(i)
		}
		for i := range n {
			if f.has(i) != (i%3 == 0) {
				t.Errorf("n=%d: has(%d) = %v", n, i, f.has(i))
			}
		}
	}
}

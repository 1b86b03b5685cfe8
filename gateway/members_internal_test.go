package gateway

import (
	"reflect"
	"testing"
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
	QuotaEntityID:          "q",
}

// Every option field becomes one JSON member, and the merge's member set holds them
// all: a field added without a member, or members past what a memberSet holds, fail.
func TestCompile_everyFieldIsAMember(t *testing.T) {
	v := reflect.ValueOf(fullOptions)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Errorf("fullOptions leaves %s unset", v.Type().Field(i).Name)
		}
	}
	c, err := Compile(fullOptions, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.members) != v.NumField() {
		t.Errorf("%d fields give %d members", v.NumField(), len(c.members))
	}
	if len(c.members) > maxMembers {
		t.Errorf("%d members; a memberSet holds %d", len(c.members), maxMembers)
	}
	seen := map[string]bool{}
	for _, m := range c.members {
		if seen[m.name] {
			t.Errorf("member %s twice", m.name)
		}
		seen[m.name] = true
	}
}

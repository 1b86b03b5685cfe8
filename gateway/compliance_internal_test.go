package gateway

import (
	"errors"
	"maps"
	"testing"
	"time"
)

// The country table holds the 249 assigned codes, upper case, and nothing else.
func TestIsCountry(t *testing.T) {
	n := 0
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			if isCountry(string([]rune{a, b})) {
				n++
			}
		}
	}
	if n != 249 || len(countries) != 2*249 {
		t.Errorf("%d countries in the table, %d bytes in the list; want 249", n, len(countries))
	}
	for _, c := range []string{"US", "DE", "GB", "CN", "AX", "ZW", "SS"} {
		if !isCountry(c) {
			t.Errorf("%s is a country", c)
		}
	}
	for _, c := range []string{"UK", "EU", "XK", "us", "U", "USA", "", "!U", "A1", "[A"} {
		if isCountry(c) {
			t.Errorf("%q is not an assigned code", c)
		}
	}
}

// Over never writes into the defaults or the call: the merged timeouts are a new map.
func TestOver_doesNotAlias(t *testing.T) {
	def := Options{BYOKTimeouts: map[string]time.Duration{"openai": time.Second}, Tags: make([]string, 1, 4), Has: make([]string, 1, 4)}
	def.Tags[0], def.Has[0] = "a", "vision"
	call := Options{BYOKTimeouts: map[string]time.Duration{"Anthropic": 2 * time.Second, "OPENAI": 3 * time.Second}, Tags: []string{"b"}, Has: []string{"reasoning"}}
	before := maps.Clone(def.BYOKTimeouts)
	got, err := def.Over(call)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(def.BYOKTimeouts, before) {
		t.Errorf("the defaults' timeouts changed: %v", def.BYOKTimeouts)
	}
	if want := map[string]time.Duration{"openai": 3 * time.Second, "anthropic": 2 * time.Second}; !maps.Equal(got.BYOKTimeouts, want) {
		t.Errorf("merged timeouts %v, want %v", got.BYOKTimeouts, want)
	}
	got.Tags[1], got.Has[1] = "changed", "changed"
	if def.Tags[:2][1] == "changed" || def.Has[:2][1] == "changed" {
		t.Error("the merged lists share the defaults' arrays")
	}
	// A malformed list is refused with the error Compile gives, not taken as looser.
	_, err = Options{Only: []string{"anthropic"}}.Over(Options{Only: []string{"bad slug"}})
	var oe *OptionsError
	if !errors.As(err, &oe) || oe.Reason != "only: malformed provider slug" {
		t.Errorf("malformed call only: %v", err)
	}
	_, err = Options{Headquarters: []string{"US"}}.Over(Options{Headquarters: []string{"US", "!CN"}})
	if !errors.As(err, &oe) || oe.Reason != "headquarters: a list mixes allowed and excluded countries" {
		t.Errorf("mixed call headquarters: %v", err)
	}
}

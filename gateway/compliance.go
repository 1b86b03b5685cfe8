package gateway

import (
	"encoding/json"
	"slices"
	"strings"
)

// countries holds the 249 officially assigned ISO 3166-1 alpha-2 codes, two letters
// each, in order (Debian iso-codes, iso_3166-1.json). Reserved and user-assigned codes
// ("UK", "EU", "XK") are not among them.
const countries = "ADAEAFAGAIALAMAOAQARASATAUAWAXAZBABBBDBEBFBGBHBIBJBLBMBNBOBQBRBSBTBVBWBYBZCACCCDCFCGCHCICKCLCMCNCOCRCUCVCWCXCYCZDEDJDKDMDODZECEEEGEHERESETFIFJFKFMFOFRGAGBGDGEGFGGGHGIGLGMGNGPGQGRGSGTGUGWGYHKHMHNHRHTHUIDIEILIMINIOIQIRISITJEJMJOJPKEKGKHKIKMKNKPKRKWKYKZLALBLCLILKLRLSLTLULVLYMAMCMDMEMFMGMHMKMLMMMNMOMPMQMRMSMTMUMVMWMXMYMZNANCNENFNGNINLNONPNRNUNZOMPAPEPFPGPHPKPLPMPNPRPSPTPWPYQARERORSRURWSASBSCSDSESGSHSISJSKSLSMSNSOSRSSSTSVSXSYSZTCTDTFTGTHTJTKTLTMTNTOTRTTTVTWTZUAUGUMUSUYUZVAVCVEVGVIVNVUWFWSYEYTZAZMZW"

// countryTable[26*(a-'A')+(b-'A')] reports whether "ab" is in countries.
var countryTable = func() (t [26 * 26]bool) {
	for i := 0; i+1 < len(countries); i += 2 {
		t[int(countries[i]-'A')*26+int(countries[i+1]-'A')] = true
	}
	return t
}()

// isCountry reports whether code is an assigned ISO 3166-1 alpha-2 code, in upper case.
func isCountry(code string) bool {
	if len(code) != 2 || code[0] < 'A' || code[0] > 'Z' || code[1] < 'A' || code[1] > 'Z' {
		return false
	}
	return countryTable[int(code[0]-'A')*26+int(code[1]-'A')]
}

// The predicates below decide whether a list (a call's, or a body's) is at least as
// tight as a policy's, the options' list as Compile normalizes it. They compare
// strings exactly: a candidate must name what the policy names the way the policy
// names it ("anthropic", "US", "!CN"), so that whatever the gateway does with letter
// case or unknown entries, the candidate allows nothing the policy does not. A
// candidate that cannot be proven at least as tight is not.

// onlyWithin reports whether cand, a non-empty list of provider slugs, names only
// slugs of policy.
func onlyWithin(policy, cand []string) bool {
	if len(cand) == 0 {
		return false
	}
	for _, s := range cand {
		if !slices.Contains(policy, s) {
			return false
		}
	}
	return true
}

// headquartersWithin reports whether cand, a headquarters list, allows no country that
// policy, a valid non-empty one, does not:
//
//   - policy allows some countries: cand must allow some of them (a non-empty list
//     without '!'), and nothing else. A list of exclusions allows every country it does
//     not name, those the gateway knows and this package does not among them: never
//     provably within;
//   - policy excludes some countries: cand may exclude them and more (a non-empty list,
//     every entry '!'-prefixed, naming each of policy's exclusions), or allow only
//     assigned countries policy does not exclude.
//
// A list that mixes allowed and excluded countries is never within.
func headquartersWithin(policy, cand []string) bool {
	if len(cand) == 0 || len(policy) == 0 {
		return false
	}
	excluded := 0
	for _, c := range cand {
		if strings.HasPrefix(c, "!") {
			excluded++
		}
	}
	policyExcludes := strings.HasPrefix(policy[0], "!")
	switch {
	case excluded != 0 && excluded != len(cand): // mixed
		return false
	case !policyExcludes && excluded == 0:
		return onlyWithin(policy, cand)
	case !policyExcludes:
		return false
	case excluded > 0:
		for _, p := range policy {
			if !slices.Contains(cand, p) {
				return false
			}
		}
		return true
	default:
		for _, c := range cand {
			if !isCountry(c) || slices.Contains(policy, "!"+c) {
				return false
			}
		}
		return true
	}
}

// stringList decodes raw, a JSON value, as a list of strings. It reports false for
// anything else: null, another type, an entry that is not a string.
func stringList(raw []byte) ([]string, bool) {
	if len(raw) == 0 || raw[0] != '[' {
		return nil, false
	}
	var vs []any
	if json.Unmarshal(raw, &vs) != nil {
		return nil, false
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		s, ok := v.(string)
		if !ok {
			return nil, false
		}
		out[i] = s
	}
	return out, true
}

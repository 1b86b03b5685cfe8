package gateway

import (
	"bytes"
	"encoding/json"
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

// text is a string, or the bytes of one in a body.
type text interface{ ~string | ~[]byte }

// isCountry reports whether code is an assigned ISO 3166-1 alpha-2 code, in upper case.
func isCountry[T text](code T) bool {
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

// contains reports whether list has s.
func contains[T text](list []string, s T) bool {
	for _, e := range list {
		if string(s) == e {
			return true
		}
	}
	return false
}

// onlyWithin reports whether cand, a non-empty list of provider slugs, names only
// slugs of policy.
func onlyWithin[T text](policy []string, cand []T) bool {
	if len(cand) == 0 {
		return false
	}
	for _, s := range cand {
		if !contains(policy, s) {
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
func headquartersWithin[T text](policy []string, cand []T) bool {
	if len(cand) == 0 || len(policy) == 0 {
		return false
	}
	excluded := 0
	for _, c := range cand {
		if len(c) > 0 && c[0] == '!' {
			excluded++
		}
	}
	policyExcludes := policy[0][0] == '!'
	switch {
	case excluded != 0 && excluded != len(cand): // mixed
		return false
	case !policyExcludes && excluded == 0:
		return onlyWithin(policy, cand)
	case !policyExcludes:
		return false
	case excluded > 0:
		for _, p := range policy {
			found := false
			for _, c := range cand {
				found = found || string(c) == p
			}
			if !found {
				return false
			}
		}
		return true
	default:
		for _, c := range cand {
			if !isCountry(c) {
				return false
			}
			for _, p := range policy { // "!XX"
				if p[1:] == string(c) {
					return false
				}
			}
		}
		return true
	}
}

// bodyStrings appends to dst the elements of raw, a JSON value of a body json.Valid
// accepted, when it is an array of strings: each element's decoded bytes, a slice of
// raw unless it has escapes. It reports false for anything else: null, another type,
// an element that is not a string.
func bodyStrings(dst [][]byte, raw []byte) ([][]byte, bool) {
	if len(raw) == 0 || raw[0] != '[' {
		return nil, false
	}
	for i := skipSpace(raw, 1); i < len(raw) && raw[i] != ']'; {
		if raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
		if raw[i] != '"' {
			return nil, false
		}
		end := skipString(raw, i)
		s := raw[i+1 : end-1]
		if bytes.IndexByte(s, '\\') >= 0 {
			var d string
			if json.Unmarshal(raw[i:end], &d) != nil {
				return nil, false
			}
			s = []byte(d)
		}
		dst = append(dst, s)
		i = skipSpace(raw, end)
	}
	return dst, true
}

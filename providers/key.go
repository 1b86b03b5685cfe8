package providers

import "errors"

// MaxKeyLen is the longest key byok accepts, in bytes. Real provider keys are far shorter.
const MaxKeyLen = 1024

// ErrInvalidKey is matched (with errors.Is) by the error [CheckKey] returns.
var ErrInvalidKey = errors.New("providers: key must be 1 to 1024 printable ASCII characters without white space")

// CheckKey reports whether key can be a provider key: 1 to [MaxKeyLen] bytes of printable
// ASCII without white space. No real key is anything else, a control character could split
// a header, and look-alike or invisible characters (zero-width, right-to-left marks) would
// store a key other than the one the user meant. The error matches [ErrInvalidKey] and never
// quotes the key. It is the one rule for every place a key is written or sent: the
// [Validator], the stores' writers and the HTTP API.
func CheckKey(key string) error {
	if key == "" || len(key) > MaxKeyLen {
		return ErrInvalidKey
	}
	for i := range len(key) {
		if c := key[i]; c <= ' ' || c >= 0x7f {
			return ErrInvalidKey
		}
	}
	return nil
}

package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
)

// MinPseudonymSecret is the shortest secret [Pseudonym] accepts, in bytes.
const MinPseudonymSecret = 32

// maxPseudonymTries bounds the derivations Pseudonym tries; each has a chance of about
// 1 in 2 at worst (a one-character user id) to be accepted.
const maxPseudonymTries = 64

// Pseudonym returns a pseudonym of userID for the options User and QuotaEntityID, so
// that the gateway's reports and quotas can tell users apart without learning who they
// are: the HMAC-SHA256 of userID under secret, in unpadded base64url (43 characters).
// It is stable for a (secret, user id), differs between users and between secrets, and
// never equals or contains userID: should the digest happen to contain it (possible
// only for a very short id), the next of a fixed sequence of derivations (the HMAC of
// userID, a NUL byte and a counter) is used instead. ok is false, and the pseudonym "",
// only if none of 64 derivations passes, which for any id of 2 characters or more has a
// chance below 2^-500; send no attribution then rather than the id. It returns "", false
// for a secret shorter than [MinPseudonymSecret] bytes or an empty userID.
func Pseudonym(secret []byte, userID string) (pseudonym string, ok bool) {
	if len(secret) < MinPseudonymSecret || userID == "" {
		return "", false
	}
	mac := hmac.New(sha256.New, secret)
	var sum [sha256.Size]byte
	var text [43]byte // base64.RawURLEncoding.EncodedLen(sha256.Size)
	for n := range maxPseudonymTries {
		mac.Reset()
		mac.Write([]byte(userID))
		if n > 0 {
			mac.Write([]byte{0})
			mac.Write(strconv.AppendInt(nil, int64(n), 10))
		}
		base64.RawURLEncoding.Encode(text[:], mac.Sum(sum[:0]))
		if p := string(text[:]); !strings.Contains(p, userID) {
			return p, true
		}
	}
	return "", false
}

// Attributed returns o attributed to userID: User and QuotaEntityID, where o leaves them
// empty, set to [Pseudonym] of userID under secret. Those o sets win, trimmed of
// surrounding white space. When Pseudonym gives none, o is returned with nothing added:
// the id itself is never sent.
func (o Options) Attributed(secret []byte, userID string) Options {
	o.User, o.QuotaEntityID = strings.TrimSpace(o.User), strings.TrimSpace(o.QuotaEntityID)
	p, ok := Pseudonym(secret, userID)
	if !ok {
		return o
	}
	if o.User == "" {
		o.User = p
	}
	if o.QuotaEntityID == "" {
		o.QuotaEntityID = p
	}
	return o
}

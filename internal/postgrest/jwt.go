package postgrest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// leeway is the clock skew PostgREST allows on exp, nbf and iat.
const leeway = 30 * time.Second

// SignJWT returns an HS256 JWT of claims signed with secret, as Supabase Auth issues them.
func SignJWT(secret []byte, claims map[string]any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("postgrest: encode claims: %w", err)
	}
	return signRaw(secret, []byte(`{"alg":"HS256","typ":"JWT"}`), payload), nil
}

// signRaw signs header.payload with HMAC-SHA256 whatever header says.
func signRaw(secret, header, payload []byte) string {
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	return signed + "." + enc.EncodeToString(mac(secret, signed))
}

func mac(secret []byte, signed string) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(signed))
	return h.Sum(nil)
}

// jwtClaims are a verified token's claims: the payload as sent and the role it names.
type jwtClaims struct {
	raw  []byte // the payload, a JSON object, passed to PostgreSQL as request.jwt.claims
	role string // the "role" claim; "" when absent or not a string
}

// verifyJWT checks token the way PostgREST does with a symmetric secret and returns its
// claims, or the PGRST301/PGRST303 error PostgREST answers.
func verifyJWT(secret []byte, token string, now time.Time) (jwtClaims, *apiError) {
	if token == "" {
		return jwtClaims{}, jwtError("PGRST301", "Empty JWT is sent in Authorization header")
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return jwtClaims{}, jwtError("PGRST301", "Expected 3 parts in JWT; got "+strconv.Itoa(len(parts)))
	}
	header, err1 := decodeSegment(parts[0])
	payload, err2 := decodeSegment(parts[1])
	sig, err3 := decodeSegment(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return jwtClaims{}, jwtError("PGRST301", "JWT couldn't be decoded")
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(header, &h) != nil {
		return jwtClaims{}, jwtError("PGRST301", "JWT couldn't be decoded")
	}
	if h.Alg != "HS256" {
		return jwtClaims{}, jwtError("PGRST301", "Wrong or unsupported encoding algorithm")
	}
	if !hmac.Equal(sig, mac(secret, parts[0]+"."+parts[1])) {
		return jwtClaims{}, jwtError("PGRST301", "JWT cryptographic operation failed")
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if dec.Decode(&claims) != nil || claims == nil {
		return jwtClaims{}, jwtError("PGRST303", "Parsing claims failed")
	}
	for _, c := range []struct {
		name   string
		failed func(at time.Time) bool
		msg    string
	}{
		{"exp", func(at time.Time) bool { return now.After(at.Add(leeway)) }, "JWT expired"},
		{"nbf", func(at time.Time) bool { return now.Add(leeway).Before(at) }, "JWT not yet valid"},
		{"iat", func(at time.Time) bool { return now.Add(leeway).Before(at) }, "JWT issued at future"},
	} {
		v, ok := claims[c.name]
		if !ok {
			continue
		}
		n, isNumber := v.(json.Number)
		f, err := n.Float64()
		if !isNumber || err != nil {
			return jwtClaims{}, jwtError("PGRST303", "The JWT '"+c.name+"' claim must be a number")
		}
		if c.failed(time.Unix(0, int64(f*float64(time.Second)))) {
			return jwtClaims{}, jwtError("PGRST303", c.msg)
		}
	}
	role, _ := claims["role"].(string)
	return jwtClaims{raw: payload, role: role}, nil
}

// decodeSegment decodes base64url with or without padding.
func decodeSegment(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// isJWT reports whether key has the shape of a JWT (three dot-separated parts).
func isJWT(key string) bool { return strings.Count(key, ".") == 2 }

// jwtError is PostgREST's answer to a rejected token.
func jwtError(code, message string) *apiError {
	return &apiError{
		status:  401,
		code:    code,
		message: message,
		header:  [2]string{"WWW-Authenticate", `Bearer error="invalid_token", error_description=` + strconv.Quote(message)},
	}
}

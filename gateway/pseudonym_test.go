package gateway_test

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/gateway"
)

var (
	attribSecret      = []byte("attribution-secret-for-tests-0123456789")
	otherAttribSecret = []byte("another-attribution-secret-for-tests-42")
)

const (
	user1 = "8d0f6b8e-2f6e-4a57-9d1c-2b7f0a3c9e11"
	user2 = "1b2c3d4e-5f60-4711-8a9b-0c1d2e3f4a5b"
)

func pseudonym(t *testing.T, secret []byte, user string) string {
	t.Helper()
	p, ok := gateway.Pseudonym(secret, user)
	require.True(t, ok, "pseudonym of %q", user)
	return p
}

func randomUUID(t *testing.T) string {
	t.Helper()
	var b [16]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func TestPseudonym(t *testing.T) {
	p := pseudonym(t, attribSecret, user1)
	assert.Len(t, p, 43, "unpadded base64url of 32 bytes")
	raw, err := base64.RawURLEncoding.DecodeString(p)
	require.NoError(t, err)
	assert.Len(t, raw, 32)
	assert.Equal(t, p, pseudonym(t, attribSecret, user1), "stable")
	assert.Equal(t, p, pseudonym(t, append([]byte(nil), attribSecret...), user1), "depends on the secret's bytes only")
	assert.NotEqual(t, p, pseudonym(t, attribSecret, user2), "differs between users")
	assert.NotEqual(t, p, pseudonym(t, otherAttribSecret, user1), "differs between secrets")

	// Many ids, UUIDs and short, base64url-looking ones: never equal to the id, never
	// containing it, never the same for two of them.
	ids := []string{"a", "A", "-", "_", "0", "ab", "abc", "user", "user-1", strings.Repeat("x", 43), strings.Repeat("y", 100)}
	for i := range 1000 {
		ids = append(ids, fmt.Sprint(i), fmt.Sprintf("u%d", i))
	}
	for range 5000 {
		ids = append(ids, randomUUID(t))
	}
	seen, done := map[string]string{}, map[string]bool{}
	for _, id := range ids {
		if done[id] {
			continue
		}
		done[id] = true
		for _, secret := range [][]byte{attribSecret, otherAttribSecret} {
			p := pseudonym(t, secret, id)
			require.NotEqual(t, id, p)
			require.NotContains(t, p, id, "id %q", id)
			prev, dup := seen[p]
			require.False(t, dup, "ids %q and %q share a pseudonym", prev, id)
			seen[p] = id
		}
	}

	for _, bad := range [][]byte{nil, {}, []byte(strings.Repeat("s", gateway.MinPseudonymSecret-1))} {
		p, ok := gateway.Pseudonym(bad, user1)
		assert.False(t, ok)
		assert.Empty(t, p)
	}
	p, ok := gateway.Pseudonym(attribSecret, "")
	assert.False(t, ok)
	assert.Empty(t, p)
}

func ExamplePseudonym() {
	secret := []byte("a stable secret of 32 bytes or more, from the environment")
	p, _ := gateway.Pseudonym(secret, "8d0f6b8e-2f6e-4a57-9d1c-2b7f0a3c9e11")
	fmt.Println(len(p), p == "8d0f6b8e-2f6e-4a57-9d1c-2b7f0a3c9e11")
	// Output: 43 false
}

func TestOptionsAttributed(t *testing.T) {
	const user = "8d0f8c2e-3a4b-4c5d-9e6f-0a1b2c3d4e5f"
	p, ok := gateway.Pseudonym(attribSecret, user)
	require.True(t, ok)

	base := gateway.Options{Order: []string{"anthropic"}, Tags: []string{"t"}, ZeroDataRetention: true}
	got := base.Attributed(attribSecret, user)
	assert.Equal(t, p, got.User, "an empty User carries the pseudonym")
	assert.Equal(t, p, got.QuotaEntityID, "an empty QuotaEntityID carries the pseudonym")
	assert.Equal(t, base.Order, got.Order)
	assert.Equal(t, base.Tags, got.Tags)
	assert.True(t, got.ZeroDataRetention)

	set := gateway.Options{User: "  team-a ", QuotaEntityID: " org-7 "}.Attributed(attribSecret, user)
	assert.Equal(t, "team-a", set.User, "a User the options set wins, trimmed")
	assert.Equal(t, "org-7", set.QuotaEntityID, "a QuotaEntityID the options set wins, trimmed")

	blank := gateway.Options{User: "   "}.Attributed(attribSecret, user)
	assert.Equal(t, p, blank.User, "a white-space User is empty")

	none := gateway.Options{}.Attributed([]byte("short"), user)
	assert.Empty(t, none.User, "no pseudonym: nothing is sent, never the id")
	assert.Empty(t, none.QuotaEntityID)
	assert.NotContains(t, fmt.Sprint(got, set, none), user)
}

package store

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
)

// Token prefixes, as GitLab writes them.
const (
	PrefixPersonalAccessToken = "glpat-"
	PrefixRunnerToken         = "glrt-"
	PrefixJobToken            = "glcbt-"
	PrefixRegistrationToken   = "GR1348941"
)

// TokenHashSize is the length of a token hash in bytes.
const TokenHashSize = sha256.Size

// HashToken returns the SHA-256 of a token: what the store keeps and looks tokens up
// by. Tokens are high-entropy (NewToken), so an unsalted fast hash is enough.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// TokenMatches compares a stored hash with a presented token in constant time.
func TokenMatches(hash []byte, token string) bool {
	return len(hash) == TokenHashSize && subtle.ConstantTimeCompare(hash, HashToken(token)) == 1
}

// NewToken returns prefix followed by 32 random characters of a URL-safe alphabet
// (about 190 bits of entropy).
func NewToken(prefix string) (string, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generating a token: %w", err)
	}
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = alphabet[c&63]
	}
	return prefix + string(out), nil
}

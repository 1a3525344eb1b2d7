package ci

import (
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"regexp"
	"strings"
)

// EnvironmentSlug is GitLab's CI_ENVIRONMENT_SLUG: lower-case letters, digits and
// single dashes, starting with a letter, at most 24 characters; a name that had to be
// changed gets a 6-character suffix derived from its SHA-256, so that different names
// keep different slugs.
func EnvironmentSlug(name string) string {
	slug := dashed(name)
	if slug == "" || slug[0] < 'a' || slug[0] > 'z' {
		slug = "env-" + slug
	}
	for strings.Contains(slug, "--") {
		slug = strings.ReplaceAll(slug, "--", "-")
	}
	if len(slug) > 24 || slug != name {
		if len(slug) > 17 {
			slug = slug[:17]
		}
		if !strings.HasSuffix(slug, "-") {
			slug += "-"
		}
		return slug + slugSuffix(name)
	}
	return strings.TrimSuffix(slug, "-")
}

// slugSuffix is the last six base-36 digits of the SHA-256 of name.
func slugSuffix(name string) string {
	sum := sha256.Sum256([]byte(name))
	n, _ := new(big.Int).SetString(hex.EncodeToString(sum[:]), 16)
	s := n.Text(36)
	if len(s) > 6 {
		s = s[len(s)-6:]
	}
	return s
}

var (
	tierDevelopment = regexp.MustCompile(`(?i)dev|review|trunk`)
	tierTesting     = regexp.MustCompile(`(?i)test|qc`)
	tierStaging     = regexp.MustCompile(`(?i)st(a|)g|mod(e|)l|pre|demo`)
	tierProduction  = regexp.MustCompile(`(?i)pr(o|)d|live`)
)

// guessTier is GitLab's deployment tier for an environment without
// deployment_tier, guessed from its name.
func guessTier(name string) string {
	switch {
	case tierDevelopment.MatchString(name):
		return "development"
	case tierTesting.MatchString(name):
		return "testing"
	case tierStaging.MatchString(name):
		return "staging"
	case tierProduction.MatchString(name):
		return "production"
	}
	return "other"
}

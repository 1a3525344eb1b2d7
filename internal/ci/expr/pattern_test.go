package expr

import "testing"

func TestScanPatternFindsGitLabsPatternToken(t *testing.T) {
	cases := []struct{ in, token string }{
		{"/pattern/", "/pattern/"},
		{"/pattern/i", "/pattern/i"},
		{"/pattern/im", "/pattern/im"},
		{"/pattern/ismU", "/pattern/ismU"},
		{"/pattern/x", "/pattern/"},                                     // an unsupported flag is not part of it
		{"/some .* / pattern/", "/some .* /"},                           // the first unescaped slash closes it
		{`/some .* \/ pattern/`, `/some .* \/ pattern/`},                // \/ does not
		{`/some numeric \/$ pattern/`, `/some numeric \/$ pattern/`},    // ...even before $
		{`/some numeric \$ pattern/ == x`, `/some numeric \$ pattern/`}, // \ escapes nothing else
		{"//", ""},
		{"/a/", ""},      // one character between the slashes is not enough
		{"/a//", "/a//"}, // ...unless a second slash follows: the pattern is "a/"
		{"/ab/", "/ab/"},
		{`/a\/`, ""},     // no closing slash
		{`/\//`, `/\//`}, // a pattern that is one slash
		{`/ab\/`, ""},
		{`/a\\/`, ""}, // the character before the closing slash may not be a backslash
		{"/ab", ""},
		{"/a\nb/", "/a\nb/"}, // a newline is a character like any other here
	}
	for _, c := range cases {
		if n := scanPattern(c.in); c.in[:n] != c.token {
			t.Errorf("scanPattern(%q) = %q, want %q", c.in, c.in[:n], c.token)
		}
	}
}

func TestPatternsCompileToGitLabsRE2Source(t *testing.T) {
	cases := []struct{ value, source string }{
		{"/foo/", "foo"},
		{`/foo\/bar/`, "foo/bar"},
		{"/pattern/im", "(?im)pattern"},
		{"/pattern/ii", "(?ii)pattern"},
		{"/a/i/", "a/i"}, // Ruby's greedy .* takes the last slash
		{"/a/b/i", "(?i)a/b"},
		{"//", ""},              // an empty pattern is fine in a variable
		{"junk\n/x/i", "(?i)x"}, // ^ and $ are line anchors in Ruby
		{"/x/\njunk", "x"},
		{`/^\d+\.\d+$/`, `^\d+\.\d+$`},
		{"/[[:digit:]]+/", "[[:digit:]]+"},
		{`/(?P<name>x)(?<other>y)/`, `(?P<name>x)(?<other>y)`},
	}
	for _, c := range cases {
		p, err := buildPattern(c.value)
		if err != nil {
			t.Errorf("buildPattern(%q): %v", c.value, err)
			continue
		}
		if p.source != c.source {
			t.Errorf("buildPattern(%q).source = %q, want %q", c.value, p.source, c.source)
		}
	}
	for _, bad := range []string{"foo", "/foo", "foo/", "/foo/x", "/ some ( thin/i", "/a{1001}/", "", "/\n/"} {
		if p, err := buildPattern(bad); err == nil {
			t.Errorf("buildPattern(%q) = %q, want an error", bad, p.source)
		}
	}
}

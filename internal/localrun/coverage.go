package localrun

import (
	"regexp"
	"strconv"
	"strings"
)

// coverageScanner finds a job's coverage in its log as GitLab does with the
// coverage keyword: the last line the regular expression matches, the last group of
// its last match (or the match itself), and the first number in that.
type coverageScanner struct {
	re   *regexp.Regexp
	last string
}

// compile takes the coverage keyword as written, /pattern/ with optional flags i
// and m; a pattern RE2 cannot compile leaves the scanner off (Load checked it).
func (c *coverageScanner) compile(lit string) {
	end := strings.LastIndexByte(lit, '/')
	if len(lit) < 2 || lit[0] != '/' || end == 0 {
		return
	}
	prefix := ""
	for _, f := range lit[end+1:] {
		switch f {
		case 'i':
			prefix += "(?i)"
		case 'm':
			prefix += "(?s)"
		}
	}
	c.re, _ = regexp.Compile(prefix + lit[1:end])
}

var coverageNumber = regexp.MustCompile(`\d+(\.\d+)?`)

// line looks at one line of the log (without ANSI sequences).
func (c *coverageScanner) line(s string) {
	if c.re == nil {
		return
	}
	all := c.re.FindAllStringSubmatch(s, -1)
	if len(all) == 0 {
		return
	}
	m := all[len(all)-1]
	match := m[len(m)-1]
	if n := coverageNumber.FindString(match); n != "" {
		c.last = n
	}
}

// value is the coverage found, or nil.
func (c *coverageScanner) value() *float64 {
	if c.last == "" {
		return nil
	}
	v, err := strconv.ParseFloat(c.last, 64)
	if err != nil {
		return nil
	}
	return &v
}

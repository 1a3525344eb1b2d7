// Package trace is the job log on its way out of the runner: secrets masked even when
// split across writes, a size limit with a clear truncation line that never costs the
// final status line, GitLab's collapsible sections and colours, and a file-backed
// store that knows its size and CRC-32 for resending and the final update.
//
// It is on the runner side: the coordinator side must not import it.
package trace

import (
	"bytes"
	"io"
	"slices"
	"strings"
)

// Masked replaces every secret in a trace.
const Masked = "[MASKED]"

// DefaultTokenPrefix is masked whatever the coordinator sends, as gitlab-runner does.
const DefaultTokenPrefix = "glpat-"

// MaxTokenPrefixes is how many token prefixes are honoured (the default one included);
// further ones are ignored, as in gitlab-runner.
const MaxTokenPrefixes = 10

// Masker is a streaming writer that replaces secrets before they reach out:
//
//   - every occurrence of a masked value becomes [MASKED]; overlapping occurrences of
//     several values are replaced as one, so no part of any value shows;
//   - a token prefix (e.g. glpat-) followed by token characters (letters, digits,
//     "-", "_", ".", "=") keeps its prefix and has the rest replaced: glpat-[MASKED].
//
// A secret split across two writes is masked all the same: the masker holds back the
// few bytes at the end of a write that could begin a secret until the next write (or
// Flush) decides. It never holds back more than the longest secret.
//
// A Masker is not safe for concurrent use; Log serialises writes.
type Masker struct {
	w        io.Writer
	values   [][]byte
	prefixes [][]byte

	pending []byte // raw bytes not yet value-masked
	tpend   []byte // value-masked bytes not yet token-masked
	inToken bool   // the last emitted bytes were prefix+[MASKED]; swallow token characters
	buf     []byte // reused: value-masked output of one write
	data    []byte // reused: tpend followed by buf
	out     []byte // reused: what one write emits
}

// NewMasker returns a masker writing to out. Empty values are ignored; prefixes are
// trimmed of spaces, DefaultTokenPrefix is always first, and at most MaxTokenPrefixes
// are used.
func NewMasker(out io.Writer, values, prefixes []string) *Masker {
	m := &Masker{w: out}
	seen := map[string]bool{}
	for _, v := range values {
		if v != "" && !seen[v] {
			seen[v] = true
			m.values = append(m.values, []byte(v))
		}
	}
	seenP := map[string]bool{}
	for _, p := range append([]string{DefaultTokenPrefix}, prefixes...) {
		p = strings.TrimSpace(p)
		if p == "" || seenP[p] {
			continue
		}
		if len(m.prefixes) == MaxTokenPrefixes {
			break
		}
		seenP[p] = true
		m.prefixes = append(m.prefixes, []byte(p))
	}
	return m
}

// Write masks p and passes on what is decided. It reports len(p) written unless out fails.
func (m *Masker) Write(p []byte) (int, error) {
	m.pending = append(m.pending, p...)
	if err := m.process(false); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush passes on everything held back: the end of the stream decides every partial match.
func (m *Masker) Flush() error { return m.process(true) }

func (m *Masker) process(final bool) error {
	data := m.pending
	cut := len(data)
	if !final {
		cut -= heldSuffix(data, m.values)
	}
	ivs := matches(data, m.values)
	for _, iv := range ivs {
		if iv[0] < cut && iv[1] > cut {
			cut = iv[0]
		}
	}
	m.buf = m.buf[:0]
	at := 0
	for _, iv := range ivs {
		if iv[1] > cut {
			break
		}
		m.buf = append(m.buf, data[at:iv[0]]...)
		m.buf = append(m.buf, Masked...)
		at = iv[1]
	}
	m.buf = append(m.buf, data[at:cut]...)
	n := copy(m.pending, data[cut:])
	m.pending = m.pending[:n]
	return m.tokens(m.buf, final)
}

// tokens masks token prefixes in value-masked text and writes the result.
func (m *Masker) tokens(in []byte, final bool) error {
	m.data = append(append(m.data[:0], m.tpend...), in...)
	data := m.data
	out := m.out[:0]
	i := 0
	if m.inToken {
		for i < len(data) && isTokenChar(data[i]) {
			i++
		}
		if i == len(data) && !final {
			m.tpend = data[:0]
			return nil
		}
		m.inToken = false
	}
	for {
		pos, plen := m.nextPrefix(data, i)
		if pos < 0 {
			break
		}
		after := pos + plen
		if after == len(data) && !final {
			out = append(out, data[i:pos]...)
			i = pos
			return m.emit(out, data, i, len(data)-pos)
		}
		if after < len(data) && isTokenChar(data[after]) {
			out = append(out, data[i:after]...)
			out = append(out, Masked...)
			j := after
			for j < len(data) && isTokenChar(data[j]) {
				j++
			}
			i = j
			if j == len(data) {
				m.inToken = !final
				break
			}
			continue
		}
		out = append(out, data[i:after]...)
		i = after
	}
	hold := 0
	if !final {
		hold = heldSuffix(data[i:], m.prefixes)
	}
	out = append(out, data[i:len(data)-hold]...)
	return m.emit(out, data, len(data)-hold, hold)
}

// emit writes out and keeps data[from:from+n] pending for the token stage.
func (m *Masker) emit(out, data []byte, from, n int) error {
	m.tpend = append(m.tpend[:0], data[from:from+n]...)
	m.out = out[:0]
	if len(out) == 0 {
		return nil
	}
	_, err := m.w.Write(out)
	return err
}

// nextPrefix finds the earliest token prefix at or after i (the longest one there).
func (m *Masker) nextPrefix(data []byte, i int) (pos, n int) {
	pos = -1
	for _, p := range m.prefixes {
		k := bytes.Index(data[i:], p)
		if k < 0 {
			continue
		}
		k += i
		if pos < 0 || k < pos || (k == pos && len(p) > n) {
			pos, n = k, len(p)
		}
	}
	return pos, n
}

func isTokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '='
}

// heldSuffix returns the length of the longest suffix of data that is a proper prefix
// of one of the needles: bytes that must wait for the next write.
func heldSuffix(data []byte, needles [][]byte) int {
	hold := 0
	for _, nd := range needles {
		if len(nd) < 2 {
			continue
		}
		start := len(data) - (len(nd) - 1)
		if start < 0 {
			start = 0
		}
		for i := start; i < len(data); i++ {
			if len(data)-i <= hold {
				break
			}
			if data[i] == nd[0] && bytes.HasPrefix(nd, data[i:]) {
				hold = len(data) - i
				break
			}
		}
	}
	return hold
}

// matches returns the merged, sorted intervals [start, end) of every occurrence of
// every needle in data, overlapping occurrences included.
func matches(data []byte, needles [][]byte) [][2]int {
	var ivs [][2]int
	for _, nd := range needles {
		for off := 0; off < len(data); {
			k := bytes.Index(data[off:], nd)
			if k < 0 {
				break
			}
			ivs = append(ivs, [2]int{off + k, off + k + len(nd)})
			off += k + 1
		}
	}
	if len(ivs) < 2 {
		return ivs
	}
	slices.SortFunc(ivs, func(a, b [2]int) int { return a[0] - b[0] })
	merged := ivs[:1]
	for _, iv := range ivs[1:] {
		last := &merged[len(merged)-1]
		if iv[0] < last[1] {
			last[1] = max(last[1], iv[1])
			continue
		}
		merged = append(merged, iv)
	}
	return merged
}

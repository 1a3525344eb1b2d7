package trace

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// DefaultLimit is gitlab-runner's default output_limit: 4 MiB.
const DefaultLimit = 4 << 20

// ANSI colours as gitlab-runner writes them.
const (
	ANSIBoldRed    = "\x1b[31;1m"
	ANSIBoldGreen  = "\x1b[32;1m"
	ANSIYellow     = "\x1b[0;33m"
	ANSIBoldCyan   = "\x1b[36;1m"
	ANSIReset      = "\x1b[0;m"
	ANSIClearLine  = "\x1b[0K"
	sectionTrailer = "\r" + ANSIClearLine
)

// LogConfig configures a Log.
type LogConfig struct {
	// MaskValues are replaced by [MASKED] (jobspec.Variables.MaskedValues()).
	MaskValues []string
	// TokenPrefixes are masked as prefix[MASKED] (features.token_mask_prefixes).
	TokenPrefixes []string
	// Limit caps the log in bytes; 0 means DefaultLimit, < 0 means no limit. The final
	// status line written by Finish is never cut.
	Limit int64
	// Now is the clock for section timestamps; nil means time.Now.
	Now func() time.Time
}

// Log is one job's log: every byte written to it is masked, counted against the limit
// and passed to the sink in order.
//
// Write may be called from several goroutines; writes are serialised. After Finish,
// writes are discarded. The sink sees each byte once, in order, and is never written to
// concurrently.
type Log struct {
	mu        sync.Mutex
	sink      io.Writer
	masker    *Masker
	limit     int64
	written   int64
	truncated bool
	finished  bool
	final     bool // writing the final lines: the limit no longer applies
	err       error
	now       func() time.Time
}

// NewLog returns a log writing into sink.
func NewLog(sink io.Writer, cfg LogConfig) *Log {
	l := &Log{sink: sink, limit: cfg.Limit, now: cfg.Now}
	if l.limit == 0 {
		l.limit = DefaultLimit
	}
	if l.now == nil {
		l.now = time.Now
	}
	l.masker = NewMasker(limitWriter{l}, cfg.MaskValues, cfg.TokenPrefixes)
	return l
}

// Write masks p and appends it to the log. It never fails: output beyond the limit is
// dropped (after one truncation line), and a failing sink is reported by Finish, so a
// script's output pipe is never broken by the log.
func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.finished || (l.truncated && !l.final) {
		return len(p), nil
	}
	_, _ = l.masker.Write(p)
	return len(p), nil
}

// Truncated reports whether output was dropped for the limit.
func (l *Log) Truncated() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.truncated
}

// Printf writes a plain line.
func (l *Log) Printf(format string, args ...any) {
	fmt.Fprintf(l, ANSIReset+format+"\n", args...)
}

// Noticef writes a line in bold green, as gitlab-runner writes its notices.
func (l *Log) Noticef(format string, args ...any) {
	fmt.Fprintf(l, ANSIBoldGreen+format+ANSIReset+"\n", args...)
}

// Warningf writes a line in yellow.
func (l *Log) Warningf(format string, args ...any) {
	fmt.Fprintf(l, ANSIYellow+"WARNING: "+format+ANSIReset+"\n", args...)
}

// Errorf writes a line in bold red.
func (l *Log) Errorf(format string, args ...any) {
	fmt.Fprintf(l, ANSIBoldRed+"ERROR: "+format+ANSIReset+"\n", args...)
}

// SectionStart opens a collapsible section named name with a bold cyan header line:
// "section_start:<unix>:<name>\r\e[0K<header>".
func (l *Log) SectionStart(name, header string) {
	fmt.Fprintf(l, "section_start:%d:%s%s"+ANSIBoldCyan+"%s"+ANSIReset+"\n", l.now().Unix(), name, sectionTrailer, header)
}

// SectionEnd closes the section named name.
func (l *Log) SectionEnd(name string) {
	fmt.Fprintf(l, "section_end:%d:%s%s\n", l.now().Unix(), name, sectionTrailer)
}

// Finish releases everything the masker held back, then writes final (the job's
// status line, already formatted) whatever the limit, and closes the log to further
// writes. It returns the first error the sink reported, if any.
func (l *Log) Finish(final string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.finished {
		return l.err
	}
	_ = l.masker.Flush()
	l.final = true
	if final != "" {
		_, _ = l.masker.Write([]byte(final))
		_ = l.masker.Flush()
	}
	l.finished = true
	return l.err
}

// limitWriter applies the limit between the masker and the sink; l.mu is held.
type limitWriter struct{ l *Log }

func (w limitWriter) Write(p []byte) (int, error) {
	l := w.l
	if l.final || l.limit < 0 {
		l.put(p)
		return len(p), nil
	}
	if l.truncated {
		return len(p), nil
	}
	room := l.limit - l.written
	if int64(len(p)) <= room {
		l.put(p)
		return len(p), nil
	}
	if room > 0 {
		l.put(p[:room])
	}
	l.truncated = true
	l.put(fmt.Appendf(nil, "\n%sJob's log exceeded limit of %d bytes.\nJob execution will continue but no more output will be collected.%s\n",
		ANSIBoldRed, l.limit, ANSIReset))
	return len(p), nil
}

func (l *Log) put(p []byte) {
	if l.err != nil {
		return
	}
	n, err := l.sink.Write(p)
	l.written += int64(n)
	if err != nil {
		l.err = err
	}
}

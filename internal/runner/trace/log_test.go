package trace

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"testing"
	"time"
)

func TestLogLimitTruncatesWithAClearLineButKeepsTheFinalStatus(t *testing.T) {
	var sink bytes.Buffer
	l := NewLog(&sink, LogConfig{Limit: 20})
	for range 10 {
		fmt.Fprintf(l, "line of output\n")
	}
	if !l.Truncated() {
		t.Fatal("Truncated() = false after 150 bytes with a 20-byte limit")
	}
	if err := l.Finish("Job succeeded\n"); err != nil {
		t.Fatal(err)
	}
	got := sink.String()
	if !strings.HasPrefix(got, "line of output\nline ") {
		t.Errorf("log does not start with the first 20 bytes: %q", got)
	}
	if !strings.Contains(got, "Job's log exceeded limit of 20 bytes.") {
		t.Errorf("no truncation line in %q", got)
	}
	if strings.Count(got, "exceeded limit") != 1 {
		t.Errorf("truncation line written more than once: %q", got)
	}
	if !strings.HasSuffix(got, "Job succeeded\n") {
		t.Errorf("final status line lost: %q", got)
	}
}

func TestLogMasksAcrossWritesAndSections(t *testing.T) {
	var sink bytes.Buffer
	now := time.Unix(1700000000, 0)
	l := NewLog(&sink, LogConfig{MaskValues: []string{"topsecretvalue"}, Now: func() time.Time { return now }})
	l.SectionStart("step_script", "Executing \"step_script\" stage of the job script")
	io.WriteString(l, "the value is topsec")
	io.WriteString(l, "retvalue\n")
	l.SectionEnd("step_script")
	l.Finish("")
	want := "section_start:1700000000:step_script\r\x1b[0K\x1b[36;1mExecuting \"step_script\" stage of the job script\x1b[0;m\n" +
		"the value is [MASKED]\n" +
		"section_end:1700000000:step_script\r\x1b[0K\n"
	if sink.String() != want {
		t.Errorf("log = %q\nwant  %q", sink.String(), want)
	}
}

func TestLogFinishReleasesAHeldBackPartialSecret(t *testing.T) {
	var sink bytes.Buffer
	l := NewLog(&sink, LogConfig{MaskValues: []string{"abcdefghij"}})
	io.WriteString(l, "ends with abcde")
	l.Finish("\nERROR: Job failed: exit code 1\n")
	if want := "ends with abcde\nERROR: Job failed: exit code 1\n"; sink.String() != want {
		t.Errorf("log = %q, want %q", sink.String(), want)
	}
	io.WriteString(l, "after finish")
	if strings.Contains(sink.String(), "after finish") {
		t.Error("a write after Finish reached the sink")
	}
}

func TestLogUnlimited(t *testing.T) {
	var sink bytes.Buffer
	l := NewLog(&sink, LogConfig{Limit: -1})
	big := bytes.Repeat([]byte("x"), 5<<20)
	l.Write(big)
	l.Finish("")
	if sink.Len() != len(big) || l.Truncated() {
		t.Errorf("unlimited log kept %d of %d bytes", sink.Len(), len(big))
	}
}

func TestStoreKnowsSizeChecksumAndServesRanges(t *testing.T) {
	s, err := NewStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data := []byte("Running with kiln\nJob succeeded\n")
	s.Write(data[:10])
	s.Write(data[10:])
	if s.Size() != int64(len(data)) {
		t.Errorf("Size = %d", s.Size())
	}
	if want := fmt.Sprintf("crc32:%08x", crc32.ChecksumIEEE(data)); s.Checksum() != want {
		t.Errorf("Checksum = %s, want %s", s.Checksum(), want)
	}
	buf := make([]byte, 7)
	n, _ := s.ReadAt(buf, 13)
	if string(buf[:n]) != "kiln\nJo" {
		t.Errorf("ReadAt(13) = %q", buf[:n])
	}
	n, _ = s.ReadAt(make([]byte, 100), int64(len(data)-3))
	if n != 3 {
		t.Errorf("ReadAt near the end read %d bytes, want 3", n)
	}
}

package git

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
)

// catFile is a running `git cat-file --batch`: it answers object requests one at a
// time over pipes, so reading many objects costs one process. It is safe for
// concurrent use (requests are serialised). After an I/O error it stays broken.
type catFile struct {
	mu     sync.Mutex
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	err    error // sticky failure
}

// errMissing: cat-file answered "missing" for the requested object name.
var errMissing = errors.New("object missing")

// startCatFile starts `git cat-file --batch` in dir. The process ends on Close or
// when ctx is done.
func startCatFile(ctx context.Context, g gitExec, dir string) (*catFile, error) {
	cmd := g.command(ctx, dir, nil, "cat-file", "--batch")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting git cat-file: %w", err)
	}
	return &catFile{cmd: cmd, stdin: stdin, stdout: bufio.NewReaderSize(stdout, 64<<10)}, nil
}

// object reads the object that name (`<sha>`, `<rev>:<path>`, `<rev>^{commit}`)
// resolves to. It returns the object's full name, its type and its contents, or an
// error wrapping errMissing when name resolves to nothing.
func (c *catFile) object(name string) (oid, typ string, data []byte, err error) {
	if strings.ContainsAny(name, "\n\x00") {
		return "", "", nil, fmt.Errorf("object name %q: contains a newline or NUL", name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return "", "", nil, c.err
	}
	oid, typ, data, err = c.request(name)
	if err != nil && !errors.Is(err, errMissing) {
		c.err = fmt.Errorf("git cat-file --batch: %w", err)
		c.stop()
		return "", "", nil, c.err
	}
	return oid, typ, data, err
}

func (c *catFile) request(name string) (oid, typ string, data []byte, err error) {
	if _, err := io.WriteString(c.stdin, name+"\n"); err != nil {
		return "", "", nil, err
	}
	header, err := c.stdout.ReadString('\n')
	if err != nil {
		return "", "", nil, err
	}
	header = strings.TrimSuffix(header, "\n")
	// "<oid> <type> <size>", or "<name> missing" / "<name> ambiguous".
	if rest, ok := strings.CutSuffix(header, " missing"); ok && rest == name {
		return "", "", nil, fmt.Errorf("%q: %w", name, errMissing)
	}
	if rest, ok := strings.CutSuffix(header, " ambiguous"); ok && rest == name {
		return "", "", nil, fmt.Errorf("%q is ambiguous: %w", name, errMissing)
	}
	f := strings.Fields(header)
	if len(f) != 3 {
		return "", "", nil, fmt.Errorf("unexpected header %q for %q", header, name)
	}
	size, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || size < 0 {
		return "", "", nil, fmt.Errorf("unexpected header %q for %q", header, name)
	}
	data = make([]byte, size+1) // the contents and a trailing newline
	if _, err := io.ReadFull(c.stdout, data); err != nil {
		return "", "", nil, err
	}
	return f[0], f[1], data[:size], nil
}

// Close ends the process. It is safe to call more than once.
func (c *catFile) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = errors.New("git cat-file: closed")
	}
	c.stop()
	return nil
}

func (c *catFile) stop() {
	if c.cmd == nil {
		return
	}
	// Killing is safe: no request is in flight under c.mu, and after a failed one
	// cat-file may be blocked writing output nobody will read.
	c.stdin.Close()
	c.cmd.Process.Kill()
	c.cmd.Wait() // reaps the process; its exit status carries no information
	c.cmd = nil
}

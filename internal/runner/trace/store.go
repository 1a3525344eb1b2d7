package trace

import (
	"fmt"
	"hash/crc32"
	"os"
	"sync"
)

// Store keeps a whole trace in a temporary file, so that any part can be sent again
// (after a 416, or from 0 after a 412) without holding it in memory, and knows its
// size and CRC-32 for the final job update.
//
// Write is the sink of a Log; ReadAt, Size and Checksum may be called concurrently
// with it from the uploader.
type Store struct {
	mu   sync.RWMutex
	f    *os.File
	size int64
	crc  uint32
}

// NewStore creates the store's file in dir ("" means the system's temporary directory).
func NewStore(dir string) (*Store, error) {
	f, err := os.CreateTemp(dir, "kiln-trace-*")
	if err != nil {
		return nil, fmt.Errorf("creating trace file: %w", err)
	}
	return &Store{f: f}, nil
}

// Write appends p.
func (s *Store) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.f.WriteAt(p, s.size)
	s.crc = crc32.Update(s.crc, crc32.IEEETable, p[:n])
	s.size += int64(n)
	if err != nil {
		return n, fmt.Errorf("writing trace file: %w", err)
	}
	return n, nil
}

// ReadAt reads stored bytes at off (io.ReaderAt).
func (s *Store) ReadAt(p []byte, off int64) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if off+int64(len(p)) > s.size {
		p = p[:max(0, s.size-off)]
	}
	return s.f.ReadAt(p, off)
}

// Size is how many bytes are stored.
func (s *Store) Size() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.size
}

// Checksum is GitLab's "crc32:%08x" of the whole trace (CRC-32 IEEE).
func (s *Store) Checksum() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return fmt.Sprintf("crc32:%08x", s.crc)
}

// Close removes the file.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.f.Close()
	if rerr := os.Remove(s.f.Name()); err == nil && rerr != nil && !os.IsNotExist(rerr) {
		err = rerr
	}
	return err
}

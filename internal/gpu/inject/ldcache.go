package inject

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
)

// ldcache magic of glibc's "new" format (glibc ≥ 2.32 writes only this one; older
// ones write it after the old format's entries).
var ldcacheMagic = []byte("glibc-ld.so.cache1.1")

// ldcache header: magic+version (20) nlibs (4) len_strings (4) flags (1) pad (3)
// extension_offset (4) unused (12) = 48 bytes; entries of flags (4) key (4) value (4)
// osversion (4) hwcap (8) = 24 bytes.
const (
	ldcacheHeader = 48
	ldcacheEntry  = 24
)

// Architecture bits of an entry's flags (glibc's FLAG_*_LIB64).
const (
	ldFlagArchMask = 0xff00
	ldFlagX8664    = 0x0300
	ldFlagAArch64  = 0x0a00
)

// ReadLDCache reads /etc/ld.so.cache (or another file) and returns each library name
// (e.g. "libcuda.so.1") with the paths the cache gives it, for this machine's
// architecture. This is how the dynamic loader, and nvidia-container-toolkit, find the
// driver's libraries.
func ReadLDCache(path string) (map[string][]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the loader cache: %w", err)
	}
	return parseLDCache(b)
}

func parseLDCache(b []byte) (map[string][]string, error) {
	start := bytes.Index(b, ldcacheMagic)
	if start < 0 {
		return nil, errors.New("loader cache is not in glibc's ld.so.cache1.1 format")
	}
	c := b[start:]
	if len(c) < ldcacheHeader {
		return nil, errors.New("loader cache is truncated")
	}
	le := binary.LittleEndian
	n := int(le.Uint32(c[20:24]))
	if n < 0 || ldcacheHeader+n*ldcacheEntry > len(c) {
		return nil, fmt.Errorf("loader cache claims %d entries, more than it holds", n)
	}
	want := uint32(0)
	switch runtime.GOARCH {
	case "amd64":
		want = ldFlagX8664
	case "arm64":
		want = ldFlagAArch64
	}
	str := func(off uint32) (string, bool) {
		if int(off) >= len(c) {
			return "", false
		}
		end := bytes.IndexByte(c[off:], 0)
		if end < 0 {
			return "", false
		}
		return string(c[off : int(off)+end]), true
	}
	out := map[string][]string{}
	for i := range n {
		e := c[ldcacheHeader+i*ldcacheEntry:]
		flags := le.Uint32(e[0:4])
		if want != 0 && flags&ldFlagArchMask != want {
			continue
		}
		key, ok1 := str(le.Uint32(e[4:8]))
		val, ok2 := str(le.Uint32(e[8:12]))
		if ok1 && ok2 {
			out[key] = append(out[key], val)
		}
	}
	return out, nil
}

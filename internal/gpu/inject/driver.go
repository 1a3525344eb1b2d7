package inject

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/kiln-ci/kiln/internal/gpu/device"
)

// driverLibraries are the driver's user-space libraries a CUDA job needs (the
// "compute" and "utility" capabilities of nvidia-container-toolkit).
var driverLibraries = []string{
	"libnvidia-ml.so", "libcuda.so", "libcudadebugger.so", "libnvidia-cfg.so",
	"libnvidia-opencl.so", "libnvidia-ptxjitcompiler.so", "libnvidia-fatbinaryloader.so",
	"libnvidia-allocator.so", "libnvidia-compiler.so", "libnvidia-nvvm.so", "libnvidia-gpucomp.so",
	"libnvidia-pkcs11.so", "libnvidia-pkcs11-openssl3.so",
}

// driverBinaries are the driver's tools a job may run.
var driverBinaries = []string{"nvidia-smi", "nvidia-debugdump", "nvidia-persistenced", "nvidia-cuda-mps-control", "nvidia-cuda-mps-server"}

// libraryDirs are searched when the loader cache does not name a library.
var libraryDirs = []string{"/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/lib64", "/lib/x86_64-linux-gnu", "/usr/lib", "/lib"}

var binaryDirs = []string{"/usr/bin", "/usr/local/bin", "/bin", "/usr/sbin", "/sbin"}

// controlNodes are device nodes every GPU job needs beside its GPUs' own.
var controlNodes = []string{"/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"}

// Driver is what of the NVIDIA driver exists on the host, in host paths.
type Driver struct {
	// Nodes are the control nodes that exist (/dev/nvidiactl, /dev/nvidia-uvm, …).
	Nodes []string
	// Libraries are the driver's libraries: Path is the real file, Links the names
	// (sonames) the loader looks it up by, e.g. libcuda.so.1.
	Libraries []Library
	Binaries  []string
}

// Library is one driver library file and its soname links.
type Library struct {
	Path  string
	Links []string
}

// FindDriver looks for the driver's files under root ("/" on a real host): control
// nodes that exist, libraries through the loader cache (root/etc/ld.so.cache) and the
// standard directories, tools in the standard bin directories. driverVersion (e.g.
// "535.104.05") picks the matching library files; a host without the driver gives an
// empty Driver.
func FindDriver(root, driverVersion string) Driver {
	var d Driver
	for _, n := range controlNodes {
		if exists(filepath.Join(root, n)) {
			d.Nodes = append(d.Nodes, n)
		}
	}
	cache, _ := ReadLDCache(filepath.Join(root, "etc/ld.so.cache"))
	for _, name := range driverLibraries {
		if lib, ok := findLibrary(root, name, driverVersion, cache); ok {
			d.Libraries = append(d.Libraries, lib)
		}
	}
	for _, name := range driverBinaries {
		for _, dir := range binaryDirs {
			p := filepath.Join(dir, name)
			if exists(filepath.Join(root, p)) {
				d.Binaries = append(d.Binaries, p)
				break
			}
		}
	}
	return d
}

// findLibrary finds name's real file: name.<driverVersion>, or what its soname link
// (from the loader cache or the standard directories) resolves to.
func findLibrary(root, name, version string, cache map[string][]string) (Library, bool) {
	var dirs []string
	for key, paths := range cache {
		if strings.HasPrefix(key, name+".") {
			for _, p := range paths {
				dirs = append(dirs, filepath.Dir(p))
			}
		}
	}
	slices.Sort(dirs)
	dirs = append(slices.Compact(dirs), libraryDirs...)
	for _, dir := range dirs {
		var real string
		if version != "" && isFile(filepath.Join(root, dir, name+"."+version)) {
			real = filepath.Join(dir, name+"."+version)
		} else if target, err := filepath.EvalSymlinks(filepath.Join(root, dir, name+".1")); err == nil && isFile(target) {
			rel, err := filepath.Rel(root, target)
			if err != nil {
				continue
			}
			real = "/" + rel
		} else {
			continue
		}
		lib := Library{Path: real}
		if link := filepath.Join(dir, name+".1"); link != real && exists(filepath.Join(root, link)) {
			lib.Links = append(lib.Links, link)
		}
		return lib, true
	}
	return Library{}, false
}

// MIGNodes returns the nvidia-caps device nodes that give access to a MIG slice:
// /dev/nvidia-caps/nvidia-cap<N> for its GPU instance and compute instance, with N
// read from /proc/driver/nvidia/capabilities. Missing files give no nodes.
func MIGNodes(root string, g device.GPU) []string {
	if g.MIG == nil {
		return nil
	}
	base := filepath.Join(root, "proc/driver/nvidia/capabilities", fmt.Sprintf("gpu%d", g.Minor), "mig", fmt.Sprintf("gi%d", g.MIG.GPUInstanceID))
	var out []string
	for _, f := range []string{filepath.Join(base, "access"), filepath.Join(base, fmt.Sprintf("ci%d", g.MIG.ComputeInstanceID), "access")} {
		if minor, ok := capMinor(f); ok {
			out = append(out, fmt.Sprintf("/dev/nvidia-caps/nvidia-cap%d", minor))
		}
	}
	return out
}

// capMinor reads "DeviceFileMinor: N" from a capability access file.
func capMinor(path string) (int, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "DeviceFileMinor:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			return n, err == nil
		}
	}
	return 0, false
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

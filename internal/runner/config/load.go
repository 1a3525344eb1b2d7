package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/kiln-ci/kiln/internal/machine"
)

// File is a loaded config.toml.
type File struct {
	Path string
	Config
	// MachineTypes is the default catalog with the file's [[machine_types]] added (a
	// type with a default's tag replaces it).
	MachineTypes *machine.Catalog

	extraTypes []machine.Type // the file's own [[machine_types]], written back by Save
}

// machineTypes is the file's own [[machine_types]] table, decoded beside Config.
type withMachineTypes struct {
	Config
	MachineTypes []machine.Type `toml:"machine_types"`
}

// decodeErr is the shape of the TOML decoder's type errors, which carry no position
// field: `toml: line 3 (last key "runners.limit"): incompatible types: ...`.
var decodeErr = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

// Load reads and checks path. A missing file is an error saying how to create one;
// bad TOML names the line; unknown keys are listed; defaults are filled in
// (concurrent 1, check_interval 3, builds_dir and cache_dir beside the file).
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s does not exist; create it with `kiln runner register --config %s ...`", path, path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(path, data)
}

// Parse checks config text as Load does; path is used in messages and for relative
// directories.
func Parse(path string, data []byte) (*File, error) {
	var raw withMachineTypes
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&raw)
	if err != nil {
		var pe toml.ParseError
		var ppe *toml.ParseError
		switch {
		case errors.As(err, &pe):
		case errors.As(err, &ppe):
			pe = *ppe
		default:
			if m := decodeErr.FindStringSubmatch(err.Error()); m != nil {
				return nil, fmt.Errorf("%s:%s: %s: %s", path, m[1], m[2], m[3])
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		msg := pe.Message
		if pe.LastKey != "" {
			msg = fmt.Sprintf("%s: %s", pe.LastKey, msg)
		}
		return nil, fmt.Errorf("%s:%d: %s", path, pe.Position.Line, msg)
	}
	if und := md.Undecoded(); len(und) > 0 {
		var msgs []string
		for _, k := range und {
			msgs = append(msgs, unknownKey(path, data, k))
		}
		return nil, fmt.Errorf("%s", strings.Join(msgs, "\n"))
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	f := &File{Path: abs, Config: raw.Config, extraTypes: raw.MachineTypes}
	if f.MachineTypes, err = machine.WithDefaults(raw.MachineTypes); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := f.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// unknownKey says where an unknown key is: file:line when the key's last part starts
// a line, else just the file.
func unknownKey(path string, data []byte, k toml.Key) string {
	last := k[len(k)-1]
	for i, line := range strings.Split(string(data), "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, last+" ") || strings.HasPrefix(t, last+"=") || strings.HasPrefix(t, `"`+last+`"`) {
			return fmt.Sprintf("%s:%d: unknown key %s", path, i+1, k.String())
		}
	}
	return fmt.Sprintf("%s: unknown key %s", path, k.String())
}

// check fills in defaults and validates.
func (f *File) check() error {
	if f.Concurrent == 0 {
		f.Concurrent = 1
	}
	if f.CheckInterval == 0 {
		f.CheckInterval = 3
	}
	if f.Concurrent < 0 || f.CheckInterval < 0 || f.ShutdownTimeout < 0 {
		return fmt.Errorf("concurrent, check_interval and shutdown_timeout must not be negative")
	}
	switch f.LogLevel {
	case "", "debug", "info", "warn", "warning", "error":
	default:
		return fmt.Errorf("log_level %q is not debug, info, warn or error", f.LogLevel)
	}
	switch f.LogFormat {
	case "", "text", "json":
	default:
		return fmt.Errorf("log_format %q is not text or json", f.LogFormat)
	}
	dir := filepath.Dir(f.Path)
	names := map[string]bool{}
	for i := range f.Runners {
		r := &f.Runners[i]
		if err := r.validate(i, dir); err != nil {
			return err
		}
		if names[r.Name] {
			return fmt.Errorf("runners[%d]: name %q is used twice", i, r.Name)
		}
		names[r.Name] = true
		if r.Kiln != nil && r.Kiln.MachineType != "" {
			if _, ok := f.MachineTypes.Get(r.Kiln.MachineType); !ok {
				return fmt.Errorf("runners[%d] (%q): kiln.machine_type %q is not a known machine type", i, r.Name, r.Kiln.MachineType)
			}
		}
	}
	return nil
}

// MachineType returns the runner's machine type, if it names one.
func (f *File) MachineType(r Runner) (*machine.Type, bool) {
	if r.Kiln == nil || r.Kiln.MachineType == "" {
		return nil, false
	}
	t, ok := f.MachineTypes.Get(r.Kiln.MachineType)
	return &t, ok
}

// Save writes the file back to f.Path atomically with mode 0600 (it holds tokens),
// its own [[machine_types]] included. What it would write must load (Parse) first: a
// configuration that would not, such as two runners of one name, is an error and the
// file stays as it was.
func (f *File) Save() error {
	path := f.Path
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(withMachineTypes{Config: f.Config, MachineTypes: f.extraTypes}); err != nil {
		return fmt.Errorf("encoding config: %w", err)
	}
	if _, err := Parse(path, buf.Bytes()); err != nil {
		return fmt.Errorf("not writing a configuration that would not load: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, ".config-*.toml")
	if err != nil {
		return fmt.Errorf("writing config: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("writing config: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing config: %w", err)
	}
	return nil
}

// LoadOrEmpty loads path, or returns an empty config when it does not exist (for
// register).
func LoadOrEmpty(path string) (*File, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		abs, _ := filepath.Abs(path)
		return &File{Path: abs, Config: Config{Concurrent: 1, CheckInterval: 3}, MachineTypes: machine.DefaultCatalog()}, nil
	}
	return Load(path)
}

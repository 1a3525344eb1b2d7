package ci

import (
	"errors"
	"io/fs"
	"slices"
	"strings"
)

// includer brings include:local files into a configuration, as GitLab's
// Config::External::Processor does: every included file is read (its own includes
// first), deep-merged in order, and the including file is merged on top.
type includer struct {
	fsys  fs.FS
	lim   Limits
	d     *diags
	env   *ruleEnv // include rules and variables in include paths
	count int
	files []string // every file read, once, in the order first read
}

// load reads file and returns its configuration with its includes merged in. from
// is where the include was written (zero for the main file).
func (in *includer) load(file string, from Pos, given *Value) *Value {
	data, err := fs.ReadFile(in.fsys, file)
	if err != nil {
		switch {
		case from.File == "":
			in.d.errorf(Pos{File: file}, "%s could not be read: %v", file, unwrapPathError(err))
		case errors.Is(err, fs.ErrNotExist):
			in.d.errorf(from, "Local file `%s` does not exist!", file)
		default:
			in.d.errorf(from, "Local file `%s` could not be read: %v", file, unwrapPathError(err))
		}
		return nil
	}
	if !slices.Contains(in.files, file) {
		in.files = append(in.files, file)
	}
	doc, diags := parseYAML(file, data, in.lim)
	in.d.add(diags...)
	if diags.HasErrors() {
		if from.File != "" {
			in.d.errorf(from, "Included file `%s` does not have valid YAML syntax!", file)
		}
		return nil
	}
	body := doc.Body
	switch {
	case doc.Header != nil:
		where := from
		if where.File == "" {
			where = doc.Header.Pos
		}
		var diags Diagnostics
		body, diags = applyInputs(doc.Header, given, body, where, in.env)
		in.d.add(diags...)
		if diags.HasErrors() {
			return nil
		}
	case given != nil:
		in.d.errorf(from, "Given inputs not defined in the `spec` section of the included configuration file `%s`", file)
		return nil
	}
	if !body.IsMap() {
		if from.File != "" {
			in.d.errorf(body.Pos, "Included file `%s` does not have valid YAML syntax! It must be a hash of keywords and jobs.", file)
		} else {
			in.d.errorf(body.Pos, "Invalid configuration format: %s must be a hash of keywords and jobs, not %s", file, describe(body))
		}
		return nil
	}
	inc := body.Get("include")
	if !body.Has("include") {
		return body
	}
	body.Delete("include")
	if ds := checkIncludes(inc); ds.HasErrors() {
		in.d.add(ds...)
		return body
	}
	self := "" // the file itself, when it is an included one (wildcards skip it)
	if from.File != "" {
		self = file
	}
	merged := newMap(body.Pos)
	for _, entry := range includeEntries(inc) {
		var inputs *Value
		if entry.Has("inputs") {
			inputs = entry.Get("inputs")
		}
		for _, f := range in.expand(entry, body, self) {
			if in.count >= in.lim.MaxIncludes {
				in.d.errorf(entry.Pos, "Maximum of %d nested includes are allowed!", in.lim.MaxIncludes)
				return body
			}
			in.count++
			if sub := in.load(f, entry.Pos, inputs); sub != nil {
				deepMerge(merged, sub)
			}
			if in.d.hasErrors() {
				return body
			}
		}
	}
	deepMerge(merged, body)
	return merged
}

// checkIncludes validates the include keyword's shape before anything is read.
func checkIncludes(inc *Value) Diagnostics {
	var d diags
	checker{d: &d}.includes(inc, "include")
	return d.list
}

func includeEntries(inc *Value) []*Value {
	if inc.IsSeq() {
		return inc.Items
	}
	return []*Value{inc}
}

// expand turns one include entry into the local files it names: nothing when its
// rules exclude it, several (or none) for a wildcard. self is the including file
// when it was itself included. Kinds that need the network or other projects are
// errors.
func (in *includer) expand(entry, body *Value, self string) []string {
	var local string
	switch {
	case entry.IsString():
		if httpRE.MatchString(entry.Str) {
			in.d.errorf(entry.Pos, "include %q is a remote file; Kiln works offline and supports only include:local", entry.Str)
			return nil
		}
		local = entry.Str
	case entry.Has("local"):
		local = entry.Get("local").Str
	case entry.Has("remote"):
		in.d.errorf(entry.Pos, "include:remote %q is not available offline; Kiln supports only include:local", entry.Get("remote").Text())
		return nil
	case entry.Has("project"):
		in.d.errorf(entry.Pos, "include:project %q is not supported by Kiln; only files of this repository can be included (include:local)", entry.Get("project").Text())
		return nil
	case entry.Has("template"):
		in.d.errorf(entry.Pos, "include:template %q is not available offline: Kiln does not ship GitLab's templates; copy it into the repository and use include:local", entry.Get("template").Text())
		return nil
	case entry.Has("component"):
		in.d.errorf(entry.Pos, "include:component %q is not supported by Kiln; only include:local is", entry.Get("component").Text())
		return nil
	}
	if entry.IsMap() {
		if rules := entry.Get("rules"); rules.IsSeq() {
			ok, diags := in.env.includeRulesMatch(rules, body)
			in.d.add(diags...)
			if !ok {
				return nil
			}
		}
		// GitLab's mapper expands a local: wildcard before it expands variables, so
		// the variables of a wildcard are searched for as written.
		if isIncludeWildcard(local) {
			return in.wildcard(entry, local, self)
		}
	}
	local = in.env.expandPath(local, body)
	if strings.Contains(local, "://") {
		in.d.errorf(entry.Pos, "include %q is not a local file; Kiln supports only include:local", local)
		return nil
	}
	if entry.IsString() && isIncludeWildcard(local) {
		return in.wildcard(entry, local, self)
	}
	name := localIncludePath(local)
	if name == "" {
		in.d.errorf(entry.Pos, "Local file `%s` is not a path inside the repository", local)
		return nil
	}
	if !includeFileRE.MatchString(name) {
		in.d.errorf(entry.Pos, "Included file `%s` does not have YAML extension!", local)
		return nil
	}
	if !fs.ValidPath(name) {
		in.d.errorf(entry.Pos, "Local file `%s` does not exist! (include:local paths are looked up as written from the repository root: . and .. are not resolved)", name)
		return nil
	}
	// A file may be included again (GitLab allows it; merging it twice changes
	// nothing); the include count bounds cycles.
	return []string{name}
}

// wildcard lists the files an include:local wildcard names. A wildcard that
// matches nothing includes nothing, as on GitLab; Kiln warns.
func (in *includer) wildcard(entry *Value, pattern, self string) []string {
	files, err := includeWildcardFiles(in.fsys, pattern, self)
	if err != nil {
		in.d.errorf(entry.Pos, "include %q: listing files: %v", pattern, err)
		return nil
	}
	if len(files) == 0 {
		hint := ""
		if containsVariable(pattern) {
			hint = " (GitLab expands variables in a local: wildcard only after searching, so they are searched for as written)"
		}
		in.d.warnf(entry.Pos, "include:local `%s` matches no file, so nothing is included%s", pattern, hint)
		return nil
	}
	for _, f := range files {
		if !includeFileRE.MatchString(f) {
			in.d.errorf(entry.Pos, "Included file `%s` does not have YAML extension!", f)
			return nil
		}
	}
	return files
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// deepMerge merges src into dst as ActiveSupport's Hash#deep_merge does: hashes
// merge key by key, recursively; any other value of src replaces dst's.
func deepMerge(dst, src *Value) {
	for _, p := range src.Pairs {
		if cur := dst.pair(p.Key); cur != nil {
			if cur.Value.IsMap() && p.Value.IsMap() && !cur.Value.IsReference() && !p.Value.IsReference() {
				merged := cur.Value.Clone()
				deepMerge(merged, p.Value)
				cur.Value = merged
				continue
			}
			cur.Value = p.Value
			continue
		}
		dst.Pairs = append(dst.Pairs, Pair{Key: p.Key, KeyPos: p.KeyPos, Value: p.Value})
	}
}

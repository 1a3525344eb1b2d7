package ci

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// fuzzSeeds are configurations that exercise most of the loader and compiler.
var fuzzSeeds = []string{
	"job:\n  script: echo\n",
	"include: ['x*.yml', {local: './x.yml'}, {local: '//x.yml'}, {local: '$D/*.yml'}, '**.yml']\njob:\n  script: echo\n  rules:\n    - changes: ['**/[!a]*.go', 'src/**']\n",
	`
stages: [build, test, deploy]
variables: {A: "1", RAW: {value: $A, expand: false}}
default: {image: alpine, before_script: [setup], retry: 1}
workflow:
  name: $CI_COMMIT_REF_NAME
  rules:
    - if: $CI_COMMIT_TAG
      when: never
    - variables: {W: w}
.tmpl: &tmpl
  stage: build
  script: [make]
  rules:
    - if: $CI_COMMIT_BRANCH == "main"
      when: manual
    - changes: [src/**/*]
build:
  extends: .tmpl
  parallel:
    matrix:
      - OS: [linux, mac]
        ARCH: [amd64]
test:
  <<: *tmpl
  stage: test
  needs:
    - job: build
      parallel: {matrix: [{OS: linux, ARCH: amd64}]}
  script: [!reference [.tmpl, script], go test]
  artifacts: {paths: [out], reports: {junit: r.xml}}
  cache: {key: {files: [go.sum]}, paths: [.cache]}
deploy:
  stage: deploy
  environment: {name: review/$CI_COMMIT_REF_SLUG, url: https://x.example.com}
  only: [main, /^release-.*$/]
  except: {variables: [$SKIP]}
  variables: {KILN_GPU_COUNT: "1"}
  script: deploy
  dependencies: [build]
`,
	"a: &a [*a]\n",
	"include: [{local: x.yml, rules: [{exists: [x.yml]}]}]\nj: {script: x}\n",
	"j:\n  script: x\n  when: delayed\n  start_in: 1 day\n  allow_failure: {exit_codes: [1, 2]}\n",
	"j: {script: x, rules: [{if: '$A =~ /x/i && ($B || $C == null)'}]}\n",
	inputTemplate,
	"spec:\n  inputs:\n    n: {default: a}\n---\ninclude: [{local: x.yml}]\njob-$[[ inputs.n | truncate(0,1) ]]:\n  script: $[[ inputs.n ]]\n",
}

func addSeeds(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	if data, err := os.ReadFile(filepath.Join("..", "..", "examples", "gpu-seed", DefaultFile)); err == nil {
		f.Add(data)
	}
}

// FuzzLoad feeds arbitrary bytes to Load as a .gitlab-ci.yml. Load must not panic,
// must return a configuration exactly when it reports no error, and a configuration it
// returns must print as YAML.
func FuzzLoad(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := repo(DefaultFile, string(data), "x.yml", "x: {script: x}\n")
		cfg, diags := Load(fsys, DefaultFile, LoadOptions{Limits: Limits{MaxIncludes: 5}})
		if (cfg != nil) == diags.HasErrors() {
			t.Fatalf("config returned %v with errors %v", cfg != nil, diags.Errors())
		}
		for _, d := range diags {
			if d.Message == "" {
				t.Fatalf("empty diagnostic %+v", d)
			}
		}
		if cfg == nil {
			return
		}
		if _, err := MarshalYAML(cfg.Merged()); err != nil {
			t.Fatalf("merged view does not print: %v", err)
		}
		if _, err := cfg.Merged().MarshalJSON(); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzCompile loads arbitrary configurations and compiles those that load, in a few
// contexts. Compile must not panic, and a pipeline must be consistent: every need and
// dependency names a job of the pipeline, and every job's stage is a stage of it.
func FuzzCompile(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, _ := Load(repo(string(data)), DefaultFile, LoadOptions{})
		if cfg == nil {
			return
		}
		for _, ctx := range []Context{
			pushToMain(),
			{Ref: "v1.0", Tag: true, Source: SourceWeb},
			{Ref: "feature", Source: SourceMergeRequestEvent, ChangedFiles: []string{"src/a.go"}},
		} {
			p, err := cfg.Compile(ctx)
			if err != nil {
				continue
			}
			names := map[string]bool{}
			for _, j := range p.Jobs {
				names[j.Name] = true
				if !slices.Contains(p.Stages, j.Stage) {
					t.Fatalf("job %s in stage %s, not one of %v", j.Name, j.Stage, p.Stages)
				}
			}
			for _, j := range p.Jobs {
				for _, n := range j.Needs {
					if !names[n.Job] {
						t.Fatalf("job %s needs %s, which is not in the pipeline", j.Name, n.Job)
					}
				}
				for _, d := range j.Dependencies {
					if !names[d] {
						t.Fatalf("job %s depends on %s, which is not in the pipeline", j.Name, d)
					}
				}
			}
		}
	})
}

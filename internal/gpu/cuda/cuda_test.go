package cuda_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/gpu/cuda"
	"github.com/kiln-ci/kiln/internal/machine"
)

func v(s string) machine.Version {
	ver, err := machine.ParseVersion(s)
	if err != nil {
		panic(err)
	}
	return ver
}

// The seed's image: nvcr.io/nvidia/cuda:12.1.1-base-ubuntu22.04.
const seedRequire = "NVIDIA_REQUIRE_CUDA=cuda>=12.1 brand=tesla,driver>=470,driver<471"

var (
	driver535 = cuda.Host{CUDA: v("12.2"), Driver: "535.104.05", Brand: "tesla", Arch: v("7.5")}
	driver525 = cuda.Host{CUDA: v("12.0"), Driver: "525.147.05", Brand: "tesla", Arch: v("7.5")}
	driver470 = cuda.Host{CUDA: v("11.4"), Driver: "470.223.02", Brand: "tesla", Arch: v("7.5")}
	geforce   = cuda.Host{CUDA: v("11.4"), Driver: "470.223.02", Brand: "geforce", Arch: v("8.6")}
)

func TestPreflight(t *testing.T) {
	cases := []struct {
		name    string
		host    cuda.Host
		env     []string
		cudaMin string
		wantErr string // substring; empty means the job may run
	}{
		{"seed image on a CUDA 12.2 driver", driver535, []string{seedRequire}, "", ""},
		{"seed image on a CUDA 12.0 driver", driver525, []string{seedRequire}, "",
			`the image needs CUDA 12.1 (NVIDIA_REQUIRE_CUDA="cuda>=12.1 brand=tesla,driver>=470,driver<471") but this host's driver 525.147.05 supports CUDA 12.0: use an image built for CUDA ≤ 12.0 or a runner with a newer driver`},
		{"seed image on a Tesla with a 470 driver (forward compatibility)", driver470, []string{seedRequire}, "", ""},
		{"seed image on a GeForce with a 470 driver", geforce, []string{seedRequire}, "", "needs CUDA 12.1"},
		{"legacy image with CUDA_VERSION only", driver525, []string{"CUDA_VERSION=12.1.1"}, "", "the image needs CUDA 12.1 (CUDA_VERSION=\"12.1.1\")"},
		{"legacy image that the driver supports", driver535, []string{"CUDA_VERSION=11.8.0"}, "", ""},
		{"CUDA_VERSION is ignored when NVIDIA_REQUIRE_CUDA is set", driver525, []string{"CUDA_VERSION=12.4.0", "NVIDIA_REQUIRE_CUDA=cuda>=11.0"}, "", ""},
		{"NVIDIA_DISABLE_REQUIRE turns the check off", driver470, []string{seedRequire, "NVIDIA_DISABLE_REQUIRE=true"}, "", ""},
		{"every NVIDIA_REQUIRE_ variable must hold", driver535, []string{"NVIDIA_REQUIRE_CUDA=cuda>=12.0", "NVIDIA_REQUIRE_ARCH=arch>=8.0"}, "", `NVIDIA_REQUIRE_ARCH="arch>=8.0"`},
		{"NVIDIA_REQUIRE_JETPACK is not checked", driver535, []string{"NVIDIA_REQUIRE_JETPACK=cuda>=99"}, "", ""},
		{"unknown properties are ignored", driver535, []string{"NVIDIA_REQUIRE_CUDA=cuda>=12.1 os>=99"}, "", ""},
		{"driver constraints compare numerically", driver535, []string{"NVIDIA_REQUIRE_CUDA=driver>=535.54.3,driver<536"}, "", ""},
		{"!= excludes a brand", driver535, []string{"NVIDIA_REQUIRE_CUDA=brand!=tesla"}, "", "brand tesla"},
		{"no image requirements", driver470, nil, "", ""},
		{"KILN_CUDA_MIN met", driver535, nil, "12.2", ""},
		{"KILN_CUDA_MIN above the driver", driver535, nil, "12.4",
			`the job asks for (KILN_CUDA_MIN) CUDA 12.4 (KILN_CUDA_MIN="12.4") but this host's driver 535.104.05 supports CUDA 12.2`},
		{"malformed constraint", driver535, []string{"NVIDIA_REQUIRE_CUDA=cuda"}, "", `NVIDIA_REQUIRE_CUDA="cuda": constraint "cuda"`},
		{"malformed version", driver535, []string{"NVIDIA_REQUIRE_CUDA=cuda>=twelve"}, "", `"twelve" is not a version`},
		{"malformed CUDA_VERSION", driver535, []string{"CUDA_VERSION=latest"}, "", `CUDA_VERSION="latest"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var min machine.Version
			if c.cudaMin != "" {
				min = v(c.cudaMin)
			}
			err := cuda.Check(c.host, c.env, min)
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("Check = %v, want the job to run", err)
			case c.wantErr != "" && err == nil:
				t.Fatalf("Check passed, want an error containing %q", c.wantErr)
			case c.wantErr != "" && !strings.Contains(err.Error(), c.wantErr):
				t.Fatalf("Check = %q\nwant it to contain %q", err, c.wantErr)
			}
		})
	}
}

func TestMismatchIsDistinguishableFromAMalformedRequirement(t *testing.T) {
	err := cuda.Check(driver525, []string{seedRequire}, machine.Version{})
	var m *cuda.MismatchError
	if !errors.As(err, &m) || !errors.Is(err, cuda.ErrMismatch) || m.Need != v("12.1") {
		t.Errorf("unmet requirement = %#v, want a *MismatchError needing 12.1", err)
	}
	err = cuda.Check(driver525, []string{"NVIDIA_REQUIRE_CUDA=cuda>>1"}, machine.Version{})
	if err == nil || errors.Is(err, cuda.ErrMismatch) {
		t.Errorf("malformed requirement = %v, want a plain error", err)
	}
}

func TestParseSplitsAlternativesAndConjunctions(t *testing.T) {
	r, err := cuda.Parse("NVIDIA_REQUIRE_CUDA", "cuda>=12.1 brand=tesla,driver>=470,driver<471 brand=unknown,driver>=535,driver<536")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Terms) != 3 || len(r.Terms[0]) != 1 || len(r.Terms[1]) != 3 || r.Terms[1][2] != (cuda.Constraint{Property: "driver", Op: "<", Value: "471"}) {
		t.Errorf("terms = %v", r.Terms)
	}
	if min, ok := r.MinCUDA(); !ok || min != v("12.1") {
		t.Errorf("MinCUDA = %v, %v", min, ok)
	}
}

package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/kiln-ci/kiln/internal/executor"
	"github.com/kiln-ci/kiln/internal/jobspec"
)

// ensureImage makes img available under its pull policies, tried in order as
// gitlab-runner does (a failing policy falls back to the next), and inspects it. When
// no policy can provide the image the error wraps executor.ErrImageUnavailable.
func (e *Executor) ensureImage(ctx context.Context, out io.Writer, img jobspec.Image, policies []string, creds []jobspec.Credentials) (image.InspectResponse, error) {
	var lastErr error
	for i, policy := range policies {
		if i > 0 {
			fmt.Fprintf(out, "WARNING: %v\nAttempting with pull policy %q\n", lastErr, policy)
		}
		if policy != jobspec.PullAlways {
			found, err := e.cli.ImageInspect(ctx, img.Name)
			if err == nil {
				fmt.Fprintf(out, "Using locally found image version due to %q pull policy\n", policy)
				usingImage(out, img.Name, found)
				return found, nil
			}
			if !isNotFound(err) {
				return image.InspectResponse{}, fmt.Errorf("inspecting image %q: %w", img.Name, err)
			}
			if policy == jobspec.PullNever {
				lastErr = fmt.Errorf("image %q not found locally and pull policy is never", img.Name)
				continue
			}
		}
		if err := e.pull(ctx, out, img, creds); err != nil {
			if ctx.Err() != nil {
				return image.InspectResponse{}, fmt.Errorf("pulling image %q: %w", img.Name, context.Cause(ctx))
			}
			lastErr = fmt.Errorf("pulling image %q (pull policy %s): %w", img.Name, policy, err)
			continue
		}
		found, err := e.cli.ImageInspect(ctx, img.Name)
		if err != nil {
			return image.InspectResponse{}, fmt.Errorf("inspecting image %q after pulling it: %w", img.Name, err)
		}
		usingImage(out, img.Name, found)
		return found, nil
	}
	return image.InspectResponse{}, fmt.Errorf("%w: %w", executor.ErrImageUnavailable, lastErr)
}

func usingImage(out io.Writer, name string, img image.InspectResponse) {
	digest := ""
	if len(img.RepoDigests) > 0 {
		digest = " with digest " + img.RepoDigests[0]
	}
	fmt.Fprintf(out, "Using docker image %s for %s%s ...\n", img.ID, name, digest)
}

// pull pulls img, reading the daemon's progress stream to its end: an error in the
// stream is the pull's error.
func (e *Executor) pull(ctx context.Context, out io.Writer, img jobspec.Image, creds []jobspec.Credentials) error {
	fmt.Fprintf(out, "Pulling docker image %s ...\n", img.Name)
	opts := image.PullOptions{RegistryAuth: registryAuth(img.Name, creds)}
	if o := img.ExecutorOpts; o != nil && o.Docker != nil {
		opts.Platform = o.Docker.Platform
	}
	rc, err := e.cli.ImagePull(ctx, img.Name, opts)
	if err != nil {
		return err
	}
	defer rc.Close()
	dec := json.NewDecoder(rc)
	for {
		var m pullMessage
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("reading pull progress: %w", err)
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
	}
}

// pullMessage is the part of the daemon's pull progress messages that Kiln reads.
type pullMessage struct {
	Error string `json:"error"`
}

// registryAuth encodes the job's credentials for img's registry, or "" when it has
// none. The credentials go to the daemon only, never to a log.
func registryAuth(name string, creds []jobspec.Credentials) string {
	ref, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return ""
	}
	domain := reference.Domain(ref)
	for _, c := range creds {
		if c.Type != "registry" {
			continue
		}
		host := strings.TrimPrefix(strings.TrimPrefix(c.URL, "https://"), "http://")
		host = strings.TrimSuffix(host, "/")
		if host == domain || (domain == "docker.io" && (host == "index.docker.io" || host == "registry-1.docker.io")) {
			auth, err := registry.EncodeAuthConfig(registry.AuthConfig{Username: c.Username, Password: c.Password, ServerAddress: c.URL})
			if err != nil {
				return ""
			}
			return auth
		}
	}
	return ""
}

// diskLimitSupported reports whether the daemon's storage driver can limit a
// container's size, and names the driver, asking the daemon and probing once per
// executor with a container that is created and removed, never started.
func (e *Executor) diskLimitSupported(ctx context.Context, env *Environment) (bool, string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.diskLimitOK != nil {
		return *e.diskLimitOK, e.driver, nil
	}
	info, err := e.cli.Info(ctx)
	if err != nil {
		return false, "", fmt.Errorf("asking the daemon about its storage driver: %w", err)
	}
	e.driver = info.Driver
	cfg := &container.Config{Image: env.imageID, Cmd: []string{"true"}, Labels: env.labels("probe")}
	host := &container.HostConfig{StorageOpt: map[string]string{"size": fmt.Sprint(env.spec.Limits.DiskBytes)}}
	created, err := e.cli.ContainerCreate(ctx, cfg, host, nil, (*ocispec.Platform)(nil), env.name("disk-probe"))
	ok := err == nil
	if err != nil && !strings.Contains(err.Error(), "storage-opt") && !strings.Contains(err.Error(), "not supported") {
		return false, info.Driver, fmt.Errorf("probing the storage driver's size limit: %w", err)
	}
	if ok {
		if err := e.cli.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true}); err != nil {
			return false, info.Driver, fmt.Errorf("removing the storage probe container: %w", err)
		}
	}
	e.diskLimitOK = &ok
	return ok, info.Driver, nil
}

func isNotFound(err error) bool { return cerrdefs.IsNotFound(err) }

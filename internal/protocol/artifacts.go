package protocol

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/kiln-ci/kiln/internal/jobspec"
)

// ArtifactUpload is one archive (or report) to upload.
type ArtifactUpload struct {
	// Name is the artifact's name; empty means "default". The file name sent is Name
	// plus the format's extension.
	Name     string
	Format   string // artifact_format: zip (default), gzip, raw
	Type     string // artifact_type: archive, junit, dotenv, ...
	ExpireIn string // expire_in, e.g. "1 day"
	// Open returns the archive's content; it is called once per try.
	Open func() (io.ReadCloser, error)
}

// FileName is the name the archive is uploaded under, as gitlab-runner names it.
func (a ArtifactUpload) FileName() string {
	name := a.Name
	if name == "" {
		name = "default"
	}
	switch a.Format {
	case "", jobspec.ArtifactFormatZip, "zipzstd":
		return name + ".zip"
	case jobspec.ArtifactFormatGzip:
		return name + ".gz"
	case "tarzstd":
		return name + ".tar.zst"
	}
	return name
}

// UploadArtifacts streams one archive: POST /jobs/:id/artifacts with multipart field
// "file" and the query artifact_format, artifact_type and expire_in when set. 201 is
// success; a 307 re-targets the upload to the Location's scheme and host; 403
// (ErrForbidden) and 413 (ErrTooLarge) are final; 503 is tried up to 6 times, other
// failures 3 times in all.
func (c *Client) UploadArtifacts(ctx context.Context, jobID int64, jobToken string, a ArtifactUpload) error {
	q := url.Values{}
	if a.Format != "" {
		q.Set("artifact_format", a.Format)
	}
	if a.Type != "" {
		q.Set("artifact_type", a.Type)
	}
	if a.ExpireIn != "" {
		q.Set("expire_in", a.ExpireIn)
	}
	// A redirect must not be followed with a consumed body: the loop re-targets it.
	r := request{endpoint: "jobs/:id/artifacts", method: http.MethodPost, noRedirect: true,
		path: "jobs/" + strconv.FormatInt(jobID, 10) + "/artifacts", query: q, header: jobHeader(jobToken)}
	var lastErr error
	for attempt, other := 1, 0; ; attempt++ {
		status, loc, err := c.uploadOnce(ctx, r, a)
		switch {
		case err == nil && status == http.StatusCreated:
			return nil
		case err == nil && (status == http.StatusTemporaryRedirect || status == http.StatusPermanentRedirect) && loc != nil:
			nb := *c.base
			nb.Scheme, nb.Host = loc.Scheme, loc.Host
			r.base = &nb
			lastErr = fmt.Errorf("upload artifacts: redirected to %s", loc.Host)
		case err != nil:
			if ctx.Err() != nil {
				return err
			}
			lastErr = err
			other++
		case status == http.StatusForbidden || status == http.StatusRequestEntityTooLarge || status == http.StatusUnauthorized:
			return &StatusError{Op: "upload artifacts", StatusCode: status}
		case status == http.StatusServiceUnavailable:
			lastErr = &StatusError{Op: "upload artifacts", StatusCode: status}
			if attempt >= 6 {
				return lastErr
			}
		default:
			lastErr = &StatusError{Op: "upload artifacts", StatusCode: status}
			other++
		}
		if other >= 3 || attempt >= 8 {
			return lastErr
		}
		if err := sleep(ctx, c.retry.Exponential(attempt)); err != nil {
			return fmt.Errorf("upload artifacts: %w (after %v)", err, lastErr)
		}
	}
}

// uploadOnce streams one multipart request and returns its status and Location.
func (c *Client) uploadOnce(ctx context.Context, r request, a ArtifactUpload) (int, *url.URL, error) {
	src, err := a.Open()
	if err != nil {
		return 0, nil, fmt.Errorf("upload artifacts: opening archive: %w", err)
	}
	defer src.Close()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, a.FileName()))
		h.Set("Content-Type", "application/octet-stream")
		part, err := mw.CreatePart(h)
		if err == nil {
			_, err = io.Copy(part, src)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	resp, err := c.send(ctx, r, nil, mw.FormDataContentType(), pr)
	pr.CloseWithError(errors.New("upload finished"))
	if err != nil {
		return 0, nil, err
	}
	defer drain(resp)
	var loc *url.URL
	if l := resp.Header.Get("Location"); l != "" {
		loc, _ = url.Parse(l)
	}
	return resp.StatusCode, loc, nil
}

// DownloadArtifacts writes a job's artifacts archive to dst: GET /jobs/:id/artifacts
// with that job's own token. The first try asks for direct_download=true without
// following redirects (a 302/307 Location is then fetched from object storage, without
// the job token); further tries, up to attempts in all (≤ 0 means 1), drop the
// parameter and follow redirects. 401, 403 and 404 are final and distinct
// (ErrUnauthorized, ErrForbidden, ErrNotFound). dst is truncated before each try.
func (c *Client) DownloadArtifacts(ctx context.Context, jobID int64, jobToken string, dst *os.File, attempts int) error {
	if attempts <= 0 {
		attempts = 1
	}
	path := "jobs/" + strconv.FormatInt(jobID, 10) + "/artifacts"
	var lastErr error
	for attempt := 1; attempt <= attempts; attempt++ {
		if attempt > 1 {
			if err := sleep(ctx, c.retry.Exponential(attempt-1)); err != nil {
				return fmt.Errorf("download artifacts of job %d: %w (after %v)", jobID, err, lastErr)
			}
		}
		if err := resetFile(dst); err != nil {
			return fmt.Errorf("download artifacts of job %d: %w", jobID, err)
		}
		err := c.downloadOnce(ctx, path, jobToken, attempt == 1, dst)
		if err == nil {
			return nil
		}
		lastErr = fmt.Errorf("download artifacts of job %d: %w", jobID, err)
		if errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrForbidden) || errors.Is(err, ErrNotFound) || ctx.Err() != nil {
			return lastErr
		}
	}
	return lastErr
}

func (c *Client) downloadOnce(ctx context.Context, path, token string, direct bool, dst io.Writer) error {
	r := request{endpoint: "jobs/:id/artifacts", method: http.MethodGet, path: path, header: jobHeader(token), retryTransport: true}
	if direct {
		r.query = url.Values{"direct_download": {"true"}}
		r.noRedirect = true
	}
	resp, err := c.do(ctx, r)
	if err != nil {
		return err
	}
	if direct && (resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusTemporaryRedirect) {
		loc, lerr := resp.Location()
		drain(resp)
		if lerr != nil {
			return fmt.Errorf("redirect without a usable Location: %w", lerr)
		}
		return c.fetchObject(ctx, loc, dst)
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		return &StatusError{Op: "download artifacts", StatusCode: resp.StatusCode, Message: readMessage(resp)}
	}
	if _, err := io.Copy(dst, resp.Body); err != nil {
		return fmt.Errorf("reading archive: %w", err)
	}
	return nil
}

// fetchObject downloads a pre-signed object storage URL (no job token goes there).
func (c *Client) fetchObject(ctx context.Context, u *url.URL, dst io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", c.userAgent)
	start := time.Now()
	resp, err := c.http.Do(req)
	if c.observe != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		c.observe("artifacts object storage", status, time.Since(start))
	}
	if err != nil {
		return fmt.Errorf("object storage: %w", scrubURLError(err))
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		return &StatusError{Op: "download artifacts from object storage", StatusCode: resp.StatusCode}
	}
	if _, err := io.Copy(dst, resp.Body); err != nil {
		return fmt.Errorf("reading archive from object storage: %w", err)
	}
	return nil
}

func resetFile(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.Seek(0, io.SeekStart)
	return err
}

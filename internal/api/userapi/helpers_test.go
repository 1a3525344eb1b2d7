package userapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/api"
	"github.com/kiln-ci/kiln/internal/api/auth"
	"github.com/kiln-ci/kiln/internal/api/entity"
	"github.com/kiln-ci/kiln/internal/api/userapi"
	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/coordinator/coordinatortest"
	"github.com/kiln-ci/kiln/internal/store"
	"github.com/kiln-ci/kiln/internal/testenv"
)

// env is a real coordinator (SQLite, git, blobs) with the whole HTTP surface, the
// user API mounted, on an httptest server. Everything the handlers log is kept in
// logs, so tests can check that no secret reached it.
type env struct {
	*coordinatortest.Env
	api  string // base URL of the server with the user API
	logs *testenv.Buffer
}

func newEnv(t *testing.T) *env { t.Helper(); return newEnvOn(t, coordinatortest.SQLite) }

// newEnvOn is newEnv on a store engine (coordinatortest.SQLite or Postgres, which
// skips unless a test PostgreSQL is configured), with the coordinator's
// configuration adjusted by configure when given.
func newEnvOn(t testing.TB, engine string, configure ...func(*coordinator.Config)) *env {
	t.Helper()
	logs := &testenv.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts := coordinatortest.Options{Engine: engine, Logger: log}
	if len(configure) > 0 {
		opts.Configure = configure[0]
	}
	e := coordinatortest.New(t, opts)
	authn := auth.New(e.Store.Users, log)
	users, err := userapi.New(userapi.Config{Service: e.Service, Auth: authn, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.New(api.Config{Service: e.Service, Auth: authn, Logger: log,
		Mounts: []func(*http.ServeMux){users.Register}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{Env: e, api: srv.URL, logs: logs}
}

// response is an answer, read whole.
type response struct {
	code   int
	header http.Header
	body   []byte
}

// call sends a request with a PRIVATE-TOKEN (none when token is ""). body is nil, a
// string (sent as a URL-encoded form) or anything else (sent as JSON).
func (e *env) call(t *testing.T, method, path, token string, body any) response {
	t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ct = strings.NewReader(b), "application/x-www-form-urlencoded"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd, ct = bytes.NewReader(data), "application/json"
	}
	return e.send(t, method, path, token, ct, rd)
}

// callRaw sends body as it is, with Content-Type ct.
func (e *env) callRaw(t *testing.T, method, path, token, ct, body string) response {
	t.Helper()
	return e.send(t, method, path, token, ct, strings.NewReader(body))
}

func (e *env) send(t *testing.T, method, path, token, ct string, rd io.Reader) response {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, e.api+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if token != "" {
		req.Header.Set("PRIVATE-TOKEN", token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{code: res.StatusCode, header: res.Header, body: data}
}

// want checks the status and decodes the JSON body into v (when not nil).
func (r response) want(t *testing.T, code int, v any) response {
	t.Helper()
	if r.code != code {
		t.Fatalf("status %d, want %d; body %s", r.code, code, r.body)
	}
	if v != nil {
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q, want application/json", ct)
		}
		if err := json.Unmarshal(r.body, v); err != nil {
			t.Fatalf("decoding %s: %v", r.body, err)
		}
	}
	return r
}

// wantError checks a GitLab error answer: its status and that its text contains
// each of parts.
func (r response) wantError(t *testing.T, code int, parts ...string) {
	t.Helper()
	var e entity.Error
	r.want(t, code, &e)
	text := e.Text()
	if text == "" {
		t.Errorf("error body %s has neither message nor error", r.body)
	}
	for _, p := range parts {
		if !strings.Contains(text, p) {
			t.Errorf("error %q does not contain %q (body %s)", text, p, r.body)
		}
	}
}

// user creates a user with a personal access token of the given scopes.
func (e *env) user(t *testing.T, name string, scopes ...string) (*store.User, string) {
	t.Helper()
	ctx := context.Background()
	u := &store.User{Username: name, Name: strings.ToUpper(name[:1]) + name[1:]}
	if err := e.Store.Users.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if len(scopes) == 0 {
		scopes = []string{"api"}
	}
	token, err := store.NewToken(store.PrefixPersonalAccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Store.Users.CreateToken(ctx, &store.PersonalAccessToken{UserID: u.ID, Name: "test", Scopes: scopes}, token); err != nil {
		t.Fatal(err)
	}
	return u, token
}

// noSecretInLogs fails when a secret appears in what the server logged.
func (e *env) noSecretInLogs(t *testing.T, secrets ...string) {
	t.Helper()
	logs := e.logs.String()
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the server logged the secret %q", s)
		}
	}
}

func itoa(id int64) string { return strconv.FormatInt(id, 10) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }

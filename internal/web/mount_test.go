package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/api"
	"github.com/kiln-ci/kiln/internal/api/auth"
	"github.com/kiln-ci/kiln/internal/coordinator/coordinatortest"
	"github.com/kiln-ci/kiln/internal/web"
)

func TestTheUIMountsAtTheRootOfTheCoordinatorsRouter(t *testing.T) {
	e := coordinatortest.New(t, coordinatortest.Options{})
	authn := auth.New(e.Store.Users, nil)
	ui, err := web.New(web.Config{Service: e.Service, Auth: authn})
	if err != nil {
		t.Fatal(err)
	}
	router, err := api.New(api.Config{Service: e.Service, Auth: authn, Mounts: []func(*http.ServeMux){ui.Mount}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(router)
	defer srv.Close()
	for path, want := range map[string]string{
		"/":                "<title>Projects · Kiln</title>",
		"/-/machine_types": "saas-linux-medium-amd64-gpu-standard",
		"/-/health":        "Kiln OK",
	} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, want %q in\n%.300s", path, res.StatusCode, want, body)
		}
	}
	// An API route that does not exist answers as the API does, not with a page.
	res, err := http.Get(srv.URL + "/api/v4/nope")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound || string(body) != `{"message":"404 Not Found"}`+"\n" {
		t.Errorf("GET /api/v4/nope: %d %s", res.StatusCode, body)
	}
	// The runner API keeps its routes: a bad runner token is GitLab's 403, not a page.
	res, err = http.Post(srv.URL+"/api/v4/runners/verify", "application/json", strings.NewReader(`{"token":"glrt-nope"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Errorf("runner API behind the UI: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
}

func TestNewNeedsItsParts(t *testing.T) {
	if _, err := web.New(web.Config{}); err == nil {
		t.Error("New without a service works")
	}
	e := coordinatortest.New(t, coordinatortest.Options{})
	if _, err := web.New(web.Config{Service: e.Service, Auth: auth.New(e.Store.Users, nil), SessionKey: []byte("short")}); err == nil ||
		!strings.Contains(err.Error(), "session key has 5 bytes") {
		t.Errorf("a short session key: %v", err)
	}
}

package main

import (
	"log/slog"
	"net/http"

	"github.com/kiln-ci/kiln/internal/api/auth"
	"github.com/kiln-ci/kiln/internal/coordinator"
)

// serverMounts are the routes `kiln server` serves beside the runner API, git,
// health and metrics: the user API and the web UI register here.
func serverMounts(svc *coordinator.Service, authn *auth.Authenticator, log *slog.Logger) []func(*http.ServeMux) {
	return nil
}

package main

import (
	"log/slog"
	"net/http"

	"github.com/kiln-ci/kiln/internal/api/auth"
	"github.com/kiln-ci/kiln/internal/api/userapi"
	"github.com/kiln-ci/kiln/internal/coordinator"
)

// serverMounts are the routes `kiln server` serves beside the runner API, git,
// health and metrics: the user API and the web UI register here.
func serverMounts(svc *coordinator.Service, authn *auth.Authenticator, log *slog.Logger) []func(*http.ServeMux) {
	var mounts []func(*http.ServeMux)
	if users, err := userapi.New(userapi.Config{Service: svc, Auth: authn, Logger: log.With("component", "user-api")}); err != nil {
		log.Error("the user API is off", "error", err)
	} else {
		mounts = append(mounts, users.Register)
	}
	return mounts
}

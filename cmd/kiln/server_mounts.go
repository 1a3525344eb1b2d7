package main

import (
	"log/slog"
	"net/http"
	"path/filepath"

	"github.com/kiln-ci/kiln/internal/api/auth"
	"github.com/kiln-ci/kiln/internal/api/userapi"
	"github.com/kiln-ci/kiln/internal/coordinator"
	"github.com/kiln-ci/kiln/internal/web"
)

// serverMounts are the routes `kiln server` serves beside the runner API, git,
// health and metrics: the user API and the web UI register here. The web UI's
// session key is kept in dataDir, so that sign-ins survive a restart.
func serverMounts(svc *coordinator.Service, authn *auth.Authenticator, dataDir string, log *slog.Logger) []func(*http.ServeMux) {
	var mounts []func(*http.ServeMux)
	if users, err := userapi.New(userapi.Config{Service: svc, Auth: authn, Logger: log.With("component", "user-api")}); err != nil {
		log.Error("the user API is off", "error", err)
	} else {
		mounts = append(mounts, users.Register)
	}
	key, err := web.LoadSessionKey(filepath.Join(dataDir, "web-session.key"))
	if err != nil {
		log.Error("the web UI's sessions end at restart", "error", err)
	}
	if ui, err := web.New(web.Config{Service: svc, Auth: authn, Repos: svc.Repos(), SessionKey: key,
		Logger: log.With("component", "web")}); err != nil {
		log.Error("the web UI is off", "error", err)
	} else {
		mounts = append(mounts, ui.Mount)
	}
	return mounts
}

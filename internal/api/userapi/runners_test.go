package userapi_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/api/entity"
	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/store"
)

func TestARunnerIsCreatedWithAGlrtToken(t *testing.T) {
	e := newEnv(t)
	var created entity.RunnerCreated
	e.call(t, "POST", "/api/v4/user/runners", e.AdminToken, map[string]any{"runner_type": "instance_type",
		"description": "gpu host 1", "tag_list": []string{"cuda"}, "machine_type": machine.TagGPUMedium}).
		want(t, http.StatusCreated, &created)
	if created.ID == 0 || !strings.HasPrefix(created.Token, "glrt-") || created.TokenExpiresAt != nil {
		t.Fatalf("created %+v", created)
	}
	// The token authenticates the runner: it is the one the runner API knows.
	r, err := e.Service.AuthenticateRunner(context.Background(), created.Token)
	if err != nil || r.ID != created.ID {
		t.Fatalf("the token does not authenticate runner %d: %v", created.ID, err)
	}
	var d entity.RunnerDetails
	e.call(t, "GET", "/api/v4/runners/"+itoa(created.ID), e.AdminToken, nil).want(t, http.StatusOK, &d)
	if d.Description != "gpu host 1" || d.RunnerType != "instance_type" || !d.IsShared || d.MachineType != machine.TagGPUMedium ||
		d.RunUntagged || !slices.Contains(d.TagList, "cuda") || !slices.Contains(d.TagList, machine.TagGPUMedium) ||
		d.Status != "never_contacted" || d.Online || d.Paused || !d.Active || d.AccessLevel != "not_protected" {
		t.Errorf("runner %+v", d)
	}
	e.noSecretInLogs(t, created.Token)
}

func TestTheSmallMachineTypesRunnerRunsUntaggedJobsByDefault(t *testing.T) {
	e := newEnv(t)
	var created entity.RunnerCreated
	e.call(t, "POST", "/api/v4/user/runners", e.AdminToken, "runner_type=instance_type&machine_type="+machine.TagSmall).
		want(t, http.StatusCreated, &created)
	var d entity.RunnerDetails
	e.call(t, "GET", "/api/v4/runners/"+itoa(created.ID), e.AdminToken, nil).want(t, http.StatusOK, &d)
	if !d.RunUntagged {
		t.Errorf("runner %+v of the untagged machine type does not run untagged jobs", d)
	}
}

func TestRunnersAreCreatedOnlyWhereTheCallerMay(t *testing.T) {
	e := newEnv(t)
	dev, devToken := e.user(t, "dev")
	acme := e.Group(t, "acme", machine.PlanFree)
	e.Project(t, acme, "app", map[string]string{"README": "x\n"})
	mine := &store.Namespace{Name: "Mine", Path: "mine", OwnerID: dev.ID}
	if err := e.Store.Namespaces.CreateGroup(context.Background(), mine); err != nil {
		t.Fatal(err)
	}
	_, creatorOnly := e.user(t, "ops", "create_runner")
	for _, tc := range []struct {
		name  string
		token string
		body  map[string]any
		code  int
		want  string
	}{
		{"no type", e.AdminToken, map[string]any{}, 400, "runner_type is missing"},
		{"bad type", e.AdminToken, map[string]any{"runner_type": "shared"}, 400, "runner_type does not have a valid value"},
		{"group without group", e.AdminToken, map[string]any{"runner_type": "group_type"}, 400, "group_id is missing"},
		{"project without project", e.AdminToken, map[string]any{"runner_type": "project_type"}, 400, "project_id is missing"},
		{"unknown machine type", e.AdminToken, map[string]any{"runner_type": "instance_type", "machine_type": "h100-x8"}, 400, "machine type"},
		{"short timeout", e.AdminToken, map[string]any{"runner_type": "instance_type", "maximum_timeout": 60}, 400, "maximum_timeout"},
		{"bad access level", e.AdminToken, map[string]any{"runner_type": "instance_type", "access_level": "all"}, 400, "access_level does not have a valid value"},
		{"instance by a user", devToken, map[string]any{"runner_type": "instance_type"}, 403, "administrators"},
		{"another's group", devToken, map[string]any{"runner_type": "group_type", "group_id": acme.ID}, 403, "acme"},
		{"another's project", devToken, map[string]any{"runner_type": "project_type", "project_id": 1}, 404, "Project"},
		{"missing group", e.AdminToken, map[string]any{"runner_type": "group_type", "group_id": 999}, 404, "Group"},
		{"create_runner scope without being an administrator", creatorOnly, map[string]any{"runner_type": "instance_type"}, 403, "administrators"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.call(t, "POST", "/api/v4/user/runners", tc.token, tc.body).wantError(t, tc.code, tc.want)
		})
	}
	var all []entity.Runner
	e.call(t, "GET", "/api/v4/runners/all", e.AdminToken, nil).want(t, http.StatusOK, &all)
	if len(all) != 0 {
		t.Errorf("refused requests created runners %+v", all)
	}
	var created entity.RunnerCreated
	e.call(t, "POST", "/api/v4/user/runners", devToken, map[string]any{"runner_type": "group_type", "group_id": mine.ID}).
		want(t, http.StatusCreated, &created)
}

func TestRunnersAreListedPausedAndDeleted(t *testing.T) {
	e := newEnv(t)
	dev, devToken := e.user(t, "dev")
	_, otherToken := e.user(t, "other")
	var a, b entity.RunnerCreated
	e.call(t, "POST", "/api/v4/user/runners", e.AdminToken, map[string]any{"runner_type": "instance_type", "tag_list": "gpu,cuda"}).
		want(t, http.StatusCreated, &a)
	mine := &store.Namespace{Name: "Mine", Path: "mine", OwnerID: dev.ID}
	if err := e.Store.Namespaces.CreateGroup(context.Background(), mine); err != nil {
		t.Fatal(err)
	}
	e.call(t, "POST", "/api/v4/user/runners", devToken, map[string]any{"runner_type": "group_type", "group_id": mine.ID}).
		want(t, http.StatusCreated, &b)

	var list []entity.Runner
	e.call(t, "GET", "/api/v4/runners", devToken, nil).want(t, http.StatusOK, &list)
	if len(list) != 1 || list[0].ID != b.ID || list[0].RunnerType != "group_type" || list[0].IsShared {
		t.Errorf("dev's runners %+v", list)
	}
	e.call(t, "GET", "/api/v4/runners/all", devToken, nil).wantError(t, http.StatusForbidden)
	e.call(t, "GET", "/api/v4/runners/all?tag_list=gpu", e.AdminToken, nil).want(t, http.StatusOK, &list)
	if len(list) != 1 || list[0].ID != a.ID {
		t.Errorf("runners tagged gpu %+v", list)
	}
	e.call(t, "GET", "/api/v4/runners/all?status=never_contacted&type=group_type", e.AdminToken, nil).want(t, http.StatusOK, &list)
	if len(list) != 1 || list[0].ID != b.ID {
		t.Errorf("never contacted group runners %+v", list)
	}
	e.call(t, "GET", "/api/v4/runners/all?status=asleep", e.AdminToken, nil).wantError(t, http.StatusBadRequest, "status does not have a valid value")

	var d entity.RunnerDetails
	e.call(t, "PUT", "/api/v4/runners/"+itoa(b.ID), devToken, map[string]any{"paused": true, "description": "night shift"}).
		want(t, http.StatusOK, &d)
	if !d.Paused || d.Active || d.Description != "night shift" {
		t.Errorf("updated runner %+v", d)
	}
	e.call(t, "GET", "/api/v4/runners/all?paused=true", e.AdminToken, nil).want(t, http.StatusOK, &list)
	if len(list) != 1 || list[0].ID != b.ID {
		t.Errorf("paused runners %+v", list)
	}
	e.call(t, "PUT", "/api/v4/runners/"+itoa(b.ID), otherToken, map[string]any{"paused": false}).wantError(t, http.StatusForbidden)
	e.call(t, "DELETE", "/api/v4/runners/"+itoa(b.ID), otherToken, nil).wantError(t, http.StatusForbidden)
	e.call(t, "DELETE", "/api/v4/runners/"+itoa(b.ID), devToken, nil).want(t, http.StatusNoContent, nil)
	e.call(t, "GET", "/api/v4/runners/"+itoa(b.ID), devToken, nil).wantError(t, http.StatusNotFound, "404 Runner Not Found")
}

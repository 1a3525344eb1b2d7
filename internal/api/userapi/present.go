package userapi

import (
	"fmt"
	"strings"
	"time"

	"github.com/kiln-ci/kiln/internal/api/entity"
	"github.com/kiln-ci/kiln/internal/store"
)

// GitLab's runner liveness: online within 2 hours of its last contact, stale after
// 7 days without one.
const (
	runnerOnlineWithin = 2 * time.Hour
	runnerStaleAfter   = 7 * 24 * time.Hour
)

// optTime is t, or nil (JSON null) when it is zero.
func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// seconds is d in seconds, or nil when zero.
func seconds(d time.Duration) *float64 {
	if d <= 0 {
		return nil
	}
	s := d.Seconds()
	return &s
}

// wholeSeconds is d in whole seconds (truncated, as GitLab's integer columns keep
// it), or nil when d is not positive.
func wholeSeconds(d time.Duration) *int64 {
	if d <= 0 {
		return nil
	}
	s := int64(d / time.Second)
	return &s
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (h *Handler) webURL(parts ...string) string {
	return h.svc.ExternalURL() + "/" + strings.Join(parts, "/")
}

func (h *Handler) userBasic(u *store.User) entity.UserBasic {
	return entity.UserBasic{ID: u.ID, Username: u.Username, Name: u.Name, State: "active", WebURL: h.webURL(u.Username)}
}

// user shows u; private fields (email, is_admin) only when full.
func (h *Handler) user(u *store.User, full bool) entity.User {
	out := entity.User{UserBasic: h.userBasic(u), CreatedAt: u.CreatedAt}
	if full {
		admin := u.Admin
		out.Email, out.IsAdmin, out.NamespaceID = u.Email, &admin, u.NamespaceID
	}
	return out
}

func (h *Handler) token(t *store.PersonalAccessToken, now time.Time) entity.PersonalAccessToken {
	out := entity.PersonalAccessToken{ID: t.ID, Name: t.Name, Revoked: t.Revoked, CreatedAt: t.CreatedAt,
		Scopes: t.Scopes, UserID: t.UserID, Active: !t.Revoked && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt))}
	if out.Scopes == nil {
		out.Scopes = []string{}
	}
	if !t.ExpiresAt.IsZero() {
		d := t.ExpiresAt.Add(-time.Nanosecond).UTC().Format(time.DateOnly) // the last day it works
		out.ExpiresAt = &d
	}
	return out
}

func optID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

func (h *Handler) namespaceEntity(ns *store.Namespace) entity.Namespace {
	out := entity.Namespace{ID: ns.ID, Name: ns.Name, Path: ns.Path, Kind: ns.Kind, FullPath: ns.FullPath,
		ParentID: optID(ns.ParentID), WebURL: h.webURL(ns.FullPath), Plan: ns.Plan}
	if ns.Kind == store.NamespaceGroup {
		out.WebURL = h.webURL("groups", ns.FullPath)
	}
	return out
}

func (h *Handler) group(ns *store.Namespace, fullName string) entity.Group {
	return entity.Group{ID: ns.ID, Name: ns.Name, Path: ns.Path, FullName: fullName, FullPath: ns.FullPath,
		ParentID: optID(ns.ParentID), WebURL: h.webURL("groups", ns.FullPath), CreatedAt: ns.CreatedAt, Plan: ns.Plan}
}

func (h *Handler) projectEntity(p *store.Project, ns *store.Namespace) entity.Project {
	out := entity.Project{
		ID: p.ID, Name: p.Name, Path: p.Path, PathWithNamespace: p.FullPath, NameWithNamespace: p.Name,
		Description: p.Description, DefaultBranch: p.DefaultBranch, Visibility: p.Visibility,
		HTTPURLToRepo: h.webURL(p.FullPath + ".git"), WebURL: h.webURL(p.FullPath), CIConfigPath: p.CIConfigPath,
		CreatorID: p.CreatorID, CreatedAt: p.CreatedAt,
	}
	if ns != nil {
		out.Namespace = h.namespaceEntity(ns)
		out.NameWithNamespace = ns.Name + " / " + p.Name
	}
	return out
}

func (h *Handler) variable(v *store.Variable) entity.Variable {
	out := entity.Variable{VariableType: v.VariableType, Key: v.Key, Value: v.Value, Protected: v.Protected,
		Masked: v.Masked, Raw: v.Raw, Description: optString(v.Description)}
	if v.Owner.Kind != store.OwnerInstance {
		out.EnvironmentScope = v.EnvironmentScope
	}
	if out.VariableType == "" {
		out.VariableType = store.VariableEnv
	}
	return out
}

func (h *Handler) pipelineBasic(pl *store.Pipeline, p *store.Project) entity.PipelineBasic {
	return entity.PipelineBasic{ID: pl.ID, IID: pl.IID, ProjectID: pl.ProjectID, SHA: pl.SHA, Ref: pl.Ref,
		Status: string(pl.Status), Source: pl.Source, Name: pl.Name, CreatedAt: pl.CreatedAt, UpdatedAt: pl.UpdatedAt,
		WebURL: h.webURL(p.FullPath, "-", "pipelines", fmt.Sprint(pl.ID))}
}

func (h *Handler) pipeline(pl *store.Pipeline, p *store.Project, u *store.User) entity.Pipeline {
	out := entity.Pipeline{
		PipelineBasic: h.pipelineBasic(pl, p), BeforeSHA: pl.BeforeSHA, Tag: pl.Tag,
		YAMLErrors: optString(pl.YAMLErrors), StartedAt: optTime(pl.StartedAt), FinishedAt: optTime(pl.FinishedAt),
		Duration: wholeSeconds(pl.Duration()), DetailedStatus: detailedStatus(pl.Status),
	}
	out.DetailedStatus.DetailsPath = "/" + p.FullPath + "/-/pipelines/" + fmt.Sprint(pl.ID)
	if !pl.StartedAt.IsZero() {
		if q := wholeSeconds(pl.StartedAt.Sub(pl.CreatedAt)); q != nil && *q > 0 {
			out.QueuedDuration = q // GitLab: nil rather than 0
		}
	}
	if u != nil {
		ub := h.userBasic(u)
		out.User = &ub
	}
	return out
}

// statusLooks are GitLab's words and icons for each status.
var statusLooks = map[store.Status][3]string{ // icon, text, label
	store.StatusCreated:            {"status_created", "Created", "created"},
	store.StatusWaitingForResource: {"status_pending", "Waiting", "waiting for resource"},
	store.StatusPreparing:          {"status_preparing", "Preparing", "preparing"},
	store.StatusPending:            {"status_pending", "Pending", "pending"},
	store.StatusRunning:            {"status_running", "Running", "running"},
	store.StatusSuccess:            {"status_success", "Passed", "passed"},
	store.StatusFailed:             {"status_failed", "Failed", "failed"},
	store.StatusCanceling:          {"status_canceled", "Canceling", "canceling"},
	store.StatusCanceled:           {"status_canceled", "Canceled", "canceled"},
	store.StatusSkipped:            {"status_skipped", "Skipped", "skipped"},
	store.StatusManual:             {"status_manual", "Manual", "manual action"},
	store.StatusScheduled:          {"status_scheduled", "Scheduled", "delayed"},
}

func detailedStatus(s store.Status) entity.DetailedStatus {
	look, ok := statusLooks[s]
	if !ok {
		look = [3]string{"status_notfound", string(s), string(s)}
	}
	return entity.DetailedStatus{Icon: look[0], Text: look[1], Label: look[2], Group: string(s), Tooltip: look[2],
		HasDetails: true}
}

// runnerStatus is GitLab's: online, offline, stale or never_contacted.
func runnerStatus(r *store.Runner, now time.Time) string {
	switch {
	case r.ContactedAt.IsZero() && now.Sub(r.CreatedAt) > runnerStaleAfter:
		return "stale"
	case r.ContactedAt.IsZero():
		return "never_contacted"
	case now.Sub(r.ContactedAt) < runnerOnlineWithin:
		return "online"
	case now.Sub(r.ContactedAt) > runnerStaleAfter:
		return "stale"
	}
	return "offline"
}

func (h *Handler) runner(r *store.Runner, now time.Time) entity.Runner {
	status := runnerStatus(r, now)
	return entity.Runner{ID: r.ID, Description: r.Description, IPAddress: r.IPAddress, Active: !r.Paused,
		Paused: r.Paused, IsShared: r.Type == store.RunnerInstance, RunnerType: r.Type, Online: status == "online",
		Status: status, MachineType: r.MachineType}
}

func (h *Handler) runnerDetails(r *store.Runner, now time.Time) entity.RunnerDetails {
	out := entity.RunnerDetails{Runner: h.runner(r, now), TagList: r.Tags, RunUntagged: r.RunUntagged, Locked: r.Locked,
		AccessLevel: r.AccessLevel, Version: r.Version, Revision: r.Revision, Platform: r.Platform,
		Architecture: r.Architecture, Executor: r.Executor, ContactedAt: optTime(r.ContactedAt), CreatedAt: r.CreatedAt,
		GPUInventory: r.GPUInventory}
	if out.TagList == nil {
		out.TagList = []string{}
	}
	if r.MaximumTimeout > 0 {
		mt := r.MaximumTimeout
		out.MaximumTimeout = &mt
	}
	return out
}

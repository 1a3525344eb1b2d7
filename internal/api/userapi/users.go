package userapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kiln-ci/kiln/internal/api/auth"
	"github.com/kiln-ci/kiln/internal/api/entity"
	"github.com/kiln-ci/kiln/internal/api/reply"
	"github.com/kiln-ci/kiln/internal/git"
	"github.com/kiln-ci/kiln/internal/store"
)

// tokenScopes are the personal access token scopes GitLab knows.
var tokenScopes = []string{"api", "read_api", "read_user", "create_runner", "manage_runner", "k8s_proxy",
	"read_repository", "write_repository", "read_registry", "write_registry", "ai_features", "sudo",
	"admin_mode", "read_service_ping"}

// pathRule is GitLab's wording of its path rule.
const pathRule = "can contain only letters, digits, '_', '-' and '.', must start and end with a letter or digit, " +
	"and cannot end in '.git' or '.atom'"

// checkSegment checks one path segment (a username, a group or project path) by the
// rules repositories are stored under.
func checkSegment(field, seg string) error {
	if seg == "" {
		return missing(field)
	}
	if strings.Contains(seg, "/") || git.ValidatePath(seg+"/x") != nil {
		return fieldErr(field, pathRule)
	}
	return nil
}

// currentUser is GET /user: the caller, with email and is_admin.
func (h *Handler) currentUser(w http.ResponseWriter, r *http.Request) {
	reply.JSON(w, http.StatusOK, h.user(caller(r), true))
}

// listUsers is GET /users (filter: username); administrators see emails.
func (h *Handler) listUsers(w http.ResponseWriter, r *http.Request) {
	p, pg, ok := h.pagedParams(w, r)
	if !ok {
		return
	}
	me := caller(r)
	var users []store.User
	total := 0
	if name, _ := p.str("username"); name != "" {
		u, err := h.st.Users.UserByUsername(r.Context(), name)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			h.fail(w, r, err)
			return
		}
		if u != nil {
			users, total = slicePage([]store.User{*u}, pg)
		}
	} else {
		var err error
		users, total, err = storePage(r.Context(), pg, h.st.Users.ListUsers)
		if err != nil {
			h.fail(w, r, err)
			return
		}
	}
	out := make([]entity.User, 0, len(users))
	for i := range users {
		out = append(out, h.user(&users[i], me.Admin || users[i].ID == me.ID))
	}
	h.setPageHeaders(w, r, pg, len(out), total)
	reply.JSON(w, http.StatusOK, out)
}

// getUser is GET /users/:id.
func (h *Handler) getUser(w http.ResponseWriter, r *http.Request) {
	id, ok := pathInt64(w, r, "id", "User")
	if !ok {
		return
	}
	u, err := h.st.Users.User(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		notFound(w, "User")
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	me := caller(r)
	reply.JSON(w, http.StatusOK, h.user(u, me.Admin || me.ID == u.ID))
}

// createUser is POST /users (administrators): username and name required, email
// and admin optional. Kiln users sign in with tokens only, so a password is ignored.
// 409 {"message": "Username has already been taken"} for a taken username or email.
func (h *Handler) createUser(w http.ResponseWriter, r *http.Request) {
	p, ok := h.params(w, r)
	if !ok {
		return
	}
	u := &store.User{}
	var err error
	if u.Username, err = p.required("username"); err == nil {
		if u.Name, err = p.required("name"); err == nil {
			if u.Email, err = p.str("email"); err == nil {
				u.Admin, err = p.boolean("admin", false)
			}
		}
	}
	if err == nil {
		err = checkSegment("username", u.Username)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if _, err := h.st.Users.UserByUsername(r.Context(), u.Username); err == nil {
		reply.Text(w, http.StatusConflict, "Username has already been taken")
		return
	}
	if _, err := h.st.Namespaces.NamespaceByPath(r.Context(), u.Username); err == nil {
		reply.Text(w, http.StatusConflict, "Username has already been taken")
		return
	}
	err = h.st.Users.CreateUser(r.Context(), u)
	if errors.Is(err, store.ErrConflict) {
		reply.Text(w, http.StatusConflict, "Email has already been taken")
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("user created", "user", u.Username, "id", u.ID, "admin", u.Admin, "by", caller(r).Username)
	reply.JSON(w, http.StatusCreated, h.user(u, true))
}

// createToken is POST /users/:id/personal_access_tokens (administrators): name and
// scopes required, expires_at a date. 201 with the token, shown once.
func (h *Handler) createToken(w http.ResponseWriter, r *http.Request) {
	id, ok := pathInt64(w, r, "id", "User")
	if !ok {
		return
	}
	p, ok := h.params(w, r)
	if !ok {
		return
	}
	t, err := readToken(p, h.now())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if _, err := h.st.Users.User(r.Context(), id); errors.Is(err, store.ErrNotFound) {
		notFound(w, "User")
		return
	}
	t.UserID = id
	secret, err := store.NewToken(store.PrefixPersonalAccessToken)
	if err == nil {
		err = h.st.Users.CreateToken(r.Context(), t, secret)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("personal access token created", "user", id, "token_id", t.ID, "scopes", t.Scopes)
	out := h.token(t, h.now())
	out.Token = secret
	reply.JSON(w, http.StatusCreated, out)
}

func readToken(p params, now time.Time) (*store.PersonalAccessToken, error) {
	name, err := p.required("name")
	if err != nil {
		return nil, err
	}
	scopes, err := p.list("scopes")
	if err != nil {
		return nil, err
	}
	if len(scopes) == 0 {
		return nil, missing("scopes")
	}
	for _, s := range scopes {
		if !slices.Contains(tokenScopes, s) {
			return nil, badValueWhy("scopes", fmt.Sprintf("%q is not a scope (want %s)", s, strings.Join(tokenScopes, ", ")))
		}
	}
	expires, err := p.date("expires_at")
	if err != nil {
		return nil, err
	}
	if !expires.IsZero() {
		expires = expires.AddDate(0, 0, 1) // valid through that day
		if !expires.After(now) {
			return nil, fieldErr("expires_at", "must be in the future")
		}
	}
	return &store.PersonalAccessToken{Name: name, Scopes: scopes, ExpiresAt: expires}, nil
}

// listTokens is GET /personal_access_tokens: the caller's tokens; an administrator
// may ask for another user's with user_id.
func (h *Handler) listTokens(w http.ResponseWriter, r *http.Request) {
	p, ok := h.params(w, r)
	if !ok {
		return
	}
	me := caller(r)
	userID, err := p.id("user_id")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if userID == 0 {
		userID = me.ID
	}
	if userID != me.ID && !me.Admin {
		forbidden(w, "only administrators may list other users' tokens")
		return
	}
	tokens, err := h.st.Users.ListTokens(r.Context(), userID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]entity.PersonalAccessToken, 0, len(tokens))
	for i := range tokens {
		out = append(out, h.token(&tokens[i], h.now()))
	}
	reply.JSON(w, http.StatusOK, out)
}

// selfToken is GET /personal_access_tokens/self: the token the request carries.
func (h *Handler) selfToken(w http.ResponseWriter, r *http.Request) {
	reply.JSON(w, http.StatusOK, h.token(auth.FromContext(r.Context()).Token, h.now()))
}

// revokeSelfToken is DELETE /personal_access_tokens/self: 204.
func (h *Handler) revokeSelfToken(w http.ResponseWriter, r *http.Request) {
	h.revoke(w, r, auth.FromContext(r.Context()).Token.ID)
}

// revokeToken is DELETE /personal_access_tokens/:id: the caller's own token, or
// anyone's for an administrator. 204; 404 for a token the caller cannot see.
func (h *Handler) revokeToken(w http.ResponseWriter, r *http.Request) {
	id, ok := pathInt64(w, r, "id", "Token")
	if !ok {
		return
	}
	me := caller(r)
	if !me.Admin {
		mine, err := h.ownsToken(r.Context(), me.ID, id)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if !mine {
			notFound(w, "Token")
			return
		}
	}
	h.revoke(w, r, id)
}

func (h *Handler) ownsToken(ctx context.Context, userID, tokenID int64) (bool, error) {
	tokens, err := h.st.Users.ListTokens(ctx, userID)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(tokens, func(t store.PersonalAccessToken) bool { return t.ID == tokenID }), nil
}

func (h *Handler) revoke(w http.ResponseWriter, r *http.Request, id int64) {
	err := h.st.Users.RevokeToken(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		notFound(w, "Token")
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("personal access token revoked", "token_id", id, "by", caller(r).Username)
	w.WriteHeader(http.StatusNoContent)
}

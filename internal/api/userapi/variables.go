package userapi

import (
	"errors"
	"net/http"
	"regexp"

	"github.com/kiln-ci/kiln/internal/api/auth"
	"github.com/kiln-ci/kiln/internal/api/entity"
	"github.com/kiln-ci/kiln/internal/api/reply"
	"github.com/kiln-ci/kiln/internal/store"
)

// maskable is GitLab's masking rule: at least 8 characters, each from the Base64
// alphabet (RFC 4648, with its URL-safe '-' and '_') or '@', ':', '.', '~'.
var maskable = regexp.MustCompile(`^[A-Za-z0-9+/=_@:.~-]{8,}$`)

const maskRule = "is invalid: a masked variable's value needs at least 8 characters, each a letter, a digit " +
	"or one of + / = - _ @ : . ~ (no spaces or new lines)"

// variableLevel is one level of CI/CD variables: the instance (/admin/ci), a group
// (/groups/:id) or a project (/projects/:id).
type variableLevel struct {
	prefix      string
	read, write rule
	// owner resolves the owner from the request (and answers when it cannot).
	owner func(w http.ResponseWriter, r *http.Request) (store.VariableOwner, bool)
}

// variableHandler handles one request about an owner's variables.
type variableHandler func(w http.ResponseWriter, r *http.Request, owner store.VariableOwner)

func (lv variableLevel) handle(fn variableHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if owner, ok := lv.owner(w, r); ok {
			fn(w, r, owner)
		}
	}
}

// variableLevels: instance variables are for administrators; a group's for its
// owners; a project's for those who may write to it (GitLab's maintainers).
func (h *Handler) variableLevels() []variableLevel {
	return []variableLevel{
		{prefix: "/admin/ci", read: adminRead, write: adminWrite,
			owner: func(http.ResponseWriter, *http.Request) (store.VariableOwner, bool) { return store.Instance, true }},
		{prefix: "/groups/{id}", read: read, write: write,
			owner: func(w http.ResponseWriter, r *http.Request) (store.VariableOwner, bool) {
				g, ok := h.namespace(w, r, store.NamespaceGroup, "Group")
				if !ok {
					return store.VariableOwner{}, false
				}
				return store.GroupOwner(g.ID), true
			}},
		{prefix: "/projects/{id}", read: read, write: write,
			owner: func(w http.ResponseWriter, r *http.Request) (store.VariableOwner, bool) {
				p, ok := h.project(w, r, auth.WriteAccess)
				if !ok {
					return store.VariableOwner{}, false
				}
				return store.ProjectOwner(p.ID), true
			}},
	}
}

// listVariables is GET .../variables.
func (h *Handler) listVariables(w http.ResponseWriter, r *http.Request, owner store.VariableOwner) {
	_, pg, ok := h.pagedParams(w, r)
	if !ok {
		return
	}
	vars, err := h.st.Variables.ListVariables(r.Context(), owner)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	page, total := slicePage(vars, pg)
	out := make([]entity.Variable, 0, len(page))
	for i := range page {
		out = append(out, h.variable(&page[i]))
	}
	h.setPageHeaders(w, r, pg, len(out), total)
	reply.JSON(w, http.StatusOK, out)
}

// findVariable returns the owner's variable {key}, of the environment scope
// filter[environment_scope] when given. 404 when there is none; 409 when the key
// has several scopes and no filter says which (GitLab's answer).
func (h *Handler) findVariable(w http.ResponseWriter, r *http.Request, owner store.VariableOwner, p params) (*store.Variable, bool) {
	key := r.PathValue("key")
	scope, err := p.str("filter[environment_scope]")
	if err != nil {
		h.fail(w, r, err)
		return nil, false
	}
	vars, err := h.st.Variables.ListVariables(r.Context(), owner)
	if err != nil {
		h.fail(w, r, err)
		return nil, false
	}
	var found []store.Variable
	for _, v := range vars {
		if v.Key == key && (scope == "" || v.EnvironmentScope == scope) {
			found = append(found, v)
		}
	}
	switch len(found) {
	case 0:
		notFound(w, "Variable")
		return nil, false
	case 1:
		return &found[0], true
	}
	reply.Text(w, http.StatusConflict, "There are multiple variables with provided parameters. Please use 'filter[environment_scope]'")
	return nil, false
}

// getVariable is GET .../variables/:key.
func (h *Handler) getVariable(w http.ResponseWriter, r *http.Request, owner store.VariableOwner) {
	p, ok := h.params(w, r)
	if !ok {
		return
	}
	if v, ok := h.findVariable(w, r, owner, p); ok {
		reply.JSON(w, http.StatusOK, h.variable(v))
	}
}

// createVariable is POST .../variables: key and value required; variable_type
// (env_var or file), protected, masked (GitLab's masking rule), raw,
// environment_scope ("*"; groups and projects) and description. 201 with it; 400
// {"message": {"key": ["(KEY) has already been taken"]}}.
func (h *Handler) createVariable(w http.ResponseWriter, r *http.Request, owner store.VariableOwner) {
	p, ok := h.params(w, r)
	if !ok {
		return
	}
	v := &store.Variable{Owner: owner, EnvironmentScope: "*"}
	key, err := p.required("key")
	if err == nil {
		v.Key = key
		if !p.has("value") {
			err = missing("value")
		}
	}
	if err == nil && owner.Kind != store.OwnerInstance {
		if v.EnvironmentScope, err = p.str("environment_scope"); err == nil && v.EnvironmentScope == "" {
			v.EnvironmentScope = "*"
		}
	}
	if err == nil {
		err = readVariable(p, v)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	err = h.st.Variables.CreateVariable(r.Context(), v)
	if errors.Is(err, store.ErrConflict) {
		err = fieldErr("key", "("+v.Key+") has already been taken")
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("CI/CD variable created", "variable", *v, "by", caller(r).Username)
	reply.JSON(w, http.StatusCreated, h.variable(v))
}

// readVariable applies the given fields to v and checks the result: key, type,
// masking. Messages name the field, never the value.
func readVariable(p params, v *store.Variable) error {
	var err error
	if p.has("value") {
		if v.Value, err = p.str("value"); err != nil {
			return err
		}
	}
	if v.VariableType, err = p.oneOf("variable_type", orDefault(v.VariableType, store.VariableEnv),
		store.VariableEnv, store.VariableFile); err != nil {
		return err
	}
	for _, f := range []boolField{{"protected", &v.Protected}, {"masked", &v.Masked}, {"raw", &v.Raw}} {
		if *f.dst, err = p.boolean(f.name, *f.dst); err != nil {
			return err
		}
	}
	if p.has("description") {
		if v.Description, err = p.str("description"); err != nil {
			return err
		}
	}
	switch {
	case len(v.Key) > 255:
		return fieldErr("key", "is too long (maximum is 255 characters)")
	case !store.ValidVariableKey(v.Key):
		return fieldErr("key", "can contain only letters, digits and '_'.")
	case v.Masked && !maskable.MatchString(v.Value):
		return fieldErr("value", maskRule)
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// updateVariable is PUT .../variables/:key (filter[environment_scope] picks one of
// several): the fields given change; the result is checked as on create.
func (h *Handler) updateVariable(w http.ResponseWriter, r *http.Request, owner store.VariableOwner) {
	p, ok := h.params(w, r)
	if !ok {
		return
	}
	v, ok := h.findVariable(w, r, owner, p)
	if !ok {
		return
	}
	if err := readVariable(p, v); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.st.Variables.UpdateVariable(r.Context(), v); err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("CI/CD variable updated", "variable", *v, "by", caller(r).Username)
	reply.JSON(w, http.StatusOK, h.variable(v))
}

// deleteVariable is DELETE .../variables/:key: 204.
func (h *Handler) deleteVariable(w http.ResponseWriter, r *http.Request, owner store.VariableOwner) {
	p, ok := h.params(w, r)
	if !ok {
		return
	}
	v, ok := h.findVariable(w, r, owner, p)
	if !ok {
		return
	}
	if err := h.st.Variables.DeleteVariable(r.Context(), owner, v.Key, v.EnvironmentScope); err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("CI/CD variable deleted", "variable", *v, "by", caller(r).Username)
	w.WriteHeader(http.StatusNoContent)
}

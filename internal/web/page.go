package web

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/kiln-ci/kiln/internal/api/auth"
	"github.com/kiln-ci/kiln/internal/coordinator"
)

// pageTemplate is one page: the layout with the page's "content" block.
type pageTemplate struct{ t *template.Template }

// parseTemplates parses templates/layout.html and templates/partials.html with each
// other file of templates/ as a page named after it ("job.html" is "job").
func (h *Handler) parseTemplates() (map[string]*pageTemplate, error) {
	base, err := template.New("layout").Funcs(h.funcs()).ParseFS(files, "templates/layout.html", "templates/partials.html")
	if err != nil {
		return nil, fmt.Errorf("web: parsing the layout: %w", err)
	}
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*pageTemplate{}
	for _, name := range names {
		page := strings.TrimSuffix(path.Base(name), ".html")
		if page == "layout" || page == "partials" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(files, name)
		if err != nil {
			return nil, fmt.Errorf("web: parsing %s: %w", name, err)
		}
		pages[page] = &pageTemplate{t: t}
	}
	return pages, nil
}

// view is what the layout shows around every page.
type view struct {
	Title string
	User  *auth.User
	// CSRF is the token forms carry ("" when signed out).
	CSRF string
	// Path is the request's path, to come back to after signing in.
	Path   string
	Assets string // the assets' version
	Data   any
}

// render executes a page into a buffer first, so a template error is a clean 500.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, page, title string, data any) {
	t, ok := h.pages[page]
	if !ok {
		h.serverError(w, r, fmt.Errorf("web: no page template %q", page))
		return
	}
	v := view{Title: title, User: viewer(r), CSRF: h.csrfFor(r), Path: r.URL.RequestURI(), Assets: h.assetV, Data: data}
	var b bytes.Buffer
	if s, ok := data.(interface{ sizeHint() int }); ok {
		b.Grow(s.sizeHint() + 32<<10)
	}
	if err := t.t.ExecuteTemplate(&b, "layout", v); err != nil {
		h.serverError(w, r, fmt.Errorf("web: rendering page %s: %w", page, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

type errorData struct {
	Status  int
	Heading string
	Message string
}

// errorPage shows an error in the layout. message must be safe to show.
func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request, status int, message string) {
	heading := http.StatusText(status)
	if status == http.StatusNotFound {
		heading = "Page not found"
		if message == "" {
			message = "Make sure the address is correct and the page has not moved. If it is a private project, sign in with an account that can see it."
		}
	}
	if t, ok := h.pages["error"]; ok {
		v := view{Title: heading, User: viewer(r), CSRF: h.csrfFor(r), Path: r.URL.RequestURI(), Assets: h.assetV,
			Data: errorData{Status: status, Heading: heading, Message: message}}
		var b bytes.Buffer
		if err := t.t.ExecuteTemplate(&b, "layout", v); err == nil {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(status)
			w.Write(b.Bytes())
			return
		}
	}
	http.Error(w, heading+": "+message, status)
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.errorPage(w, r, http.StatusNotFound, "")
}

// serverError logs err and shows a page without its details.
func (h *Handler) serverError(w http.ResponseWriter, r *http.Request, err error) {
	h.log.Error("web UI request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	h.errorPage(w, r, http.StatusInternalServerError, "Something went wrong on our end. The error was logged; try again.")
}

// serviceError answers a coordinator error with its kind's status and its message,
// which is safe to show; internal errors are logged and shown without details.
func (h *Handler) serviceError(w http.ResponseWriter, r *http.Request, err error) {
	var ce *coordinator.Error
	kind := coordinator.KindOf(err)
	msg := ""
	if errors.As(err, &ce) {
		msg = ce.Message
	}
	switch kind {
	case coordinator.KindInvalid:
		h.errorPage(w, r, http.StatusBadRequest, msg)
	case coordinator.KindForbidden, coordinator.KindUnauthorized:
		h.errorPage(w, r, http.StatusForbidden, msg)
	case coordinator.KindNotFound:
		h.errorPage(w, r, http.StatusNotFound, msg)
	case coordinator.KindConflict:
		h.errorPage(w, r, http.StatusConflict, msg)
	case coordinator.KindTooLarge:
		h.errorPage(w, r, http.StatusRequestEntityTooLarge, msg)
	case coordinator.KindUnavailable:
		h.errorPage(w, r, http.StatusServiceUnavailable, msg)
	default:
		h.serverError(w, r, err)
	}
}

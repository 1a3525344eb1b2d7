package storetest

import (
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/store"
)

var userTests = map[string]func(*testing.T, *env){
	"CreateUser gives the user a personal namespace on the free plan": func(t *testing.T, e *env) {
		u := &store.User{Username: "ada", Name: "Ada Lovelace", Email: "ada@example.com", Admin: true}
		must(t, e.s.Users.CreateUser(e.ctx, u))
		if u.ID == 0 || u.NamespaceID == 0 {
			t.Fatalf("ids not set: %+v", u)
		}
		equalTime(t, "CreatedAt", u.CreatedAt, e.clock.Now())
		got, err := e.s.Users.User(e.ctx, u.ID)
		must(t, err)
		if got.Username != "ada" || got.Name != "Ada Lovelace" || got.Email != "ada@example.com" || !got.Admin ||
			got.NamespaceID != u.NamespaceID {
			t.Errorf("User = %+v, want %+v", got, u)
		}
		equalTime(t, "stored CreatedAt", got.CreatedAt, u.CreatedAt)
		ns, err := e.s.Namespaces.Namespace(e.ctx, u.NamespaceID)
		must(t, err)
		if ns.Kind != store.NamespaceUser || ns.Path != "ada" || ns.FullPath != "ada" || ns.RootID != ns.ID ||
			ns.OwnerID != u.ID || ns.Plan != machine.PlanFree || ns.ParentID != 0 {
			t.Errorf("personal namespace = %+v", ns)
		}
	},
	"CreateUser refuses taken usernames, emails and paths, changing nothing": func(t *testing.T, e *env) {
		must(t, e.s.Users.CreateUser(e.ctx, &store.User{Username: "ada", Email: "ada@example.com"}))
		g := e.group(0, "")
		for _, u := range []*store.User{
			{Username: "ADA"}, // usernames are case-insensitive
			{Username: "bob", Email: "Ada@Example.com"},      // so are emails
			{Username: g.Path, Email: "someone@example.com"}, // a group has the path
		} {
			wantErr(t, e.s.Users.CreateUser(e.ctx, u), store.ErrConflict)
		}
		n, err := e.s.Users.CountUsers(e.ctx)
		must(t, err)
		if n != 1 {
			t.Errorf("CountUsers = %d after refused creations, want 1", n)
		}
		if _, err := e.s.Users.UserByUsername(e.ctx, g.Path); err == nil {
			t.Error("a user whose namespace failed was kept")
		}
	},
	"CreateUser refuses bad usernames": func(t *testing.T, e *env) {
		for _, name := range []string{"", "-ada", "a b", "ada.git", "ada/bob", strings.Repeat("a", 256)} {
			err := e.s.Users.CreateUser(e.ctx, &store.User{Username: name})
			wantErr(t, err, store.ErrInvalid)
		}
	},
	"users are found by id and username, case-insensitively": func(t *testing.T, e *env) {
		u := e.user()
		got, err := e.s.Users.UserByUsername(e.ctx, strings.ToUpper(u.Username))
		must(t, err)
		if got.ID != u.ID {
			t.Errorf("UserByUsername found %d, want %d", got.ID, u.ID)
		}
		_, err = e.s.Users.User(e.ctx, u.ID+100)
		wantErr(t, err, store.ErrNotFound)
		_, err = e.s.Users.UserByUsername(e.ctx, "nobody")
		wantErr(t, err, store.ErrNotFound)
	},
	"ListUsers pages by id and CountUsers counts": func(t *testing.T, e *env) {
		var ids []int64
		for range 5 {
			ids = append(ids, e.user().ID)
		}
		page, err := e.s.Users.ListUsers(e.ctx, store.Page{Offset: 1, Limit: 3})
		must(t, err)
		if len(page) != 3 || page[0].ID != ids[1] || page[2].ID != ids[3] {
			t.Errorf("ListUsers(offset 1, limit 3) = %v", page)
		}
		n, err := e.s.Users.CountUsers(e.ctx)
		must(t, err)
		if n != 5 {
			t.Errorf("CountUsers = %d, want 5", n)
		}
	},
	"UpdateUser saves name, email and admin": func(t *testing.T, e *env) {
		u, other := e.user(), e.user()
		other.Email = "taken@example.com"
		must(t, e.s.Users.UpdateUser(e.ctx, other))
		u.Name, u.Email, u.Admin = "New Name", "new@example.com", true
		must(t, e.s.Users.UpdateUser(e.ctx, u))
		got, err := e.s.Users.User(e.ctx, u.ID)
		must(t, err)
		if got.Name != "New Name" || got.Email != "new@example.com" || !got.Admin {
			t.Errorf("after UpdateUser: %+v", got)
		}
		u.Email = "TAKEN@example.com"
		wantErr(t, e.s.Users.UpdateUser(e.ctx, u), store.ErrConflict)
		wantErr(t, e.s.Users.UpdateUser(e.ctx, &store.User{ID: 999999}), store.ErrNotFound)
	},
	"a personal access token finds its user until revoked or expired": func(t *testing.T, e *env) {
		u := e.user()
		token, err := store.NewToken(store.PrefixPersonalAccessToken)
		must(t, err)
		pat := &store.PersonalAccessToken{UserID: u.ID, Name: "ci", Scopes: []string{"api", "read_repository"},
			ExpiresAt: e.clock.Now().Add(48 * 3600e9)}
		must(t, e.s.Users.CreateToken(e.ctx, pat, token))
		gotU, gotT, err := e.s.Users.UserByToken(e.ctx, token)
		must(t, err)
		if gotU.ID != u.ID || gotT.ID != pat.ID || gotT.Name != "ci" || strings.Join(gotT.Scopes, ",") != "api,read_repository" {
			t.Errorf("UserByToken = %+v, %+v", gotU, gotT)
		}
		equalTime(t, "ExpiresAt", gotT.ExpiresAt, pat.ExpiresAt)

		_, _, err = e.s.Users.UserByToken(e.ctx, token+"x")
		wantErr(t, err, store.ErrNotFound)
		_, _, err = e.s.Users.UserByToken(e.ctx, "")
		wantErr(t, err, store.ErrNotFound)

		e.clock.Advance(49 * 3600e9)
		_, _, err = e.s.Users.UserByToken(e.ctx, token)
		wantErr(t, err, store.ErrNotFound)
		if err != nil && strings.Contains(err.Error(), token) {
			t.Errorf("error %q reveals the token", err)
		}
	},
	"a revoked token stops working and stays listed": func(t *testing.T, e *env) {
		u := e.user()
		token, _ := store.NewToken(store.PrefixPersonalAccessToken)
		pat := &store.PersonalAccessToken{UserID: u.ID, Name: "old"}
		must(t, e.s.Users.CreateToken(e.ctx, pat, token))
		must(t, e.s.Users.RevokeToken(e.ctx, pat.ID))
		must(t, e.s.Users.RevokeToken(e.ctx, pat.ID)) // again: not an error
		_, _, err := e.s.Users.UserByToken(e.ctx, token)
		wantErr(t, err, store.ErrNotFound)
		list, err := e.s.Users.ListTokens(e.ctx, u.ID)
		must(t, err)
		if len(list) != 1 || !list[0].Revoked || list[0].Name != "old" {
			t.Errorf("ListTokens = %+v", list)
		}
		wantErr(t, e.s.Users.RevokeToken(e.ctx, pat.ID+100), store.ErrNotFound)
	},
	"CreateToken refuses a missing user, an empty name and an empty token": func(t *testing.T, e *env) {
		u := e.user()
		wantErr(t, e.s.Users.CreateToken(e.ctx, &store.PersonalAccessToken{UserID: u.ID + 100, Name: "x"}, "glpat-abc"), store.ErrNotFound)
		wantErr(t, e.s.Users.CreateToken(e.ctx, &store.PersonalAccessToken{UserID: u.ID, Name: ""}, "glpat-abc"), store.ErrInvalid)
		wantErr(t, e.s.Users.CreateToken(e.ctx, &store.PersonalAccessToken{UserID: u.ID, Name: "x"}, ""), store.ErrInvalid)
	},
}

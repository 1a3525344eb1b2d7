package storetest

import (
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/store"
)

const secretValue = "s3cr3t-Value-42"

var variableTests = map[string]func(*testing.T, *env){
	"variables keep every attribute, per owner": func(t *testing.T, e *env) {
		g := e.group(0, "")
		p := e.project(g.ID)
		for _, owner := range []store.VariableOwner{store.Instance, store.GroupOwner(g.ID), store.ProjectOwner(p.ID)} {
			v := &store.Variable{Owner: owner, Key: "DEPLOY_KEY", Value: secretValue, VariableType: store.VariableFile,
				Protected: true, Masked: true, Raw: true, EnvironmentScope: "production", Description: "deploys"}
			must(t, e.s.Variables.CreateVariable(e.ctx, v))
			list, err := e.s.Variables.ListVariables(e.ctx, owner)
			must(t, err)
			if len(list) != 1 {
				t.Fatalf("%s has %d variables, want 1", owner, len(list))
			}
			got := list[0]
			if got.ID != v.ID || got.Owner != owner || got.Key != "DEPLOY_KEY" || got.Value != secretValue ||
				got.VariableType != store.VariableFile || !got.Protected || !got.Masked || !got.Raw ||
				got.EnvironmentScope != "production" || got.Description != "deploys" {
				t.Errorf("%s: got %+v", owner, got)
			}
		}
	},
	"a key is unique per owner and environment scope": func(t *testing.T, e *env) {
		p := e.project(e.group(0, "").ID)
		owner := store.ProjectOwner(p.ID)
		must(t, e.s.Variables.CreateVariable(e.ctx, &store.Variable{Owner: owner, Key: "TOKEN", Value: secretValue}))
		must(t, e.s.Variables.CreateVariable(e.ctx, &store.Variable{Owner: owner, Key: "TOKEN", Value: "x", EnvironmentScope: "staging"}))
		must(t, e.s.Variables.CreateVariable(e.ctx, &store.Variable{Owner: store.Instance, Key: "TOKEN", Value: "y"}))
		err := e.s.Variables.CreateVariable(e.ctx, &store.Variable{Owner: owner, Key: "TOKEN", Value: secretValue + "2", EnvironmentScope: "*"})
		wantErr(t, err, store.ErrConflict)
		if strings.Contains(err.Error(), secretValue) {
			t.Errorf("error %q reveals the value", err)
		}
	},
	"CreateVariable refuses bad keys, types and owners": func(t *testing.T, e *env) {
		p := e.project(e.group(0, "").ID)
		cases := []struct {
			name string
			v    store.Variable
			want error
		}{
			{"key with a dash", store.Variable{Owner: store.ProjectOwner(p.ID), Key: "MY-KEY"}, store.ErrInvalid},
			{"empty key", store.Variable{Owner: store.ProjectOwner(p.ID)}, store.ErrInvalid},
			{"unknown type", store.Variable{Owner: store.ProjectOwner(p.ID), Key: "K", VariableType: "secret"}, store.ErrInvalid},
			{"project 0", store.Variable{Owner: store.VariableOwner{Kind: store.OwnerProject}, Key: "K"}, store.ErrInvalid},
			{"instance with an id", store.Variable{Owner: store.VariableOwner{Kind: store.OwnerInstance, ID: 3}, Key: "K"}, store.ErrInvalid},
			{"missing project", store.Variable{Owner: store.ProjectOwner(p.ID + 100), Key: "K"}, store.ErrNotFound},
			{"missing group", store.Variable{Owner: store.GroupOwner(999), Key: "K"}, store.ErrNotFound},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				v := c.v
				v.Value = secretValue
				err := e.s.Variables.CreateVariable(e.ctx, &v)
				wantErr(t, err, c.want)
				if strings.Contains(err.Error(), secretValue) {
					t.Errorf("error %q reveals the value", err)
				}
			})
		}
	},
	"UpdateVariable and DeleteVariable find a variable by owner, key and scope": func(t *testing.T, e *env) {
		g := e.group(0, "")
		owner := store.GroupOwner(g.ID)
		v := &store.Variable{Owner: owner, Key: "K", Value: "old"}
		must(t, e.s.Variables.CreateVariable(e.ctx, v))
		v.Value, v.Masked, v.Protected, v.Raw, v.VariableType, v.Description = "newvalue", true, true, true, store.VariableFile, "d"
		must(t, e.s.Variables.UpdateVariable(e.ctx, v))
		list, err := e.s.Variables.ListVariables(e.ctx, owner)
		must(t, err)
		if len(list) != 1 || list[0].Value != "newvalue" || !list[0].Masked || !list[0].Protected || !list[0].Raw ||
			list[0].VariableType != store.VariableFile || list[0].Description != "d" {
			t.Errorf("after UpdateVariable: %+v", list)
		}
		missing := *v
		missing.EnvironmentScope = "production"
		wantErr(t, e.s.Variables.UpdateVariable(e.ctx, &missing), store.ErrNotFound)
		wantErr(t, e.s.Variables.DeleteVariable(e.ctx, owner, "K", "production"), store.ErrNotFound)
		must(t, e.s.Variables.DeleteVariable(e.ctx, owner, "K", ""))
		wantErr(t, e.s.Variables.DeleteVariable(e.ctx, owner, "K", "*"), store.ErrNotFound)
		list, err = e.s.Variables.ListVariables(e.ctx, owner)
		must(t, err)
		if len(list) != 0 {
			t.Errorf("after DeleteVariable: %+v", list)
		}
	},
	"VariablesForProject orders by precedence: instance, groups top-down, project": func(t *testing.T, e *env) {
		root := e.group(0, "")
		sub := e.group(root.ID, "")
		p := e.project(sub.ID)
		other := e.project(e.group(0, "").ID)
		add := func(owner store.VariableOwner, key, value string) {
			must(t, e.s.Variables.CreateVariable(e.ctx, &store.Variable{Owner: owner, Key: key, Value: value}))
		}
		add(store.ProjectOwner(p.ID), "A", "project")
		add(store.GroupOwner(sub.ID), "A", "subgroup")
		add(store.Instance, "B", "instance")
		add(store.GroupOwner(root.ID), "A", "root")
		add(store.Instance, "A", "instance")
		add(store.ProjectOwner(other.ID), "A", "other project")
		list, err := e.s.Variables.VariablesForProject(e.ctx, p.ID)
		must(t, err)
		var got []string
		for _, v := range list {
			got = append(got, v.Key+"="+v.Value)
		}
		want := "A=instance B=instance A=root A=subgroup A=project"
		if strings.Join(got, " ") != want {
			t.Errorf("VariablesForProject = %v, want %s", got, want)
		}
		_, err = e.s.Variables.VariablesForProject(e.ctx, p.ID+100)
		wantErr(t, err, store.ErrNotFound)
	},
}

package git_test

import (
	"context"
	"log"
	"net/http"

	"github.com/kiln-ci/kiln/internal/git"
)

// The API mounts the Handler beside /api/v4 and decides access with its tokens.
func ExampleHandler() {
	ctx := context.Background()
	repos, err := git.NewManager(ctx, git.Config{Root: "/var/lib/kiln/repositories"})
	if err != nil {
		log.Fatal(err)
	}
	auth := git.AuthorizerFunc(func(ctx context.Context, req git.AuthRequest) (string, error) {
		if req.Credentials == nil {
			return "", git.ErrUnauthorized // answered with the 401 challenge git needs
		}
		if req.Credentials.Username == "gitlab-ci-token" {
			// A job token: read access to its own project while its job runs.
			// (Look the token up here.)
			if req.Access == git.Write {
				return "", git.ErrForbidden
			}
			return "job:123", nil
		}
		// A personal access token: look up the user and their role in the project.
		return "user:42", nil
	})
	gitHandler, err := git.NewHandler(git.HandlerConfig{
		Repos:      repos,
		Authorizer: auth,
		OnPush: func(ctx context.Context, push git.Push) error {
			for _, u := range push.Updates {
				if branch, ok := u.Branch(); ok && !u.Deleted() {
					log.Printf("create a pipeline for %s on %s at %s", push.Project, branch, u.NewSHA)
				}
			}
			return nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := gitHandler.ReplayPushes(ctx); err != nil { // pushes a crash left unannounced
		log.Print(err)
	}
	api := http.NewServeMux() // the /api/v4 routes
	http.ListenAndServe("127.0.0.1:8080", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if git.IsGitPath(r.URL.Path) {
			gitHandler.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	}))
}

// The pipeline compiler reads a commit's files through an fs.FS.
func ExampleRepo_TreeFS() {
	ctx := context.Background()
	repos, err := git.NewManager(ctx, git.Config{Root: "/var/lib/kiln/repositories"})
	if err != nil {
		log.Fatal(err)
	}
	repo, err := repos.Open("group/project")
	if err != nil {
		log.Fatal(err)
	}
	tree, err := repo.TreeFS(ctx, "main")
	if err != nil {
		log.Fatal(err)
	}
	defer tree.Close()
	config, err := tree.ReadFile(".gitlab-ci.yml")
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("%d bytes of CI configuration at %s", len(config), tree.Commit().SHA)
}

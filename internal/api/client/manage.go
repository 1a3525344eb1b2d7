package client

import (
	"context"
	"net/url"
	"strconv"

	"github.com/kiln-ci/kiln/internal/api/entity"
)

// CreateGroupOptions are the fields of POST /groups; Plan (Kiln's: free, premium or
// ultimate) may be set by administrators on a top-level group only.
type CreateGroupOptions struct {
	Name     string `json:"name"`
	Path     string `json:"path"`
	ParentID int64  `json:"parent_id,omitempty"`
	Plan     string `json:"plan,omitempty"`
}

// CreateGroup is POST /groups.
func (c *Client) CreateGroup(ctx context.Context, o CreateGroupOptions) (*entity.Group, error) {
	var g entity.Group
	_, err := c.do(ctx, "POST", "/groups", nil, o, &g)
	return &g, err
}

// SetPlan is Kiln's PUT /namespaces/:id with a plan (administrators; top-level
// namespaces only).
func (c *Client) SetPlan(ctx context.Context, idOrPath, plan string) (*entity.Namespace, error) {
	var ns entity.Namespace
	_, err := c.do(ctx, "PUT", "/namespaces/"+url.PathEscape(idOrPath), nil, map[string]string{"plan": plan}, &ns)
	return &ns, err
}

// DeleteRunner is DELETE /runners/:id: the runner and its token are gone.
func (c *Client) DeleteRunner(ctx context.Context, id int64) error {
	_, err := c.do(ctx, "DELETE", "/runners/"+strconv.FormatInt(id, 10), nil, nil, nil)
	return err
}

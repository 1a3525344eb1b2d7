package userapi

import (
	"net/http"

	"github.com/kiln-ci/kiln/internal/api/entity"
	"github.com/kiln-ci/kiln/internal/api/reply"
	"github.com/kiln-ci/kiln/internal/version"
)

// version is GET /version: {"version", "revision", "enterprise"}.
func (h *Handler) version(w http.ResponseWriter, r *http.Request) {
	reply.JSON(w, http.StatusOK, entity.Version{Version: version.Version, Revision: version.Rev()})
}

// metadata is GET /metadata, GitLab's newer form of /version.
func (h *Handler) metadata(w http.ResponseWriter, r *http.Request) {
	reply.JSON(w, http.StatusOK, map[string]any{
		"version": version.Version, "revision": version.Rev(), "enterprise": false,
		"kas": map[string]any{"enabled": false, "externalUrl": nil, "version": nil},
	})
}

// machineTypes is Kiln's GET /machine_types: the catalog, in its configured order.
func (h *Handler) machineTypes(w http.ResponseWriter, r *http.Request) {
	types := h.svc.Catalog().Types()
	out := make([]entity.MachineType, 0, len(types))
	for _, t := range types {
		mt := entity.MachineType{
			Tag: t.Tag, Description: t.Description, VCPU: t.VCPU, MemoryBytes: t.MemoryBytes, DiskBytes: t.DiskBytes,
			GPU: entity.GPU{Count: t.GPU.Count, Model: t.GPU.Model, MemoryMinBytes: t.GPU.MemoryMinBytes,
				MemoryLabel: t.GPU.MemoryLabel, MIGProfile: t.GPU.MIGProfile},
			CostFactor: t.CostFactor, Plans: t.Plans, Untagged: t.Untagged, MaxTimeoutSeconds: int(t.MaxTimeout.Seconds()),
		}
		if mt.Plans == nil {
			mt.Plans = []string{}
		}
		out = append(out, mt)
	}
	reply.JSON(w, http.StatusOK, out)
}

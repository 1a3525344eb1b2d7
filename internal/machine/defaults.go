package machine

import "time"

// Byte sizes.
const (
	KiB uint64 = 1 << 10
	MiB uint64 = 1 << 20
	GiB uint64 = 1 << 30
	GB  uint64 = 1_000_000_000
)

// HostedMaxTimeout is GitLab's cap on hosted jobs whatever the project says.
const HostedMaxTimeout = 3 * time.Hour

// Tags of the default catalog.
const (
	TagSmall     = "saas-linux-small-amd64"
	TagMedium    = "saas-linux-medium-amd64"
	TagLarge     = "saas-linux-large-amd64"
	TagXLarge    = "saas-linux-xlarge-amd64"
	Tag2XLarge   = "saas-linux-2xlarge-amd64"
	TagGPUMedium = "saas-linux-medium-amd64-gpu-standard"
)

// Defaults returns GitLab.com's hosted Linux machine types (architecture.md), the
// catalog a server starts with unless configured otherwise.
func Defaults() []Type {
	paid := []string{PlanPremium, PlanUltimate}
	return []Type{
		{Tag: TagSmall, Description: "Linux small (untagged jobs)", VCPU: 2, MemoryBytes: 8 * GB, DiskBytes: 30 * GB,
			CostFactor: 1, Untagged: true, MaxTimeout: HostedMaxTimeout, PIDsLimit: 4096},
		{Tag: TagMedium, Description: "Linux medium", VCPU: 4, MemoryBytes: 16 * GB, DiskBytes: 50 * GB,
			CostFactor: 2, MaxTimeout: HostedMaxTimeout, PIDsLimit: 8192},
		{Tag: TagLarge, Description: "Linux large", VCPU: 8, MemoryBytes: 32 * GB, DiskBytes: 100 * GB,
			CostFactor: 3, Plans: paid, MaxTimeout: HostedMaxTimeout, PIDsLimit: 16384},
		{Tag: TagXLarge, Description: "Linux xlarge", VCPU: 16, MemoryBytes: 64 * GB, DiskBytes: 200 * GB,
			CostFactor: 6, Plans: paid, MaxTimeout: HostedMaxTimeout, PIDsLimit: 32768},
		{Tag: Tag2XLarge, Description: "Linux 2xlarge", VCPU: 32, MemoryBytes: 128 * GB, DiskBytes: 200 * GB,
			CostFactor: 12, Plans: paid, MaxTimeout: HostedMaxTimeout, PIDsLimit: 65536},
		{Tag: TagGPUMedium, Description: "Linux medium with one Tesla T4-class GPU", VCPU: 4, MemoryBytes: 15 * GB,
			DiskBytes: 50 * GB, CostFactor: 7, Plans: paid, MaxTimeout: HostedMaxTimeout, PIDsLimit: 8192,
			// A T4 reports 15360 MiB; "16 GB" is its advertised size.
			GPU: GPU{Count: 1, MemoryMinBytes: 15 * GiB, MemoryLabel: "16 GB"}},
	}
}

// DefaultCatalog returns the default catalog.
func DefaultCatalog() *Catalog {
	c, err := NewCatalog(Defaults())
	if err != nil {
		panic("machine: default catalog is invalid: " + err.Error())
	}
	return c
}

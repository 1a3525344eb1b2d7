-- Kiln coordinator schema, SQLite dialect. Times are TIMESTAMP columns holding Unix
-- microseconds (the driver maps them to time.Time); JSON is TEXT; booleans are 0/1.

CREATE TABLE users (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    username     TEXT NOT NULL,
    name         TEXT NOT NULL DEFAULT '',
    email        TEXT,
    admin        BOOLEAN NOT NULL DEFAULT FALSE,
    namespace_id INTEGER,
    created_at   TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX users_username ON users (lower(username));
CREATE UNIQUE INDEX users_email ON users (lower(email));

CREATE TABLE personal_access_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    scopes     TEXT NOT NULL DEFAULT '[]',
    expires_at TIMESTAMP,
    revoked    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX personal_access_tokens_user ON personal_access_tokens (user_id);

CREATE TABLE namespaces (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL CHECK (kind IN ('user', 'group')),
    name       TEXT NOT NULL,
    path       TEXT NOT NULL,
    full_path  TEXT NOT NULL,
    parent_id  INTEGER REFERENCES namespaces (id),
    root_id    INTEGER REFERENCES namespaces (id),
    owner_id   INTEGER REFERENCES users (id),
    plan       TEXT CHECK (plan IN ('free', 'premium', 'ultimate')),
    created_at TIMESTAMP NOT NULL,
    CHECK ((parent_id IS NULL) = (plan IS NOT NULL))
);
CREATE UNIQUE INDEX namespaces_full_path ON namespaces (lower(full_path));
CREATE INDEX namespaces_parent ON namespaces (parent_id);

CREATE TABLE projects (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace_id      INTEGER NOT NULL REFERENCES namespaces (id),
    root_namespace_id INTEGER NOT NULL REFERENCES namespaces (id),
    name              TEXT NOT NULL,
    path              TEXT NOT NULL,
    full_path         TEXT NOT NULL,
    description       TEXT NOT NULL DEFAULT '',
    default_branch    TEXT NOT NULL,
    visibility        TEXT NOT NULL CHECK (visibility IN ('private', 'internal', 'public')),
    ci_config_path    TEXT NOT NULL,
    creator_id        INTEGER,
    pipeline_iid      INTEGER NOT NULL DEFAULT 0,
    created_at        TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX projects_full_path ON projects (lower(full_path));
CREATE INDEX projects_namespace ON projects (namespace_id);

CREATE TABLE ci_variables (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_kind        TEXT NOT NULL CHECK (owner_kind IN ('instance', 'group', 'project')),
    group_id          INTEGER REFERENCES namespaces (id) ON DELETE CASCADE,
    project_id        INTEGER REFERENCES projects (id) ON DELETE CASCADE,
    key               TEXT NOT NULL,
    value             TEXT NOT NULL,
    variable_type     TEXT NOT NULL CHECK (variable_type IN ('env_var', 'file')),
    protected         BOOLEAN NOT NULL DEFAULT FALSE,
    masked            BOOLEAN NOT NULL DEFAULT FALSE,
    raw               BOOLEAN NOT NULL DEFAULT FALSE,
    environment_scope TEXT NOT NULL DEFAULT '*',
    description       TEXT NOT NULL DEFAULT '',
    CHECK ((owner_kind = 'instance' AND group_id IS NULL AND project_id IS NULL)
        OR (owner_kind = 'group' AND group_id IS NOT NULL AND project_id IS NULL)
        OR (owner_kind = 'project' AND group_id IS NULL AND project_id IS NOT NULL))
);
CREATE UNIQUE INDEX ci_variables_key ON ci_variables
    (owner_kind, coalesce(group_id, 0), coalesce(project_id, 0), key, environment_scope);

CREATE TABLE pipelines (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id  INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    iid         INTEGER NOT NULL,
    ref         TEXT NOT NULL,
    tag         BOOLEAN NOT NULL DEFAULT FALSE,
    protected   BOOLEAN NOT NULL DEFAULT FALSE,
    sha         TEXT NOT NULL,
    before_sha  TEXT NOT NULL DEFAULT '',
    source      TEXT NOT NULL,
    status      TEXT NOT NULL,
    name        TEXT NOT NULL DEFAULT '',
    yaml_errors TEXT NOT NULL DEFAULT '',
    user_id     INTEGER,
    variables   TEXT NOT NULL DEFAULT '[]',
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    started_at  TIMESTAMP,
    finished_at TIMESTAMP,
    UNIQUE (project_id, iid)
);
CREATE INDEX pipelines_project ON pipelines (project_id, id);

CREATE TABLE jobs (
    id                       INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline_id              INTEGER NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    project_id               INTEGER NOT NULL,
    root_namespace_id        INTEGER NOT NULL,
    user_id                  INTEGER,
    name                     TEXT NOT NULL,
    stage                    TEXT NOT NULL,
    stage_idx                INTEGER NOT NULL DEFAULT 0,
    status                   TEXT NOT NULL,
    when_condition           TEXT NOT NULL,
    allow_failure            BOOLEAN NOT NULL DEFAULT FALSE,
    allow_failure_exit_codes TEXT NOT NULL DEFAULT '[]',
    needs                    TEXT NOT NULL DEFAULT '[]',
    dependencies             TEXT NOT NULL DEFAULT '[]',
    retry                    TEXT NOT NULL DEFAULT '{}',
    attempt                  INTEGER NOT NULL DEFAULT 1,
    retried                  BOOLEAN NOT NULL DEFAULT FALSE,
    protected                BOOLEAN NOT NULL DEFAULT FALSE,
    timeout_seconds          INTEGER NOT NULL DEFAULT 0,
    tags                     TEXT NOT NULL DEFAULT '[]',
    machine_type             TEXT NOT NULL DEFAULT '',
    gpu_count                INTEGER NOT NULL DEFAULT 0,
    gpu_request              TEXT NOT NULL DEFAULT '{}',
    payload                  TEXT,
    token_hash               BLOB UNIQUE,
    runner_id                INTEGER,
    created_at               TIMESTAMP NOT NULL,
    queued_at                TIMESTAMP,
    started_at               TIMESTAMP,
    finished_at              TIMESTAMP,
    updated_at               TIMESTAMP NOT NULL,
    scheduled_at             TIMESTAMP,
    failure_reason           TEXT NOT NULL DEFAULT '',
    exit_code                INTEGER,
    coverage                 REAL,
    kiln_message             TEXT NOT NULL DEFAULT '',
    gpu_telemetry            TEXT,
    trace_size               INTEGER NOT NULL DEFAULT 0,
    trace_crc32              INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_pipeline ON jobs (pipeline_id, id);
CREATE INDEX jobs_project ON jobs (project_id, id);
CREATE INDEX jobs_runner ON jobs (runner_id, id);
-- The claim scans pending jobs in id order and counts running jobs per namespace.
CREATE INDEX jobs_pending ON jobs (id) WHERE status = 'pending';
CREATE INDEX jobs_running_namespace ON jobs (root_namespace_id) WHERE status = 'running';
CREATE INDEX jobs_active_updated ON jobs (updated_at) WHERE status IN ('running', 'canceling');
CREATE INDEX jobs_scheduled ON jobs (scheduled_at) WHERE status = 'scheduled';

CREATE TABLE job_tags (
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    tag    TEXT NOT NULL,
    PRIMARY KEY (job_id, tag)
);

CREATE TABLE trace_chunks (
    job_id       INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    start_offset INTEGER NOT NULL,
    data         BLOB NOT NULL,
    PRIMARY KEY (job_id, start_offset)
);

CREATE TABLE artifacts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id     INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    project_id INTEGER NOT NULL,
    file_type  TEXT NOT NULL,
    format     TEXT NOT NULL,
    filename   TEXT NOT NULL,
    size       INTEGER NOT NULL CHECK (size >= 0),
    sha256     TEXT NOT NULL,
    blob_key   TEXT NOT NULL,
    expire_at  TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (job_id, file_type)
);
CREATE INDEX artifacts_expire_at ON artifacts (expire_at) WHERE expire_at IS NOT NULL;

CREATE TABLE runners (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    runner_type      TEXT NOT NULL CHECK (runner_type IN ('instance_type', 'group_type', 'project_type')),
    namespace_id     INTEGER REFERENCES namespaces (id) ON DELETE CASCADE,
    project_id       INTEGER REFERENCES projects (id) ON DELETE CASCADE,
    description      TEXT NOT NULL DEFAULT '',
    tags             TEXT NOT NULL DEFAULT '[]',
    run_untagged     BOOLEAN NOT NULL DEFAULT TRUE,
    paused           BOOLEAN NOT NULL DEFAULT FALSE,
    locked           BOOLEAN NOT NULL DEFAULT FALSE,
    access_level     TEXT NOT NULL CHECK (access_level IN ('not_protected', 'ref_protected')),
    maximum_timeout  INTEGER NOT NULL DEFAULT 0,
    machine_type     TEXT NOT NULL DEFAULT '',
    token_hash       BLOB NOT NULL UNIQUE,
    short_token      TEXT NOT NULL DEFAULT '',
    token_expires_at TIMESTAMP,
    creator_id       INTEGER,
    created_at       TIMESTAMP NOT NULL,
    contacted_at     TIMESTAMP,
    version          TEXT NOT NULL DEFAULT '',
    revision         TEXT NOT NULL DEFAULT '',
    platform         TEXT NOT NULL DEFAULT '',
    architecture     TEXT NOT NULL DEFAULT '',
    executor         TEXT NOT NULL DEFAULT '',
    ip_address       TEXT NOT NULL DEFAULT '',
    gpu_inventory    TEXT
);

CREATE TABLE runner_managers (
    runner_id     INTEGER NOT NULL REFERENCES runners (id) ON DELETE CASCADE,
    system_id     TEXT NOT NULL,
    version       TEXT NOT NULL DEFAULT '',
    revision      TEXT NOT NULL DEFAULT '',
    platform      TEXT NOT NULL DEFAULT '',
    architecture  TEXT NOT NULL DEFAULT '',
    executor      TEXT NOT NULL DEFAULT '',
    ip_address    TEXT NOT NULL DEFAULT '',
    gpu_inventory TEXT,
    created_at    TIMESTAMP NOT NULL,
    contacted_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (runner_id, system_id)
);

CREATE TABLE registration_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash   BLOB NOT NULL UNIQUE,
    runner_type  TEXT NOT NULL CHECK (runner_type IN ('instance_type', 'group_type', 'project_type')),
    namespace_id INTEGER REFERENCES namespaces (id) ON DELETE CASCADE,
    project_id   INTEGER REFERENCES projects (id) ON DELETE CASCADE,
    created_at   TIMESTAMP NOT NULL
);

CREATE TABLE compute_usage (
    root_namespace_id INTEGER NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    month             TEXT NOT NULL,
    minutes           REAL NOT NULL DEFAULT 0,
    warned            INTEGER NOT NULL DEFAULT -1,
    PRIMARY KEY (root_namespace_id, month)
);

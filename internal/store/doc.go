// Package store is the coordinator's storage: the records it keeps (users and their
// tokens, namespaces with plans, projects, CI/CD variables, pipelines, jobs, traces,
// artifacts, runners, compute usage) and one small interface per aggregate to keep them.
//
// Engines implement the interfaces: store/sqlite (the default, one file under the data
// directory) and store/postgres (several coordinator replicas on one database). Both are
// built on store/sqlstore and pass one conformance suite, store/storetest. Artifact
// contents live outside the database behind ArtifactBlobs (store/blobfs keeps them on
// the filesystem). store/engine opens the engine a configuration names.
//
// Conventions every implementation keeps:
//
//   - Every method takes a context first and is safe for concurrent use.
//   - Errors wrap a sentinel a caller can branch on with errors.Is: ErrNotFound,
//     ErrConflict (a uniqueness constraint, or a compare-and-set that lost a race),
//     ErrInvalid (bad input: nothing was changed), ErrRangeMismatch (a trace append at
//     the wrong offset), ErrSchemaTooNew (the database was migrated by a newer Kiln).
//   - A method that fails changes nothing: each write is one transaction.
//   - Timestamps are UTC with microsecond precision and come from the store's clock;
//     a zero time.Time means "not set" (NULL).
//   - Secrets (token plaintexts, variable values) never appear in an error or a log.
//     Tokens are stored only as SHA-256 hashes (HashToken) and looked up by hash.
//
// Only the coordinator side imports this package (internal/coordinator, api, web, and
// cmd for wiring); the runner side must not.
package store

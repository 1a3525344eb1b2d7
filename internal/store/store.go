package store

import "io"

// Store is one database's aggregates. An engine (store/sqlite, store/postgres, or
// store/engine for either) fills every field; callers take the parts they need.
type Store struct {
	Users      Users
	Namespaces Namespaces
	Projects   Projects
	Variables  Variables
	Pipelines  Pipelines
	Jobs       Jobs
	Traces     Traces
	Artifacts  Artifacts
	Runners    Runners
	Usage      Usage
	Notifier   Notifier

	// Engine names the engine, "sqlite" or "postgres", for logs and metrics.
	Engine string
	// Closer releases the database and ends every Listen; Close calls it.
	Closer io.Closer
}

// Close releases the store. Calls after the first return nil.
func (s *Store) Close() error {
	if s.Closer == nil {
		return nil
	}
	c := s.Closer
	s.Closer = nil
	return c.Close()
}

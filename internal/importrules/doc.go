// Package importrules holds no code, only a test that enforces the direction of imports
// between Kiln's packages (architecture.md): the coordinator side and the runner side
// never import each other, shared packages import neither, and the pipeline compiler
// does no I/O of its own.
package importrules

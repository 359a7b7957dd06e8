// Package readmodel owns the served documents: building them from the staged
// export, swapping a new build in atomically, rolling back, and reading them.
//
// Every build lives in its own schema (elier_b<id>); elier.builds records
// which build is live and which is kept for rollback, and the view
// elier.docs points at the live one. See docs/ARCHITECTURE.md.
package readmodel

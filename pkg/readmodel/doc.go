// Package readmodel is the catalogue's read side: what the API reads of the
// live build (its documents, list order and build id) and how it learns of
// a new one. It never writes; pkg/build owns the builds.
//
// elier.builds records which build is live; the view elier.docs shows the
// live build's documents and elier.list_ids its list order. See
// docs/ARCHITECTURE.md.
package readmodel

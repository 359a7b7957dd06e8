// Package faults is the fault, load and bad-input suite of the catalogue.
// Its tests start the real programs (bin/elier-etl and bin/elier-api) as
// subprocesses against a PostgreSQL cluster of their own (.faults/pg, port
// 25435, so that stopping it never disturbs the developers' cluster), break
// things on purpose (a rebuild under load, a loader killed with SIGKILL, the
// database restarted, SIGTERM, hostile clients, bad exports, a soak) and
// print one line of figures per scenario.
//
// The tests are behind the build tag faults, so `go test ./...` skips them:
// `make faults` runs the full form, `make faults-short` the short one (-short).
// docs/RELIABILITY.md describes each scenario and the figures of a run.
package faults

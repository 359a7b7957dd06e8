// Package deploy holds the deployment's configuration and the tests that
// run the tools that consume it. The scaled-out topology, shared by
// scripts/cluster.sh (the cluster on this machine) and compose.yaml: the
// ports and settings (cluster.env), nginx's template (nginx.conf.tmpl),
// PostgreSQL's settings and authentication (postgresql.conf, pg_hba.conf)
// and compose's secrets (compose-secrets.sh); loadcheck is the script's load
// driver. Production artefacts: systemd units and timer (systemd/, checked
// by systemd-analyze verify and by running their ExecStart lines),
// Kubernetes manifests (k8s/, decoded strictly into the k8s.io/api types by
// a test-only package of their own) and Prometheus alerts (prometheus/,
// promtool check rules and test rules).
package deploy

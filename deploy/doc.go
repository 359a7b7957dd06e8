// Package deploy holds the scaled-out deployment's configuration, shared by
// scripts/cluster.sh (the cluster on this machine) and compose.yaml: the
// ports and settings (cluster.env), nginx's template (nginx.conf.tmpl) and
// PostgreSQL's settings (postgresql.conf). Its test checks that compose.yaml
// runs what the script runs; loadcheck is the script's load driver.
package deploy

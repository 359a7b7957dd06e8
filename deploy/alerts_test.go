package deploy

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type ruleFile struct {
	Groups []struct {
		Rules []struct {
			Alert string `yaml:"alert"`
			Expr  string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

type ruleTests struct {
	Tests []struct {
		AlertRuleTest []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// TestAlerts has promtool check the rules and run their unit tests
// (deploy/prometheus/alerts_test.yml), and checks that every alert has a
// case where it fires and one where it stays quiet, and that every elier_
// series an alert reads is one the API exports.
func TestAlerts(t *testing.T) {
	promtool := needTool(t, "promtool")
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	var rules ruleFile
	var tests ruleTests
	readYAML(t, "prometheus/alerts.yml", &rules)
	readYAML(t, "prometheus/alerts_test.yml", &tests)
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	exported, err := os.ReadFile("../pkg/api/metrics.go")
	if err != nil {
		t.Fatal(err)
	}
	series := regexp.MustCompile(`\belier_[a-z0-9_]+`)
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if !fires[r.Alert] || !quiet[r.Alert] {
				t.Errorf("alert %s: a firing case %v, a quiet case %v; want both", r.Alert, fires[r.Alert], quiet[r.Alert])
			}
			for _, s := range series.FindAllString(r.Expr, -1) {
				base := strings.TrimSuffix(s, "_bucket")
				if !strings.Contains(string(exported), `"`+base) && !strings.Contains(string(exported), "`"+base) {
					t.Errorf("alert %s reads %s, which pkg/api/metrics.go does not export", r.Alert, s)
				}
			}
		}
	}
	if n < 5 {
		t.Errorf("%d alerts; want at least staleness, 5xx, latency, replay lag and API down", n)
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

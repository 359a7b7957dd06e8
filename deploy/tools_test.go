package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// needTool returns the path of a program a test runs. When it is missing,
// the test is skipped on a developer's machine but fails in CI (CI=true):
// .ci/run installs every tool the tests use, and a skipped check there
// would pass silently.
func needTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin"} {
		if p := filepath.Join(dir, name); isExecutable(p) {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed, and CI is set: .ci/run should have installed it", name)
	}
	t.Skipf("%s is not installed (CI installs it)", name)
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// buildPrograms builds elier-etl and elier-api, once for the package's
// tests, and returns their directory.
func buildPrograms(t *testing.T) string {
	t.Helper()
	builds.once.Do(func() { builds.dir, builds.err = buildInto() })
	if builds.err != nil {
		t.Fatal(builds.err)
	}
	return builds.dir
}

// builds is the tests' one build of the programs (removed by TestMain).
var builds struct {
	once sync.Once
	dir  string
	err  error
}

func buildInto() (string, error) {
	dir, err := os.MkdirTemp("", "elier-deploy-test-")
	if err != nil {
		return "", err
	}
	for _, p := range []struct{ out, pkg string }{{"elier-etl", "../cmd/etl"}, {"elier-api", "../cmd/api"}} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, p.out), p.pkg)
		if out, err := cmd.CombinedOutput(); err != nil {
			return dir, fmt.Errorf("go build %s: %w\n%s", p.pkg, err, out)
		}
	}
	return dir, nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
	}
	os.Exit(code)
}

package deploy

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/elier/catalogue/internal/pgtest"
)

// unit is a systemd unit file: section → key → values in order.
type unit map[string]map[string][]string

func readUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: bad line %q", path, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

func (u unit) get(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

var envRef = regexp.MustCompile(`\$\{([A-Z_][A-Z0-9_]*)\}`)

// execStart expands the unit's ExecStart line as systemd would for the
// specifiers and variables it uses (%d the credentials directory, %S the
// state directory root, ${VAR} from Environment= unless overridden) and
// splits it into words; the line may use nothing else.
func (u unit) execStart(t *testing.T, specifiers map[string]string, override map[string]string) []string {
	t.Helper()
	env := map[string]string{}
	for _, e := range u["Service"]["Environment"] {
		k, v, _ := strings.Cut(e, "=")
		env[k] = v
	}
	for k, v := range override {
		env[k] = v
	}
	line := u.get("Service", "ExecStart")
	if strings.ContainsAny(line, `"'\`) {
		t.Fatalf("ExecStart uses quoting this test does not expand: %s", line)
	}
	var args []string
	for _, w := range strings.Fields(line) {
		w = envRef.ReplaceAllStringFunc(w, func(m string) string {
			v, ok := env[m[2:len(m)-1]]
			if !ok {
				t.Fatalf("ExecStart uses %s, set by no Environment=", m)
			}
			return v
		})
		for k, v := range specifiers {
			w = strings.ReplaceAll(w, k, v)
		}
		if strings.Contains(w, "%") {
			t.Fatalf("ExecStart word %q has a specifier this test does not know", w)
		}
		args = append(args, w)
	}
	return args
}

// unitsWithBinaries copies the units into a directory, pointing their
// ExecStart at freshly built programs (systemd-analyze checks that the
// executables exist).
func unitsWithBinaries(t *testing.T, bin string) string {
	t.Helper()
	dir := t.TempDir()
	paths, err := filepath.Glob("systemd/*")
	if err != nil || len(paths) != 3 {
		t.Fatalf("deploy/systemd holds %v (%v); want the two services and the timer", paths, err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b = []byte(strings.ReplaceAll(string(b), "/usr/local/bin/", bin+"/"))
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(p)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestSystemdUnits: systemd-analyze verify accepts the units without a
// warning, and they say what docs/DEPLOY.md says they do.
func TestSystemdUnits(t *testing.T) {
	analyze := needTool(t, "systemd-analyze")
	bin := buildPrograms(t)
	dir := unitsWithBinaries(t, bin)
	cmd := exec.Command(analyze, "verify", "--man=no", "elier-etl-load.service", "elier-etl-load.timer", "elier-api.service")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}

	load := readUnit(t, "systemd/elier-etl-load.service")
	for _, want := range [][3]string{
		{"Service", "Type", "oneshot"},
		{"Service", "DynamicUser", "yes"},
		{"Service", "ProtectSystem", "strict"},
		{"Service", "NoNewPrivileges", "yes"},
	} {
		if got := load.get(want[0], want[1]); got != want[2] {
			t.Errorf("elier-etl-load.service: %s=%q, want %q", want[1], got, want[2])
		}
	}
	if !slices.Contains(strings.Fields(load.get("Service", "SuccessExitStatus")), "75") {
		t.Error("elier-etl-load.service: exit 75 (another load running) is not a success")
	}
	if !strings.Contains(load.get("Service", "ExecStart"), " load --if-changed ") {
		t.Error("elier-etl-load.service does not run load --if-changed")
	}
	timer := readUnit(t, "systemd/elier-etl-load.timer")
	if timer.get("Timer", "Persistent") != "true" || timer.get("Timer", "RandomizedDelaySec") == "" || timer.get("Timer", "OnCalendar") == "" {
		t.Errorf("elier-etl-load.timer: %v", timer["Timer"])
	}
	api := readUnit(t, "systemd/elier-api.service")
	if api.get("Service", "Restart") != "on-failure" || api.get("Service", "LimitNOFILE") == "" {
		t.Errorf("elier-api.service: %v", api["Service"])
	}
	// systemd's SIGKILL must come after the API's own deadline.
	stop, err := time.ParseDuration(api.get("Service", "TimeoutStopSec"))
	if err != nil {
		t.Fatal(err)
	}
	if grace := flagValue(api.get("Service", "ExecStart"), "--shutdown-timeout"); grace == "" {
		t.Error("elier-api.service does not set --shutdown-timeout")
	} else if d, err := time.ParseDuration(grace); err != nil || d >= stop {
		t.Errorf("--shutdown-timeout %s is not below TimeoutStopSec %s", grace, stop)
	}
	// Secrets come from credentials, never from the units.
	for _, u := range []unit{load, api} {
		if u.get("Service", "LoadCredential") == "" || !strings.Contains(u.get("Service", "ExecStart"), "--database-url-file %d/") {
			t.Errorf("a service does not read its database URL from a credential: %v", u["Service"])
		}
		for _, e := range u["Service"]["Environment"] {
			if strings.Contains(e, "DATABASE_URL") || strings.Contains(e, "PASSWORD") {
				t.Errorf("a secret in the unit: Environment=%s", e)
			}
		}
	}
}

func flagValue(line, name string) string {
	f := strings.Fields(line)
	for i := range f {
		if f[i] == name && i+1 < len(f) {
			return f[i+1]
		}
	}
	return ""
}

// TestSystemdExecStart runs the services' ExecStart lines, as the units
// write them, against the test database: the load loads, loads nothing the
// second time, and its exit while another load holds the lock is one the
// unit counts as success; the API serves and stops cleanly on SIGTERM
// within the unit's stop timeout.
func TestSystemdExecStart(t *testing.T) {
	bin := buildPrograms(t)
	db := pgtest.NewDatabase(t)
	creds, state := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(creds, "database-url"), []byte(db+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(state, "elier"), 0o700); err != nil { // StateDirectory=elier
		t.Fatal(err)
	}
	spec := map[string]string{"%d": creds, "%S": state}
	export, err := filepath.Abs("../testdata/atelier-sample")
	if err != nil {
		t.Fatal(err)
	}
	load := readUnit(t, "systemd/elier-etl-load.service")
	args := load.execStart(t, spec, map[string]string{"ELIER_EXPORT": export})
	args[0] = strings.Replace(args[0], "/usr/local/bin", bin, 1)
	runLoad := func() int {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")} // systemd's clean environment: no DATABASE_URL
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return 0
	}
	if code := runLoad(); code != 0 {
		t.Fatalf("the load's ExecStart: exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(state, "elier", "summary.json")); err != nil {
		t.Errorf("no summary in the state directory: %v", err)
	}
	if code := runLoad(); code != 0 {
		t.Fatalf("the load's ExecStart, nothing new: exit %d", code)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(7461082917532)"); err != nil {
		t.Fatal(err)
	}
	code := runLoad()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock(7461082917532)"); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(strings.Fields(load.get("Service", "SuccessExitStatus")), strconv.Itoa(code)) {
		t.Errorf("while another load runs: exit %d, which the unit counts as a failure", code)
	}
	var outcomes string
	if err := conn.QueryRow(ctx, "SELECT string_agg(outcome, ',' ORDER BY id) FROM elier.load_attempts").Scan(&outcomes); err != nil {
		t.Fatal(err)
	}
	if outcomes != "success,unchanged,busy" {
		t.Errorf("recorded attempts: %s", outcomes)
	}

	api := readUnit(t, "systemd/elier-api.service")
	args = api.execStart(t, spec, nil)
	args[0] = strings.Replace(args[0], "/usr/local/bin", bin, 1)
	addr := freeAddr(t)
	for i := range args {
		if args[i] == "--addr" { // the unit's port may be taken here
			args[i+1] = addr
		}
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	ready := false
	for range 200 {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				ready = true
				break
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	if !ready {
		_ = cmd.Process.Kill()
		t.Fatal("the API's ExecStart never became ready")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	stop, _ := time.ParseDuration(api.get("Service", "TimeoutStopSec"))
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("the API after SIGTERM: %v (systemd would count a failure)", err)
		}
	case <-time.After(stop):
		_ = cmd.Process.Kill()
		t.Errorf("the API was still running after TimeoutStopSec (%s): systemd would SIGKILL it", stop)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

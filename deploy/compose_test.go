package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// No Docker engine runs where the tests run, so compose.yaml is checked
// against what it must agree with: deploy/cluster.env, and the configuration
// scripts/cluster.sh runs on 127.0.0.1 (`scripts/cluster.sh env`), with the
// loopback addresses replaced by the compose services' names.

type composeFile struct {
	Services map[string]service `yaml:"services"`
	Volumes  map[string]any     `yaml:"volumes"`
	Secrets  map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

type service struct {
	Image       string               `yaml:"image"`
	Build       string               `yaml:"build"`
	EnvFile     []string             `yaml:"env_file"`
	Environment map[string]string    `yaml:"environment"`
	Command     []string             `yaml:"command"`
	Entrypoint  []string             `yaml:"entrypoint"`
	Ports       []string             `yaml:"ports"`
	Volumes     []string             `yaml:"volumes"`
	Tmpfs       []string             `yaml:"tmpfs"`
	DependsOn   map[string]dependsOn `yaml:"depends_on"`
	Secrets     []string             `yaml:"secrets"`
	Profiles    []string             `yaml:"profiles"`
	User        string               `yaml:"user"`
}

type dependsOn struct {
	Condition string `yaml:"condition"`
}

var envKey = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// readEnv reads KEY=VALUE lines, as cluster.sh, Compose and Go all must
// read them alike: no quotes, no spaces around the value.
func readEnv(t *testing.T, text string) map[string]string {
	t.Helper()
	env := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !envKey.MatchString(k) {
			t.Fatalf("bad line %q", line)
		}
		if strings.ContainsAny(v, `"'`) || strings.TrimSpace(v) != v {
			t.Errorf("%s: quotes or surrounding spaces are read differently by bash, Compose and Go: %q", k, v)
		}
		env[k] = v
	}
	return env
}

type setup struct {
	env     map[string]string // deploy/cluster.env
	loop    map[string]string // scripts/cluster.sh env
	compose composeFile
	loopTo  *strings.Replacer // loopback addresses to compose service names
}

func load(t *testing.T) setup {
	t.Helper()
	raw, err := os.ReadFile("cluster.env")
	if err != nil {
		t.Fatal(err)
	}
	s := setup{env: readEnv(t, string(raw))}

	// The script with a clean environment: an exported NGINX_PORT in the
	// caller's shell must not change what is compared.
	cmd := exec.Command("bash", "../scripts/cluster.sh", "env")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/cluster.sh env: %v", err)
	}
	s.loop = readEnv(t, string(out))

	raw, err = os.ReadFile("../compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &s.compose); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	const lo = "127.0.0.1:"
	s.loopTo = strings.NewReplacer(
		lo+s.env["PG1_PORT"], "primary:"+s.env["PG1_PORT"],
		lo+s.env["PG2_PORT"], "replica:"+s.env["PG2_PORT"],
		lo+s.env["API1_PORT"], ":"+s.env["API1_PORT"],
		lo+s.env["API2_PORT"], ":"+s.env["API2_PORT"])
	return s
}

func (s setup) service(t *testing.T, name string) service {
	t.Helper()
	svc, ok := s.compose.Services[name]
	if !ok {
		t.Fatalf("compose.yaml has no service %q", name)
	}
	return svc
}

// checkPort: the service publishes port on the host under the same number.
func checkPort(t *testing.T, name string, svc service, port string) {
	t.Helper()
	for _, p := range svc.Ports {
		parts := strings.Split(p, ":")
		if len(parts) >= 2 && parts[len(parts)-1] == port && parts[len(parts)-2] == port {
			return
		}
	}
	t.Errorf("%s: ports %q do not publish %s as %s", name, svc.Ports, port, port)
}

func TestComposeServices(t *testing.T) {
	s := load(t)
	var names []string
	for n := range s.compose.Services {
		names = append(names, n)
	}
	slices.Sort(names)
	want := []string{"api1", "api2", "etl", "loader", "nginx", "primary", "replica", "roles"}
	if !slices.Equal(names, want) {
		t.Fatalf("services %q, want %q", names, want)
	}
	for _, n := range names {
		if svc := s.compose.Services[n]; !slices.Contains(svc.EnvFile, "deploy/cluster.env") {
			t.Errorf("%s: env_file %q lacks deploy/cluster.env", n, svc.EnvFile)
		}
	}
	for _, n := range []string{"primary", "replica"} {
		if _, ok := s.compose.Volumes[n]; !ok {
			t.Errorf("no named volume %q", n)
		}
	}
}

func TestComposePostgres(t *testing.T) {
	s := load(t)
	primary, replica := s.service(t, "primary"), s.service(t, "replica")
	for _, c := range []struct {
		name string
		svc  service
		port string
	}{{"primary", primary, s.env["PG1_PORT"]}, {"replica", replica, s.env["PG2_PORT"]}} {
		if c.svc.Image != "postgres:15" {
			t.Errorf("%s: image %q, want postgres:15", c.name, c.svc.Image)
		}
		if got := c.svc.Environment["PGPORT"]; got != c.port {
			t.Errorf("%s: PGPORT %q, want %s", c.name, got, c.port)
		}
		checkPort(t, c.name, c.svc, c.port)
		checkDeployMounts(t, c.name, c.svc)
	}
	if primary.Environment["POSTGRES_USER"] != s.env["PG_USER"] || primary.Environment["POSTGRES_DB"] != s.env["PG_DB"] {
		t.Errorf("primary: POSTGRES_USER/POSTGRES_DB %q/%q, want %q/%q", primary.Environment["POSTGRES_USER"],
			primary.Environment["POSTGRES_DB"], s.env["PG_USER"], s.env["PG_DB"])
	}
	if primary.Environment["POSTGRES_HOST_AUTH_METHOD"] != "" || primary.Environment["POSTGRES_PASSWORD_FILE"] != "/run/secrets/pg_admin_password" {
		t.Errorf("primary: the administrator's password must come from a secret: %v", primary.Environment)
	}
	if !slices.Contains(primary.Command, "hba_file=/deploy/pg_hba.conf") {
		t.Errorf("primary: command %q does not use /deploy/pg_hba.conf", primary.Command)
	}
	if replica.Environment["PRIMARY_HOST"] != "primary" {
		t.Errorf("replica: PRIMARY_HOST %q, want primary", replica.Environment["PRIMARY_HOST"])
	}
	if len(replica.Entrypoint) == 0 || replica.Entrypoint[len(replica.Entrypoint)-1] != "/deploy/compose-replica.sh" {
		t.Errorf("replica: entrypoint %q, want /deploy/compose-replica.sh", replica.Entrypoint)
	}
	if replica.DependsOn["roles"].Condition != "service_completed_successfully" {
		t.Error("replica: does not wait for the roles (it streams as the replication role)")
	}
	// The shared settings reach both servers through the primary's include.
	init, err := os.ReadFile("compose-primary-init.sh")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(init), "include '/deploy/postgresql.conf'") {
		t.Error("compose-primary-init.sh does not include /deploy/postgresql.conf")
	}
	// The replica script reads the cluster.env names it uses.
	script, err := os.ReadFile("compose-replica.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range regexp.MustCompile(`\$\{?([A-Z][A-Z0-9_]*)`).FindAllStringSubmatch(string(script), -1) {
		if _, ok := s.env[v[1]]; !ok && replica.Environment[v[1]] == "" && v[1] != "PGDATA" {
			t.Errorf("compose-replica.sh uses %s, which neither cluster.env nor the replica's environment sets", v[1])
		}
	}
}

// checkDeployMounts: every file of ./deploy a service mounts exists.
func checkDeployMounts(t *testing.T, name string, svc service) {
	t.Helper()
	for _, v := range svc.Volumes {
		src, _, _ := strings.Cut(v, ":")
		if !strings.HasPrefix(src, "./deploy") {
			continue
		}
		if _, err := os.Stat(filepath.Join("..", src)); err != nil {
			t.Errorf("%s: mounts %s: %v", name, src, err)
		}
	}
}

func TestComposeLoaderAndAPIs(t *testing.T) {
	s := load(t)
	loader := s.service(t, "loader")
	if want := s.loopTo.Replace(s.loop["LOADER_DATABASE_URL"]); loader.Environment["DATABASE_URL"] != want {
		t.Errorf("loader: DATABASE_URL %q, want %q", loader.Environment["DATABASE_URL"], want)
	}
	if loader.Build != "." || loader.DependsOn["roles"].Condition != "service_completed_successfully" {
		t.Errorf("loader: build %q, depends_on %v: want the Dockerfile, after the roles", loader.Build, loader.DependsOn)
	}
	etl := s.service(t, "etl")
	if !slices.Equal(etl.Profiles, []string{"etl"}) || etl.Environment["DATABASE_URL"] != loader.Environment["DATABASE_URL"] ||
		!slices.Contains(etl.Entrypoint, "--if-changed") || etl.Entrypoint[1] != "load" {
		t.Errorf("etl: profiles %q, DATABASE_URL %q, entrypoint %q: want profile etl, the loader's URL, load --if-changed",
			etl.Profiles, etl.Environment["DATABASE_URL"], etl.Entrypoint)
	}
	roles := s.service(t, "roles")
	if len(roles.Entrypoint) < 2 || roles.Entrypoint[1] != "roles" || roles.DependsOn["primary"].Condition != "service_healthy" {
		t.Errorf("roles: entrypoint %q, depends_on %v", roles.Entrypoint, roles.DependsOn)
	}
	if ep := strings.Join(loader.Entrypoint, " "); !strings.Contains(ep, "$$CLUSTER_PRODUCTS") || !strings.Contains(ep, "elier-etl load") {
		t.Errorf("loader: entrypoint %q does not generate CLUSTER_PRODUCTS products and load them", ep)
	}

	// Both places list both servers and let target_session_attrs pick:
	// on loopback either member may lead (Patroni), in compose the primary
	// does; nothing is re-pointed when that changes.
	members := "primary:" + s.env["PG1_PORT"] + ",replica:" + s.env["PG2_PORT"] + "/"
	wantURL := s.loopTo.Replace(s.loop["API_DATABASE_URL"])
	if !strings.Contains(wantURL, members) || !strings.Contains(wantURL, "target_session_attrs=prefer-standby") {
		t.Fatalf("the script's API_DATABASE_URL %q does not list both servers with prefer-standby", s.loop["API_DATABASE_URL"])
	}
	for _, u := range []string{loader.Environment["DATABASE_URL"], s.loopTo.Replace(s.loop["API1_ARGS"])} {
		if !strings.Contains(u, members) || !strings.Contains(u, "target_session_attrs=read-write") {
			t.Errorf("%q: the loader and the cart must list both servers with read-write", u)
		}
	}
	for _, n := range []string{"loader", "etl"} {
		if c := s.service(t, n).DependsOn["replica"].Condition; c == "" {
			t.Errorf("%s: does not wait for the replica's container (its URL names it; an unresolvable host fails the connect)", n)
		}
	}
	for _, n := range []string{"1", "2"} {
		name := "api" + n
		api := s.service(t, name)
		if api.Build != "." {
			t.Errorf("%s: build %q, want the Dockerfile (.)", name, api.Build)
		}
		if api.Environment["DATABASE_URL"] != wantURL {
			t.Errorf("%s: DATABASE_URL %q, want %q", name, api.Environment["DATABASE_URL"], wantURL)
		}
		if want := strings.Fields(s.loopTo.Replace(s.loop["API"+n+"_ARGS"])); !slices.Equal(api.Command, want) {
			t.Errorf("%s: command %q, want %q (the script's flags)", name, api.Command, want)
		}
		checkPort(t, name, api, s.env["API"+n+"_PORT"])
		if api.DependsOn["loader"].Condition != "service_completed_successfully" || api.DependsOn["replica"].Condition != "service_healthy" {
			t.Errorf("%s: depends_on %v: want the loader done and the replica healthy", name, api.DependsOn)
		}
	}
}

// TestComposeSecrets: every connection needs a password (no trust in
// pg_hba.conf), no password is written in compose.yaml, and each service
// that connects reads its passfile from a secret it mounts, generated by
// deploy/compose-secrets.sh.
func TestComposeSecrets(t *testing.T) {
	s := load(t)
	hba, err := os.ReadFile("pg_hba.conf")
	if err != nil {
		t.Fatal(err)
	}
	for l := range strings.Lines(string(hba)) {
		f := strings.Fields(l)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if f[len(f)-1] != "scram-sha-256" {
			t.Errorf("pg_hba.conf: %q does not ask for a SCRAM password", strings.TrimSpace(l))
		}
	}
	// The generator, run in a copy of the layout it expects.
	tmp := t.TempDir()
	if err := os.Mkdir(filepath.Join(tmp, "deploy"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"cluster.env", "compose-secrets.sh"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, "deploy", f), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("sh", filepath.Join(tmp, "deploy", "compose-secrets.sh")).CombinedOutput(); err != nil || len(out) > 0 && os.Getuid() == 0 {
		t.Fatalf("compose-secrets.sh: %v\n%s", err, out)
	}
	for name, sec := range s.compose.Secrets {
		fi, err := os.Stat(filepath.Join(tmp, sec.File))
		if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() == 0 {
			t.Errorf("secret %s: %s not written by compose-secrets.sh, or not 0600: %v", name, sec.File, err)
		}
	}
	// Each service's passfile holds its role's password, and only the
	// replica's holds two.
	for svc, users := range map[string][]string{
		"roles": {s.env["PG_USER"]}, "loader": {s.env["PG_OWNER_USER"]}, "etl": {s.env["PG_OWNER_USER"]},
		"api1": {s.env["PG_API_USER"]}, "api2": {s.env["PG_API_USER"]}, "replica": {s.env["PG_USER"], s.env["PG_REPLICATION_USER"]},
	} {
		secret := strings.TrimPrefix(s.service(t, svc).Environment["PGPASSFILE"], "/run/secrets/")
		b, err := os.ReadFile(filepath.Join(tmp, ".secrets", secret))
		if err != nil {
			t.Errorf("%s: %v", svc, err)
			continue
		}
		var got []string
		for l := range strings.Lines(string(b)) {
			f := strings.Split(strings.TrimSpace(l), ":")
			if len(f) != 5 || f[4] == "" {
				t.Errorf("%s: bad passfile line", secret)
				continue
			}
			got = append(got, f[3])
		}
		if !slices.Equal(got, users) {
			t.Errorf("%s's passfile %s has the passwords of %q, want %q", svc, secret, got, users)
		}
	}
	for name, svc := range s.compose.Services {
		for k, v := range svc.Environment {
			if strings.Contains(k, "PASSWORD") && !strings.HasSuffix(k, "_FILE") {
				t.Errorf("%s: %s is set in compose.yaml", name, k)
			}
			if strings.HasPrefix(v, "postgres://") && strings.Contains(strings.SplitN(v, "@", 2)[0], ":") && strings.Count(strings.SplitN(v, "@", 2)[0], ":") > 1 {
				t.Errorf("%s: %s holds a password", name, k)
			}
		}
		url, connects := svc.Environment["DATABASE_URL"]
		if !connects && name != "replica" {
			continue
		}
		pass := svc.Environment["PGPASSFILE"]
		secret, ok := strings.CutPrefix(pass, "/run/secrets/")
		if !ok || !slices.Contains(svc.Secrets, secret) {
			t.Errorf("%s: PGPASSFILE %q is not one of its secrets %q", name, pass, svc.Secrets)
		}
		if _, declared := s.compose.Secrets[secret]; !declared {
			t.Errorf("%s: secret %q is not declared", name, secret)
		}
		if connects && strings.HasPrefix(url, "postgres://"+s.env["PG_USER"]+"@") && name != "roles" {
			t.Errorf("%s connects as the administrator %s", name, s.env["PG_USER"])
		}
	}
}

var templateVar = regexp.MustCompile(`\$\{([A-Z][A-Z0-9_]*)\}`)

func TestComposeNginx(t *testing.T) {
	s := load(t)
	ng := s.service(t, "nginx")
	if !strings.HasPrefix(ng.Image, "nginx") {
		t.Errorf("nginx: image %q, want the official nginx image", ng.Image)
	}
	checkPort(t, "nginx", ng, s.env["NGINX_PORT"])
	checkDeployMounts(t, "nginx", ng)
	if !slices.Contains(ng.Volumes, "./deploy:/deploy:ro") {
		t.Errorf("nginx: volumes %q do not mount ./deploy at /deploy", ng.Volumes)
	}
	if ep := strings.Join(ng.Entrypoint, " "); !strings.Contains(ep, "/deploy/render-nginx.sh /deploy/nginx.conf.tmpl /etc/nginx/nginx.conf") {
		t.Errorf("nginx: entrypoint %q does not render deploy/nginx.conf.tmpl", ep)
	}
	if got, want := ng.Environment["NGINX_LISTEN"], s.env["NGINX_PORT"]; got != want {
		t.Errorf("nginx: NGINX_LISTEN %q, want %s", got, want)
	}
	if !strings.HasSuffix(s.loop["NGINX_LISTEN"], ":"+s.env["NGINX_PORT"]) {
		t.Errorf("the script's NGINX_LISTEN %q is not NGINX_PORT", s.loop["NGINX_LISTEN"])
	}
	for _, n := range []string{"1", "2"} {
		if got, want := ng.Environment["API"+n+"_ADDR"], "api"+n+":"+s.env["API"+n+"_PORT"]; got != want {
			t.Errorf("nginx: API%s_ADDR %q, want %q", n, got, want)
		}
		if got, want := s.loop["API"+n+"_ADDR"], "127.0.0.1:"+s.env["API"+n+"_PORT"]; got != want {
			t.Errorf("the script's API%s_ADDR %q, want %q", n, got, want)
		}
	}
	cache := ng.Environment["NGINX_CACHE_DIR"]
	if !slices.ContainsFunc(ng.Tmpfs, func(m string) bool { return cache != "" && strings.Split(m, ":")[0] == cache }) {
		t.Errorf("nginx: the micro-cache %q is not on a tmpfs (%q)", cache, ng.Tmpfs)
	}
	if ng.DependsOn["api1"].Condition == "" || ng.DependsOn["api2"].Condition == "" {
		t.Errorf("nginx: depends_on %v: want api1 and api2", ng.DependsOn)
	}

	// Both places define every name the template uses.
	tmpl, err := os.ReadFile("nginx.conf.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range templateVar.FindAllStringSubmatch(string(tmpl), -1) {
		v := m[1]
		if _, ok := s.loop[v]; !ok {
			t.Errorf("nginx.conf.tmpl uses %s, which scripts/cluster.sh does not set", v)
		}
		_, inEnv := s.env[v]
		if _, inSvc := ng.Environment[v]; !inEnv && !inSvc {
			t.Errorf("nginx.conf.tmpl uses %s, which compose.yaml's nginx service does not set", v)
		}
	}
}

// TestNginxTemplateRenders renders the template as the script does and has
// nginx check it (nginx and envsubst: needTool).
func TestNginxTemplateRenders(t *testing.T) {
	nginx := nginxBinary(t)
	s := load(t)
	dir := t.TempDir()
	conf, env := renderNginx(t, s, dir, nil)
	check := exec.Command(nginx, "-t", "-q", "-p", dir+"/", "-c", conf, "-e", filepath.Join(dir, "error.log"))
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}

	// A name left unset is refused, and nothing is written.
	unset := exec.Command("sh", "render-nginx.sh", "nginx.conf.tmpl", filepath.Join(dir, "bad.conf"))
	unset.Env = slices.DeleteFunc(slices.Clone(env), func(e string) bool { return strings.HasPrefix(e, "MICROCACHE_TTL=") })
	if out, err := unset.CombinedOutput(); err == nil || !strings.Contains(string(out), "MICROCACHE_TTL") {
		t.Errorf("render-nginx.sh without MICROCACHE_TTL: err %v, output %q", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.conf")); err == nil {
		t.Error("render-nginx.sh wrote a configuration with a name unset")
	}
}

// nginxBinary finds nginx (and envsubst, which rendering needs); under CI
// a missing one fails the test (needTool).
func nginxBinary(t *testing.T) string {
	t.Helper()
	nginx := needTool(t, "nginx")
	needTool(t, "envsubst")
	return nginx
}

// renderNginx renders the template into dir/nginx.conf with the script's
// settings, every path under dir and the current user, then overrides.
// It returns the file and the environment it was rendered with.
func renderNginx(t *testing.T, s setup, dir string, overrides map[string]string) (string, []string) {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range s.loop {
		switch k {
		case "NGINX_PID":
			v = filepath.Join(dir, "nginx.pid")
		case "NGINX_LOG_DIR", "NGINX_STATE_DIR":
			v = dir
		case "NGINX_CACHE_DIR":
			v = filepath.Join(dir, "cache")
		case "NGINX_USER":
			v = u.Username
		}
		if o, ok := overrides[k]; ok {
			v = o
		}
		env = append(env, k+"="+v)
	}
	conf := filepath.Join(dir, "nginx.conf")
	render := exec.Command("sh", "render-nginx.sh", "nginx.conf.tmpl", conf)
	render.Env = env
	if out, err := render.CombinedOutput(); err != nil {
		t.Fatalf("render-nginx.sh: %v\n%s", err, out)
	}
	return conf, env
}

// TestDockerfileBuildsBothPrograms: the image has both programs, and its
// COPY lines cover every package of the module they import.
func TestDockerfileBuildsBothPrograms(t *testing.T) {
	raw, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	for _, b := range []string{"go build -o /out/elier-etl ./cmd/etl", "go build -o /out/elier-api ./cmd/api"} {
		if !strings.Contains(df, b) {
			t.Errorf("Dockerfile does not run %q", b)
		}
	}
	needTool(t, "go")
	cmd := exec.Command("go", "list", "-e", "-deps", "-f", "{{.ImportPath}}", "./cmd/etl", "./cmd/api")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const module = "github.com/elier/catalogue/"
	for _, p := range strings.Fields(string(out)) {
		rest, ok := strings.CutPrefix(p, module)
		if !ok {
			continue
		}
		top, _, _ := strings.Cut(rest, "/")
		if !strings.Contains(df, "COPY "+top+" ./"+top+"\n") {
			t.Errorf("Dockerfile does not COPY %s/, which %s is built from", top, p)
		}
	}
}

// Package k8s holds the Kubernetes manifests (api.yaml, etl-cronjob.yaml).
// Its only Go code is this test, so that the k8s.io types it decodes into
// stay out of the programs' dependencies.
package k8s

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// objects decodes every document of every manifest strictly (an unknown or
// misspelt field, or a wrong type, fails) into the real API types, by kind.
func objects(t *testing.T) (deps []appsv1.Deployment, svcs []corev1.Service, jobs []batchv1.CronJob) {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(raw), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				t.Fatalf("%s #%d: %v", f, i, err)
			}
			var target any
			switch head.APIVersion + " " + head.Kind {
			case "apps/v1 Deployment":
				deps = append(deps, appsv1.Deployment{})
				target = &deps[len(deps)-1]
			case "v1 Service":
				svcs = append(svcs, corev1.Service{})
				target = &svcs[len(svcs)-1]
			case "batch/v1 CronJob":
				jobs = append(jobs, batchv1.CronJob{})
				target = &jobs[len(jobs)-1]
			default:
				// A Secret here would put a password in the repository.
				t.Fatalf("%s #%d: unexpected %s %s", f, i, head.APIVersion, head.Kind)
			}
			if err := yaml.UnmarshalStrict([]byte(doc), target); err != nil {
				t.Fatalf("%s #%d (%s): %v", f, i, head.Kind, err)
			}
		}
	}
	return deps, svcs, jobs
}

func stripComments(doc string) string {
	var b bytes.Buffer
	for l := range strings.Lines(doc) {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l)
		}
	}
	return b.String()
}

func TestManifests(t *testing.T) {
	deps, svcs, jobs := objects(t)
	if len(deps) != 1 || len(svcs) != 1 || len(jobs) != 1 {
		t.Fatalf("%d Deployments, %d Services, %d CronJobs; want one each", len(deps), len(svcs), len(jobs))
	}
	d, svc, cj := deps[0], svcs[0], jobs[0]

	// The Service selects the Deployment's pods, on a port they expose.
	for k, v := range svc.Spec.Selector {
		if d.Spec.Template.Labels[k] != v || d.Spec.Selector.MatchLabels[k] != v {
			t.Errorf("Service selector %s=%s does not match the Deployment's pods", k, v)
		}
	}
	api := d.Spec.Template.Spec.Containers[0]
	if !slices.ContainsFunc(api.Ports, func(p corev1.ContainerPort) bool { return p.Name == svc.Spec.Ports[0].TargetPort.StrVal }) {
		t.Errorf("Service targets port %q, which the container does not name", svc.Spec.Ports[0].TargetPort.StrVal)
	}
	if p := api.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness probe: %+v; want GET /readyz", p)
	}
	if p := api.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
		t.Errorf("liveness probe: %+v; want GET /healthz", p)
	}
	if api.Resources.Requests.Cpu().IsZero() || api.Resources.Requests.Memory().IsZero() || api.Resources.Limits.Memory().IsZero() {
		t.Errorf("the API's resources: %+v", api.Resources)
	}
	if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || !slices.Contains(api.Args, "--shutdown-timeout=10s") || *g <= 10 {
		t.Errorf("terminationGracePeriodSeconds %v must exceed the API's --shutdown-timeout (args %v)", g, api.Args)
	}

	if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("concurrencyPolicy %q, want Forbid", cj.Spec.ConcurrencyPolicy)
	}
	if cj.Spec.StartingDeadlineSeconds == nil || cj.Spec.JobTemplate.Spec.BackoffLimit == nil ||
		cj.Spec.SuccessfulJobsHistoryLimit == nil || cj.Spec.FailedJobsHistoryLimit == nil {
		t.Errorf("the CronJob lacks a deadline, a backoff limit or history limits: %+v", cj.Spec)
	}
	etl := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	if len(etl.Args) < 2 || etl.Args[0] != "load" || !slices.Contains(etl.Args, "--if-changed") {
		t.Errorf("the CronJob runs %v; want load --if-changed", etl.Args)
	}

	// Secrets are referenced, never inlined: the URL comes from a file of
	// a mounted Secret, and no environment variable carries one.
	for _, c := range []struct {
		name string
		spec corev1.PodSpec
	}{{"api", d.Spec.Template.Spec}, {"etl", cj.Spec.JobTemplate.Spec.Template.Spec}} {
		ctr := c.spec.Containers[0]
		for _, e := range ctr.Env {
			if strings.Contains(e.Name, "DATABASE_URL") || strings.Contains(e.Name, "PASSWORD") {
				t.Errorf("%s: environment variable %s carries a secret", c.name, e.Name)
			}
		}
		fileArg := ""
		for _, a := range ctr.Args {
			if v, ok := strings.CutPrefix(a, "--database-url-file="); ok {
				fileArg = v
			}
			if strings.HasPrefix(a, "--database-url=") {
				t.Errorf("%s: the URL is inlined in the arguments", c.name)
			}
		}
		mounted := false
		for _, m := range ctr.VolumeMounts {
			if strings.HasPrefix(fileArg, m.MountPath+"/") {
				for _, v := range c.spec.Volumes {
					if v.Name == m.Name && v.Secret != nil && v.Secret.SecretName != "" {
						mounted = true
					}
				}
			}
		}
		if !mounted {
			t.Errorf("%s: --database-url-file=%q is not on a mounted Secret", c.name, fileArg)
		}
		if sc := ctr.SecurityContext; sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: container security context %+v", c.name, sc)
		}
	}
}

// TestStrictDecodingRejects shows the check can fail: a misspelt field and
// a wrong type are errors.
func TestStrictDecodingRejects(t *testing.T) {
	var cj batchv1.CronJob
	if err := yaml.UnmarshalStrict([]byte("apiVersion: batch/v1\nkind: CronJob\nspec:\n  startingDeadline: 600\n"), &cj); err == nil {
		t.Error("a misspelt field was accepted")
	}
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict([]byte("apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: two\n"), &d); err == nil {
		t.Error("a string for replicas was accepted")
	}
}

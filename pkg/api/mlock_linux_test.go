package api

import (
	"bufio"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestMlock: with --mlock the API's memory is locked (the kernel's own
// count, VmLck in /proc/self/status: the API runs in this process), and it
// serves as usual. The lock is undone when the test ends, for the tests
// that share the process.
func TestMlock(t *testing.T) {
	if locked(t) != 0 {
		t.Fatal("memory is locked before the API starts")
	}
	url := newCatalog(t)
	installBuild(t, url, 1, build1(t), true)
	t.Cleanup(func() {
		if err := syscall.Munlockall(); err != nil {
			t.Error(err)
		}
	})
	base := startAPI(t, url, func(c *Config) { c.Mlock = true })
	if kb := locked(t); kb == 0 {
		t.Error("VmLck is 0 kB with --mlock")
	}
	resp, _ := do(t, newClient(t), "GET", base+"/products/1")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /products/1 with --mlock: %d", resp.StatusCode)
	}
}

// locked is this process's VmLck in kB.
func locked(t *testing.T) int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmLck:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no VmLck in /proc/self/status")
	return 0
}

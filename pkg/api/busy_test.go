package api

import (
	"context"
	"testing"
	"time"
)

func TestParseCPULine(t *testing.T) {
	busy, total, err := parseCPULine("cpu  100 5 50 800 40 3 2 1 0 0\n")
	if err != nil || busy != 161 || total != 1001 {
		t.Errorf("parseCPULine = %d, %d, %v; want 161, 1001", busy, total, err)
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4 5 6 7 8", "cpu 1 2 x 4 5 6 7 8", "cpu 1 2"} {
		if _, _, err := parseCPULine(bad); err == nil {
			t.Errorf("parseCPULine(%q): no error", bad)
		}
	}
}

func FuzzParseCPULine(f *testing.F) {
	f.Add("cpu  100 5 50 800 40 3 2 1 0 0")
	f.Fuzz(func(t *testing.T, line string) {
		busy, total, err := parseCPULine(line)
		if err == nil && busy > total {
			t.Errorf("busy %d > total %d", busy, total)
		}
	})
}

// TestCPUPressure: with a threshold of 0 every sample is busy, with one
// over 1 none is (the real /proc/stat, sampled; a new sampler starts busy,
// so the second case shows that sampling changes the verdict).
func TestCPUPressure(t *testing.T) {
	if _, _, err := cpuTimes(); err != nil {
		t.Skipf("no /proc/stat here: %v", err) // Linux only; CI runs Linux
	}
	for _, tc := range []struct {
		threshold float64
		want      bool
	}{{0, true}, {1.1, false}} {
		p := newCPUPressure(tc.threshold)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { p.run(ctx, 5*time.Millisecond); close(done) }()
		deadline := time.Now().Add(5 * time.Second)
		for p.Busy() != tc.want && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		got := p.Busy()
		cancel()
		<-done
		if got != tc.want {
			t.Errorf("threshold %v: busy %v, want %v", tc.threshold, got, tc.want)
		}
	}
}

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

// TestPressureSmoothing feeds the sampler's average series of 100-ms busy
// shares: a machine that is busy on average stays busy through its idle
// dips (the hysteresis), one that is not is not made busy by a burst, and
// a sustained change of load changes the verdict within a few seconds.
func TestPressureSmoothing(t *testing.T) {
	const dt = 100 * time.Millisecond
	repeat := func(n int, shares ...float64) []float64 {
		var out []float64
		for range n {
			out = append(out, shares...)
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		shares []float64
		want   []bool // the verdict after each sample, nil: not checked until last
		last   bool
		steady bool // the verdict is last from the first sample on
	}{
		{name: "saturated with dips", shares: append([]float64{0.9}, repeat(50, 0.95, 0.6, 0.9, 0.7)...), last: true, steady: true},
		{name: "moderate load with bursts", shares: append([]float64{0.5}, repeat(50, 0.4, 0.9, 0.5, 0.6)...), last: false, steady: true},
		{name: "moderate load", shares: repeat(100, 0.55), last: false},
		{name: "a burst on a moderate load", shares: append(append(repeat(30, 0.55), repeat(3, 1)...), repeat(5, 0.55)...), last: false},
		{name: "load rises", shares: append(repeat(30, 0.5), repeat(40, 0.95)...), last: true},
		{name: "load falls", shares: append(repeat(30, 0.95), repeat(40, 0.4)...), last: false},
		{name: "first sample decides", shares: []float64{0.8}, want: []bool{true}, last: true},
		{name: "just under the threshold", shares: repeat(100, 0.74), last: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newCPUPressure(0.75)
			var a pressureAverage
			var got bool
			for i, s := range tc.shares {
				got = p.step(&a, s, dt)
				if tc.want != nil && got != tc.want[i] {
					t.Fatalf("sample %d (%v): busy %v, want %v", i, s, got, tc.want[i])
				}
				if tc.steady && got != tc.last {
					t.Fatalf("sample %d (%v): busy %v, want %v throughout (average %.3f)", i, s, got, tc.last, a.avg)
				}
			}
			if got != tc.last {
				t.Errorf("after %d samples: busy %v, want %v (average %.3f)", len(tc.shares), got, tc.last, a.avg)
			}
		})
	}
	// Without hysteresis, an average hovering about the threshold would
	// flip with every sample; with it, the verdict holds.
	p := newCPUPressure(0.75)
	a := pressureAverage{avg: 0.8, busy: true, started: true}
	flips := 0
	prev := true
	for i := range 100 {
		s := 0.7
		if i%2 == 0 {
			s = 0.8
		}
		if got := p.step(&a, s, dt); got != prev {
			flips++
			prev = got
		}
	}
	if flips != 0 {
		t.Errorf("an average hovering at %.2f flipped %d times", a.avg, flips)
	}
}

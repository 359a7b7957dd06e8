package api

import (
	"bufio"
	"context"
	"errors"
	"math"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// cpuPressure says whether the machine's CPU is busy, from /proc/stat,
// sampled every interval: the share of CPU time not idle (nor waiting on
// I/O), averaged over about a second (pressureSmoothing), against a
// threshold. The cart gathers its adds into larger commits only while it is
// (--cart-group-busy): a commit saved is then CPU given back to the
// catalogue; on an idle machine gathering would only delay the add. Where
// /proc/stat cannot be read the machine counts as busy: the gathering
// --cart-group-wait asks for.
//
// The verdict is smoothed and has hysteresis because gathering feeds back
// into what it measures: it saves CPU, so a machine judged busy 100 ms at a
// time (as it was at first) flipped to "not busy" in the stretches where
// gathering had just worked, stopped gathering, and was busy again. Beside
// the catalogue (wrk saturating the machine, 82-88% busy on average) that
// left stretches ungathered: 11.1 adds a commit against 12-14 with
// gathering always on (docs/BENCHMARKS.md).
type cpuPressure struct {
	on, off float64 // the average at which gathering starts, and below which it stops
	busy    atomic.Bool
}

// pressureSmoothing is the time constant of the busy share's moving
// average: a burst shorter than this moves it little.
const pressureSmoothing = time.Second

// pressureHysteresis is how far below its threshold the average must fall
// before a busy machine counts as idle again.
const pressureHysteresis = 0.1

func newCPUPressure(threshold float64) *cpuPressure {
	p := &cpuPressure{on: threshold, off: threshold - pressureHysteresis}
	p.busy.Store(true)
	return p
}

// Busy reports the last sample's verdict.
func (p *cpuPressure) Busy() bool { return p.busy.Load() }

// pressureAverage is the sampler's state: the busy share's moving average
// and the verdict so far.
type pressureAverage struct {
	avg     float64
	busy    bool
	started bool
}

// step folds in one sample, the busy share over the last dt, and returns
// the verdict: busy once the average reaches on, until it falls below off.
// The first sample is the average.
func (p *cpuPressure) step(a *pressureAverage, share float64, dt time.Duration) bool {
	if !a.started {
		a.avg, a.started = share, true
	} else {
		alpha := 1 - math.Exp(-float64(dt)/float64(pressureSmoothing))
		a.avg += alpha * (share - a.avg)
	}
	switch {
	case a.avg >= p.on:
		a.busy = true
	case a.avg < p.off:
		a.busy = false
	}
	return a.busy
}

// run samples until ctx ends.
func (p *cpuPressure) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	prevBusy, prevTotal, err := cpuTimes()
	prevAt := time.Now()
	var a pressureAverage
	for err == nil {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var b, tot uint64
		if b, tot, err = cpuTimes(); err != nil || tot <= prevTotal {
			continue
		}
		now := time.Now()
		p.busy.Store(p.step(&a, float64(b-prevBusy)/float64(tot-prevTotal), now.Sub(prevAt)))
		prevBusy, prevTotal, prevAt = b, tot, now
	}
	p.busy.Store(true)
}

// cpuTimes reads the machine's CPU time so far from /proc/stat's first
// line: busy (user, nice, system, irq, softirq, steal) and total.
func cpuTimes() (busy, total uint64, err error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil {
		return 0, 0, err
	}
	return parseCPULine(line)
}

// parseCPULine parses /proc/stat's aggregate "cpu" line.
func parseCPULine(line string) (busy, total uint64, err error) {
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0, errors.New("/proc/stat: no aggregate cpu line")
	}
	for i, s := range f[1:min(len(f), 9)] { // user nice system idle iowait irq softirq steal
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, 0, errors.New("/proc/stat: " + err.Error())
		}
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total, nil
}

package api

import (
	"bufio"
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// cpuPressure says whether the machine's CPU is busy, from /proc/stat,
// sampled every interval: the share of CPU time not idle (nor waiting on
// I/O) over the last interval, against a threshold. The cart gathers its
// adds into larger commits only while it is (--cart-group-busy): a commit
// saved is then CPU given back to the catalogue; on an idle machine
// gathering would only delay the add. Where /proc/stat cannot be read the
// machine counts as busy: the gathering --cart-group-wait asks for.
type cpuPressure struct {
	threshold float64
	busy      atomic.Bool
}

func newCPUPressure(threshold float64) *cpuPressure {
	p := &cpuPressure{threshold: threshold}
	p.busy.Store(true)
	return p
}

// Busy reports the last sample's verdict.
func (p *cpuPressure) Busy() bool { return p.busy.Load() }

// run samples until ctx ends.
func (p *cpuPressure) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	prevBusy, prevTotal, err := cpuTimes()
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
		p.busy.Store(float64(b-prevBusy)/float64(tot-prevTotal) >= p.threshold)
		prevBusy, prevTotal = b, tot
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

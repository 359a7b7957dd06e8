package api

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// unusedGrace is how long a connection may stay open during a shutdown
// without sending a byte: after that it is closed.
const unusedGrace = time.Second

// unusedConns tracks the connections that have not sent a byte yet
// (fasthttp's StateNew). fasthttp's shutdown closes idle keep-alive
// connections at once but counts a new one as idle only 5 s after it was
// accepted, so one connection opened just before a SIGTERM and never used
// (an HTTP client's pool dials ahead, or dials for a request it then
// cancels) held the shutdown for 5 s, past a 5-s deadline: exit 1, with
// every request answered. During a shutdown, sweep closes those that have
// been silent for unusedGrace.
type unusedConns struct {
	// n counts m's entries: the hook runs twice a request (active, idle),
	// and on a keep-alive connection finds nothing to do without a lock.
	n  atomic.Int32
	mu sync.Mutex
	m  map[net.Conn]time.Time // accepted at
}

// track is the server's ConnState hook. fasthttp reports a connection new
// before it hands it to the goroutine that reports the later states.
func (u *unusedConns) track(c net.Conn, st fasthttp.ConnState) {
	if st != fasthttp.StateNew && u.n.Load() == 0 {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if st == fasthttp.StateNew {
		if u.m == nil {
			u.m = map[net.Conn]time.Time{}
		}
		u.m[c] = time.Now()
		u.n.Store(int32(len(u.m)))
		return
	}
	delete(u.m, c) // active, idle, hijacked or closed: fasthttp's own business
	u.n.Store(int32(len(u.m)))
}

// sweep closes, until stop is closed, the connections silent for
// unusedGrace, checking every tenth of a second.
func (u *unusedConns) sweep(stop <-chan struct{}) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			u.mu.Lock()
			for c, at := range u.m {
				if now.Sub(at) >= unusedGrace {
					_ = c.Close()
					delete(u.m, c)
				}
			}
			u.n.Store(int32(len(u.m)))
			u.mu.Unlock()
		}
	}
}

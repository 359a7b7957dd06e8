package main

import (
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/elier/catalogue/pkg/build"
	"github.com/elier/catalogue/pkg/loader"
)

// printSummary writes the end-of-run table: per file what was read, loaded,
// repaired and rejected (by reason), then the phases.
func printSummary(w io.Writer, s *build.Summary, loadErr error) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "file\tread\tloaded\trepaired\trejected\tseconds\treasons\t")
	for _, f := range s.Files {
		if f.File == "" {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.1f\t%s\t\n", f.File, f.Read, f.Loaded, f.Repaired, f.Rejected, f.Seconds, reasons(f.Reasons))
	}
	tw.Flush()
	if loadErr != nil {
		fmt.Fprintf(w, "build %d failed; the live build is unchanged\n", s.BuildID)
		return
	}
	p := s.Products
	fmt.Fprintf(w, "%s build: products unchanged %d, changed %d, added %d, removed %d; documents written %d\n",
		s.Kind, p.Unchanged, p.Changed, p.Added, p.Removed, s.Documents)
	fmt.Fprintf(w, "load %.1fs, documents %.1fs, prewarm %.1fs, swap %.3fs, total %.1fs; build %d is live\n",
		s.Seconds.Load, s.Seconds.Documents, s.Seconds.Prewarm, s.Seconds.Swap, s.Seconds.Total, s.BuildID)
}

func reasons(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

func printStatus(w io.Writer, builds []build.BuildInfo, exports map[int64]time.Time) {
	if len(builds) == 0 {
		fmt.Fprintln(w, "no build yet: run `elier-etl load DIR`")
		return
	}
	for _, b := range builds {
		fmt.Fprintf(w, "%s build %d (%s, documents in %s) from %s\n", b.State, b.ID, b.Kind, b.Schema, b.SourceDir)
		if b.BaseID != nil {
			fmt.Fprintf(w, "  based on build %d: %d products changed, added or removed\n", *b.BaseID, b.Changed)
		}
		if b.FinishedAt != nil {
			fmt.Fprintf(w, "  built    %s\n", b.FinishedAt.Format(time.RFC3339))
		}
		if t, ok := exports[b.ID]; ok {
			fmt.Fprintf(w, "  export   %s (the newest of its files)\n", t.Format(time.RFC3339))
		}
		if b.SwappedAt != nil {
			fmt.Fprintf(w, "  swapped  %s\n", b.SwappedAt.Format(time.RFC3339))
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, t := range loader.Tables {
			src := b.Sources[t.File()]
			fmt.Fprintf(tw, "  %s\t%d rows\t%d bytes\txxh64 %s\n", t.File(), b.Counts[t.String()], src.Bytes, src.XXH64)
		}
		fmt.Fprintf(tw, "  documents\t%d\t\t\n", b.Counts["documents"])
		tw.Flush()
	}
}

// printAttempts writes when loads last succeeded and failed: the first
// thing to look at when the catalogue seems stale.
func printAttempts(w io.Writer, last map[string]lastAttempt, now time.Time) {
	ok, okFound := last["success"]
	if u, found := last["unchanged"]; found && (!okFound || u.FinishedAt.After(ok.FinishedAt)) {
		ok, okFound = u, true
	}
	if !okFound {
		fmt.Fprintln(w, "last success  never")
	} else {
		fmt.Fprintf(w, "last success  %s (%s ago, %s)\n", ok.FinishedAt.Format(time.RFC3339), ago(now, ok.FinishedAt), ok.Outcome)
	}
	if f, found := last["failed"]; found {
		fmt.Fprintf(w, "last failure  %s (%s ago): %s\n", f.FinishedAt.Format(time.RFC3339), ago(now, f.FinishedAt), f.Reason)
	} else {
		fmt.Fprintln(w, "last failure  never")
	}
	if b, found := last["busy"]; found {
		fmt.Fprintf(w, "last refused  %s (another load held the lock)\n", b.FinishedAt.Format(time.RFC3339))
	}
}

func ago(now, t time.Time) string { return now.Sub(t).Round(time.Second).String() }

// startBars draws one progress bar per file on a terminal until stopped.
func startBars(w io.Writer, e *loader.Export) func() {
	start := time.Now()
	var started, ended [len(loader.Tables)]time.Time
	return ticker(200*time.Millisecond, func(final bool) {
		var b strings.Builder
		for i, t := range loader.Tables {
			fp := &e.Progress.Files[i]
			frac := 1.0
			if fp.Size > 0 {
				frac = float64(fp.Bytes.Load()) / float64(fp.Size)
			}
			n := int(frac * 30)
			n = min(max(n, 0), 30)
			rows := fp.Rows.Load()
			if rows > 0 && started[i].IsZero() {
				started[i] = time.Now()
			}
			if fp.Done.Load() && ended[i].IsZero() {
				ended[i] = time.Now()
			}
			rate := 0.0
			if !started[i].IsZero() {
				until := time.Now()
				if !ended[i].IsZero() {
					until = ended[i]
				}
				rate = float64(rows) / max(until.Sub(started[i]).Seconds(), 0.2)
			}
			fmt.Fprintf(&b, "\r\033[K%-13s [%s%s] %5.1f%% of %s %12d rows %9.0f rows/s\n", t.File(),
				strings.Repeat("#", n), strings.Repeat(".", 30-n), 100*frac, megabytes(fp.Size), rows, rate)
		}
		fmt.Fprintf(&b, "\r\033[Kelapsed %.0fs\n", time.Since(start).Seconds())
		fmt.Fprint(w, b.String())
		if !final {
			fmt.Fprintf(w, "\033[%dA", len(loader.Tables)+1)
		}
	})
}

// startProgressLog logs every file's progress every ten seconds.
func startProgressLog(log *slog.Logger, e *loader.Export) func() {
	last := time.Now()
	var prev [len(loader.Tables)]int64
	return ticker(10*time.Second, func(final bool) {
		if final {
			return
		}
		dt := time.Since(last).Seconds()
		last = time.Now()
		for i, t := range loader.Tables {
			fp := &e.Progress.Files[i]
			rows := fp.Rows.Load()
			if fp.Done.Load() && prev[i] == rows {
				continue
			}
			log.Info("progress", "file", t.File(), "bytes", fp.Bytes.Load(), "size", fp.Size, "rows", rows, "rows_per_s", int64(float64(rows-prev[i])/dt))
			prev[i] = rows
		}
	})
}

// ticker calls fn every d until the returned stop is called, then once more
// with final set.
func ticker(d time.Duration, fn func(final bool)) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fn(false)
			case <-done:
				fn(true)
				return
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func megabytes(n int64) string { return fmt.Sprintf("%.0f MB", float64(n)/1e6) }

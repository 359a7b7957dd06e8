package loader

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"os"
	"strconv"
)

// rejectWriter writes one input file's rejected and repaired lines as CSV:
// file, line, outcome (rejected or repaired), reason, detail, raw text. CSV
// because the raw text may hold anything, and a spreadsheet opens it.
type rejectWriter struct {
	path string
	file string
	f    *os.File
	bw   *bufio.Writer
	w    *csv.Writer
	rec  [6]string
}

func newRejectWriter(path, file string) (*rejectWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("creating reject file: %w", err)
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	rw := &rejectWriter{path: path, file: file, f: f, bw: bw, w: csv.NewWriter(bw)}
	if err := rw.w.Write([]string{"file", "line", "outcome", "reason", "detail", "raw"}); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return rw, nil
}

func (rw *rejectWriter) write(is Issue) error {
	outcome := "rejected"
	if is.Repaired {
		outcome = "repaired"
	}
	rw.rec = [6]string{rw.file, strconv.FormatInt(is.Line, 10), outcome, is.Reason, is.Detail, string(is.Raw)}
	if err := rw.w.Write(rw.rec[:]); err != nil {
		return fmt.Errorf("writing %s: %w", rw.path, err)
	}
	return nil
}

func (rw *rejectWriter) Close() error {
	rw.w.Flush()
	err := rw.w.Error()
	if ferr := rw.bw.Flush(); err == nil {
		err = ferr
	}
	if cerr := rw.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", rw.path, err)
	}
	return nil
}

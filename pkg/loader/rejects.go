package loader

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"os"

	"github.com/gocarina/gocsv"
)

// Reject is one row of a reject file: a line of an input file that was
// rejected, or repaired and loaded. Its csv tags are the one description of
// the reject file's columns, for the writer here and for any reader
// (gocsv.UnmarshalFile into a []Reject).
type Reject struct {
	File    string `csv:"file"`
	Line    int64  `csv:"line"`
	Outcome string `csv:"outcome"` // rejected or repaired
	Reason  string `csv:"reason"`
	Detail  string `csv:"detail"`
	Raw     string `csv:"raw"` // the line as it was in the file
}

// rejectWriter writes one input file's rejected and repaired lines as CSV
// (because the raw text may hold anything, and a spreadsheet opens it),
// through gocsv: rejects are few and off the hot path.
type rejectWriter struct {
	path string
	file string
	f    *os.File
	bw   *bufio.Writer
	w    *gocsv.SafeCSVWriter
	one  [1]Reject
}

func newRejectWriter(path, file string) (*rejectWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("creating reject file: %w", err)
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	rw := &rejectWriter{path: path, file: file, f: f, bw: bw, w: gocsv.NewSafeCSVWriter(csv.NewWriter(bw))}
	if err := gocsv.MarshalCSV([]Reject{}, rw.w); err != nil { // the header
		f.Close()
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return rw, nil
}

// write records one issue; a nil writer (a pass that only reads parents)
// records nothing.
func (rw *rejectWriter) write(is Issue) error {
	if rw == nil {
		return nil
	}
	outcome := "rejected"
	if is.Repaired {
		outcome = "repaired"
	}
	rw.one[0] = Reject{File: rw.file, Line: is.Line, Outcome: outcome, Reason: is.Reason, Detail: is.Detail, Raw: string(is.Raw)}
	if err := gocsv.MarshalCSVWithoutHeaders(rw.one[:], rw.w); err != nil {
		return fmt.Errorf("writing %s: %w", rw.path, err)
	}
	return nil
}

func (rw *rejectWriter) Close() error {
	if rw == nil {
		return nil
	}
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

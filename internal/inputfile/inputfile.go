// Package inputfile opens the files kvgpt reads — checkpoints, data, metrics, results — after
// checking their kind and size, so that a device (/dev/zero), a FIFO, a directory or a file far
// larger than the reader can hold is refused at once with a one-line error that names the file
// and the limit, instead of being read until the machine runs out of memory.
//
// The limit is the caller's: derived from the memory plan, from what a header declares, or from
// what a well-formed file of that kind can hold. Open returns the file for streaming; ReadAll is
// for files read whole.
package inputfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Limit bounds the size of a file to be read.
type Limit struct {
	Bytes int64  // the largest size accepted; ≤ 0: no limit
	Why   string // where the limit comes from, for the refusal: "what 2.1 GB of free memory holds"
}

// NoLimit accepts a file of any size (its kind is still checked).
var NoLimit = Limit{}

// NotRegularError reports a path that is not a regular file (a directory, a device, a FIFO, a
// socket): reading it would block, fail or never end.
type NotRegularError struct {
	What, Path string
	Kind       string // "a directory", "a character device", …
}

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("%s %s is %s, not a regular file", e.What, e.Path, e.Kind)
}

// TooLargeError reports a file larger than the limit.
type TooLargeError struct {
	What, Path string
	Size       int64
	Limit      Limit
}

func (e *TooLargeError) Error() string {
	msg := fmt.Sprintf("%s %s is %s, more than the limit of %s", e.What, e.Path, Bytes(e.Size), Bytes(e.Limit.Bytes))
	if e.Limit.Why != "" {
		msg += " (" + e.Limit.Why + ")"
	}
	return msg
}

// NotExistError reports a missing file; it matches os.ErrNotExist (errors.Is).
type NotExistError struct{ What, Path string }

func (e *NotExistError) Error() string        { return fmt.Sprintf("%s %s does not exist", e.What, e.Path) }
func (e *NotExistError) Is(target error) bool { return target == fs.ErrNotExist }

// File is an open regular file and its size when it was opened.
type File struct {
	*os.File
	Size int64
}

// Check checks that path is a regular file within limit and returns its size, without opening
// it. what names the file's role in errors ("checkpoint", "data file").
func Check(what, path string, limit Limit) (int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, statError(what, path, err)
	}
	return st.Size(), check(what, path, st, limit)
}

// Open opens path for reading after checking that it is a regular file within limit: a FIFO or a
// device is refused before it is opened (opening a FIFO blocks until a writer comes), and the
// open file is checked again, so a file swapped in between is refused too.
func Open(what, path string, limit Limit) (*File, error) {
	if _, err := Check(what, path, limit); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, statError(what, path, err)
	}
	st, err := f.Stat()
	if err == nil {
		err = check(what, path, st, limit)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &File{File: f, Size: st.Size()}, nil
}

// ReadAll reads the whole of path after Open's checks. A file that grows past limit while it is
// read is refused too.
func ReadAll(what, path string, limit Limit) ([]byte, error) {
	f, err := Open(what, path, limit)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if limit.Bytes > 0 {
		r = io.LimitReader(f, limit.Bytes+1) // one byte more: a file that grew is refused
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading %s %s: %w", what, path, err)
	}
	if limit.Bytes > 0 && int64(len(b)) > limit.Bytes {
		return nil, &TooLargeError{What: what, Path: path, Size: int64(len(b)), Limit: limit}
	}
	return b, nil
}

func check(what, path string, st fs.FileInfo, limit Limit) error {
	if !st.Mode().IsRegular() {
		return &NotRegularError{What: what, Path: path, Kind: kind(st.Mode())}
	}
	if limit.Bytes > 0 && st.Size() > limit.Bytes {
		return &TooLargeError{What: what, Path: path, Size: st.Size(), Limit: limit}
	}
	return nil
}

func statError(what, path string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return &NotExistError{What: what, Path: path}
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // the path is in the message already
	}
	return fmt.Errorf("%s %s: %w", what, path, err)
}

// kind names the kind of a file that is not regular.
func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "a special file (mode " + m.String() + ")"
}

// Bytes returns n in decimal units with three significant digits: "840 B", "83.2 MB", "21.5 GB".
func Bytes(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB", "EB"}
	v, u := float64(n), 0
	for v >= 999.5 && u < len(units)-1 {
		v, u = v/1000, u+1
	}
	switch {
	case u == 0:
		return fmt.Sprintf("%d B", n)
	case v < 9.995:
		return fmt.Sprintf("%.2f %s", v, units[u])
	case v < 99.95:
		return fmt.Sprintf("%.1f %s", v, units[u])
	}
	return fmt.Sprintf("%.0f %s", v, units[u])
}

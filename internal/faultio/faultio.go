// Package faultio has writers that fail on purpose, for tests of the code that must survive a
// failed write (atomic files, checkpoints).
package faultio

import (
	"errors"
	"io"
)

// ErrInjected is the error a Writer returns once its budget is spent.
var ErrInjected = errors.New("injected write failure")

// Writer passes the first N bytes written to it on to W, then fails with ErrInjected.
type Writer struct {
	W io.Writer
	N int
}

// Write writes as much of p as the budget allows to W; if that is not all of p, it returns
// ErrInjected (or W's own error).
func (f *Writer) Write(p []byte) (int, error) {
	if len(p) <= f.N {
		f.N -= len(p)
		return f.W.Write(p)
	}
	k, err := f.W.Write(p[:f.N])
	f.N -= k
	if err != nil {
		return k, err
	}
	return k, ErrInjected
}

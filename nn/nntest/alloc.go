package nntest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/nn"
)

// AllocErrorOf runs f and returns the *nn.AllocError it panics with (a backend's Alloc refusing
// a buffer), or nil if it returns. Any other panic fails t.
func AllocErrorOf(t testing.TB, f func()) (ae *nn.AllocError) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			var ok bool
			ae, ok = p.(*nn.AllocError)
			require.True(t, ok, "panicked with %T %v, want an *nn.AllocError", p, p)
		}
	}()
	f()
	return nil
}

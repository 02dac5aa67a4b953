package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/metal"
)

// TestBackendChoice checks --backend: auto is Metal exactly where Metal is available, cpu is the
// CPU, metal fails with the package's explanation where it is not available, and the chosen
// backend is printed.
func TestBackendChoice(t *testing.T) {
	var out bytes.Buffer
	be, err := openBackend("auto", 1, &out)
	require.NoError(t, err)
	defer be.Close()
	if metal.Available() {
		require.True(t, strings.HasPrefix(be.Name(), "metal ("), be.Name())
	} else {
		require.True(t, strings.HasPrefix(be.Name(), "cpu "), be.Name())
	}
	require.Equal(t, "backend: "+be.Name()+"\n", out.String())

	cpu, err := newBackend("cpu", 1)
	require.NoError(t, err)
	defer cpu.Close()
	require.True(t, strings.HasPrefix(cpu.Name(), "cpu "), cpu.Name())

	if !metal.Available() {
		_, err = newBackend("metal", 0)
		require.ErrorIs(t, err, metal.ErrUnavailable)
	}
	_, err = newBackend("gpu", 0)
	require.ErrorContains(t, err, `unknown backend "gpu"`)
}

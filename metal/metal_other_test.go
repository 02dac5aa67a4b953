//go:build !((darwin || fakemetal) && cgo)

package metal_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/metal"
)

// TestUnavailable checks that, where Metal cannot be built, the package says so instead of
// failing later: Available is false and New returns ErrUnavailable, whose message says what is
// needed.
func TestUnavailable(t *testing.T) {
	require.False(t, metal.Available())
	b, err := metal.New()
	require.Nil(t, b)
	require.ErrorIs(t, err, metal.ErrUnavailable)
	require.Contains(t, err.Error(), "macOS")
	require.Contains(t, err.Error(), "cgo")
}

package theory

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestExpressivityConfigValidate: settings that would exhaust the machine are errors that name
// the setting, not a crash.
func TestExpressivityConfigValidate(t *testing.T) {
	require.NoError(t, DefaultExpressivityConfig().Validate())
	for _, c := range []struct {
		name string
		edit func(*ExpressivityConfig)
		want string
	}{
		{"samples=10¹¹", func(c *ExpressivityConfig) { c.Samples = 1e11 }, "samples must be ≤ 1048576"},
		{"blocks=10¹²", func(c *ExpressivityConfig) { c.Blocks = 1e12 }, "at most 1048576 fits"},
		{"restarts=MaxInt", func(c *ExpressivityConfig) { c.Restarts = int(^uint(0) >> 1) }, "at most 1048576 fits"},
		{"blocks·restarts", func(c *ExpressivityConfig) { c.Blocks, c.Restarts = 1000, 1000 }, "got blocks=1000 restarts=1000"},
		{"workers=10⁹", func(c *ExpressivityConfig) { c.Workers = 1e9 }, "workers must be between 0 and 1024"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultExpressivityConfig()
			c.edit(&cfg)
			require.ErrorContains(t, cfg.Validate(), c.want)
		})
	}
}

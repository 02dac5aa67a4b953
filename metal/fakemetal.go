//go:build fakemetal && cgo

package metal

// A build with -tags fakemetal links the fake Metal device (metal/internal/fakemetal) in place of
// Metal.framework: every binary of that build — the metal tests, `kvgpt selftest` — runs the real
// host code of this package against it.
import _ "github.com/kvgpt/kvgpt/metal/internal/fakemetal"

const fakeDevice = true

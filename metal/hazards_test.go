//go:build (darwin || fakemetal) && cgo

package metal

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// The host-side orderings that a GPU does not forgive and that no other test makes: a host write
// into a buffer that queued work still reads, and work queued behind other work that produces its
// input (the MPS matmul fed by a dispatch with no sync between). On the fake device each runs with
// its hazard checks (a host write between a command's encoding and its run, commands run out of
// encoding order) and, under FAKEMETAL_DEFER=1, with command buffers that run only when waited
// for; the values are checked too, so on a Mac they test the real queue.

// hazardCase is one ordering of host work and GPU work; run returns what went wrong ("" if
// nothing).
type hazardCase struct {
	name string
	run  func(b *Backend) string
}

// hazardCases are the orderings TestHazards checks and the negative controls' workload runs.
var hazardCases = []hazardCase{
	{"upload-after-queued-op/N=37", func(b *Backend) string { return uploadAfterQueuedOp(b, false) }},
	{"upload-after-committed-op/N=37", func(b *Backend) string { return uploadAfterQueuedOp(b, true) }},
	{"mps-fed-by-queued-dispatch/N=5/C=7/OC=3", mpsFedByQueuedDispatch},
}

// uploadAfterQueuedOp queues out = x + y, then uploads new values into x with no sync of its own
// (committed: after committing the op's command buffer) and reads out: the op must see the x it
// was queued with. Upload has to wait for the queued work before it writes.
func uploadAfterQueuedOp(b *Backend, committed bool) string {
	const n = 37
	x, y, out := b.Alloc(n), b.Alloc(n), b.Alloc(n)
	xs, ys, later := make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range n {
		xs[i], ys[i], later[i] = float32(i), float32(100*i), -1e6
	}
	b.Upload(x, xs)
	b.Upload(y, ys)
	b.ResidualForward(out, x, y, n)
	if committed {
		inPool(b.s.commit)
	}
	b.Upload(x, later) // into the input of the queued op
	got := make([]float32, n)
	b.Download(got, out)
	if err := b.Sync(); err != nil {
		return err.Error()
	}
	for i := range n {
		if want := xs[i] + ys[i]; got[i] != want {
			return fmt.Sprintf("out[%d] = %v, want %v: the queued op read the later upload", i, got[i], want)
		}
	}
	return ""
}

// mpsFedByQueuedDispatch computes in = a + c with a dispatch and, with no sync between, out =
// in·wᵀ with the MPS matmul: MPS must run after the dispatch that produces its input.
func mpsFedByQueuedDispatch(b *Backend) string {
	const N, C, OC = 5, 7, 3
	a, c, in, w, out := b.Alloc(N*C), b.Alloc(N*C), b.Alloc(N*C), b.Alloc(OC*C), b.Alloc(N*OC)
	as, cs, ws := make([]float32, N*C), make([]float32, N*C), make([]float32, OC*C)
	for i := range as {
		as[i], cs[i] = float32(i%5)-2, float32(i%3)
	}
	for i := range ws {
		ws[i] = float32(i%7) - 3
	}
	b.Upload(a, as)
	b.Upload(c, cs)
	b.Upload(w, ws)
	b.ResidualForward(in, a, c, N*C)
	b.MatmulForwardMPS(out, in, w, N, C, OC)
	got := make([]float32, N*OC)
	b.Download(got, out)
	if err := b.Sync(); err != nil {
		return err.Error()
	}
	for n := range N {
		for o := range OC {
			want := 0.0
			for k := range C {
				want += float64(as[n*C+k]+cs[n*C+k]) * float64(ws[o*C+k])
			}
			if g := got[n*OC+o]; math.Abs(float64(g)-want) > 1e-4 {
				return fmt.Sprintf("out[%d,%d] = %v, want %v: MPS read its input before the dispatch that produces it ran", n, o, g, want)
			}
		}
	}
	return ""
}

// TestHazards runs each hazard case on a fresh backend: the values must be right (and, on the
// fake device, TestMain fails the run on any hazard it recorded).
func TestHazards(t *testing.T) {
	for _, c := range hazardCases {
		t.Run(c.name, func(t *testing.T) {
			b := newTestBackend(t)
			require.Empty(t, c.run(b))
		})
	}
}

package bench

import (
	"math/rand/v2"
	"time"

	"gonum.org/v1/gonum/blas"

	"github.com/kvgpt/kvgpt/cpublas"
)

// Timing says how long to measure one thing.
type Timing struct {
	// MinTime is the total time spent calling the measured function (after one warm-up call).
	MinTime time.Duration
	// Rounds splits MinTime into rounds; the fastest round's time per call is reported, which
	// filters out the rounds another process on the machine slowed down.
	Rounds int
}

// DefaultTiming is what `kvgpt bench` uses per op: 3 rounds of about 50 ms.
var DefaultTiming = Timing{MinTime: 150 * time.Millisecond, Rounds: 3}

// measure returns the time per call of loop, which runs the measured function reps times and
// returns the wall time it took.
func measure(loop func(reps int) time.Duration, t Timing) time.Duration {
	rounds := max(t.Rounds, 1)
	est := max(loop(1), time.Microsecond) // warm-up and first estimate
	reps := max(1, int(t.MinTime/time.Duration(rounds)/est))
	best := time.Duration(1<<63 - 1)
	for range rounds {
		if d := loop(reps) / time.Duration(reps); d < best {
			best = d
		}
	}
	return best
}

// TimeCalls returns the time per call of f.
func TimeCalls(f func(), t Timing) time.Duration {
	return measure(func(reps int) time.Duration {
		t0 := time.Now()
		for range reps {
			f()
		}
		return time.Since(t0)
	}, t)
}

// randomFloats returns n values uniform in [−0.5, 0.5).
func randomFloats(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32() - 0.5
	}
	return s
}

// TimeSgemm returns the time of one m×n×k product C = A·Bᵀ (the layout of a matmul forward)
// through impl.Sgemm.
func TimeSgemm(impl blas.Float32, m, n, k int, t Timing) time.Duration {
	r := rand.New(rand.NewPCG(1, uint64(m*n*k)))
	a, b, c := randomFloats(r, m*k), randomFloats(r, n*k), make([]float32, m*n)
	return TimeCalls(func() {
		impl.Sgemm(blas.NoTrans, blas.Trans, m, n, k, 1, a, k, b, k, 0, c, n)
	}, t)
}

// TimeDirectSgemm returns the time of one m×n×k product C = A·Bᵀ by cblas_sgemm called from a
// loop in C on C memory, with the library on threads threads (0: as it is set); it fails in a
// build without a BLAS tag (see HaveDirectCBLAS). The library's thread count is restored after.
func TimeDirectSgemm(m, n, k, threads int, t Timing) (time.Duration, error) {
	d, err := newDirectGemm(m, n, k)
	if err != nil {
		return 0, err
	}
	defer d.free()
	defer cpublas.SetThreads(cpublas.Describe().Threads)
	cpublas.SetThreads(threads)
	return measure(d.run, t), nil
}

// GFLOPS returns flops/d in units of 10⁹ per second.
func GFLOPS(flops float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return flops / d.Seconds() / 1e9
}

//go:build !cgo || !(openblas || (accelerate && darwin))

package bench

import (
	"errors"
	"time"
)

// directGemm is unavailable in a build without a BLAS tag.
type directGemm struct{}

func newDirectGemm(m, n, k int) (*directGemm, error) {
	return nil, errors.New("bench: no cgo BLAS in this build (build with -tags openblas or -tags accelerate)")
}

func (d *directGemm) run(reps int) time.Duration { return 0 }

func (d *directGemm) free() {}

// HaveDirectCBLAS reports whether this build can call cblas_sgemm directly (a BLAS build tag).
const HaveDirectCBLAS = false

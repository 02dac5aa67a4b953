package cpublas

import (
	"fmt"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// Info describes the BLAS of this build.
type Info struct {
	// Name is the implementation, e.g. "gonum (pure Go)" or "OpenBLAS 0.3.21 (cgo)".
	Name string `json:"name"`
	// CBLAS reports whether matrix products run in a cgo CBLAS library.
	CBLAS bool `json:"cblas"`
	// Core is the CPU kernel family the library picked (OpenBLAS's core name), if known.
	Core string `json:"core,omitempty"`
	// Threads is the number of threads the library itself runs a product on; 0 when the
	// library is single-threaded and parallelism is the caller's (gonum).
	Threads int `json:"threads"`
	// Note explains a fallback, e.g. a build tag given without cgo.
	Note string `json:"note,omitempty"`
}

// String formats the Info for a start-up line, e.g. "OpenBLAS 0.3.21 (cgo, core SkylakeX, 2 threads)".
func (i Info) String() string {
	s := i.Name
	threads := fmt.Sprintf("%d threads", i.Threads)
	if i.Threads == 1 {
		threads = "1 thread"
	}
	switch {
	case i.CBLAS && i.Core != "" && i.Threads > 0:
		s += fmt.Sprintf(" (cgo, core %s, %s)", i.Core, threads)
	case i.CBLAS && i.Threads > 0:
		s += fmt.Sprintf(" (cgo, %s)", threads)
	case i.CBLAS:
		s += " (cgo)"
	}
	if i.Note != "" {
		s += "; " + i.Note
	}
	return s
}

// Implementation returns this build's blas.Float32 without installing it: a cgo CBLAS for the
// matrix products when the build has one, gonum's pure-Go implementation otherwise.
func Implementation() blas.Float32 { return implementation() }

// Describe reports which BLAS this build runs.
func Describe() Info { return describe() }

// Use installs Implementation as gonum's blas32 implementation for the whole process and returns
// its Info. Call it once at program start, before creating a backend; it is the single place kvgpt
// touches gonum's process-wide switch.
func Use() Info {
	blas32.Use(implementation())
	return describe()
}

// SetThreads sets how many threads the cgo BLAS runs one product on (OpenBLAS's
// openblas_set_num_threads). n ≤ 0 leaves the library's default. It does nothing for gonum's
// implementation and for Accelerate, which manage no thread count of their own.
func SetThreads(n int) {
	if n > 0 {
		setThreads(n)
	}
}

//go:build cgo && accelerate && darwin && !openblas

package cpublas

// #cgo CFLAGS: -DACCELERATE_NEW_LAPACK
// #cgo LDFLAGS: -framework Accelerate
import "C"

func libraryName() string { return "Apple Accelerate" }

// libraryCore is empty: Accelerate does not say which unit (NEON or the AMX matrix coprocessor) runs.
func libraryCore() string { return "" }

// libraryThreads is 0: Accelerate schedules its own threads and exposes no count.
func libraryThreads() int { return 0 }

func setThreads(int) {}

//go:build cgo && openblas

package cpublas

// #cgo CFLAGS: -DKVGPT_OPENBLAS
// #cgo LDFLAGS: -lopenblas
// #include <cblas.h>
import "C"

import "strings"

// libraryName reports OpenBLAS's version, e.g. "OpenBLAS 0.3.21".
func libraryName() string {
	f := strings.Fields(C.GoString(C.openblas_get_config()))
	if len(f) >= 2 && f[0] == "OpenBLAS" {
		return f[0] + " " + f[1]
	}
	return "OpenBLAS"
}

// libraryCore reports the kernel family OpenBLAS picked for this CPU (OPENBLAS_CORETYPE overrides it).
func libraryCore() string { return C.GoString(C.openblas_get_corename()) }

func libraryThreads() int { return int(C.openblas_get_num_threads()) }

func setThreads(n int) { C.openblas_set_num_threads(C.int(n)) }

//go:build cgo && openblas

package bench

// #cgo CFLAGS: -DKVGPT_OPENBLAS
// #cgo LDFLAGS: -lopenblas
import "C"

//go:build cgo && accelerate && darwin && !openblas

package bench

// #cgo CFLAGS: -DACCELERATE_NEW_LAPACK
// #cgo LDFLAGS: -framework Accelerate
import "C"

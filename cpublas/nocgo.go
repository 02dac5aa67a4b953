//go:build !cgo && (openblas || accelerate)

package cpublas

const fallbackNote = "built with a BLAS tag but without cgo (CGO_ENABLED=0): the tag is ignored"

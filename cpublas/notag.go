//go:build !openblas && !accelerate

package cpublas

const fallbackNote = ""

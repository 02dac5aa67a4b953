//go:build cgo && accelerate && !openblas && !darwin

package cpublas

const fallbackNote = "built with -tags accelerate, which needs macOS: the tag is ignored"

package nn

import "fmt"

// AllocError reports a buffer that a backend could not allocate: more than its device or its
// memory limit allows, or a request the device refused. Backend.Alloc has no error result, so a
// backend panics with an *AllocError; gpt's API recovers it (RecoverAllocError) and returns it as
// an error, so that running out of memory is a message, not a crash.
type AllocError struct {
	Backend   string // the backend: "cpu", "metal (Apple M2 Pro)"
	Bytes     int64  // the request; -1 if its size in bytes overflows an int64
	Allocated int64  // bytes the backend's live buffers held before the request
	Limit     int64  // the limit the request exceeds, in bytes; 0 if the device refused it
	What      string // what Limit is ("the machine's memory"), or why the device refused
}

func (e *AllocError) Error() string {
	req := "more than 2⁶³ bytes"
	if e.Bytes >= 0 {
		req = formatBytes(e.Bytes)
	}
	msg := fmt.Sprintf("nn: %s: cannot allocate %s (%s allocated already): ", e.Backend, req, formatBytes(e.Allocated))
	if e.Limit == 0 {
		return msg + e.What
	}
	return msg + fmt.Sprintf("more than %s, %s", e.What, formatBytes(e.Limit))
}

// RecoverAllocError, deferred by a function with a named error result, turns a panic with an
// *AllocError into that result, wrapped as fmt.Errorf(format+": %w", args..., allocErr), and lets
// every other panic go on. It is the boundary between a backend's Alloc, which panics, and an API
// that returns errors.
func RecoverAllocError(err *error, format string, args ...any) {
	p := recover()
	if p == nil {
		return
	}
	ae, ok := p.(*AllocError)
	if !ok {
		panic(p)
	}
	*err = fmt.Errorf(format+": %w", append(args, ae)...)
}

// formatBytes returns n in the largest decimal unit that keeps it ≥ 1: "512 bytes", "3.2 MB",
// "51.2 GB".
func formatBytes(n int64) string {
	switch {
	case n >= 1e12:
		return fmt.Sprintf("%.1f TB", float64(n)/1e12)
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d bytes", n)
}

// addressSpaceMargin is what the Go runtime may map beside a large allocation (its heap grows in
// 64 MiB arenas, with metadata), kept free under an address-space limit.
const addressSpaceMargin = 256 << 20

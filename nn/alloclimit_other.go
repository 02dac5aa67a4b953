//go:build !linux && !darwin

package nn

// physicalMemory returns 0: unknown on this platform.
func physicalMemory() int64 { return 0 }

// addressSpaceLimit returns 0: unknown on this platform.
func addressSpaceLimit() int64 { return 0 }

// addressSpaceUsed returns 0: unknown on this platform.
func addressSpaceUsed() int64 { return 0 }

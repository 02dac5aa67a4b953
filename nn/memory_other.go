//go:build !linux && !darwin

package nn

import (
	"fmt"
	"runtime"
)

// systemAvailableMemory reports that kvgpt cannot read the available memory on this system.
func systemAvailableMemory() (int64, error) {
	return 0, fmt.Errorf("nn: kvgpt cannot read the available memory on %s", runtime.GOOS)
}

// physicalMemory returns 0: unknown on this platform.
func physicalMemory() int64 { return 0 }

// addressSpaceLimit returns 0: unknown on this platform.
func addressSpaceLimit() int64 { return 0 }

// addressSpaceUsed returns 0: unknown on this platform.
func addressSpaceUsed() int64 { return 0 }

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

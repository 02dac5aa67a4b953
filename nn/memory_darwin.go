package nn

import (
	"fmt"
	"os/exec"
)

// systemAvailableMemory returns the free, inactive and speculative memory that vm_stat reports
// (the standard library has no call for it, and kvgpt takes no dependency for one).
func systemAvailableMemory() (int64, error) {
	out, err := exec.Command("/usr/bin/vm_stat").Output()
	if err != nil {
		return 0, fmt.Errorf("nn: vm_stat: %w", err)
	}
	return parseVMStat(out)
}

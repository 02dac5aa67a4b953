package lockfile

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAcquire: the lock file records the holder's pid; a second Acquire is refused with a
// *LockedError that names the file and the pid; after Unlock the lock is free again. (Between
// processes, and after the holder is SIGKILLed: cmd/kvgpt's TestTrainLock.)
func TestAcquire(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("no flock(2) here: Acquire does not lock")
	}
	path := filepath.Join(t.TempDir(), "train.lock")
	first, err := Acquire(path)
	require.NoError(t, err)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, strconv.Itoa(os.Getpid())+"\n", string(b))

	_, err = Acquire(path)
	var le *LockedError
	require.ErrorAs(t, err, &le)
	require.Equal(t, os.Getpid(), le.PID)
	require.EqualError(t, err, path+" is locked by another process (pid "+strconv.Itoa(os.Getpid())+")")

	require.NoError(t, first.Unlock())
	require.NoError(t, first.Unlock(), "a second Unlock does nothing")
	again, err := Acquire(path)
	require.NoError(t, err)
	require.NoError(t, again.Unlock())
	require.NoError(t, (*Lock)(nil).Unlock())

	_, err = Acquire(filepath.Join(t.TempDir(), "missing", "train.lock"))
	require.Error(t, err)
}

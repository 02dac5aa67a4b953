// Package lockfile gives a process exclusive use of something — a directory it writes, say — for
// as long as it runs, through a lock on a file. Where the system has flock(2) (Linux, macOS, the
// BSDs) the lock belongs to the open file, so the kernel drops it when the process exits, however
// it exits: SIGKILL, a crash or a power cut leave no lock behind that someone must delete. The
// file itself stays (removing it would race with the next process that opens it); it holds the
// pid of the last process that took the lock, for the message of the one refused. Elsewhere
// (Windows, Plan 9, …) Lock records the pid but does not lock.
package lockfile

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Lock is a lock held on a file; Unlock releases it.
type Lock struct {
	f *os.File
}

// LockedError reports a lock file that another process holds.
type LockedError struct {
	Path string
	PID  int // the holder's pid as its lock file records it; 0 if it has not written it yet
}

func (e *LockedError) Error() string {
	if e.PID == 0 {
		return fmt.Sprintf("%s is locked by another process", e.Path)
	}
	return fmt.Sprintf("%s is locked by another process (pid %d)", e.Path, e.PID)
}

// Acquire takes the lock on the file at path, creating the file if needed, without waiting: if
// another process (or another Acquire in this one) holds it, the error is a *LockedError.
func Acquire(path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	locked, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if !locked {
		f.Close()
		return nil, &LockedError{Path: path, PID: readPID(path)}
	}
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt(pid, 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// Unlock releases the lock (a nil *Lock: nothing to do).
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the file drops the lock
	l.f = nil
	return err
}

// readPID returns the pid a lock file records, or 0.
func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid < 0 {
		return 0
	}
	return pid
}

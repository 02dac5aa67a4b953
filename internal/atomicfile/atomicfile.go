// Package atomicfile writes files so that a crash never leaves a torn one behind: the data goes to
// a temporary file in the same directory, which is synced and then renamed over the target.
package atomicfile

import (
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Write writes the concatenation of parts to path atomically, with permissions 0644. On error the
// temporary file is removed and any existing file at path is left unchanged.
func Write(path string, parts ...[]byte) error {
	return WriteFunc(path, func(w io.Writer) error {
		for _, p := range parts {
			if _, err := w.Write(p); err != nil {
				return err
			}
		}
		return nil
	})
}

// WriteFunc writes what write writes to path atomically, with permissions 0644: into a temporary
// file in path's directory (see RemoveTemps), which is synced, closed and renamed over path. If
// write or any of these steps fails, the temporary file is removed, any existing file at path is
// left unchanged and the error is returned.
func WriteFunc(path string, write func(w io.Writer) error) (err error) {
	f, err := Create(path)
	if err != nil {
		return err
	}
	if err = write(f); err != nil {
		f.Abort()
		return err
	}
	return f.Commit()
}

// File is a file being written atomically: a temporary file in the target's directory that Commit
// renames over the target and Abort removes. Its *os.File methods (Write, WriteAt, Seek …) write
// the temporary file.
type File struct {
	*os.File
	path string
}

// Create starts writing path atomically (see WriteFunc): nothing appears at path until Commit.
func Create(path string) (*File, error) {
	f, err := os.CreateTemp(filepath.Dir(path), tempPrefix(path)+"*")
	if err != nil {
		return nil, err
	}
	return &File{File: f, path: path}, nil
}

// Commit gives the file permissions 0644, syncs and closes it and renames it over the target. If a
// step fails, the temporary file is removed, the target is left unchanged and the error returned.
func (f *File) Commit() (err error) {
	defer func() {
		if err != nil {
			f.Abort()
		}
	}()
	if err = f.Chmod(0o644); err != nil { // CreateTemp makes 0600 files
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), f.path); err != nil {
		return err
	}
	if d, derr := os.Open(filepath.Dir(f.path)); derr == nil { // make the rename itself durable
		d.Sync()
		d.Close()
	}
	return nil
}

// Abort closes and removes the temporary file; the target is left unchanged.
func (f *File) Abort() {
	f.Close()
	os.Remove(f.Name())
}

// tempPrefix is the name prefix of path's temporary files.
func tempPrefix(path string) string { return "." + filepath.Base(path) + ".tmp" }

// RemoveTemps removes the temporary files that writes of path left behind when their process was
// killed, and returns how many it removed. Only call it while no other process writes path (for
// example under a lock): it would remove that writer's temporary file too.
func RemoveTemps(path string) (int, error) {
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return 0, err
	}
	n, prefix := 0, tempPrefix(path)
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		if err := os.Remove(filepath.Join(filepath.Dir(path), e.Name())); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

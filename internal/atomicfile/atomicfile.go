// Package atomicfile writes files so that a crash never leaves a torn one behind: the data goes to
// a temporary file in the same directory, which is synced and then renamed over the target.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write writes the concatenation of parts to path atomically, with permissions 0644. On error the
// temporary file is removed and any existing file at path is left unchanged.
func Write(path string, parts ...[]byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	for _, p := range parts {
		if _, err = f.Write(p); err != nil {
			return err
		}
	}
	if err = f.Chmod(0o644); err != nil { // CreateTemp makes 0600 files
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil { // make the rename itself durable
		d.Sync()
		d.Close()
	}
	return nil
}

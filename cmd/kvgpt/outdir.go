package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/internal/atomicfile"
	"github.com/kvgpt/kvgpt/internal/lockfile"
	"github.com/kvgpt/kvgpt/nn"
)

// lockFile is the lock file of a training run's --out (see lockOut). It stays after the run.
const lockFile = "train.lock"

// lockOut takes the lock of a training run's output directory dir (see lockDir). dir is created
// if needed — except on resume, where a missing dir has no checkpoint to continue and is left for
// that error (the lock is then nil). Under the lock it removes the temporary files of checkpoint
// writes that a killed run left in dir.
func lockOut(dir string, resume bool) (*lockfile.Lock, error) {
	if _, err := os.Stat(dir); resume && errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	l, err := lockDir(dir, lockFile, "kvgpt train")
	if err != nil {
		return nil, err
	}
	if _, err := atomicfile.RemoveTemps(filepath.Join(dir, checkpointFile)); err != nil {
		l.Unlock()
		return nil, fmt.Errorf("removing the temporary files of an interrupted checkpoint write: %w", err)
	}
	return l, nil
}

// lockDir creates the output directory dir if needed, checks that it is writable and takes the
// lock file name in it, so that one command at a time writes there: a second one is refused with
// a message that names the first (who) and its pid. The kernel drops the lock when the process
// dies, however it dies (see internal/lockfile; on systems without flock(2) there is no lock).
func lockDir(dir, name, who string) (*lockfile.Lock, error) {
	if err := checkWritableDir(dir); err != nil {
		return nil, err
	}
	l, err := lockfile.Acquire(filepath.Join(dir, name))
	var le *lockfile.LockedError
	switch {
	case errors.As(err, &le) && le.PID != 0:
		return nil, fmt.Errorf("output directory %s is in use by another %s (pid %d, which holds %s); wait for it to finish or stop it, or pass another --out", dir, who, le.PID, le.Path)
	case errors.As(err, &le):
		return nil, fmt.Errorf("output directory %s is in use by another %s (which holds %s); wait for it to finish or stop it, or pass another --out", dir, who, le.Path)
	case err != nil:
		return nil, fmt.Errorf("cannot lock the output directory: %w", err)
	}
	return l, nil
}

// testSlowCheckpointEnv names a knob for tests only: a duration (e.g. "20ms") that each write of
// a checkpoint's parts pauses for, halfway through, so that a crash test can kill a run while its
// checkpoint is being written (TestTrainSurvivesSIGKILL).
const testSlowCheckpointEnv = "KVGPT_TEST_SLOW_CHECKPOINT"

// saveCheckpoint is tr.Save(path, meta), slowed down when the test knob testSlowCheckpointEnv is
// set.
func saveCheckpoint(tr *gpt.Trainer, path string, meta map[string]string) error {
	d, _ := time.ParseDuration(os.Getenv(testSlowCheckpointEnv))
	if d <= 0 {
		return tr.Save(path, meta)
	}
	err := atomicfile.WriteFunc(path, func(w io.Writer) error { return tr.WriteCheckpoint(&slowWriter{w, d}, meta) })
	if err != nil {
		return fmt.Errorf("gpt: cannot write checkpoint %s: %w", path, err)
	}
	return nil
}

// slowWriter writes the first half of each Write to w, pauses for d, then writes the rest.
type slowWriter struct {
	w io.Writer
	d time.Duration
}

func (s *slowWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p[:len(p)/2])
	if err != nil {
		return n, err
	}
	time.Sleep(s.d)
	m, err := s.w.Write(p[len(p)/2:])
	return n + m, err
}

// checkWritableFile checks, before any work, that the output file path (given by flag) can be
// written: it is not a directory and its directory exists and takes a new file.
func checkWritableFile(flag, path string) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("%s %s is a directory; give a file name", flag, path)
	}
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("%s %s: directory %s does not exist", flag, path, dir)
	}
	f, err := os.CreateTemp(dir, ".kvgpt-write-test*")
	if err != nil {
		return fmt.Errorf("%s %s: directory %s is not writable: %w", flag, path, dir, err)
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

// readCheckpointHeader reads the header of the checkpoint at path — what sample, eval and export
// need before its tensors: the configuration, the memory plan's sizes — and its tokenizer.
func readCheckpointHeader(path string) (*gpt.Checkpoint, gpt.Tokenizer, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("checkpoint %s does not exist: train a model with kvgpt train (a bare kvgpt train writes %s) or pass --checkpoint FILE",
			path, filepath.Join(defaultOut, checkpointFile))
	}
	ck, err := gpt.ReadCheckpointHeader(path)
	if err != nil {
		return nil, nil, err
	}
	tok, err := ck.Tokenizer()
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return ck, tok, nil
}

// loadCheckpoint loads the checkpoint at path, whose header was read (and planned for) as head,
// and prints its note, if any, to w.
func loadCheckpoint(path string, head *gpt.Checkpoint, w io.Writer) (*gpt.Checkpoint, error) {
	ck, err := gpt.LoadCheckpoint(path)
	if err != nil {
		return nil, err
	}
	if d := gpt.ConfigDiff(head.Config, ck.Config); d != "" || ck.DataBytes != head.DataBytes {
		return nil, fmt.Errorf("checkpoint %s changed while it was being read; try again", path)
	}
	if note := ck.Note(); note != "" {
		fmt.Fprintf(w, "note: checkpoint %s: %s\n", path, note)
	}
	return ck, nil
}

// loadModel reads the checkpoint at path (whose header was read as head) and returns its model on
// b, with the checkpoint's weights, for the commands that only run a trained model.
func loadModel(path string, head *gpt.Checkpoint, b nn.Backend, w io.Writer) (*gpt.Model, error) {
	ck, err := loadCheckpoint(path, head, w)
	if err != nil {
		return nil, err
	}
	m, err := gpt.New(ck.Config, b, 0)
	if err != nil {
		return nil, err
	}
	return m, ck.LoadWeights(m)
}

// existingRun describes the run that dir holds — its checkpoint, with the step, and its metrics —
// or returns "" if it holds none.
func existingRun(dir string) string {
	var parts []string
	if ck, err := gpt.ReadCheckpointHeader(filepath.Join(dir, checkpointFile)); err == nil {
		parts = append(parts, fmt.Sprintf("%s at step %d", checkpointFile, ck.Step))
	} else if _, err := os.Lstat(filepath.Join(dir, checkpointFile)); err == nil {
		parts = append(parts, checkpointFile+", unreadable")
	}
	if st, err := os.Stat(filepath.Join(dir, metricsFile)); err == nil && st.Size() > 0 {
		parts = append(parts, fmt.Sprintf("%s of %s", metricsFile, gpt.FormatBytes(st.Size())))
	}
	return strings.Join(parts, ", ")
}

// removeRun removes the run in --out that --overwrite replaces (a new run is under way; the lock
// is held): its checkpoint, metrics and loss curve.
func (r *trainRun) removeRun(w io.Writer) error {
	run := existingRun(r.o.out)
	if run == "" {
		return nil
	}
	for _, name := range []string{checkpointFile, metricsFile, plotFile} {
		if err := os.Remove(filepath.Join(r.o.out, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("--overwrite: %w", err)
		}
	}
	fmt.Fprintf(w, "overwrite: removed the run that %s held (%s)\n", r.o.out, run)
	return nil
}

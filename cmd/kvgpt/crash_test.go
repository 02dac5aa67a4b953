package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/gpt"
)

// buildKvgpt builds the kvgpt binary into a temporary directory and returns its path.
func buildKvgpt(t *testing.T) string {
	t.Helper()
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("needs SIGKILL and flock(2)")
	}
	bin := filepath.Join(t.TempDir(), "kvgpt")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// startKvgpt starts the binary bin with args (env: extra variables) and returns the process and
// a channel closed when it has exited.
func startKvgpt(t *testing.T, bin string, args []string, env ...string) (*exec.Cmd, <-chan struct{}) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("stderr of kvgpt %s:\n%s", strings.Join(args, " "), stderr.String())
		}
	})
	return cmd, done
}

// waitFor polls cond every millisecond until it holds (true) or the process has exited (false).
func waitFor(t *testing.T, exited <-chan struct{}, cond func() bool) bool {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for !cond() {
		select {
		case <-exited:
			return false
		case <-deadline:
			t.Fatal("timed out")
		case <-time.After(time.Millisecond):
		}
	}
	return true
}

// checkpointTemps returns the temporary files of checkpoint writes in dir.
func checkpointTemps(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "."+checkpointFile+".tmp*"))
	require.NoError(t, err)
	return m
}

// metricsRecords returns the records of a metrics file, in file order.
func metricsRecords(t *testing.T, path string) []gpt.Metrics {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var ms []gpt.Metrics
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var m gpt.Metrics
		require.NoError(t, json.Unmarshal([]byte(line), &m), "metrics line %q", line)
		ms = append(ms, m)
	}
	return ms
}

// metricsSteps returns the steps of the records in a metrics file, in file order.
func metricsSteps(t *testing.T, path string) []int {
	t.Helper()
	var steps []int
	for _, m := range metricsRecords(t, path) {
		steps = append(steps, m.Step)
	}
	return steps
}

// TestTrainSurvivesSIGKILL kills `kvgpt train` (the real binary, a checkpoint every step) with
// SIGKILL at seeded random moments: in half the trials while a chosen checkpoint is being written
// (KVGPT_TEST_SLOW_CHECKPOINT pauses each part of the write halfway, so the kill lands inside
// it), in the others at any time from the start. Every time, the checkpoint on disk — if one was
// written yet — loads, and `--resume` continues the run to its last step with the weights and
// optimizer state, bit for bit, of a run that was never killed, one metrics record per step, and
// no temporary file left behind.
func TestTrainSurvivesSIGKILL(t *testing.T) {
	trials := 24
	if testing.Short() {
		trials = 4
	}
	const steps = 10
	bin := buildKvgpt(t)
	data := writeData(t)
	args := func(out string) []string {
		return tinyArgs(data, out, "--steps", strconv.Itoa(steps), "--checkpoint-every", "1")
	}
	ref := t.TempDir()
	code, _, stderr := runCLI(args(ref)...)
	require.Equal(t, 0, code, stderr)
	want, err := gpt.LoadCheckpoint(filepath.Join(ref, checkpointFile))
	require.NoError(t, err)

	rng := rand.New(rand.NewPCG(2026, 13))
	var inWrite, noCheckpoint, finished int
	for i := range trials {
		inAWrite := i%2 == 0
		k := 1 + rng.IntN(steps-1) // the checkpoint to kill in a write of
		pause := time.Duration(rng.Int64N(int64(40 * time.Millisecond)))
		delay := time.Duration(rng.Int64N(int64(800 * time.Millisecond)))
		name := fmt.Sprintf("trial=%d/anytime/after=%s", i, delay.Round(time.Millisecond))
		if inAWrite {
			name = fmt.Sprintf("trial=%d/in-write/checkpoint=%d/after=%s", i, k, pause.Round(time.Millisecond))
		}
		t.Run(name, func(t *testing.T) {
			out := t.TempDir()
			metrics, ckpt := filepath.Join(out, metricsFile), filepath.Join(out, checkpointFile)
			cmd, exited := startKvgpt(t, bin, args(out), testSlowCheckpointEnv+"=20ms")
			if inAWrite {
				// Checkpoint k is written right after metrics record k: wait for its temporary file.
				waitFor(t, exited, func() bool {
					b, _ := os.ReadFile(metrics)
					return bytes.Count(b, []byte("\n")) >= k && len(checkpointTemps(t, out)) > 0
				})
				time.Sleep(pause)
			} else {
				select {
				case <-exited:
				case <-time.After(delay):
				}
			}
			cmd.Process.Kill() // SIGKILL
			<-exited
			if cmd.ProcessState.Success() {
				finished++
			} else if len(checkpointTemps(t, out)) > 0 {
				inWrite++
			}

			ck, err := gpt.LoadCheckpoint(ckpt)
			if _, statErr := os.Stat(ckpt); os.IsNotExist(statErr) {
				noCheckpoint++
				require.ErrorContains(t, err, "does not exist")
				code, _, stderr := runCLI("train", "--resume", "--out", out, "--threads", "2")
				require.Equal(t, 1, code)
				require.Contains(t, stderr, "does not exist")
				return
			}
			require.NoError(t, err, "the checkpoint on disk loads")
			require.GreaterOrEqual(t, ck.Step, 1)

			code, _, stderr := runCLI("train", "--resume", "--out", out, "--threads", "2")
			require.Equal(t, 0, code, stderr)
			got, err := gpt.LoadCheckpoint(ckpt)
			require.NoError(t, err)
			require.Equal(t, steps, got.Step)
			require.Equal(t, len(want.Tensors), len(got.Tensors))
			for name, w := range want.Tensors {
				require.Equal(t, w.Data, got.Tensors[name].Data, name)
			}
			wantSteps := make([]int, steps)
			for s := range wantSteps {
				wantSteps[s] = s + 1
			}
			require.Equal(t, wantSteps, metricsSteps(t, metrics))
			require.Empty(t, checkpointTemps(t, out), "the resumed run removed the killed write's temporary file")
		})
	}
	t.Logf("%d trials: %d killed during a checkpoint write, %d with no checkpoint on disk yet, %d finished before the kill",
		trials, inWrite, noCheckpoint, finished)
	require.GreaterOrEqual(t, inWrite, trials/4, "kills during a checkpoint write")
}

// TestTrainLock: while a `kvgpt train` runs, a second one on the same --out — a new run, a
// --resume, in-process or the binary — is refused with a message that names the directory and
// the first one's pid, and touches nothing there; once the first is SIGKILLed, the kernel has
// dropped its lock and a new run starts.
func TestTrainLock(t *testing.T) {
	bin := buildKvgpt(t)
	data, out := writeData(t), t.TempDir()
	metrics := filepath.Join(out, metricsFile)
	first, exited := startKvgpt(t, bin, tinyArgs(data, out, "--steps", "100000", "--checkpoint-every", "0", "--eval-every", "0"))
	require.True(t, waitFor(t, exited, func() bool {
		b, _ := os.ReadFile(metrics)
		return bytes.Contains(b, []byte("\n"))
	}), "the first run trains")
	refused := fmt.Sprintf("output directory %s is in use by another kvgpt train (pid %d, which holds %s); wait for it to finish or stop it, or pass another --out",
		out, first.Process.Pid, filepath.Join(out, lockFile))

	for _, c := range []struct {
		name string
		args []string
	}{
		{"second-run", tinyArgs(data, out)},
		{"second-run-resume", []string{"train", "--resume", "--out", out}},
	} {
		t.Run(c.name+"/in-process", func(t *testing.T) {
			code, _, stderr := runCLI(c.args...)
			require.Equal(t, 1, code)
			require.Equal(t, "kvgpt train: "+refused+"\n", stderr)
		})
		t.Run(c.name+"/binary", func(t *testing.T) {
			cmd := exec.Command(bin, c.args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			require.ErrorAs(t, err, &ee)
			require.Equal(t, 1, ee.ExitCode())
			require.Equal(t, "kvgpt train: "+refused+"\n", stderr.String())
		})
	}
	// The refused runs did not truncate the first one's metrics.
	require.Equal(t, 1, metricsSteps(t, metrics)[0])
	_, err := os.Stat(filepath.Join(out, checkpointFile))
	require.True(t, os.IsNotExist(err), "no checkpoint written")

	first.Process.Kill() // SIGKILL: the lock goes with the process
	<-exited
	code, stdout, stderr := runCLI(tinyArgs(data, out, "--overwrite")...)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "step 6/6")
	lock, err := os.ReadFile(filepath.Join(out, lockFile))
	require.NoError(t, err)
	require.Equal(t, strconv.Itoa(os.Getpid())+"\n", string(lock), "the lock file names its last holder")
}

// TestTrainMetricsSurviveSIGKILL kills one run with SIGKILL again and again — 20 times, each at a
// seeded random moment after its next checkpoint (one every 10 steps; progress lines, which also
// flush the metrics, too rare to help) — resuming it after each kill: the metrics file ends with
// one record for every step, 1 to N, whose losses are those of a run that was never killed.
func TestTrainMetricsSurviveSIGKILL(t *testing.T) {
	kills := 20
	if testing.Short() {
		kills = 4
	}
	const steps = 2000
	bin := buildKvgpt(t)
	data := writeData(t)
	flags := []string{"--steps", strconv.Itoa(steps), "--checkpoint-every", "10", "--log-every", "100000", "--eval-every", "0"}
	ref := t.TempDir()
	code, _, stderr := runCLI(tinyArgs(data, ref, flags...)...)
	require.Equal(t, 0, code, stderr)
	wantLoss := metricsLosses(t, filepath.Join(ref, metricsFile))
	require.Len(t, wantLoss, steps)

	out := t.TempDir()
	ckpt, metrics := filepath.Join(out, checkpointFile), filepath.Join(out, metricsFile)
	step := func() int {
		ck, err := gpt.ReadCheckpointHeader(ckpt)
		if err != nil {
			return 0
		}
		return ck.Step
	}
	rng := rand.New(rand.NewPCG(22, 10))
	var at []int
	for range kills {
		args := tinyArgs(data, out, flags...)
		if step() > 0 {
			args = []string{"train", "--resume", "--out", out, "--threads", "2"}
		}
		from := step()
		cmd, exited := startKvgpt(t, bin, args)
		require.True(t, waitFor(t, exited, func() bool { return step() > from }), "the run exited (%v) before its kill, after kills at steps %v", cmd.ProcessState, at)
		time.Sleep(time.Duration(rng.IntN(20_000)) * time.Microsecond)
		cmd.Process.Kill() // SIGKILL
		<-exited
		at = append(at, step())
	}
	code, _, stderr = runCLI("train", "--resume", "--out", out, "--threads", "2")
	require.Equal(t, 0, code, stderr)
	require.NotContains(t, stderr, "lacks the records")
	wantSteps := make([]int, steps)
	for s := range wantSteps {
		wantSteps[s] = s + 1
	}
	require.Equal(t, wantSteps, metricsSteps(t, metrics), "one record per step after %d kills", kills)
	require.Equal(t, wantLoss, metricsLosses(t, metrics))
	t.Logf("%d SIGKILLs (the checkpoint on disk at each: steps %v): all %d metric records there, losses identical to an uninterrupted run",
		kills, at, steps)
}

// metricsLosses returns the training losses of the records in a metrics file, in file order.
func metricsLosses(t *testing.T, path string) []float64 {
	t.Helper()
	var losses []float64
	for _, m := range metricsRecords(t, path) {
		losses = append(losses, m.Loss)
	}
	return losses
}

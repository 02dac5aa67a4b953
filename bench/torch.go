package bench

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kvgpt/kvgpt/gpt"
	pysrc "github.com/kvgpt/kvgpt/python"
)

// TorchScript is bench/torch_train.py, the PyTorch trainer of the same presets. It imports the
// model from kvgpt_torch (package python, imported as pysrc: python is the interpreter here), which RunTorch writes next to it.
//
//go:embed torch_train.py
var TorchScript []byte

// ErrNoTorch is returned by FindTorchPython when no python3 on the machine imports torch.
var ErrNoTorch = errors.New("bench: no python3 with torch (Debian: apt-get install python3-torch, for /usr/bin/python3)")

// FindTorchPython returns a python3 that imports torch: Debian's /usr/bin/python3 first (where
// python3-torch installs), then python3 on PATH.
func FindTorchPython(ctx context.Context) (string, error) {
	cands := []string{"/usr/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil {
		cands = append(cands, p)
	}
	for _, py := range cands {
		if exec.CommandContext(ctx, py, "-c", "import torch").Run() == nil {
			return py, nil
		}
	}
	return "", ErrNoTorch
}

// TorchResult is what bench/torch_train.py measured for one query mode.
type TorchResult struct {
	Torch        string  `json:"torch"`   // torch version
	Mode         string  `json:"mode"`    // baseline or identity
	Threads      int     `json:"threads"` // torch.get_num_threads()
	Params       int     `json:"params"`
	Steps        int     `json:"steps"`
	Seconds      float64 `json:"seconds"`        // median step
	TokensPerSec float64 `json:"tokens_per_sec"` // of the median step
	// OMPWaitPolicy is the OMP_WAIT_POLICY PyTorch's OpenMP threads ran with ("" if inherited).
	OMPWaitPolicy string `json:"omp_wait_policy,omitempty"`
}

// TorchOptions say how to run PyTorch.
type TorchOptions struct {
	Threads int // torch.set_num_threads
	Warmup  int // untimed steps first (at least 1): give it kvgpt's StepOptions.Warmup
	Steps   int // timed steps after the warm-up
	// OMPWaitPolicy sets OMP_WAIT_POLICY for PyTorch's OpenMP threads: "PASSIVE" (they sleep at a
	// barrier: much faster on a loaded machine, where spinning threads steal each other's cores),
	// "ACTIVE" (they spin: can be a little faster on an idle machine), or "" to inherit.
	OMPWaitPolicy string
}

// TorchConfig is the shape bench/torch_train.py trains, in nanoGPT's names; RunTorch passes it as
// JSON (--config), so the script has no shapes of its own.
type TorchConfig struct {
	Preset    string `json:"preset"`
	NLayer    int    `json:"n_layer"`
	NHead     int    `json:"n_head"`
	NEmbd     int    `json:"n_embd"`
	BlockSize int    `json:"block_size"` // T, and the rows of wpe
	BatchSize int    `json:"batch_size"` // B, sequences per step
	MLPHidden int    `json:"mlp_hidden"` // H, never 0
	VocabSize int    `json:"vocab_size"`
}

// NewTorchConfig returns the shape of preset p as bench trains it (Config).
func NewTorchConfig(p gpt.Preset) TorchConfig {
	c := Config(p, gpt.Baseline)
	return TorchConfig{Preset: p.Name, NLayer: c.NLayer, NHead: c.NHead, NEmbd: c.NEmbd, BlockSize: c.BlockSize,
		BatchSize: p.Train.BatchSize, MLPHidden: c.Hidden(), VocabSize: c.VocabSize}
}

// RunTorch trains preset p in each of modes for o.Steps timed steps (after o.Warmup untimed ones) with
// PyTorch on threads threads, running TorchScript with python (one process, torch imported once),
// and returns what it measured, in the order of modes. The script gets the whole shape as JSON
// (TorchConfig), so it trains exactly kvgpt's; a parameter count that differs from kvgpt's is an
// error.
func RunTorch(ctx context.Context, python string, p gpt.Preset, modes []gpt.QueryMode, o TorchOptions) ([]TorchResult, error) {
	dir, err := os.MkdirTemp("", "kvgpt-torch-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "torch_train.py")
	if err := os.WriteFile(script, TorchScript, 0o644); err != nil {
		return nil, err
	}
	if err := pysrc.Write(dir); err != nil {
		return nil, err
	}
	cfg, err := json.Marshal(NewTorchConfig(p))
	if err != nil {
		return nil, err
	}
	ms := make([]string, len(modes))
	for i, m := range modes {
		ms[i] = string(m)
	}
	args := []string{script, "--config", string(cfg), "--mode", strings.Join(ms, ","),
		"--threads", strconv.Itoa(o.Threads), "--steps", strconv.Itoa(max(o.Steps, 1)), "--warmup-steps", strconv.Itoa(max(o.Warmup, 1))}
	var out, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, python, args...)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if o.OMPWaitPolicy != "" {
		cmd.Env = append(os.Environ(), "OMP_WAIT_POLICY="+o.OMPWaitPolicy)
	}
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("bench: %s %s: %w: %s", python, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(modes) {
		return nil, fmt.Errorf("bench: torch_train.py printed %d lines for %d modes: %q", len(lines), len(modes), out.String())
	}
	res := make([]TorchResult, len(modes))
	for i, line := range lines {
		r := &res[i]
		if err := json.Unmarshal([]byte(line), r); err != nil {
			return nil, fmt.Errorf("bench: torch_train.py printed %q: %w", line, err)
		}
		r.OMPWaitPolicy = o.OMPWaitPolicy
		if r.Mode != string(modes[i]) {
			return nil, fmt.Errorf("bench: torch_train.py trained mode %q, asked for %q", r.Mode, modes[i])
		}
		if want := Config(p, modes[i]).NumParams(); r.Params != want {
			return nil, fmt.Errorf("bench: torch_train.py built %d parameters, kvgpt's %s %s model has %d: the two disagree on the model",
				r.Params, p.Name, modes[i], want)
		}
	}
	return res, nil
}

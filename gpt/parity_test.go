package gpt_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/nn"
)

// parityTol bounds the relative error of every compared tensor: max|kvgpt − torch| / max|torch|.
const parityTol = 1e-4

// torchPython returns a python3 that imports torch: Debian's /usr/bin/python3 first (where
// python3-torch installs), then python3 on PATH. Without one the test is skipped on a developer's
// machine, and fails in CI (CI set), where .ci/run installs python3-torch.
func torchPython(t *testing.T) string {
	t.Helper()
	var tried []string
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		path, err := exec.LookPath(py)
		if err != nil {
			tried = append(tried, py+": not found")
			continue
		}
		out, err := exec.Command(path, "-c", "import torch").CombinedOutput()
		if err == nil {
			return path
		}
		tried = append(tried, fmt.Sprintf("%s: cannot import torch (%s)", path, bytes.TrimSpace(lastLine(out))))
	}
	msg := fmt.Sprintf("PyTorch parity needs a python3 with torch (apt-get install python3-torch); tried %v", tried)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func lastLine(b []byte) []byte {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	return lines[len(lines)-1]
}

// TestTorchParity runs the same tiny model in kvgpt (float32, CPU backend) and in PyTorch
// (testdata/torch_parity.py, on kvgpt_torch's model, in float32 and in float64) and compares the
// loss, the logits and the gradient of every parameter, in the three query modes.
func TestTorchParity(t *testing.T) {
	py := torchPython(t)
	base := gpt.Config{NLayer: 2, NHead: 2, NEmbd: 16, BlockSize: 9, VocabSize: 23}
	cases := []gpt.Config{base, base, base, base}
	cases[0].QueryMode = gpt.Baseline
	cases[1].QueryMode = gpt.Identity
	cases[2].QueryMode, cases[2].MLPHidden = gpt.Identity, 72 // the paper's 4.5·C reallocation
	cases[3].QueryMode = gpt.Residual
	const B, T = 3, 7 // T < BlockSize: wpe's last rows get no gradient
	for _, cfg := range cases {
		name := fmt.Sprintf("mode=%s/B=%d/T=%d/C=%d/NH=%d/L=%d/H=%d/V=%d", cfg.QueryMode, B, T, cfg.NEmbd, cfg.NHead, cfg.NLayer, cfg.Hidden(), cfg.VocabSize)
		t.Run(name, func(t *testing.T) {
			be := nn.NewCPU(0)
			defer be.Close()
			m, err := gpt.New(cfg, be, 1)
			require.NoError(t, err)

			// Weights large enough that every path matters (nanoGPT's N(0, 0.02) would make
			// attention nearly uniform), LayerNorm weights around 1.
			rng := rand.New(rand.NewPCG(7, uint64(len(name))))
			in := map[string]stTensor{}
			for _, p := range m.ParamTensors() {
				x := make([]float32, p.Len())
				for i := range x {
					if len(p.Shape) == 1 {
						x[i] = float32(1 + 0.2*rng.NormFloat64())
					} else {
						x[i] = float32(0.3 * rng.NormFloat64())
					}
				}
				require.NoError(t, m.SetParam(p.Name, x))
				in[p.Name] = stTensor{shape: p.Shape, f32: x}
			}
			idx, targets := make([]int32, B*T), make([]int32, B*T)
			for i := range idx {
				idx[i], targets[i] = int32(rng.IntN(cfg.VocabSize)), int32(rng.IntN(cfg.VocabSize))
			}
			in["idx"] = stTensor{shape: []int{B, T}, i32: idx}
			in["targets"] = stTensor{shape: []int{B, T}, i32: targets}

			m.ZeroGrad()
			loss, err := m.Forward(idx, targets, B, T)
			require.NoError(t, err)
			logits := m.Logits()
			require.NoError(t, m.Backward())
			grads := map[string][]float32{}
			for _, p := range m.GradTensors() {
				grads[p.Name], err = m.Grad(p.Name)
				require.NoError(t, err)
				in["adamw.grad/"+p.Name] = stTensor{shape: p.Shape, f32: grads[p.Name]}
			}

			dir := t.TempDir()
			inPath, outPath := filepath.Join(dir, "in.safetensors"), filepath.Join(dir, "out.safetensors")
			meta := map[string]string{
				"n_layer": strconv.Itoa(cfg.NLayer), "n_head": strconv.Itoa(cfg.NHead), "n_embd": strconv.Itoa(cfg.NEmbd),
				"block_size": strconv.Itoa(cfg.BlockSize), "vocab_size": strconv.Itoa(cfg.VocabSize),
				"mlp_hidden": strconv.Itoa(cfg.MLPHidden), "query_mode": string(cfg.QueryMode),
				"attn_scale": strconv.FormatFloat(cfg.AttnScale, 'g', -1, 64), // 0: the script's own default
			}
			for k, v := range adamwMeta {
				meta["adamw_"+k] = v
			}
			require.NoError(t, writeSafetensors(inPath, in, meta))
			cmd := exec.Command(py, filepath.Join("testdata", "torch_parity.py"), inPath, outPath)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "torch_parity.py: %s", out)
			ref, err := readSafetensors(outPath)
			require.NoError(t, err)

			for _, dtype := range []string{"float32", "float64"} {
				compare := func(what string, got []float32, key string) {
					want, ok := ref[dtype+"/"+key]
					require.True(t, ok, "torch output lacks %s/%s", dtype, key)
					rel, at := relErr(got, want)
					require.LessOrEqual(t, rel, parityTol,
						"%s vs torch %s: relative error %.3g at [%d] (kvgpt %.9g, torch %.9g)", what, dtype, rel, at, got[at], want[at])
					t.Logf("%-40s vs torch %s: relative error %.2g", what, dtype, rel)
				}
				compare("loss", []float32{loss}, "loss")
				compare("logits", logits, "logits")
				for _, p := range m.GradTensors() {
					compare("grad "+p.Name, grads[p.Name], "grad/"+p.Name)
				}
			}
			adamwParity(t, be, m, grads, ref)
		})
	}
}

// adamwMeta are the optimizer settings of the AdamW parity check, as the script reads them.
var adamwMeta = map[string]string{"lr": "0.01", "beta1": "0.9", "beta2": "0.95", "eps": "1e-08", "wd": "0.1", "clip": "1", "steps": "3"}

// adamwParity runs the backend's GradNorm and AdamW ops on the model's parameters — steps of
// AdamW on the gradients grads clipped to norm 1, weight decay on matrices only — and compares
// each parameter's update with torch.optim.AdamW's (ref "float64/adamw/<name>", computed from the
// same gradients).
func adamwParity(t *testing.T, be nn.Backend, m *gpt.Model, grads map[string][]float32, ref map[string][]float64) {
	t.Helper()
	h := nn.AdamWParams{LR: 0.01, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1}
	steps, _ := strconv.Atoi(adamwMeta["steps"])
	params, gradTs := m.ParamTensors(), m.GradTensors()
	before := map[string][]float32{}
	type state struct{ m, v, decay nn.View }
	st := make([]state, len(params))
	for i, p := range params {
		before[p.Name], _ = m.Param(p.Name)
		st[i] = state{be.Alloc(p.Len()), be.Alloc(p.Len()), be.Alloc(p.Len())}
		if len(p.Shape) >= 2 {
			ones := make([]float32, p.Len())
			for j := range ones {
				ones[j] = 1
			}
			be.Upload(st[i].decay, ones)
		}
	}
	// The global gradient norm from the GradNorm op, per tensor, combined.
	var sq float64
	norm, host := be.Alloc(1), make([]float32, 1)
	for _, g := range gradTs {
		be.GradNorm(norm, g.View, g.Len())
		be.Download(host, norm)
		sq += float64(host[0]) * float64(host[0])
	}
	total := math.Sqrt(sq)
	h.GradScale = float32(min(1, 1/(total+1e-6))) // as torch.nn.utils.clip_grad_norm_
	require.Less(t, h.GradScale, float32(1), "the check should exercise clipping (norm %.3g)", total)
	for step := 1; step <= steps; step++ {
		h.Step = step
		for i, p := range params {
			be.AdamW(p.View, st[i].m, st[i].v, gradTs[i].View, st[i].decay, p.Len(), h)
		}
	}
	require.NoError(t, be.Sync())
	for _, p := range params {
		after, err := m.Param(p.Name)
		require.NoError(t, err)
		want, ok := ref["float64/adamw/"+p.Name]
		require.True(t, ok, "torch output lacks float64/adamw/%s", p.Name)
		// Compare the updates, which are small next to the weights.
		got, wantUpd := make([]float32, len(after)), make([]float64, len(after))
		for i := range after {
			got[i] = after[i] - before[p.Name][i]
			wantUpd[i] = want[i] - float64(before[p.Name][i])
		}
		rel, at := relErr(got, wantUpd)
		require.LessOrEqual(t, rel, parityTol, "AdamW update of %s after %d steps vs torch.optim.AdamW: relative error %.3g at [%d] (kvgpt %.9g, torch %.9g)",
			p.Name, steps, rel, at, got[at], wantUpd[at])
		t.Logf("%-40s AdamW update vs torch: relative error %.2g", p.Name, rel)
	}
}

// relErr returns max|got − want| / max|want| and the index of the largest difference.
func relErr(got []float32, want []float64) (float64, int) {
	if len(got) != len(want) {
		return math.Inf(1), 0
	}
	var diff, scale float64
	at := 0
	for i, w := range want {
		if d := math.Abs(float64(got[i]) - w); d > diff || math.IsNaN(d) {
			diff, at = d, i
		}
		scale = math.Max(scale, math.Abs(w))
	}
	if scale == 0 {
		return diff, at
	}
	return diff / scale, at
}

// stTensor is a tensor to write in a safetensors file: f32 or i32 data.
type stTensor struct {
	shape []int
	f32   []float32
	i32   []int32
}

// writeSafetensors writes tensors (little-endian F32 or I32) and string metadata to path.
func writeSafetensors(path string, tensors map[string]stTensor, meta map[string]string) error {
	names := make([]string, 0, len(tensors))
	for n := range tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	header := map[string]any{"__metadata__": meta}
	var data bytes.Buffer
	for _, n := range names {
		t := tensors[n]
		start := data.Len()
		dtype := "F32"
		if t.i32 != nil {
			dtype = "I32"
			binary.Write(&data, binary.LittleEndian, t.i32)
		} else {
			binary.Write(&data, binary.LittleEndian, t.f32)
		}
		header[n] = map[string]any{"dtype": dtype, "shape": t.shape, "data_offsets": []int{start, data.Len()}}
	}
	h, err := json.Marshal(header)
	if err != nil {
		return err
	}
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	var file bytes.Buffer
	binary.Write(&file, binary.LittleEndian, uint64(len(h)))
	file.Write(h)
	file.Write(data.Bytes())
	return os.WriteFile(path, file.Bytes(), 0o644)
}

// readSafetensors reads every F32 or F64 tensor of a safetensors file as float64.
func readSafetensors(path string) (map[string][]float64, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(raw) < 8 {
		return nil, fmt.Errorf("%s: too short for a safetensors file", path)
	}
	n := binary.LittleEndian.Uint64(raw)
	if n > uint64(len(raw)-8) {
		return nil, fmt.Errorf("%s: header length %d past the end of the file", path, n)
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+n], &header); err != nil {
		return nil, fmt.Errorf("%s: header: %w", path, err)
	}
	data := raw[8+n:]
	out := map[string][]float64{}
	for name, msg := range header {
		if name == "__metadata__" {
			continue
		}
		var info struct {
			Dtype   string `json:"dtype"`
			Offsets [2]int `json:"data_offsets"`
		}
		if err := json.Unmarshal(msg, &info); err != nil {
			return nil, fmt.Errorf("%s: tensor %s: %w", path, name, err)
		}
		if info.Offsets[0] < 0 || info.Offsets[1] < info.Offsets[0] || info.Offsets[1] > len(data) {
			return nil, fmt.Errorf("%s: tensor %s: offsets %v outside the data", path, name, info.Offsets)
		}
		b := data[info.Offsets[0]:info.Offsets[1]]
		switch info.Dtype {
		case "F32":
			x := make([]float64, len(b)/4)
			for i := range x {
				x[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
			}
			out[name] = x
		case "F64":
			x := make([]float64, len(b)/8)
			for i := range x {
				x[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
			}
			out[name] = x
		default:
			return nil, fmt.Errorf("%s: tensor %s: dtype %s, want F32 or F64", path, name, info.Dtype)
		}
	}
	return out, nil
}

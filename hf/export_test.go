package hf

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	st "github.com/nlpodyssey/safetensors"
	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/internal/gpttest"
	"github.com/kvgpt/kvgpt/internal/safetensors"
	"github.com/kvgpt/kvgpt/nn"
	"github.com/kvgpt/kvgpt/theory"
)

// testCheckpoint returns a checkpoint of cfg with random weights far from the initialisation's
// (gpttest.RandomWeights), as LoadCheckpoint would return it, with a byte tokenizer.
func testCheckpoint(t *testing.T, cfg gpt.Config) *gpt.Checkpoint {
	t.Helper()
	cpu := nn.NewCPU(1)
	t.Cleanup(func() { cpu.Close() })
	m, err := gpt.New(cfg, cpu, 1)
	require.NoError(t, err)
	require.NoError(t, gpttest.RandomWeights(m, uint64(cfg.NEmbd)))
	ck := &gpt.Checkpoint{Config: cfg, Step: 7, Meta: map[string]string{gpt.TokenizerKey: "byte"}, Tensors: map[string]gpt.CheckpointTensor{}}
	for _, ts := range m.ParamTensors() {
		data, err := m.Param(ts.Name)
		require.NoError(t, err)
		ck.Tensors[ts.Name] = gpt.CheckpointTensor{Shape: ts.Shape, Data: data}
	}
	return ck
}

// readExport reads an exported directory's config.json and model.safetensors (every tensor as
// float64, from float32 or float16) with the independent reader github.com/nlpodyssey/safetensors.
func readExport(t *testing.T, dir string) (cfg map[string]any, w map[string][]float64, dtypes map[string]string, shapes map[string][]int) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &cfg))
	raw, err = os.ReadFile(filepath.Join(dir, WeightsFile))
	require.NoError(t, err)
	f, err := st.Deserialize(raw)
	require.NoError(t, err)
	_, md, err := st.ReadMetadata(raw)
	require.NoError(t, err)
	require.Equal(t, "pt", md.Metadata()["format"], "transformers refuses a safetensors file without format pt")
	w, dtypes, shapes = map[string][]float64{}, map[string]string{}, map[string][]int{}
	for _, nt := range f.Tensors() {
		tv := nt.TensorView
		d := tv.Data()
		var x []float64
		switch tv.DType().String() {
		case "F32":
			for i := 0; i < len(d); i += 4 {
				x = append(x, float64(math.Float32frombits(uint32(d[i])|uint32(d[i+1])<<8|uint32(d[i+2])<<16|uint32(d[i+3])<<24)))
			}
		case "F16":
			for i := 0; i < len(d); i += 2 {
				x = append(x, safetensors.HalfValue(uint16(d[i])|uint16(d[i+1])<<8))
			}
		}
		w[nt.Name], dtypes[nt.Name] = x, tv.DType().String()
		for _, s := range tv.Shape() {
			shapes[nt.Name] = append(shapes[nt.Name], int(s))
		}
	}
	return cfg, w, dtypes, shapes
}

// gpt2Logits is GPT-2's forward pass in float64 as Hugging Face's GPT2LMHeadModel computes it,
// from its config.json and state_dict: LayerNorms with bias, Conv1D layers y = x·W + b with W
// (in, out), c_attn's columns [Q K V], logits q·k/√dh under a causal mask, the activation the
// config names, the LM head tied to wte. It is written from those conventions, not from kvgpt.
func gpt2Logits(cfg map[string]any, w map[string][]float64, tokens []int) [][]float64 {
	C, NH, L := int(cfg["n_embd"].(float64)), int(cfg["n_head"].(float64)), int(cfg["n_layer"].(float64))
	V, eps := int(cfg["vocab_size"].(float64)), cfg["layer_norm_epsilon"].(float64)
	H := 4 * C
	if n, ok := cfg["n_inner"].(float64); ok {
		H = int(n)
	}
	act := map[string]func(float64) float64{
		"gelu":     func(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) },
		"gelu_new": func(x float64) float64 { return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x))) },
	}[cfg["activation_function"].(string)]
	T, dh := len(tokens), C/NH
	ln := func(x []float64, name string) []float64 {
		g, b := w[name+".weight"], w[name+".bias"]
		var mean, v float64
		for _, u := range x {
			mean += u
		}
		mean /= float64(C)
		for _, u := range x {
			v += (u - mean) * (u - mean)
		}
		r := 1 / math.Sqrt(v/float64(C)+eps)
		out := make([]float64, C)
		for i, u := range x {
			out[i] = (u-mean)*r*g[i] + b[i]
		}
		return out
	}
	conv := func(x []float64, name string, nf int) []float64 {
		W, b := w[name+".weight"], w[name+".bias"]
		out := append([]float64(nil), b...)
		for i, u := range x {
			for j := range nf {
				out[j] += u * W[i*nf+j]
			}
		}
		return out
	}
	x := make([][]float64, T)
	for t, tok := range tokens {
		x[t] = make([]float64, C)
		for c := range C {
			x[t][c] = w["transformer.wte.weight"][tok*C+c] + w["transformer.wpe.weight"][t*C+c]
		}
	}
	for l := range L {
		p := fmt.Sprintf("transformer.h.%d.", l)
		qkv := make([][]float64, T)
		for t := range T {
			qkv[t] = conv(ln(x[t], p+"ln_1"), p+"attn.c_attn", 3*C)
		}
		for t := range T {
			o := make([]float64, C)
			for h := range NH {
				s := make([]float64, t+1)
				mx := math.Inf(-1)
				for j := range t + 1 {
					for i := range dh {
						s[j] += qkv[t][h*dh+i] * qkv[j][C+h*dh+i]
					}
					s[j] /= math.Sqrt(float64(dh))
					mx = math.Max(mx, s[j])
				}
				var sum float64
				for j := range s {
					s[j] = math.Exp(s[j] - mx)
					sum += s[j]
				}
				for j := range s {
					for i := range dh {
						o[h*dh+i] += s[j] / sum * qkv[j][2*C+h*dh+i]
					}
				}
			}
			x[t] = addTo(x[t], conv(o, p+"attn.c_proj", C)) // qkv holds every position's K and V already
		}
		for t := range T {
			hid := conv(ln(x[t], p+"ln_2"), p+"mlp.c_fc", H)
			for i := range hid {
				hid[i] = act(hid[i])
			}
			x[t] = addTo(x[t], conv(hid, p+"mlp.c_proj", C))
		}
	}
	logits := make([][]float64, T)
	for t := range T {
		f := ln(x[t], "transformer.ln_f")
		logits[t] = make([]float64, V)
		for v := range V {
			for c := range C {
				logits[t][v] += f[c] * w["transformer.wte.weight"][v*C+c]
			}
		}
	}
	return logits
}

// addTo adds y to x and returns x.
func addTo(x, y []float64) []float64 {
	for i := range x {
		x[i] += y[i]
	}
	return x
}

// kvgptLogits returns the logits of theory's float64 kvgpt transformer with ck's weights.
func kvgptLogits(t *testing.T, ck *gpt.Checkpoint, tokens []int) []float64 {
	t.Helper()
	tr, err := theory.FromWeights(ck.Config, func(name string) ([]float64, error) {
		x := ck.Tensors[name].Data
		out := make([]float64, len(x))
		for i, v := range x {
			out[i] = float64(v)
		}
		return out, nil
	})
	require.NoError(t, err)
	return tr.Logits(tokens).D
}

// TestExportIsTheSameModel: for a baseline model, an identity model with its default scale and
// with another, and a baseline model with a scale other than 1/√dh, GPT-2's forward pass (in
// float64, from the exported config.json and model.safetensors as Hugging Face defines it) gives
// kvgpt's logits (theory's float64 transformer): the W_Q written for the identity model
// reproduces it, to float64 rounding. In float16 the same holds for the weights rounded to half.
func TestExportIsTheSameModel(t *testing.T) {
	for _, c := range []struct {
		mode  gpt.QueryMode
		scale float64
	}{{gpt.Baseline, 0}, {gpt.Identity, 0}, {gpt.Identity, 0.3}, {gpt.Baseline, 0.2}} {
		for _, dtype := range []string{"float32", "float16"} {
			cfg := gpt.Config{NLayer: 2, NHead: 3, NEmbd: 12, BlockSize: 9, VocabSize: 17, MLPHidden: 20, QueryMode: c.mode, AttnScale: c.scale}
			t.Run(fmt.Sprintf("mode=%s/scale=%g/dtype=%s", c.mode, c.scale, dtype), func(t *testing.T) {
				ck := testCheckpoint(t, cfg)
				dir := t.TempDir()
				res, err := Export(ck, dir, Options{DType: dtype})
				require.NoError(t, err)
				require.Equal(t, []string{WeightsFile, ConfigFile, KvgptVocabFile, ReadmeFile}, res.Files)
				conf, w, dtypes, shapes := readExport(t, dir)
				if dtype == "float16" { // kvgpt's model with the weights the export rounded
					for name, ct := range ck.Tensors {
						for i, v := range ct.Data {
							h, ok := safetensors.Half(v)
							require.True(t, ok)
							ct.Data[i] = float32(safetensors.HalfValue(h))
						}
						ck.Tensors[name] = ct
					}
				}
				tokens := []int{3, 0, 16, 5, 5, 9, 1, 12, 7}
				want := kvgptLogits(t, ck, tokens)
				got := gpt2Logits(conf, w, tokens)
				worst := 0.0
				for tt, row := range got {
					for v, x := range row {
						worst = math.Max(worst, math.Abs(x-want[tt*cfg.VocabSize+v]))
					}
				}
				// For the modes' default scales λ is ½ or 1 and the weights are exactly kvgpt's (or
				// their halves): the same model to float64 rounding. For other scales λ·W_Q is a new
				// number, rounded once to float32, or to float16 (2⁻¹¹ relative).
				tol := 1e-9
				if c.scale != 0 {
					tol = map[string]float64{"float32": 1e-6, "float16": 2e-3}[dtype]
				}
				require.Less(t, worst, tol, "largest logit difference, GPT-2 vs kvgpt (float64)")

				st := map[string]string{"float32": "F32", "float16": "F16"}[dtype]
				C := cfg.NEmbd
				for name, d := range dtypes {
					require.Equal(t, st, d, name)
				}
				require.NotContains(t, w, "lm_head.weight", "tied to wte")
				require.Len(t, w, 2+12*cfg.NLayer+2, "wte, wpe, 12 per layer, ln_f")
				require.Equal(t, []int{C, 3 * C}, shapes["transformer.h.1.attn.c_attn.weight"])
				require.Equal(t, []int{C, 20}, shapes["transformer.h.0.mlp.c_fc.weight"])
				require.Equal(t, []int{20, C}, shapes["transformer.h.0.mlp.c_proj.weight"])
				for name, x := range w {
					if strings.HasSuffix(name, ".bias") {
						require.Equal(t, make([]float64, len(x)), x, name)
					}
				}
				lambda := res.QueryScale
				if c.mode == gpt.Identity { // W_Q = λ·I exactly
					cw := w["transformer.h.0.attn.c_attn.weight"]
					for i := range C {
						for j := range C {
							want := 0.0
							if i == j {
								want = float64(float32(lambda))
								if dtype == "float16" {
									h, _ := safetensors.Half(float32(lambda))
									want = safetensors.HalfValue(h)
								}
							}
							require.Equal(t, want, cw[i*3*C+j], "W_Q[%d, %d]", i, j)
						}
					}
					if c.scale == 0 {
						require.Equal(t, 0.5, lambda)
					}
				}
				if c.mode == gpt.Baseline && c.scale == 0 {
					require.Equal(t, 1.0, lambda)
				}
				require.InDelta(t, float64(cfg.Scale())*math.Sqrt(float64(C/cfg.NHead)), lambda, 1e-7)
				for k, v := range map[string]any{
					"model_type": "gpt2", "activation_function": "gelu", "layer_norm_epsilon": 1e-5, "n_positions": 9.0,
					"n_inner": 20.0, "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0, "tie_word_embeddings": true,
					"scale_attn_weights": true, "torch_dtype": dtype, "eos_token_id": nil, "kvgpt_query_mode": string(c.mode),
				} {
					require.Equal(t, v, conf[k], k)
				}
			})
		}
	}
}

// TestExportRefuses: the residual query mode, an unknown dtype, a weight that does not fit a
// float16 and a gpt2 checkpoint without its vocabulary are errors that say so, and write nothing.
func TestExportRefuses(t *testing.T) {
	cfg := gpt.Config{NLayer: 1, NHead: 2, NEmbd: 8, BlockSize: 4, VocabSize: 11, QueryMode: gpt.Residual}
	dir := filepath.Join(t.TempDir(), "out")
	_, err := Export(testCheckpoint(t, cfg), dir, Options{})
	require.ErrorContains(t, err, "the residual query mode cannot be exported to GPT-2")
	cfg.QueryMode = gpt.Identity
	ck := testCheckpoint(t, cfg)
	_, err = Export(ck, dir, Options{DType: "bf16"})
	require.EqualError(t, err, `hf: unknown dtype "bf16" (want float32 or float16)`)
	ck.Tensors["transformer.h.0.mlp.c_fc.weight"].Data[5] = 1e5
	_, err = Export(ck, dir, Options{DType: "float16"})
	require.EqualError(t, err, "hf: transformer.h.0.mlp.c_fc.weight: safetensors: element 160, 100000, does not fit a float16 (largest 65504); export as float32",
		"element 5 of row 0 of kvgpt's (H, C) weight is row 5, column 0 of GPT-2's (C, H = 32)")
	ck.Meta[gpt.TokenizerKey] = "gpt2"
	_, err = Export(ck, dir, Options{})
	require.ErrorContains(t, err, "no gpt2 vocabulary was given")
	require.NoDirExists(t, dir)
}

// TestExportTokenizerNotes: byte and character vocabularies get kvgpt_tokenizer.json and a
// recipe in README.md; a gpt2 vocabulary its vocab.json and merges.txt.
func TestExportTokenizerNotes(t *testing.T) {
	cfg := gpt.Config{NLayer: 1, NHead: 2, NEmbd: 8, BlockSize: 4, VocabSize: 3, QueryMode: gpt.Baseline}
	ck := testCheckpoint(t, cfg)
	ck.Meta[gpt.TokenizerKey], ck.Meta[gpt.CharsKey] = "char", "ab€"
	dir := t.TempDir()
	res, err := Export(ck, dir, Options{})
	require.NoError(t, err)
	raw, err := os.ReadFile(filepath.Join(dir, KvgptVocabFile))
	require.NoError(t, err)
	require.JSONEq(t, `{"kind": "char", "chars": "ab€"}`, string(raw))
	readme, err := os.ReadFile(filepath.Join(dir, ReadmeFile))
	require.NoError(t, err)
	require.Contains(t, string(readme), res.Tokenizer)
	require.Contains(t, res.Tokenizer, "ids = [chars.index(c) for c in text]")

	cfg.VocabSize = 262 // 256 bytes, 5 merges, <|endoftext|> at 261
	ck = testCheckpoint(t, cfg)
	ck.Meta[gpt.TokenizerKey] = "gpt2"
	v := toyVocab()
	dir = t.TempDir()
	res, err = Export(ck, dir, Options{GPT2: v, GPT2Special: map[string]int{GPT2EndOfText: 261}})
	require.NoError(t, err)
	require.Equal(t, []string{WeightsFile, ConfigFile, VocabFile, MergesFile, TokConfigFile, ReadmeFile}, res.Files)
	conf, _, _, _ := readExport(t, dir)
	require.Equal(t, 261.0, conf["eos_token_id"])
	merges, err := os.ReadFile(filepath.Join(dir, MergesFile))
	require.NoError(t, err)
	require.Equal(t, "#version: 0.2\nt h\nh e\nth e\nĠ the\ne e\n", string(merges))
	cfg.VocabSize = 261
	ck = testCheckpoint(t, cfg)
	ck.Meta[gpt.TokenizerKey] = "gpt2"
	_, err = Export(ck, t.TempDir(), Options{GPT2: v, GPT2Special: map[string]int{GPT2EndOfText: 261}})
	require.ErrorContains(t, err, "hf: the gpt2 vocabulary has 262 tokens, the model 261")
}

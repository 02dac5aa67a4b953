package hf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/kvgpt/kvgpt/bpe"
	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/internal/atomicfile"
	"github.com/kvgpt/kvgpt/internal/safetensors"
)

// Files of an exported model directory.
const (
	ConfigFile     = "config.json"
	WeightsFile    = "model.safetensors"
	VocabFile      = "vocab.json"
	MergesFile     = "merges.txt"
	TokConfigFile  = "tokenizer_config.json"
	KvgptVocabFile = "kvgpt_tokenizer.json" // byte and char vocabularies, which transformers lacks
	ReadmeFile     = "README.md"
)

// Options say how to export.
type Options struct {
	// DType of the weights: "float32" (the default when empty) or "float16".
	DType string
	// GPT2 is the gpt2 vocabulary's ranked tokens, for vocab.json and merges.txt (see
	// GPT2TokenizerFiles); needed when the checkpoint's tokenizer is "gpt2", unused otherwise.
	GPT2 RankedVocab
	// GPT2Special are its special tokens by name (nil: GPT-2's <|endoftext|>, id 50256).
	GPT2Special map[string]int
}

// GPT2EndOfText is GPT-2's one special token and its id.
const (
	GPT2EndOfText   = "<|endoftext|>"
	GPT2EndOfTextID = 50256
)

// rankedBPE is a kvgpt BPE vocabulary as a RankedVocab: every token but <|endoftext|>, the last.
type rankedBPE struct{ v *bpe.Vocab }

func (r rankedBPE) NumRanked() int           { return r.v.Size() - 1 }
func (r rankedBPE) TokenBytes(id int) []byte { return r.v.TokenBytes(int32(id)) }

// Result says what Export wrote.
type Result struct {
	Dir   string
	Files []string // in the order written
	// QueryScale is the factor of the identity matrix exported as W_Q (identity mode; 0 in baseline
	// unless its attention scale is not 1/√dh, when W_Q is scaled by it).
	QueryScale float64
	// Tokenizer says how to turn text into the model's token ids and back with the export.
	Tokenizer string
}

// Export writes the weights of ck, a kvgpt checkpoint, into dir (created if needed; files in it of
// the same names are replaced, each atomically) as a Hugging Face GPT-2 model that
// transformers' GPT2LMHeadModel.from_pretrained(dir) loads:
//
//   - config.json: GPT-2's architecture with kvgpt's shape (n_embd, n_layer, n_head, n_inner,
//     n_positions = the block size, vocab_size), the exact GELU ("gelu", not GPT-2's tanh
//     "gelu_new"), kvgpt's LayerNorm epsilon 1e-5, no dropout, the LM head tied to wte;
//   - model.safetensors: the weights under GPT-2's names (transformer.h.{i}.attn.c_attn.weight …)
//     in its Conv1D orientation (in, out) — the transpose of kvgpt's (out, in) — with every bias,
//     which kvgpt does not have, zero; no lm_head.weight (tied), no optimizer state;
//   - the tokenizer: vocab.json, merges.txt and tokenizer_config.json for the gpt2 vocabulary;
//     for kvgpt's byte and character vocabularies, which transformers has no tokenizer for,
//     kvgpt_tokenizer.json and the recipe in README.md (Result.Tokenizer says it too).
//
// GPT-2 computes every head's query as q = LN1(x)·W_Q + b_Q and its attention logits as
// q·k/√dh. kvgpt's identity mode has no W_Q: the query is LN1(x) itself and the logits are
// s·q·k, with s = Config.Scale() (1/(2√dh) by default). Exporting W_Q = (s·√dh)·I and b_Q = 0
// gives GPT-2 the logits (s·√dh)·LN1(x)·k/√dh = s·LN1(x)·k: the identity model exactly. For the
// default scale the factor is ½, a power of two, so GPT-2's query is exactly half of LN1's output
// in float32 and float16 alike; the logits then differ from kvgpt's only by the rounding of the
// two ways of scaling. A baseline model with a scale other than 1/√dh gets its W_Q multiplied by
// s·√dh the same way. The residual query mode, Q = ½(u + f(u)) with an MLP f, is not linear in
// LN1's output, so GPT-2 cannot express it: Export refuses it.
func Export(ck *gpt.Checkpoint, dir string, o Options) (*Result, error) {
	cfg := ck.Config
	if cfg.QueryMode == gpt.Residual {
		return nil, fmt.Errorf("hf: the residual query mode cannot be exported to GPT-2: its query ½(u + f(u)) passes LN1's output u through an MLP f, and GPT-2's query is linear in u (only baseline and identity checkpoints export)")
	}
	dtype, st := o.DType, "F32"
	switch dtype {
	case "", "float32":
		dtype = "float32"
	case "float16":
		st = "F16"
	default:
		return nil, fmt.Errorf("hf: unknown dtype %q (want float32 or float16)", o.DType)
	}
	res := &Result{Dir: dir, QueryScale: queryScale(cfg)}
	tensors, err := gpt2Tensors(ck, res.QueryScale, st)
	if err != nil {
		return nil, err
	}
	kind := ck.Meta[gpt.TokenizerKey]
	bpeKind := kind == gpt.GPT2Vocab || strings.HasPrefix(kind, "bpe:")
	if bpeKind && o.GPT2 == nil {
		// The checkpoint's own vocabulary: GPT-2's, or a byte-level BPE kvgpt trained (its ids are
		// its ranks, <|endoftext|> last), which GPT-2's tokenizer files describe as well.
		if tok, err := ck.Tokenizer(); err == nil {
			if bt, ok := tok.(*gpt.BPETokenizer); ok {
				o.GPT2 = rankedBPE{bt.Vocab()}
				o.GPT2Special = map[string]int{GPT2EndOfText: int(bt.Vocab().EOT())}
			}
		}
	}
	files := map[string][]byte{}
	var tokNote string
	switch {
	case bpeKind:
		if o.GPT2 == nil {
			return nil, fmt.Errorf("hf: the checkpoint's tokenizer is %s, but no gpt2 vocabulary was given to write vocab.json and merges.txt from", kind)
		}
		special := o.GPT2Special
		if special == nil {
			special = map[string]int{GPT2EndOfText: GPT2EndOfTextID}
		}
		if n := o.GPT2.NumRanked() + len(special); n > cfg.VocabSize {
			return nil, fmt.Errorf("hf: the %s vocabulary has %d tokens, the model %d", kind, n, cfg.VocabSize)
		}
		vocab, merges, err := GPT2TokenizerFiles(o.GPT2, special)
		if err != nil {
			return nil, err
		}
		files[VocabFile], files[MergesFile] = vocab, merges
		files[TokConfigFile] = jsonFile(map[string]any{
			"tokenizer_class": "GPT2Tokenizer", "model_max_length": cfg.BlockSize, "add_prefix_space": false,
			"bos_token": GPT2EndOfText, "eos_token": GPT2EndOfText, "unk_token": GPT2EndOfText,
		})
		tokNote = "GPT-2's tokenizer: AutoTokenizer.from_pretrained(dir) loads vocab.json and merges.txt"
		if kind != gpt.GPT2Vocab {
			tokNote = "GPT-2's tokenizer with kvgpt's trained " + kind + " vocabulary (byte-level BPE, GPT-2's pre-splitting): AutoTokenizer.from_pretrained(dir) loads vocab.json and merges.txt"
		}
	case kind == "byte":
		files[KvgptVocabFile] = jsonFile(map[string]any{"kind": "byte"})
		tokNote = "kvgpt's byte vocabulary, which transformers has no tokenizer for: token i is byte i; " +
			`encode with ids = list(text.encode("utf-8")), decode with bytes(ids).decode("utf-8", errors="replace")`
	case kind == "char":
		files[KvgptVocabFile] = jsonFile(map[string]any{"kind": "char", "chars": ck.Meta[gpt.CharsKey]})
		tokNote = "kvgpt's character vocabulary, which transformers has no tokenizer for: token i is the i-th character " +
			`of "chars" in ` + KvgptVocabFile + `; encode with ids = [chars.index(c) for c in text], decode with "".join(chars[i] for i in ids)`
	default:
		tokNote = fmt.Sprintf("kvgpt's %q vocabulary, which this export does not write: tokenize with kvgpt", kind)
	}
	res.Tokenizer = tokNote
	eos := -1 // none
	if bpeKind {
		eos = GPT2EndOfTextID
		if id, ok := o.GPT2Special[GPT2EndOfText]; ok {
			eos = id
		}
	}
	files[ConfigFile] = configJSON(ck, dtype, kind, eos)
	files[ReadmeFile] = readme(ck, res, dtype)

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("hf: cannot create the output directory: %w", err)
	}
	write := func(name string, f func(w *bytes.Buffer) error) error {
		var b bytes.Buffer
		if err := f(&b); err != nil {
			return err
		}
		if err := atomicfile.Write(filepath.Join(dir, name), b.Bytes()); err != nil {
			return fmt.Errorf("hf: cannot write %s: %w", name, err)
		}
		res.Files = append(res.Files, name)
		return nil
	}
	if err := write(WeightsFile, func(w *bytes.Buffer) error {
		return safetensors.Write(w, tensors, map[string]string{"format": "pt"})
	}); err != nil {
		return nil, err
	}
	for _, name := range []string{ConfigFile, VocabFile, MergesFile, TokConfigFile, KvgptVocabFile, ReadmeFile} {
		if b, ok := files[name]; ok {
			if err := write(name, func(w *bytes.Buffer) error { _, err := w.Write(b); return err }); err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}

// queryScale returns the factor λ of the exported query projection: W_Q = λ·I in identity mode,
// λ·W_Q in baseline, λ = s·√dh so that GPT-2's q·k/√dh is kvgpt's s·q·k. For each mode's default
// scale it is exact: ½ for identity (s = 1/(2√dh)), 1 for baseline (s = 1/√dh).
func queryScale(c gpt.Config) float64 {
	if c.AttnScale == 0 {
		if c.QueryMode == gpt.Identity {
			return 0.5
		}
		return 1
	}
	return float64(c.Scale()) * math.Sqrt(float64(c.HeadSize())) // the float32 scale kvgpt runs with
}

// gpt2Tensors returns ck's weights as GPT-2's tensors in dtype st (F32 or F16), in the order of a
// GPT2LMHeadModel state_dict.
func gpt2Tensors(ck *gpt.Checkpoint, lambda float64, st string) ([]safetensors.Tensor, error) {
	cfg := ck.Config
	C, H, L := cfg.NEmbd, cfg.Hidden(), cfg.NLayer
	var out []safetensors.Tensor
	var err error
	add := func(name string, shape []int, data []float32) {
		if err != nil {
			return
		}
		t := safetensors.Tensor{Name: name, DType: st, Shape: shape}
		if st == "F16" {
			if t.Data, err = safetensors.F16(data); err != nil {
				err = fmt.Errorf("hf: %s: %w; export as float32", name, err)
			}
		} else {
			t.Data = safetensors.F32(data)
		}
		out = append(out, t)
	}
	w := func(name string) []float32 { return ck.Tensors[name].Data }
	add("transformer.wte.weight", []int{cfg.VocabSize, C}, w("transformer.wte.weight"))
	add("transformer.wpe.weight", []int{cfg.BlockSize, C}, w("transformer.wpe.weight"))
	for l := range L {
		p := fmt.Sprintf("transformer.h.%d.", l)
		add(p+"ln_1.weight", []int{C}, w(p+"ln_1.weight"))
		add(p+"ln_1.bias", []int{C}, make([]float32, C))
		add(p+"attn.c_attn.weight", []int{C, 3 * C}, cAttn(cfg, w(p+"attn.c_attn.weight"), lambda))
		add(p+"attn.c_attn.bias", []int{3 * C}, make([]float32, 3*C))
		add(p+"attn.c_proj.weight", []int{C, C}, transpose(w(p+"attn.c_proj.weight"), C, C))
		add(p+"attn.c_proj.bias", []int{C}, make([]float32, C))
		add(p+"ln_2.weight", []int{C}, w(p+"ln_2.weight"))
		add(p+"ln_2.bias", []int{C}, make([]float32, C))
		add(p+"mlp.c_fc.weight", []int{C, H}, transpose(w(p+"mlp.c_fc.weight"), H, C))
		add(p+"mlp.c_fc.bias", []int{H}, make([]float32, H))
		add(p+"mlp.c_proj.weight", []int{H, C}, transpose(w(p+"mlp.c_proj.weight"), C, H))
		add(p+"mlp.c_proj.bias", []int{C}, make([]float32, C))
	}
	add("transformer.ln_f.weight", []int{C}, w("transformer.ln_f.weight"))
	add("transformer.ln_f.bias", []int{C}, make([]float32, C))
	return out, err
}

// cAttn returns GPT-2's c_attn weight (C, 3C), columns [Q K V], from kvgpt's (QC, C) rows: [Q K V]
// (baseline) or [K V] (identity), transposed, with the Q block λ·W_Q, or λ·I in identity mode.
func cAttn(cfg gpt.Config, w []float32, lambda float64) []float32 {
	C := cfg.NEmbd
	out := make([]float32, C*3*C)
	kv := 0 // the first row of W_K in w
	if cfg.QueryMode == gpt.Identity {
		for i := range C {
			out[i*3*C+i] = float32(lambda)
		}
	} else {
		kv = C
		for o := range C { // W_Q row o is GPT-2's column o
			for i := range C {
				out[i*3*C+o] = float32(lambda * float64(w[o*C+i]))
			}
		}
	}
	for o := range 2 * C { // W_K, W_V rows: GPT-2's columns C … 3C−1
		for i := range C {
			out[i*3*C+C+o] = w[(kv+o)*C+i]
		}
	}
	return out
}

// transpose returns the (cols, rows) transpose of the row-major (rows, cols) matrix w: kvgpt's
// Linear weight (out, in) as GPT-2's Conv1D weight (in, out).
func transpose(w []float32, rows, cols int) []float32 {
	out := make([]float32, len(w))
	for r := range rows {
		for c := range cols {
			out[c*rows+r] = w[r*cols+c]
		}
	}
	return out
}

// configJSON returns config.json: GPT-2's configuration with kvgpt's shape and activation.
// eosID is the end-of-text token's id, −1 if the vocabulary has none.
func configJSON(ck *gpt.Checkpoint, dtype, kind string, eosID int) []byte {
	c := ck.Config
	var inner any // null: 4·n_embd, as kvgpt's default
	if c.MLPHidden != 0 && c.MLPHidden != 4*c.NEmbd {
		inner = c.MLPHidden
	}
	var eos any // null: GPT2Config's default, 50256, is not a token of the other vocabularies
	if eosID >= 0 {
		eos = eosID
	}
	return jsonFile(map[string]any{
		"architectures":                   []string{"GPT2LMHeadModel"},
		"model_type":                      "gpt2",
		"vocab_size":                      c.VocabSize,
		"n_positions":                     c.BlockSize,
		"n_ctx":                           c.BlockSize,
		"n_embd":                          c.NEmbd,
		"n_layer":                         c.NLayer,
		"n_head":                          c.NHead,
		"n_inner":                         inner,
		"activation_function":             "gelu", // exact (erf) GELU, as kvgpt's
		"layer_norm_epsilon":              1e-5,
		"resid_pdrop":                     0.0,
		"embd_pdrop":                      0.0,
		"attn_pdrop":                      0.0,
		"initializer_range":               0.02,
		"scale_attn_weights":              true,
		"scale_attn_by_inverse_layer_idx": false,
		"reorder_and_upcast_attn":         false,
		"tie_word_embeddings":             true,
		"use_cache":                       true,
		"bos_token_id":                    eos,
		"eos_token_id":                    eos,
		"torch_dtype":                     dtype,
		"kvgpt_query_mode":                string(c.QueryMode),
		"kvgpt_attn_scale":                float64(c.Scale()),
		"kvgpt_step":                      ck.Step,
		"kvgpt_tokenizer":                 kind,
	})
}

// jsonFile returns v as indented JSON with a final newline.
func jsonFile(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		panic("hf: " + err.Error()) // maps of strings, numbers and slices always encode
	}
	return b.Bytes()
}

// readme returns README.md: where the model comes from, how W_Q was written, how to tokenize and
// how to load it.
func readme(ck *gpt.Checkpoint, r *Result, dtype string) []byte {
	c := ck.Config
	var b strings.Builder
	fmt.Fprintf(&b, "# kvgpt %s model, exported as GPT-2\n\n", c.QueryMode)
	fmt.Fprintf(&b, "Trained with [kvgpt](https://github.com/kvgpt/kvgpt) for %d steps: %d layers, %d heads, n_embd %d, "+
		"block size %d, vocabulary %d, %d parameters; weights in %s.\n\n", ck.Step, c.NLayer, c.NHead, c.NEmbd, c.BlockSize, c.VocabSize, c.NumParams(), dtype)
	switch c.QueryMode {
	case gpt.Identity:
		fmt.Fprintf(&b, "The query-free model of arXiv 2510.23912 has no query projection: each head's query is its slice of "+
			"ln_1's output and its logits are scaled by s = %g. GPT-2 scales by 1/√dh = %g, so the export's W_Q (the first "+
			"n_embd columns of c_attn) is %g·I, with zero bias: GPT-2 then computes exactly the identity model's attention.\n\n",
			c.Scale(), 1/math.Sqrt(float64(c.HeadSize())), r.QueryScale)
	case gpt.Baseline:
		if r.QueryScale != 1 {
			fmt.Fprintf(&b, "The model's attention scale is %g, not 1/√dh: W_Q is multiplied by %g so that GPT-2's scaling gives the same logits.\n\n", c.Scale(), r.QueryScale)
		}
	}
	b.WriteString("kvgpt's model has no biases: every bias here is zero. The MLP's activation is the exact (erf) GELU, " +
		"`\"activation_function\": \"gelu\"`, not GPT-2's tanh approximation.\n\n")
	fmt.Fprintf(&b, "Tokenizer: %s.\n\n", r.Tokenizer)
	b.WriteString("```python\nfrom transformers import GPT2LMHeadModel\nmodel = GPT2LMHeadModel.from_pretrained(\"path/to/this/directory\")\n```\n")
	return []byte(b.String())
}

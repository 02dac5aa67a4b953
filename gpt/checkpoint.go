package gpt

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"slices"
	"strconv"

	"github.com/kvgpt/kvgpt/internal/atomicfile"
	"github.com/kvgpt/kvgpt/internal/safetensors"
	"github.com/kvgpt/kvgpt/nn"
)

// A checkpoint is one safetensors file (https://huggingface.co/docs/safetensors): an 8-byte
// little-endian header length, a JSON header, then the raw little-endian float32 data. It holds
//
//   - the parameters under their nanoGPT names (transformer.wte.weight …, no lm_head.weight: it is
//     tied to transformer.wte.weight), so PyTorch or MLX can load the weights directly;
//   - the AdamW moments as two flat tensors, optimizer.exp_avg and optimizer.exp_avg_sq (P), in the
//     order of the parameter slab;
//   - metadata (all strings): format, config and train_config (JSON), step, the batch-order seed
//     (the batch RNG is derived from it and the step, so it is the whole RNG state), the tokenizer,
//     free-form extras from the caller, and crc32 (Castagnoli) of the data section so corruption is
//     detected on load.
//
// It is written to a temporary file in the same directory, synced, and renamed over the target,
// so a crash leaves either the old or the new checkpoint, never a torn one.

// CheckpointFormat names the checkpoint layout in the metadata.
const CheckpointFormat = "kvgpt-checkpoint-1"

// Names of the optimizer-state tensors in a checkpoint.
const (
	ExpAvgName   = "optimizer.exp_avg"
	ExpAvgSqName = "optimizer.exp_avg_sq"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type stEntry struct {
	DType       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// Checkpoint is the content of a checkpoint file.
type Checkpoint struct {
	Config  Config
	Train   TrainConfig
	Step    int               // optimizer steps completed
	Meta    map[string]string // every metadata string, including the ones decoded above
	Tensors map[string]CheckpointTensor
}

// CheckpointTensor is one tensor of a checkpoint, on the host.
type CheckpointTensor struct {
	Shape []int
	Data  []float32
}

// Save writes the trainer's model, optimizer state and step to path atomically (WriteCheckpoint
// into a temporary file that is renamed over path: a failure leaves the file at path unchanged).
// extra adds metadata strings (for example the tokenizer and the data source).
func (t *Trainer) Save(path string, extra map[string]string) error {
	err := atomicfile.WriteFunc(path, func(w io.Writer) error { return t.WriteCheckpoint(w, extra) })
	if err != nil {
		return fmt.Errorf("gpt: cannot write checkpoint %s: %w", path, err)
	}
	return nil
}

// WriteCheckpoint writes the trainer's model, optimizer state and step to w as the bytes of a
// checkpoint file (see Save). extra adds metadata strings.
func (t *Trainer) WriteCheckpoint(w io.Writer, extra map[string]string) error {
	m := t.Model
	meta := map[string]string{}
	for k, v := range extra {
		meta[k] = v
	}
	cfg, _ := json.Marshal(m.Config)
	tc, _ := json.Marshal(t.Config)
	meta["format"] = CheckpointFormat
	meta["config"] = string(cfg)
	meta["train_config"] = string(tc)
	meta["step"] = strconv.Itoa(t.step)
	meta["batch_seed"] = strconv.FormatUint(t.Table.Seed, 10)

	var ts []safetensors.Tensor
	crc := uint32(0) // the checksum of the data section
	add := func(name string, shape []int, data []float32) {
		t := safetensors.Tensor{Name: name, DType: "F32", Shape: shape, Data: safetensors.F32(data)}
		ts = append(ts, t)
		crc = crc32.Update(crc, castagnoli, t.Data)
	}
	P := m.params.N
	all := make([]float32, P)
	if err := m.b.Sync(); err != nil {
		return fmt.Errorf("gpt: checkpoint: %w", err)
	}
	m.b.Download(all, m.params)
	for _, t := range m.ParamTensors() {
		off := t.View.Off - m.params.Off
		add(t.Name, t.Shape, all[off:off+t.Len()])
	}
	mom, vel := make([]float32, P), make([]float32, P)
	m.b.Download(mom, m.m)
	m.b.Download(vel, m.v)
	add(ExpAvgName, []int{P}, mom)
	add(ExpAvgSqName, []int{P}, vel)
	meta["crc32"] = strconv.FormatUint(uint64(crc), 10)
	return safetensors.Write(w, ts, meta)
}

// LoadCheckpoint reads and checks a checkpoint file: structure, sizes, checksum, metadata, and
// that every parameter tensor of its configuration is present with the right shape.
func LoadCheckpoint(path string) (*Checkpoint, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("gpt: checkpoint %s does not exist", path)
		}
		return nil, fmt.Errorf("gpt: checkpoint: %w", err)
	}
	return readCheckpoint(path, raw)
}

// readCheckpoint parses raw, the content of the checkpoint file path (named in its errors).
func readCheckpoint(path string, raw []byte) (*Checkpoint, error) {
	ck, err := parseCheckpoint(raw)
	if err != nil {
		return nil, fmt.Errorf("gpt: checkpoint %s is damaged or not a kvgpt checkpoint: %w", path, err)
	}
	return ck, nil
}

func parseCheckpoint(raw []byte) (*Checkpoint, error) {
	if len(raw) < 8 {
		return nil, fmt.Errorf("file is %d bytes, shorter than the 8-byte header length", len(raw))
	}
	hl := binary.LittleEndian.Uint64(raw[:8])
	if hl > uint64(len(raw)-8) || hl > 100<<20 {
		return nil, fmt.Errorf("header length %d exceeds the file (%d bytes): truncated?", hl, len(raw))
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+hl], &header); err != nil {
		return nil, fmt.Errorf("header is not valid JSON: %v", err)
	}
	data := raw[8+hl:]
	meta := map[string]string{}
	if mj, ok := header["__metadata__"]; ok {
		if err := json.Unmarshal(mj, &meta); err != nil {
			return nil, fmt.Errorf("metadata: %v", err)
		}
		delete(header, "__metadata__")
	}
	if meta["format"] != CheckpointFormat {
		return nil, fmt.Errorf("metadata format is %q, want %q", meta["format"], CheckpointFormat)
	}
	ck := &Checkpoint{Meta: meta, Tensors: map[string]CheckpointTensor{}}
	if err := json.Unmarshal([]byte(meta["config"]), &ck.Config); err != nil {
		return nil, fmt.Errorf("metadata config: %v", err)
	}
	if err := ck.Config.Validate(); err != nil {
		return nil, fmt.Errorf("metadata config: %v", err)
	}
	if err := json.Unmarshal([]byte(meta["train_config"]), &ck.Train); err != nil {
		return nil, fmt.Errorf("metadata train_config: %v", err)
	}
	step, err := strconv.Atoi(meta["step"])
	if err != nil || step < 0 {
		return nil, fmt.Errorf("metadata step %q is not a step count", meta["step"])
	}
	ck.Step = step
	type span struct {
		name string
		e    stEntry
	}
	var spans []span
	for name, rj := range header {
		var e stEntry
		if err := json.Unmarshal(rj, &e); err != nil {
			return nil, fmt.Errorf("tensor %s is not a safetensors entry (dtype, shape, data_offsets): %v", name, err)
		}
		if e.DType != "F32" {
			return nil, fmt.Errorf("tensor %s has dtype %s, want F32", name, e.DType)
		}
		spans = append(spans, span{name, e})
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.e.DataOffsets[0], b.e.DataOffsets[0]) })
	var end int64
	for _, s := range spans {
		b, e := s.e.DataOffsets[0], s.e.DataOffsets[1]
		if b != end || e < b {
			return nil, fmt.Errorf("tensor %s: data offsets [%d, %d) do not follow offset %d", s.name, b, e, end)
		}
		if e > int64(len(data)) {
			return nil, fmt.Errorf("data section is %d bytes, tensor %s ends at %d: truncated?", len(data), s.name, e)
		}
		n := int64(1) // elements, at most (e-b)/4 ≤ len(data): no overflow
		for _, d := range s.e.Shape {
			if d < 0 {
				return nil, fmt.Errorf("tensor %s has a negative dimension", s.name)
			}
			if d > 0 && n > (e-b)/4/int64(d) {
				n = -1 // more than the offsets hold
				break
			}
			n *= int64(d)
		}
		if e-b != 4*n {
			return nil, fmt.Errorf("tensor %s: data offsets [%d, %d) do not fit shape %v", s.name, b, e, s.e.Shape)
		}
		end = e
	}
	if end != int64(len(data)) {
		return nil, fmt.Errorf("data section is %d bytes, the header describes %d: truncated?", len(data), end)
	}
	want, err := strconv.ParseUint(meta["crc32"], 10, 32)
	if err != nil {
		return nil, fmt.Errorf("metadata crc32 %q is not a checksum", meta["crc32"])
	}
	if got := crc32.Checksum(data, castagnoli); uint64(got) != want {
		return nil, fmt.Errorf("data checksum %d does not match %d: the file is corrupted", got, want)
	}
	// The configuration's parameters must fit the data before its tensors are listed: a damaged
	// configuration may name millions of layers.
	if P := int64(ck.Config.NumParams()); 4*P > int64(len(data)) {
		return nil, fmt.Errorf("metadata config has %d parameters, more than the %d-byte data section holds", P, len(data))
	}
	for _, s := range spans {
		b := data[s.e.DataOffsets[0]:s.e.DataOffsets[1]]
		f := make([]float32, len(b)/4)
		for i := range f {
			f[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		ck.Tensors[s.name] = CheckpointTensor{Shape: s.e.Shape, Data: f}
	}
	// Every parameter of the configuration must be there with its shape.
	for _, t := range tensors(ck.Config, newParamViews(ck.Config, fakeSlab(ck.Config.NumParams()))) {
		got, ok := ck.Tensors[t.Name]
		if !ok {
			return nil, fmt.Errorf("tensor %s is missing", t.Name)
		}
		if !slices.Equal(got.Shape, t.Shape) {
			return nil, fmt.Errorf("tensor %s has shape %v, the config says %v", t.Name, got.Shape, t.Shape)
		}
	}
	return ck, nil
}

// ConfigDiff describes how a and b differ, field by field ("" if they are equal).
func ConfigDiff(a, b Config) string {
	var d []string
	add := func(name string, x, y any) {
		if x != y {
			d = append(d, fmt.Sprintf("%s %v vs %v", name, x, y))
		}
	}
	add("mode", a.QueryMode, b.QueryMode)
	add("n-layer", a.NLayer, b.NLayer)
	add("n-head", a.NHead, b.NHead)
	add("n-embd", a.NEmbd, b.NEmbd)
	add("block-size", a.BlockSize, b.BlockSize)
	add("vocab size", a.VocabSize, b.VocabSize)
	add("mlp-hidden", a.Hidden(), b.Hidden())
	add("attn-scale", a.Scale(), b.Scale())
	s := ""
	for i, x := range d {
		if i > 0 {
			s += ", "
		}
		s += x
	}
	return s
}

// LoadWeights uploads the checkpoint's parameters into m, whose configuration must match.
func (ck *Checkpoint) LoadWeights(m *Model) error {
	if d := ConfigDiff(ck.Config, m.Config); d != "" {
		return fmt.Errorf("gpt: checkpoint is from another configuration (checkpoint vs model: %s)", d)
	}
	for _, t := range m.ParamTensors() {
		m.b.Upload(t.View, ck.Tensors[t.Name].Data)
	}
	return nil
}

// Restore loads the checkpoint into the trainer: parameters, AdamW moments and the step count.
// The model's configuration must match the checkpoint's.
func (ck *Checkpoint) Restore(t *Trainer) error {
	if err := ck.LoadWeights(t.Model); err != nil {
		return err
	}
	m := t.Model
	for _, x := range []struct {
		name string
		dst  nn.View
	}{{ExpAvgName, m.m}, {ExpAvgSqName, m.v}} {
		ct, ok := ck.Tensors[x.name]
		if !ok || len(ct.Data) != m.params.N {
			return fmt.Errorf("gpt: checkpoint has no optimizer state %s of %d elements; it cannot resume training", x.name, m.params.N)
		}
		m.b.Upload(x.dst, ct.Data)
	}
	if ck.Step > t.Config.Steps {
		return fmt.Errorf("gpt: checkpoint is at step %d, past the run's %d steps; raise --steps to continue", ck.Step, t.Config.Steps)
	}
	t.step = ck.Step
	return nil
}

// Metadata keys under which a checkpoint records its tokenizer (see TokenizerMeta).
const (
	TokenizerKey = "tokenizer" // the tokenizer's Kind: "byte" or "char"
	CharsKey     = "chars"     // a character vocabulary's characters, in token order
)

// TokenizerMeta returns the metadata that records tok in a checkpoint, for Trainer.Save's extra:
// its kind and, for a character vocabulary, its characters. Checkpoint.Tokenizer reads it back.
func TokenizerMeta(tok Tokenizer) map[string]string {
	meta := map[string]string{TokenizerKey: tok.Kind()}
	if ct, ok := tok.(*CharTokenizer); ok {
		meta[CharsKey] = string(ct.Chars)
	}
	return meta
}

// Tokenizer returns the tokenizer the checkpoint's metadata records (see TokenizerMeta), checked
// against the model's vocabulary size.
func (ck *Checkpoint) Tokenizer() (Tokenizer, error) {
	var tok Tokenizer
	switch kind := ck.Meta[TokenizerKey]; kind {
	case "byte":
		tok = ByteTokenizer{}
	case "char":
		ct, err := CharTokenizerFromChars(ck.Meta[CharsKey])
		if err != nil {
			return nil, fmt.Errorf("gpt: checkpoint tokenizer: %w", err)
		}
		tok = ct
	default:
		return nil, fmt.Errorf("gpt: checkpoint names no known tokenizer (%q; want byte or char)", kind)
	}
	if tok.VocabSize() != ck.Config.VocabSize {
		return nil, fmt.Errorf("gpt: checkpoint tokenizer has %d tokens, the model %d", tok.VocabSize(), ck.Config.VocabSize)
	}
	return tok, nil
}

// fakeSlab is a view of n elements of no buffer, for computing tensor shapes and offsets.
func fakeSlab(n int) nn.View { return nn.View{N: n} }

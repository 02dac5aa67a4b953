package gpt

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/kvgpt/kvgpt/internal/atomicfile"
	"github.com/kvgpt/kvgpt/internal/inputfile"
	"github.com/kvgpt/kvgpt/internal/safetensors"
	"github.com/kvgpt/kvgpt/nn"
)

// A checkpoint is one safetensors file (https://huggingface.co/docs/safetensors): an 8-byte
// little-endian header length, a JSON header, then the raw little-endian data. It holds
//
//   - the parameters under their nanoGPT names (transformer.wte.weight …, no lm_head.weight: it is
//     tied to transformer.wte.weight), so PyTorch or MLX can load the weights directly;
//   - the AdamW moments as two flat tensors, optimizer.exp_avg and optimizer.exp_avg_sq (P), in the
//     order of the parameter slab;
//   - metadata (all strings): format, config and train_config (JSON), step, the batch-order seed
//     (the batch RNG is derived from it and the step, so it is the whole RNG state), the tokenizer,
//     and free-form extras from the caller (the data, a tokenizer's vocabulary);
//   - last, the tensor checksum.crc32c (U8, 4 bytes): the CRC-32C (Castagnoli, little-endian) of
//     every byte of the file before it — length, header and data — so that any damage, in the
//     header as in the data, is detected on load.
//
// The header is decoded strictly: unknown keys of the configuration, the training configuration
// and the tensor entries, tensors that the configuration does not have, duplicate keys and a file
// size other than the one the header declares are errors. Checkpoints of the first format
// (kvgpt-checkpoint-1), whose CRC-32C covered the data only (metadata crc32), still load; their
// Note says that their header is unchecked.
//
// It is written to a temporary file in the same directory, synced, and renamed over the target,
// so a crash leaves either the old or the new checkpoint, never a torn one.

// CheckpointFormat names the checkpoint layout in the metadata.
const CheckpointFormat = "kvgpt-checkpoint-2"

// checkpointFormat1 is the first layout: no checksum tensor; metadata crc32, the decimal CRC-32C of
// the data section alone.
const checkpointFormat1 = "kvgpt-checkpoint-1"

// Names of the optimizer-state tensors and of the checksum in a checkpoint.
const (
	ExpAvgName   = "optimizer.exp_avg"
	ExpAvgSqName = "optimizer.exp_avg_sq"
	ChecksumName = "checksum.crc32c"
)

// maxCheckpointHeader bounds the JSON header of a checkpoint (a vocabulary in the metadata
// included), so a damaged length cannot make the reader allocate gigabytes.
const maxCheckpointHeader = 100 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// stEntry is a tensor's entry in a safetensors header.
type stEntry struct {
	DType       string  `json:"dtype"`
	Shape       []int   `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// Checkpoint is the content of a checkpoint file.
type Checkpoint struct {
	Config  Config
	Train   TrainConfig
	Step    int               // optimizer steps completed
	Format  string            // CheckpointFormat, or the older format the file has
	Meta    map[string]string // every metadata string, including the ones decoded above
	Tensors map[string]CheckpointTensor
	// DataBytes is the memory the tensors take once loaded (ReadCheckpointHeader leaves Tensors
	// nil: this is what LoadCheckpoint will read).
	DataBytes int64
}

// CheckpointTensor is one tensor of a checkpoint, on the host.
type CheckpointTensor struct {
	Shape []int
	Data  []float32
}

// Note returns what a user should know about the checkpoint file before using it, or "": a
// checkpoint of the first format has a header that no checksum covers.
func (ck *Checkpoint) Note() string {
	if ck.Format == CheckpointFormat {
		return ""
	}
	return fmt.Sprintf("it has the older format %s, whose checksum covers its tensors but not its header (configuration, step, tokenizer): "+
		"that part is unchecked (kvgpt train --resume writes the next checkpoint in format %s)", ck.Format, CheckpointFormat)
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
	add := func(name string, shape []int, data []float32) {
		ts = append(ts, safetensors.Tensor{Name: name, DType: "F32", Shape: shape, Data: safetensors.F32(data)})
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
	// Last, the checksum of every byte before it (format 2): written as zeros, then filled in.
	ts = append(ts, safetensors.Tensor{Name: ChecksumName, DType: "U8", Shape: []int{4}, Data: make([]byte, 4)})
	var file bytes.Buffer
	if err := safetensors.Write(&file, ts, meta); err != nil {
		return fmt.Errorf("gpt: checkpoint: %w", err)
	}
	b := file.Bytes()
	binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], castagnoli))
	_, err := w.Write(b)
	return err
}

// LoadCheckpoint reads and checks a checkpoint file: its kind, its header (structure, strict
// decoding, the tensors its configuration has), its size against the one the header declares,
// then its data, streamed, and the checksum.
func LoadCheckpoint(path string) (*Checkpoint, error) { return loadCheckpoint(path, true) }

// ReadCheckpointHeader reads and checks a checkpoint's header and size as LoadCheckpoint does,
// without its data (Tensors is nil; DataBytes is what loading them takes): for a memory plan
// before the load. The checksum is verified only when the data is read.
func ReadCheckpointHeader(path string) (*Checkpoint, error) { return loadCheckpoint(path, false) }

func loadCheckpoint(path string, withData bool) (*Checkpoint, error) {
	// No size limit here: the header declares the file's size, which must match before any data
	// is read, and the commands check the memory plan against DataBytes before they load.
	f, err := inputfile.Open("checkpoint", path, inputfile.NoLimit)
	if err != nil {
		return nil, fmt.Errorf("gpt: %w", err)
	}
	defer f.Close()
	ck, err := decodeCheckpoint(bufio.NewReaderSize(f, 1<<20), f.Size, withData)
	if err != nil {
		return nil, damaged(path, err)
	}
	return ck, nil
}

// readCheckpoint parses raw, the content of the checkpoint file path (named in its errors).
func readCheckpoint(path string, raw []byte) (*Checkpoint, error) {
	ck, err := decodeCheckpoint(bytes.NewReader(raw), int64(len(raw)), true)
	if err != nil {
		return nil, damaged(path, err)
	}
	return ck, nil
}

func damaged(path string, err error) error {
	return fmt.Errorf("gpt: checkpoint %s is damaged or not a kvgpt checkpoint: %w", path, err)
}

// ckSpan is one tensor's place in the data section.
type ckSpan struct {
	name string
	e    stEntry
}

// decodeCheckpoint reads a checkpoint file of size bytes from r: the header, then (withData) the
// data and the checksum.
func decodeCheckpoint(r io.Reader, size int64, withData bool) (*Checkpoint, error) {
	if size < 8 {
		return nil, fmt.Errorf("file is %d bytes, shorter than the 8-byte header length", size)
	}
	var lenb [8]byte
	if _, err := io.ReadFull(r, lenb[:]); err != nil {
		return nil, fmt.Errorf("reading the header length: %w", err)
	}
	hl := binary.LittleEndian.Uint64(lenb[:])
	if hl > uint64(size-8) || hl > maxCheckpointHeader {
		return nil, fmt.Errorf("header length %d exceeds the file (%d bytes) or the %d-byte limit: truncated?", hl, size, maxCheckpointHeader)
	}
	header := make([]byte, hl)
	if _, err := io.ReadFull(r, header); err != nil {
		return nil, fmt.Errorf("reading the %d-byte header: %w", hl, err)
	}
	ck, spans, err := parseHeader(header, size-8-int64(hl))
	if err != nil || !withData {
		return ck, err
	}
	sum := crc32.New(castagnoli)
	if ck.Format == CheckpointFormat {
		sum.Write(lenb[:])
		sum.Write(header)
	}
	ck.Tensors = map[string]CheckpointTensor{}
	buf := make([]byte, 1<<16)
	for _, s := range spans {
		if s.name == ChecksumName {
			continue // last: read below
		}
		f := make([]float32, (s.e.DataOffsets[1]-s.e.DataOffsets[0])/4)
		for i := 0; i < len(f); {
			b := buf[:4*min(len(buf)/4, len(f)-i)]
			if _, err := io.ReadFull(r, b); err != nil {
				return nil, fmt.Errorf("reading tensor %s: %w", s.name, err)
			}
			sum.Write(b)
			for j := 0; j < len(b); j += 4 {
				f[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[j:]))
				i++
			}
		}
		ck.Tensors[s.name] = CheckpointTensor{Shape: s.e.Shape, Data: f}
	}
	got := sum.Sum32()
	if ck.Format == CheckpointFormat {
		var crc [4]byte
		if _, err := io.ReadFull(r, crc[:]); err != nil {
			return nil, fmt.Errorf("reading the checksum: %w", err)
		}
		if want := binary.LittleEndian.Uint32(crc[:]); got != want {
			return nil, fmt.Errorf("checksum %08x of the file does not match the %08x it records: the file is corrupted", got, want)
		}
		return ck, nil
	}
	want, err := strconv.ParseUint(ck.Meta["crc32"], 10, 32)
	if err != nil {
		return nil, fmt.Errorf("metadata crc32 %q is not a checksum", ck.Meta["crc32"])
	}
	if uint64(got) != want {
		return nil, fmt.Errorf("data checksum %d does not match %d: the file is corrupted", got, want)
	}
	return ck, nil
}

// parseHeader decodes and checks a checkpoint's JSON header, strictly, against a data section of
// dataLen bytes, and returns the checkpoint without its tensors and the tensors' places in the
// data, in file order.
func parseHeader(header []byte, dataLen int64) (*Checkpoint, []ckSpan, error) {
	entries, err := jsonObject(header)
	if err != nil {
		return nil, nil, fmt.Errorf("header: %v", err)
	}
	mj, ok := entries["__metadata__"]
	if !ok {
		return nil, nil, errors.New("header has no __metadata__")
	}
	delete(entries, "__metadata__")
	mraw, err := jsonObject(mj)
	if err != nil {
		return nil, nil, fmt.Errorf("metadata: %v", err)
	}
	meta := map[string]string{}
	for k, v := range mraw {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, nil, fmt.Errorf("metadata %s is not a string", k)
		}
		meta[k] = s
	}
	ck := &Checkpoint{Meta: meta, Format: meta["format"]}
	if ck.Format != CheckpointFormat && ck.Format != checkpointFormat1 {
		return nil, nil, fmt.Errorf("metadata format is %q, want %q (or the older %q)", ck.Format, CheckpointFormat, checkpointFormat1)
	}
	if err := strictJSON(meta["config"], &ck.Config); err != nil {
		return nil, nil, fmt.Errorf("metadata config: %v", err)
	}
	if err := ck.Config.Validate(); err != nil {
		return nil, nil, fmt.Errorf("metadata config: %v", err)
	}
	if err := strictJSON(meta["train_config"], &ck.Train); err != nil {
		return nil, nil, fmt.Errorf("metadata train_config: %v", err)
	}
	if err := ck.Train.Validate(); err != nil {
		return nil, nil, fmt.Errorf("metadata train_config: %v", err)
	}
	step, err := strconv.Atoi(meta["step"])
	if err != nil || step < 0 {
		return nil, nil, fmt.Errorf("metadata step %q is not a step count", meta["step"])
	}
	ck.Step = step
	if s, ok := meta["batch_seed"]; ok {
		if _, err := strconv.ParseUint(s, 10, 64); err != nil {
			return nil, nil, fmt.Errorf("metadata batch_seed %q is not a seed", s)
		}
	}
	// The configuration's parameters must fit the data before its tensors are listed: a damaged
	// configuration may name millions of layers.
	P := int64(ck.Config.NumParams())
	if 4*P > dataLen {
		return nil, nil, fmt.Errorf("metadata config has %d parameters, more than the %d-byte data section holds", P, dataLen)
	}
	want := map[string][]int{}
	for _, t := range tensors(ck.Config, newParamViews(ck.Config, fakeSlab(int(P)))) {
		want[t.Name] = t.Shape
	}
	want[ExpAvgName], want[ExpAvgSqName] = []int{int(P)}, []int{int(P)}
	if ck.Format == CheckpointFormat {
		want[ChecksumName] = []int{4}
	}
	var spans []ckSpan
	for name, rj := range entries {
		var e stEntry
		if err := strictJSON(string(rj), &e); err != nil || e.Shape == nil || len(e.DataOffsets) != 2 {
			return nil, nil, fmt.Errorf("tensor %s is not a safetensors entry (dtype, shape, data_offsets)", name)
		}
		shape, ok := want[name]
		switch {
		case !ok:
			return nil, nil, fmt.Errorf("tensor %s is not one of a %s checkpoint of its configuration", name, ck.Format)
		case name == ChecksumName && e.DType != "U8":
			return nil, nil, fmt.Errorf("tensor %s has dtype %s, want U8", name, e.DType)
		case name != ChecksumName && e.DType != "F32":
			return nil, nil, fmt.Errorf("tensor %s has dtype %s, want F32", name, e.DType)
		case !slices.Equal(e.Shape, shape):
			return nil, nil, fmt.Errorf("tensor %s has shape %v, the config says %v", name, e.Shape, shape)
		}
		spans = append(spans, ckSpan{name, e})
	}
	for name := range want {
		if _, ok := entries[name]; !ok && name != ExpAvgName && name != ExpAvgSqName {
			return nil, nil, fmt.Errorf("tensor %s is missing", name)
		}
	}
	// The tensors tile the data section in the order of their offsets, each holding its shape's
	// elements (every shape is the configuration's, so the products cannot overflow).
	slices.SortFunc(spans, func(a, b ckSpan) int { return cmp.Compare(a.e.DataOffsets[0], b.e.DataOffsets[0]) })
	var end int64
	for _, s := range spans {
		n := int64(1)
		for _, d := range s.e.Shape {
			n *= int64(d)
		}
		if s.name != ChecksumName {
			n *= 4
			ck.DataBytes += n
		}
		if b, e := s.e.DataOffsets[0], s.e.DataOffsets[1]; b != end || e-b != n {
			return nil, nil, fmt.Errorf("tensor %s: data offsets [%d, %d) do not follow offset %d with its %d bytes", s.name, b, e, end, n)
		}
		end += n
	}
	if ck.Format == CheckpointFormat && spans[len(spans)-1].name != ChecksumName {
		return nil, nil, fmt.Errorf("tensor %s is not the last one of the file", ChecksumName)
	}
	if end != dataLen {
		return nil, nil, fmt.Errorf("the data section is %d bytes, but the header declares %d (%d parameters): the file is truncated or has bytes appended",
			dataLen, end, P)
	}
	return ck, spans, nil
}

// jsonObject decodes a JSON object into its members, refusing duplicate keys (which Go's decoder
// would resolve silently, the last one winning) and anything after the object but spaces.
func jsonObject(b []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	m := map[string]json.RawMessage{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k := t.(string) // object keys are strings
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("key %q appears twice", k)
		}
		m[k] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return m, nil
}

// strictJSON decodes the JSON object s into v, refusing keys that v's type does not have and
// anything after the object.
func strictJSON(s string, v any) error {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	return nil
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

// fakeSlab is a view of n elements of no buffer, for computing tensor shapes and offsets.
func fakeSlab(n int) nn.View { return nn.View{N: n} }

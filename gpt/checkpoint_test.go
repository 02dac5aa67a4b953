package gpt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/internal/atomicfile"
	"github.com/kvgpt/kvgpt/internal/faultio"
)

func TestCheckpointTokenizer(t *testing.T) {
	chars, err := NewCharTokenizer("to be or not")
	require.NoError(t, err)
	for _, tok := range []Tokenizer{ByteTokenizer{}, chars} {
		t.Run(fmt.Sprintf("%s/V=%d", tok.Kind(), tok.VocabSize()), func(t *testing.T) {
			ck := &Checkpoint{Config: Config{VocabSize: tok.VocabSize()}, Meta: TokenizerMeta(tok)}
			got, err := ck.Tokenizer()
			require.NoError(t, err)
			require.Equal(t, tok.Kind(), got.Kind())
			require.Equal(t, tok.VocabSize(), got.VocabSize())
			ids, err := tok.Encode("to be")
			require.NoError(t, err)
			require.Equal(t, "to be", got.Decode(ids))
		})
	}
	for _, c := range []struct {
		name string
		ck   Checkpoint
		want string
	}{
		{"no tokenizer", Checkpoint{Config: Config{VocabSize: 256}, Meta: map[string]string{}}, `names no known tokenizer (""; want byte, char, gpt2 or bpe:N)`},
		{"unknown tokenizer", Checkpoint{Config: Config{VocabSize: 256}, Meta: map[string]string{TokenizerKey: "word"}}, `names no known tokenizer ("word"`},
		{"byte/V=65", Checkpoint{Config: Config{VocabSize: 65}, Meta: TokenizerMeta(ByteTokenizer{})}, "tokenizer has 256 tokens, the model 65"},
		{"char without chars", Checkpoint{Config: Config{VocabSize: 9}, Meta: map[string]string{TokenizerKey: "char"}}, "needs at least 2 characters"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.ck.Tokenizer()
			require.ErrorContains(t, err, c.want)
		})
	}
}

// TestCheckpointWriteFailureKeepsThePrevious: a checkpoint write that fails after n bytes — in the
// length, the header, the data, one byte short — returns the error and leaves the previous
// checkpoint byte-identical, with no temporary file beside it. The failing writer sits where Save
// puts the temporary file (atomicfile.WriteFunc around WriteCheckpoint).
func TestCheckpointWriteFailureKeepsThePrevious(t *testing.T) {
	tr := newTestTrainer(t, Identity, 4)
	for range 2 {
		_, err := tr.Step()
		require.NoError(t, err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt.safetensors")
	require.NoError(t, tr.Save(path, nil))
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, tr.WriteCheckpoint(&buf, nil))
	require.Equal(t, before, buf.Bytes(), "WriteCheckpoint writes what Save writes")

	_, err = tr.Step()
	require.NoError(t, err)
	var next bytes.Buffer
	require.NoError(t, tr.WriteCheckpoint(&next, nil))
	size := next.Len()
	hl := 8 + int(binary.LittleEndian.Uint64(next.Bytes()))
	for _, n := range []int{0, 3, 8, hl / 2, hl, hl + 1, (hl + size) / 2, size - 1} {
		t.Run(fmt.Sprintf("fail-after=%d/of=%d", n, size), func(t *testing.T) {
			err := atomicfile.WriteFunc(path, func(w io.Writer) error { return tr.WriteCheckpoint(&faultio.Writer{W: w, N: n}, nil) })
			require.ErrorIs(t, err, faultio.ErrInjected)
			after, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, before, after)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Len(t, entries, 1, "no temporary file left")
			ck, err := LoadCheckpoint(path)
			require.NoError(t, err)
			require.Equal(t, 2, ck.Step)
		})
	}
	require.NoError(t, tr.Save(path, nil))
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, next.Bytes(), after, "a write that succeeds replaces the checkpoint")
}

// TestCheckpointHeaderFlips replaces each byte of a real checkpoint's JSON header (2 layers, a
// 2.1 kB header), one at a time, with another seeded random value: every one of these files must
// be refused with an error that names the file, since the checksum covers the header. The same
// loop over a checkpoint of the first format, whose checksum covered the data only, counts the
// flips it still loads (only strict decoding stands between them and a silently changed run).
func TestCheckpointHeaderFlips(t *testing.T) {
	tr := newTestTrainer(t, Identity, 2)
	for range 2 {
		_, err := tr.Step()
		require.NoError(t, err)
	}
	tok, err := NewTokenizer("char", testText())
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, tr.WriteCheckpoint(&buf, TokenizerMeta(tok)))
	rng := rand.New(rand.NewPCG(22, 300))
	flips := func(raw []byte) (n, loaded int) {
		hl := int(binary.LittleEndian.Uint64(raw))
		for i := 8; i < 8+hl; i++ {
			b := slices.Clone(raw)
			b[i] ^= byte(1 + rng.IntN(255)) // any other value
			if _, err := readCheckpoint("dir/ckpt.safetensors", b); err == nil {
				loaded++
			} else {
				require.ErrorContains(t, err, "gpt: checkpoint dir/ckpt.safetensors is damaged or not a kvgpt checkpoint: ")
			}
			n++
		}
		return n, loaded
	}
	n, loaded := flips(buf.Bytes())
	require.GreaterOrEqual(t, n, 300)
	require.Zero(t, loaded, "of %d single-byte changes of the header, %d loaded", n, loaded)
	n1, loaded1 := flips(format1Checkpoint(t))
	t.Logf("format %s: all %d single-byte header changes refused; format %s: %d of %d loaded (its header is unchecked)",
		CheckpointFormat, n, checkpointFormat1, loaded1, n1)
}

// TestCheckpointFormat1 loads a checkpoint that kvgpt wrote in the first format: it loads, with a
// note that its header is unchecked, and damage to its data is still found.
func TestCheckpointFormat1(t *testing.T) {
	raw := format1Checkpoint(t)
	ck, err := readCheckpoint("format1.safetensors", raw)
	require.NoError(t, err)
	require.Equal(t, checkpointFormat1, ck.Format)
	require.Contains(t, ck.Note(), "it has the older format kvgpt-checkpoint-1, whose checksum covers its tensors but not its header")
	require.Equal(t, 4, ck.Step)
	require.Equal(t, Config{NLayer: 1, NHead: 2, NEmbd: 8, BlockSize: 8, VocabSize: 17, QueryMode: Identity}, ck.Config)
	tok, err := ck.Tokenizer()
	require.NoError(t, err)
	require.Equal(t, "char", tok.Kind())
	require.Equal(t, int64(3*4*ck.Config.NumParams()), ck.DataBytes)
	m, err := New(ck.Config, newCPU(t), 1)
	require.NoError(t, err)
	require.NoError(t, ck.LoadWeights(m))

	b := slices.Clone(raw)
	b[len(b)-5] ^= 1
	_, err = readCheckpoint("format1.safetensors", b)
	require.ErrorContains(t, err, "data checksum")
	require.ErrorContains(t, err, "the file is corrupted")

	cur := seedCheckpoint(t, Identity)
	ck, err = readCheckpoint("now.safetensors", cur)
	require.NoError(t, err)
	require.Equal(t, CheckpointFormat, ck.Format)
	require.Empty(t, ck.Note())
}

// TestCheckpointStrictHeader: the header is decoded strictly — unknown keys of the
// configurations and tensor entries, tensors the configuration does not have, duplicate keys —
// while the metadata stays open to new keys (a tokenizer's vocabulary) and the optimizer state
// may be absent (weights only). Each header is sealed with a correct checksum, so the checks
// behind it are what is tested.
func TestCheckpointStrictHeader(t *testing.T) {
	raw := seedCheckpoint(t, Identity)
	header, data := splitCheckpoint(t, raw)
	edit := func(change func(h, meta map[string]any)) []byte {
		var h map[string]any
		require.NoError(t, json.Unmarshal(header, &h))
		change(h, h["__metadata__"].(map[string]any))
		b, err := json.Marshal(h)
		require.NoError(t, err)
		return joinCheckpoint(b, data)
	}
	replace := func(old, new string) []byte {
		require.Contains(t, string(header), old)
		return joinCheckpoint([]byte(strings.Replace(string(header), old, new, 1)), data)
	}
	wte := func(h map[string]any) map[string]any { return h["transformer.wte.weight"].(map[string]any) }
	// Weights only: the parameters (the first 4·34 bytes of the data) and the checksum.
	var h map[string]any
	require.NoError(t, json.Unmarshal(header, &h))
	delete(h, ExpAvgName)
	delete(h, ExpAvgSqName)
	h[ChecksumName].(map[string]any)["data_offsets"] = []int{136, 140}
	wh, err := json.Marshal(h)
	require.NoError(t, err)
	weightsOnly := joinCheckpoint(wh, data[:136])
	setMeta := func(key, old, new string) []byte {
		return edit(func(h, meta map[string]any) {
			require.Contains(t, meta[key], old)
			meta[key] = strings.Replace(meta[key].(string), old, new, 1)
		})
	}
	for _, c := range []struct {
		name string
		raw  []byte
		want string // "" loads
	}{
		{"unchanged", joinCheckpoint(header, data), ""},
		{"train-config/Beta2-misspelled", setMeta("train_config", `"Beta2"`, `"Bexa2"`), `metadata train_config: json: unknown field "Bexa2"`},
		{"config/NHead-misspelled", setMeta("config", `"NHead"`, `"NHeads"`), `metadata config: json: unknown field "NHeads"`},
		{"train-config/invalid", setMeta("train_config", `"LR":0.003`, `"LR":-1`), "metadata train_config: gpt: lr must be a finite number > 0"},
		{"entry/unknown-key", edit(func(h, meta map[string]any) { wte(h)["offsets"] = 1 }), "tensor transformer.wte.weight is not a safetensors entry"},
		{"entry/no-offsets", edit(func(h, meta map[string]any) { delete(wte(h), "data_offsets") }), "tensor transformer.wte.weight is not a safetensors entry"},
		{"tensor/unknown", edit(func(h, meta map[string]any) { h["lm_head.weight"] = wte(h) }), "tensor lm_head.weight is not one of a kvgpt-checkpoint-2 checkpoint of its configuration"},
		{"tensor/missing", edit(func(h, meta map[string]any) { delete(h, "transformer.ln_f.weight") }), "tensor transformer.ln_f.weight is missing"},
		{"checksum-entry/missing", edit(func(h, meta map[string]any) { delete(h, ChecksumName) }), "tensor checksum.crc32c is missing"},
		{"duplicate/tensor", replace(`{`, `{"transformer.wte.weight":{},`), `header: key "transformer.wte.weight" appears twice`},
		{"duplicate/metadata-key", replace(`"__metadata__":{`, `"__metadata__":{"step":"1",`), `metadata: key "step" appears twice`},
		{"format/unknown", setMeta("format", "-2", "-3"), `metadata format is "kvgpt-checkpoint-3", want "kvgpt-checkpoint-2" (or the older "kvgpt-checkpoint-1")`},
		{"format/1-with-checksum", setMeta("format", "-2", "-1"), "tensor checksum.crc32c is not one of a kvgpt-checkpoint-1 checkpoint"},
		{"metadata/free-form-key", edit(func(h, meta map[string]any) { meta["bpe_merges"] = "a b\nab c" }), ""},
		{"optimizer/absent", weightsOnly, ""},
		{"size/bytes-appended", append(joinCheckpoint(header, data), 0, 0, 0, 0), "the data section is 416 bytes, but the header declares 412 (34 parameters)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ck, err := readCheckpoint("ckpt.safetensors", c.raw)
			if c.want == "" {
				require.NoError(t, err)
				require.NotEmpty(t, ck.Tensors)
				return
			}
			require.ErrorContains(t, err, "gpt: checkpoint ckpt.safetensors is damaged or not a kvgpt checkpoint: "+c.want)
		})
	}
}

// TestCheckpointSizeAndKind: a checkpoint's size must be the one its header declares, and what is
// not a regular file is refused — all before any data is read, so a 20 GB sparse file, one with a
// real header, or /dev/zero take no time at all.
func TestCheckpointSizeAndKind(t *testing.T) {
	dir := t.TempDir()
	raw := seedCheckpoint(t, Baseline)
	path := filepath.Join(dir, "ckpt.safetensors")
	require.NoError(t, os.WriteFile(path, raw, 0o644))
	ck, err := ReadCheckpointHeader(path)
	require.NoError(t, err)
	require.Nil(t, ck.Tensors)
	full, err := LoadCheckpoint(path)
	require.NoError(t, err)
	var n int64
	for _, ts := range full.Tensors {
		n += 4 * int64(len(ts.Data))
	}
	require.Equal(t, n, ck.DataBytes)

	sparse := func(name string, prefix []byte, size int64) string {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		require.NoError(t, err)
		_, err = f.Write(prefix)
		require.NoError(t, err)
		require.NoError(t, f.Truncate(size))
		require.NoError(t, f.Close())
		return p
	}
	for _, c := range []struct {
		name, path, want string
	}{
		{"sparse-20GB-zeros", sparse("zeros", nil, 20e9), "damaged or not a kvgpt checkpoint: header: not a JSON object"},
		{"sparse-20GB-after-a-real-checkpoint", sparse("tail", raw, 20e9), "but the header declares"},
		{"directory", dir, "is a directory, not a regular file"},
		{"dev-zero", "/dev/zero", "checkpoint /dev/zero is a character device, not a regular file"},
	} {
		for _, read := range []struct {
			name string
			f    func(string) (*Checkpoint, error)
		}{{"header", ReadCheckpointHeader}, {"load", LoadCheckpoint}} {
			t.Run(c.name+"/"+read.name, func(t *testing.T) {
				if c.path == "/dev/zero" {
					if _, err := os.Stat(c.path); err != nil {
						t.Skip("no /dev/zero here")
					}
				}
				start := time.Now()
				_, err := read.f(c.path)
				require.ErrorContains(t, err, c.want)
				require.Less(t, time.Since(start), time.Second)
			})
		}
	}
}

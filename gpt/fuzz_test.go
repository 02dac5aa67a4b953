package gpt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/nn"
)

// The fuzz targets of the loaders of untrusted input: checkpoint files (FuzzCheckpoint: whole files,
// truncated and bit-flipped, in both formats; FuzzCheckpointHeader: the JSON header behind a
// consistent length prefix and a checksum recomputed over the result, so that mutations reach the
// strict decoding, tensor and metadata checks behind the checksum), the tokenizer a checkpoint records
// (FuzzTokenizerMeta) and training text files (FuzzTextData). Their seeds are the files under
// testdata/fuzz/FuzzXxx: real small checkpoints made by fuzzSeeds, their damaged variants and edge
// cases (rewritten by `go test ./gpt -run TestWriteFuzzCorpus -write-fuzz-corpus`), and any input
// a fuzzer found to fail, kept as a regression case. `go test` runs every seed; `make fuzz` fuzzes.

var writeFuzzCorpus = flag.Bool("write-fuzz-corpus", false, "rewrite the generated seed files of testdata/fuzz")

// fuzzCheckpointName is the file name the checkpoint targets parse their input as.
const fuzzCheckpointName = "fuzzdir/ckpt.safetensors"

// fuzzModelParams bounds the models FuzzCheckpoint builds to load a checkpoint that parsed.
const fuzzModelParams = 1 << 16

func FuzzCheckpoint(f *testing.F) {
	be := nn.NewCPU(1)
	defer be.Close()
	f.Add(seedCheckpoint(f, Identity))
	f.Add(format1Checkpoint(f))
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkCheckpointLoad(t, be, raw)
	})
}

func FuzzCheckpointHeader(f *testing.F) {
	be := nn.NewCPU(1)
	defer be.Close()
	header, data := splitCheckpoint(f, seedCheckpoint(f, Baseline))
	f.Add(string(header), data)
	f.Fuzz(func(t *testing.T, header string, data []byte) {
		checkCheckpointLoad(t, be, joinCheckpoint([]byte(header), data))
	})
}

// checkCheckpointLoad parses raw as the checkpoint file fuzzCheckpointName: a damaged file gives
// an error that names the file and the problem, and a checkpoint that loads is consistent — its
// tensors hold the elements their shapes say, its tokenizer fits its vocabulary (or says why not),
// and its weights load into a model of its configuration.
func checkCheckpointLoad(t *testing.T, be nn.Backend, raw []byte) {
	ck, err := readCheckpoint(fuzzCheckpointName, raw)
	if err != nil {
		prefix := "gpt: checkpoint " + fuzzCheckpointName + " is damaged or not a kvgpt checkpoint: "
		require.True(t, strings.HasPrefix(err.Error(), prefix), "error %q does not name the file", err)
		require.Greater(t, len(err.Error()), len(prefix)+10, "error %q does not name the problem", err)
		return
	}
	require.NoError(t, ck.Config.Validate())
	require.GreaterOrEqual(t, ck.Step, 0)
	for name, ts := range ck.Tensors {
		n := 1
		for _, d := range ts.Shape {
			require.GreaterOrEqual(t, d, 0, name)
			n *= d
		}
		require.Len(t, ts.Data, n, "tensor %s of shape %v", name, ts.Shape)
	}
	if tok, err := ck.Tokenizer(); err == nil {
		require.Equal(t, ck.Config.VocabSize, tok.VocabSize())
	} else {
		require.True(t, strings.HasPrefix(err.Error(), "gpt: checkpoint "), err.Error())
	}
	if ck.Config.NumParams() <= fuzzModelParams {
		m, err := New(ck.Config, be, 1)
		require.NoError(t, err)
		require.NoError(t, ck.LoadWeights(m))
	}
}

func FuzzTokenizerMeta(f *testing.F) {
	f.Add("byte", "", 256)
	f.Add("char", "ab", 2)
	f.Fuzz(func(t *testing.T, kind, chars string, vocab int) {
		ck := &Checkpoint{Config: Config{VocabSize: vocab}, Meta: map[string]string{TokenizerKey: kind, CharsKey: chars}}
		tok, err := ck.Tokenizer()
		if err != nil {
			require.True(t, strings.HasPrefix(err.Error(), "gpt: checkpoint "), err.Error())
			return
		}
		require.Equal(t, kind, tok.Kind())
		require.Equal(t, vocab, tok.VocabSize())
		// TokenizerMeta writes back what was read.
		meta := TokenizerMeta(tok)
		require.Equal(t, kind, meta[TokenizerKey])
		if kind == "char" {
			require.Equal(t, chars, meta[CharsKey])
		}
		// Every token decodes to text that encodes back to it.
		ids := make([]int32, vocab)
		for i := range ids {
			ids[i] = int32(i)
		}
		got, err := tok.Encode(tok.Decode(ids))
		require.NoError(t, err)
		require.Equal(t, ids, got)
		// Ids outside the vocabulary decode without a panic.
		tok.Decode([]int32{-1, int32(vocab), math.MaxInt32, math.MinInt32})
	})
}

func FuzzTextData(f *testing.F) {
	dir := f.TempDir()
	f.Add([]byte("to be or not to be, that is the question"), true, 3)
	f.Fuzz(func(t *testing.T, data []byte, char bool, blockSize int) {
		path := filepath.Join(dir, "data file.txt")
		require.NoError(t, os.WriteFile(path, data, 0o644))
		text, err := ReadTextFile(path, 0)
		if err != nil {
			if len(data) == 0 {
				require.ErrorContains(t, err, path+" is empty")
			} else {
				require.Contains(t, data[:min(len(data), sniffBytes)], byte(0), "refused: %v", err)
				require.ErrorContains(t, err, path+" is not text (a NUL byte at offset")
			}
			return
		}
		require.Equal(t, string(data), text)
		kind := "byte"
		if char {
			kind = "char"
		}
		tok, err := NewTokenizer(kind, text)
		if err != nil {
			require.Equal(t, "char", kind)
			if utf8.Valid(data) {
				require.ErrorContains(t, err, "needs at least 2 characters")
			} else {
				require.ErrorContains(t, err, "needs UTF-8 text")
			}
			return
		}
		ds, err := NewDataset(path, text, tok, blockSize)
		if err != nil {
			require.ErrorContains(t, err, "gpt: data "+path)
			return
		}
		require.Equal(t, path, ds.Source)
		require.Greater(t, ds.Train.Len(), blockSize, "training split")
		require.Greater(t, ds.Val.Len(), blockSize, "validation split")
		require.Equal(t, text, tok.Decode(slices.Concat(ds.Train.Int32s(), ds.Val.Int32s())))
	})
}

// seedCheckpoint returns the bytes of a real checkpoint of the smallest model of mode, trained
// for two steps on a two-character vocabulary.
func seedCheckpoint(t testing.TB, mode QueryMode) []byte {
	t.Helper()
	text := strings.Repeat("abba", 16)
	tok, err := NewTokenizer("char", text)
	require.NoError(t, err)
	cfg := Config{NLayer: 1, NHead: 1, NEmbd: 2, BlockSize: 2, MLPHidden: 2, VocabSize: tok.VocabSize(), QueryMode: mode}
	ds, err := NewDataset("seed", text, tok, cfg.BlockSize)
	require.NoError(t, err)
	be := nn.NewCPU(1)
	defer be.Close()
	m, err := New(cfg, be, 1)
	require.NoError(t, err)
	tc := DefaultTrainConfig()
	tc.BatchSize, tc.Steps, tc.Warmup, tc.EvalBatches = 1, 2, 1, 1
	tr, err := NewTrainer(m, tc, ds)
	require.NoError(t, err)
	for range tc.Steps {
		_, err := tr.Step()
		require.NoError(t, err)
	}
	var buf bytes.Buffer
	require.NoError(t, tr.WriteCheckpoint(&buf, TokenizerMeta(tok)))
	return buf.Bytes()
}

// format1Checkpoint returns testdata/format1.safetensors, a checkpoint of the first format
// (kvgpt-checkpoint-1: the checksum covers the data only) that kvgpt f61bf83 wrote: `kvgpt train
// --data testdata/format1.txt --vocab char --n-layer 1 --n-head 2 --n-embd 8 --block-size 8
// --batch-size 4 --steps 4 --warmup 1 --eval-every 2 --eval-batches 1`.
func format1Checkpoint(t testing.TB) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "format1.safetensors"))
	require.NoError(t, err)
	return raw
}

// splitCheckpoint returns the JSON header and the data section of a checkpoint file, the data
// without its checksum.
func splitCheckpoint(t testing.TB, raw []byte) (header, data []byte) {
	t.Helper()
	n := binary.LittleEndian.Uint64(raw)
	require.LessOrEqual(t, n, uint64(len(raw)-12))
	return raw[8 : 8+n], raw[8+n : len(raw)-4]
}

// joinCheckpoint returns the checkpoint file of header and data, sealed with the checksum of
// both: the file a writer of that header would have written.
func joinCheckpoint(header, data []byte) []byte {
	raw := slices.Concat(binary.LittleEndian.AppendUint64(nil, uint64(len(header))), header, data)
	return binary.LittleEndian.AppendUint32(raw, crc32.Checksum(raw, crc32.MakeTable(crc32.Castagnoli)))
}

// fuzzSeed is one generated seed of a fuzz target.
type fuzzSeed struct {
	target, name string
	args         []any
}

// fuzzSeeds returns the generated seeds: real checkpoints of each query mode, their truncations
// and bit flips, and headers edited into each kind of damage the loader checks.
func fuzzSeeds(t testing.TB) []fuzzSeed {
	var seeds []fuzzSeed
	add := func(target, name string, args ...any) { seeds = append(seeds, fuzzSeed{target, name, args}) }
	for _, mode := range []QueryMode{Baseline, Identity, Residual} {
		add("FuzzCheckpoint", "real-"+string(mode), seedCheckpoint(t, mode))
	}
	raw := seedCheckpoint(t, Identity)
	header, data := splitCheckpoint(t, raw)
	hl := 8 + len(header)
	for _, c := range []struct {
		name string
		n    int
	}{
		{"empty", 0}, {"in-length", 5}, {"length-only", 8}, {"in-header", 8 + len(header)/2},
		{"header-only", hl}, {"in-data", hl + len(data)/2}, {"last-byte-missing", len(raw) - 1},
	} {
		add("FuzzCheckpoint", "truncated-"+c.name, raw[:c.n])
	}
	for _, c := range []struct {
		name string
		at   int
		bit  byte
	}{
		{"length-low", 0, 1}, {"length-high", 7, 0x80}, {"header-brace", 8, 0x20}, {"header-middle", 8 + len(header)/2, 4},
		{"data-first", hl, 1}, {"data-sign", hl + 3, 0x80}, {"data-last", len(raw) - 1, 0x10},
	} {
		b := slices.Clone(raw)
		b[c.at] ^= c.bit
		add("FuzzCheckpoint", "bitflip-"+c.name, b)
	}
	add("FuzzCheckpoint", "appended-byte", append(slices.Clone(raw), 0))
	add("FuzzCheckpoint", "huge-header-length", slices.Concat(binary.LittleEndian.AppendUint64(nil, math.MaxUint64), header, data))
	add("FuzzCheckpoint", "checksum-wrong", slices.Concat(raw[:len(raw)-4], []byte{1, 2, 3, 4}))
	add("FuzzCheckpoint", "checksum-missing", raw[:len(raw)-4])
	old := format1Checkpoint(t)
	add("FuzzCheckpoint", "format1-real", old)
	oldHL := 8 + int(binary.LittleEndian.Uint64(old))
	for _, c := range []struct {
		name string
		at   int
	}{{"format1-bitflip-header", oldHL / 2}, {"format1-bitflip-data", (oldHL + len(old)) / 2}} {
		b := slices.Clone(old)
		b[c.at] ^= 2
		add("FuzzCheckpoint", c.name, b)
	}

	// Headers edited as JSON: each breaks one rule the loader checks.
	edit := func(name string, change func(h map[string]any, meta map[string]any)) {
		var h map[string]any
		require.NoError(t, json.Unmarshal(header, &h))
		change(h, h["__metadata__"].(map[string]any))
		b, err := json.Marshal(h)
		require.NoError(t, err)
		add("FuzzCheckpointHeader", name, string(b), data)
	}
	wte := func(h map[string]any) map[string]any { return h["transformer.wte.weight"].(map[string]any) }
	edit("unchanged", func(h, meta map[string]any) {})
	edit("no-metadata", func(h, meta map[string]any) { delete(h, "__metadata__") })
	edit("metadata-not-strings", func(h, meta map[string]any) { meta["step"] = 3 })
	edit("format-other", func(h, meta map[string]any) { meta["format"] = "kvgpt-checkpoint-0" })
	edit("config-not-json", func(h, meta map[string]any) { meta["config"] = "{" })
	edit("config-invalid", func(h, meta map[string]any) { meta["config"] = `{"NLayer":0}` })
	// 24 parameters a layer: 1.9e9 in all, under the limit, but the header lists 6 tensors a layer.
	edit("config-too-many-layers", func(h, meta map[string]any) { setConfig(t, meta, func(c *Config) { c.NLayer = 80_000_000 }) })
	edit("config-overflowing-width", func(h, meta map[string]any) { setConfig(t, meta, func(c *Config) { c.NEmbd, c.NHead = 1<<32, 1 }) })
	// NumParams' int arithmetic wraps around to 0 for this one: C·(V + T + 2 + 2H + 1) = 2⁶⁴.
	edit("config-params-wrap-to-zero", func(h, meta map[string]any) {
		setConfig(t, meta, func(c *Config) {
			c.NLayer, c.NHead, c.NEmbd, c.BlockSize, c.MLPHidden, c.VocabSize = 1, 1, 1<<32, 1, 1, 1<<32-6
		})
	})
	edit("train-config-not-json", func(h, meta map[string]any) { meta["train_config"] = "[" })
	edit("step-negative", func(h, meta map[string]any) { meta["step"] = "-1" })
	edit("step-not-a-number", func(h, meta map[string]any) { meta["step"] = "2.5" })
	edit("format-1-with-checksum-tensor", func(h, meta map[string]any) { meta["format"] = "kvgpt-checkpoint-1"; meta["crc32"] = "0" })
	edit("checksum-entry-missing", func(h, meta map[string]any) { delete(h, ChecksumName) })
	edit("checksum-entry-f32", func(h, meta map[string]any) { h[ChecksumName].(map[string]any)["dtype"] = "F32" })
	edit("checksum-entry-not-last", func(h, meta map[string]any) {
		crc, wte := h[ChecksumName].(map[string]any), wte(h)
		crc["data_offsets"], wte["data_offsets"] = []int{0, 4}, []any{4, wte["data_offsets"].([]any)[1].(float64) + 4}
	})
	edit("train-config-unknown-key", func(h, meta map[string]any) {
		meta["train_config"] = strings.Replace(meta["train_config"].(string), `"Beta2"`, `"Bexa2"`, 1)
	})
	edit("config-unknown-key", func(h, meta map[string]any) {
		meta["config"] = strings.Replace(meta["config"].(string), `"NHead"`, `"NHeads"`, 1)
	})
	edit("config-trailing-data", func(h, meta map[string]any) { meta["config"] = meta["config"].(string) + "{}" })
	edit("train-config-invalid", func(h, meta map[string]any) {
		meta["train_config"] = strings.Replace(meta["train_config"].(string), `"LR":0.003`, `"LR":-1`, 1)
	})
	edit("batch-seed-not-a-number", func(h, meta map[string]any) { meta["batch_seed"] = "x" })
	edit("entry-unknown-key", func(h, meta map[string]any) { wte(h)["offsets"] = []int{0, 16} })
	edit("entry-no-offsets", func(h, meta map[string]any) { delete(wte(h), "data_offsets") })
	edit("entry-three-offsets", func(h, meta map[string]any) { wte(h)["data_offsets"] = []int{0, 8, 16} })
	edit("optimizer-missing", func(h, meta map[string]any) {
		// Weights only: loads, but cannot resume (Restore says so).
		delete(h, ExpAvgName)
		delete(h, ExpAvgSqName)
	})
	edit("free-form-metadata", func(h, meta map[string]any) { meta["bpe_merges"] = "a b\nab c" })
	edit("tokenizer-unknown", func(h, meta map[string]any) { meta[TokenizerKey] = "word" })
	edit("tokenizer-chars-repeat", func(h, meta map[string]any) { meta[CharsKey] = "aa" })
	edit("tokenizer-chars-too-many", func(h, meta map[string]any) { meta[CharsKey] = "abc" })
	edit("tensor-missing", func(h, meta map[string]any) { delete(h, "transformer.ln_f.weight") })
	edit("tensor-not-an-object", func(h, meta map[string]any) { h["transformer.wte.weight"] = "F32" })
	edit("dtype-f16", func(h, meta map[string]any) { wte(h)["dtype"] = "F16" })
	edit("shape-other", func(h, meta map[string]any) { wte(h)["shape"] = []int{4, 1} })
	edit("shape-negative", func(h, meta map[string]any) { wte(h)["shape"] = []int{-2, -2} })
	edit("shape-overflowing", func(h, meta map[string]any) { wte(h)["shape"] = []int{1 << 31, 1 << 31, 1 << 31, 1 << 31} })
	edit("shape-scalar", func(h, meta map[string]any) { wte(h)["shape"] = []int{} })
	edit("offsets-negative", func(h, meta map[string]any) { wte(h)["data_offsets"] = []int{-16, 0} })
	edit("offsets-reversed", func(h, meta map[string]any) { wte(h)["data_offsets"] = []int{16, 0} })
	edit("offsets-past-the-end", func(h, meta map[string]any) { wte(h)["data_offsets"] = []int64{math.MaxInt64 - 15, math.MaxInt64} })
	edit("offsets-overlapping", func(h, meta map[string]any) {
		o := h["transformer.wpe.weight"].(map[string]any)["data_offsets"].([]any)
		wte(h)["data_offsets"] = []any{o[0], o[0].(float64) + 16}
	})
	edit("extra-tensor", func(h, meta map[string]any) {
		h["extra"] = map[string]any{"dtype": "F32", "shape": []int{0}, "data_offsets": []int{len(data), len(data)}}
	})
	edit("header-null", func(h, meta map[string]any) { clear(h) })
	add("FuzzCheckpointHeader", "header-json-null", "null", data)
	add("FuzzCheckpointHeader", "header-json-array", "[]", data)
	add("FuzzCheckpointHeader", "header-json-duplicate-metadata", strings.Replace(string(header), "{", `{"__metadata__":{},`, 1), data)
	add("FuzzCheckpointHeader", "header-json-duplicate-tensor", strings.Replace(string(header), "{", `{"transformer.wte.weight":{},`, 1), data)
	add("FuzzCheckpointHeader", "header-json-duplicate-metadata-key", strings.Replace(string(header), `"__metadata__":{`, `"__metadata__":{"step":"1",`, 1), data)
	add("FuzzCheckpointHeader", "header-json-trailing-data", string(header)+"{}", data)

	add("FuzzTokenizerMeta", "byte", "byte", "", 256)
	add("FuzzTokenizerMeta", "byte-wrong-vocab", "byte", "", 65)
	add("FuzzTokenizerMeta", "char", "char", "\n !',-.:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", 61)
	add("FuzzTokenizerMeta", "char-multibyte", "char", "aé€😀", 4)
	add("FuzzTokenizerMeta", "char-repeated", "char", "aba", 3)
	add("FuzzTokenizerMeta", "char-one", "char", "a", 1)
	add("FuzzTokenizerMeta", "char-invalid-utf8", "char", "a\xffb", 3)
	add("FuzzTokenizerMeta", "char-nul", "char", "\x00a", 2)
	add("FuzzTokenizerMeta", "none", "", "", 0)
	add("FuzzTokenizerMeta", "vocab-negative", "char", "ab", -2)

	add("FuzzTextData", "empty", []byte{}, false, 1)
	add("FuzzTextData", "byte-short", []byte("0123456789ab"), false, 1)
	add("FuzzTextData", "byte-just-enough", []byte(strings.Repeat("x", 22)), false, 1)
	add("FuzzTextData", "byte-binary", []byte("\x00\xff\xfe\x80\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10"), false, 0)
	add("FuzzTextData", "char-one-character", []byte(strings.Repeat("a", 100)), true, 1)
	add("FuzzTextData", "char-invalid-utf8", []byte("abc\xffabcabcabcabcabcabc"), true, 1)
	add("FuzzTextData", "char-multibyte", []byte(strings.Repeat("ab€😀", 12)), true, 2)
	add("FuzzTextData", "char-bom-crlf", []byte("\ufeffline one\r\nline two\r\n"+strings.Repeat("x\r\n", 20)), true, 4)
	add("FuzzTextData", "block-size-zero", []byte(strings.Repeat("ab", 20)), false, 0)
	add("FuzzTextData", "block-size-negative", []byte(strings.Repeat("ab", 20)), false, -5)
	add("FuzzTextData", "block-size-max", []byte(strings.Repeat("ab", 20)), true, math.MaxInt)
	return seeds
}

// setConfig edits the config JSON in a checkpoint's metadata.
func setConfig(t testing.TB, meta map[string]any, change func(*Config)) {
	var c Config
	require.NoError(t, json.Unmarshal([]byte(meta["config"].(string)), &c))
	change(&c)
	b, err := json.Marshal(c)
	require.NoError(t, err)
	meta["config"] = string(b)
}

// TestWriteFuzzCorpus rewrites the generated seed files under testdata/fuzz (with
// -write-fuzz-corpus); the regression cases fuzzers found stay as they are.
func TestWriteFuzzCorpus(t *testing.T) {
	if !*writeFuzzCorpus {
		t.Skip("rewrites testdata/fuzz only with -write-fuzz-corpus")
	}
	for _, s := range fuzzSeeds(t) {
		dir := filepath.Join("testdata", "fuzz", s.target)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, s.name), corpusFile(t, s.args...), 0o644))
	}
}

// TestFuzzCorpusIsCurrent checks that the seed files under testdata/fuzz are the ones fuzzSeeds
// generates now (a change of the checkpoint format changes them: rewrite them).
func TestFuzzCorpusIsCurrent(t *testing.T) {
	for _, s := range fuzzSeeds(t) {
		t.Run(s.target+"/"+s.name, func(t *testing.T) {
			got, err := os.ReadFile(filepath.Join("testdata", "fuzz", s.target, s.name))
			require.NoError(t, err, "run go test ./gpt -run TestWriteFuzzCorpus -write-fuzz-corpus")
			require.Equal(t, string(corpusFile(t, s.args...)), string(got), "run go test ./gpt -run TestWriteFuzzCorpus -write-fuzz-corpus")
		})
	}
}

// corpusFile returns args in the format of a file of Go's fuzzing corpus ("go test fuzz v1").
func corpusFile(t testing.TB, args ...any) []byte {
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch a := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%s)\n", strconv.Quote(string(a)))
		case string:
			fmt.Fprintf(&b, "string(%s)\n", strconv.Quote(a))
		case int:
			fmt.Fprintf(&b, "int(%d)\n", a)
		case bool:
			fmt.Fprintf(&b, "bool(%t)\n", a)
		default:
			t.Fatalf("corpusFile: no encoding for %T", a)
		}
	}
	return []byte(b.String())
}

// FuzzBPEMeta: the BPE vocabulary metadata of a checkpoint or a dataset directory (a name and, for
// bpe:N, the vocabulary's JSON) gives a tokenizer or a one-line error, never a panic; a tokenizer
// it gives round-trips text exactly and writes back metadata that reads as the same vocabulary.
func FuzzBPEMeta(f *testing.F) {
	trained, err := NewTokenizer("bpe:260", "abcabcabd abd ab ab ab cc cc")
	require.NoError(f, err)
	js := TokenizerMeta(trained)[BPEKey]
	f.Add("gpt2", "", 50257, []byte("Hello, world!\n"))
	f.Add("bpe:260", js, 260, []byte("abc cab\xff"))
	f.Add("bpe:260", strings.Replace(js, "[97,98]", "[97,300]", 1), 260, []byte("x"))
	f.Add("bpe:261", js, 261, []byte("x"))
	f.Add("bpe:260", js[:len(js)/2], 260, []byte("x"))
	f.Add("bpe:x", "{}", 260, []byte("x"))
	f.Fuzz(func(t *testing.T, kind, js string, vocab int, text []byte) {
		meta := map[string]string{TokenizerKey: kind, BPEKey: js}
		tok, err := TokenizerFromMeta("test", meta, vocab)
		if err != nil {
			require.True(t, strings.HasPrefix(err.Error(), "gpt: test "), err.Error())
			require.NotContains(t, err.Error(), "\n")
			return
		}
		require.Equal(t, kind, tok.Kind())
		require.Equal(t, vocab, tok.VocabSize())
		ids, err := tok.Encode(string(text))
		require.NoError(t, err)
		require.Equal(t, string(text), tok.Decode(ids))
		again, err := TokenizerFromMeta("test", TokenizerMeta(tok), vocab)
		require.NoError(t, err)
		require.True(t, SameTokenizer(tok, again))
		tok.Decode([]int32{-1, int32(vocab), math.MaxInt32, math.MinInt32})
	})
}

package tokens

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// randomIDs returns n ids below v.
func randomIDs(rng *rand.Rand, n, v int) []int32 {
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(rng.IntN(v))
	}
	return ids
}

func TestSeqReadSlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	// Three parts of each width, one empty, against the concatenated ids.
	a, b, c := randomIDs(rng, 17, 1000), randomIDs(rng, 5, 1000), randomIDs(rng, 30, 1000)
	u16 := make([]uint16, len(b))
	for i, x := range b {
		u16[i] = uint16(x)
	}
	u32 := make([]uint32, len(c))
	for i, x := range c {
		u32[i] = uint32(x)
	}
	want := append(append(append([]int32{}, a...), b...), c...)
	s := Concat(Int32s(a), Int32s(nil), Uint16s(u16), Uint32s(u32))
	require.Equal(t, len(want), s.Len())
	require.Equal(t, want, s.Int32s())
	for range 200 {
		off := rng.IntN(len(want) + 1)
		n := rng.IntN(len(want) - off + 1)
		dst := make([]int32, n)
		s.Read(dst, off)
		require.Equal(t, want[off:off+n], dst, "Read [%d, %d)", off, off+n)
		require.Equal(t, want[off:off+n], append([]int32{}, s.Slice(off, n).Int32s()...), "Slice [%d, %d)", off, off+n)
	}
	require.Equal(t, int64(4*len(a)), s.ResidentBytes())
	require.Panics(t, func() { s.Read(make([]int32, 2), len(want)-1) })
	require.Panics(t, func() { s.Slice(-1, 1) })
}

func TestShardRoundTrip(t *testing.T) {
	for _, v := range []int{256, 50257, 1 << 16, 1<<16 + 1, 100000} {
		t.Run("V="+strconv.Itoa(v), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(v), 3))
			ids := randomIDs(rng, 1000, v)
			ids[0], ids[1] = 0, int32(v-1)
			path := filepath.Join(t.TempDir(), "x.bin")
			require.NoError(t, WriteShard(path, ids, v))
			st, err := os.Stat(path)
			require.NoError(t, err)
			require.Equal(t, int64(HeaderBytes+Width(v)*len(ids)), st.Size())
			require.True(t, IsShard(path))
			s, err := Open(path)
			require.NoError(t, err)
			defer s.Close()
			require.Equal(t, Width(v), s.Width)
			require.False(t, s.Raw)
			require.Equal(t, ids, s.Seq.Int32s())
			// The header as llm.c writes it.
			raw, err := os.ReadFile(path)
			require.NoError(t, err)
			magic, version := MagicUint16, VersionUint16
			if v > 1<<16 {
				magic, version = MagicUint32, VersionUint32
			}
			require.Equal(t, []uint32{uint32(magic), uint32(version), 1000, 0}, []uint32{
				binary.LittleEndian.Uint32(raw), binary.LittleEndian.Uint32(raw[4:]),
				binary.LittleEndian.Uint32(raw[8:]), binary.LittleEndian.Uint32(raw[12:])})
		})
	}
}

func TestShardErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.bin")
	require.NoError(t, WriteShard(good, []int32{1, 2, 3}, 256))
	raw, err := os.ReadFile(good)
	require.NoError(t, err)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o644))
		return p
	}
	with := func(i int, v uint32) []byte {
		b := append([]byte{}, raw...)
		binary.LittleEndian.PutUint32(b[4*i:], v)
		return b
	}
	for _, c := range []struct {
		name, path, want string
	}{
		{"truncated", write("trunc.bin", raw[:len(raw)-1]), "truncated or damaged"},
		{"longer", write("long.bin", append(append([]byte{}, raw...), 0, 0)), "truncated or damaged"},
		{"short header", write("short.bin", raw[:100]), "too short"},
		{"short non-shard", write("short2.bin", []byte{9, 9, 9, 9, 9}), "odd"},
		{"version", write("ver.bin", with(1, 2)), "version 2"},
		{"negative count", write("neg.bin", with(2, 0xffffffff)), "counts -1 tokens"},
		{"not a shard", write("text.txt", []byte("hello world")), "neither an llm.c token file"},
		{"odd raw", write("odd.bin", []byte{1, 2, 3}), "odd number"},
		{"missing", filepath.Join(dir, "none.bin"), "does not exist"},
		{"directory", dir, "not a regular file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Open(c.path)
			require.ErrorContains(t, err, c.want)
		})
	}
	// Not an llm.c file, asked for as one.
	_, err = OpenShard(write("raw.bin", []byte{1, 0, 2, 0}))
	require.ErrorContains(t, err, "not an llm.c token file")
	// Ids that do not fit the vocabulary are refused when written.
	require.ErrorContains(t, WriteShard(filepath.Join(dir, "big.bin"), []int32{300}, 256), "outside the vocabulary")
	_, err = os.Stat(filepath.Join(dir, "big.bin"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestRawNanoGPT(t *testing.T) {
	dir := t.TempDir()
	ids := []uint16{50256, 1, 2, 65535}
	var b []byte
	for _, x := range ids {
		b = binary.LittleEndian.AppendUint16(b, x)
	}
	for _, name := range []string{"train.bin", "val.bin"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
	}
	d, err := OpenDir(dir)
	require.NoError(t, err)
	defer d.Close()
	require.Nil(t, d.Meta)
	require.Equal(t, []int32{50256, 1, 2, 65535}, d.Train.Int32s())
	require.Equal(t, []int32{50256, 1, 2, 65535}, d.Val.Int32s())
}

func TestDirWriteOpen(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	dir := filepath.Join(t.TempDir(), "data")
	meta := Meta{Vocab: "bpe:300", VocabSize: 300, Tokenizer: map[string]string{"tokenizer": "bpe:300"}, Source: "test"}
	w, err := CreateDir(dir, meta, 100)
	require.NoError(t, err)
	train := randomIDs(rng, 250, 300)
	val := randomIDs(rng, 40, 300)
	// Writes of several sizes, crossing file boundaries.
	require.NoError(t, w.Write(TrainSplit, train[:30], 90))
	require.NoError(t, w.Write(ValSplit, val, 120))
	require.NoError(t, w.Write(TrainSplit, train[30:], 660))
	// Nothing is visible before Close.
	_, err = OpenDir(dir)
	require.Error(t, err)
	require.NoError(t, w.Close())

	d, err := OpenDir(dir)
	require.NoError(t, err)
	require.Equal(t, train, d.Train.Int32s())
	require.Equal(t, val, d.Val.Int32s())
	require.Equal(t, []string{"train_000000.bin", "train_000001.bin", "train_000002.bin"}, d.Files[TrainSplit])
	require.Equal(t, Split{Files: []string{"val_000000.bin"}, Tokens: 40, Bytes: 120}, d.Meta.Splits[ValSplit])
	require.Equal(t, int64(750), d.Meta.Splits[TrainSplit].Bytes)
	require.Equal(t, "bpe:300", d.Meta.Tokenizer["tokenizer"])
	require.NoError(t, d.Close())

	// A second, smaller dataset in the same directory replaces the first and its extra files.
	w, err = CreateDir(dir, meta, 100)
	require.NoError(t, err)
	require.NoError(t, w.Write(TrainSplit, train[:120], 1))
	require.NoError(t, w.Write(ValSplit, val[:5], 1))
	require.NoError(t, w.Close())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.Equal(t, []string{MetaFile, "train_000000.bin", "train_000001.bin", "val_000000.bin"}, names)
	d, err = OpenDir(dir)
	require.NoError(t, err)
	require.Equal(t, train[:120], d.Train.Int32s())
	d.Close()

	// A token file changed after the fact no longer matches the description.
	require.NoError(t, WriteShard(filepath.Join(dir, "val_000000.bin"), val[:4], 300))
	_, err = OpenDir(dir)
	require.ErrorContains(t, err, "damaged or changed")

	// Abort leaves the directory as it was.
	before, _ := os.ReadDir(dir)
	w, err = CreateDir(dir, meta, 100)
	require.NoError(t, err)
	require.NoError(t, w.Write(TrainSplit, train, 1))
	w.Abort()
	after, _ := os.ReadDir(dir)
	require.Equal(t, len(before), len(after))

	// An empty split is refused.
	w, err = CreateDir(filepath.Join(t.TempDir(), "e"), meta, 100)
	require.NoError(t, err)
	require.NoError(t, w.Write(TrainSplit, train, 1))
	require.ErrorContains(t, w.Close(), "val split")
}

func TestParseMeta(t *testing.T) {
	ok := `{"format":"kvgpt-tokens-1","vocab":"gpt2","vocab_size":50257,"tokenizer":{"tokenizer":"gpt2"},"source":"x",
	"splits":{"train":{"files":["train_000000.bin"],"tokens":5,"bytes":9},"val":{"files":["val_000000.bin"],"tokens":1,"bytes":2}}}`
	_, err := ParseMeta([]byte(ok))
	require.NoError(t, err)
	for _, c := range []struct{ name, json, want string }{
		{"not json", `{`, "not a dataset description"},
		{"unknown key", `{"format":"kvgpt-tokens-1","vocabb":"x"}`, "unknown field"},
		{"format", `{"format":"x"}`, "format"},
		{"no vocab", `{"format":"kvgpt-tokens-1","vocab_size":5}`, "vocabulary"},
		{"no val", `{"format":"kvgpt-tokens-1","vocab":"byte","vocab_size":256,"splits":{"train":{"files":["a.bin"]}}}`, "no val split"},
		{"path", `{"format":"kvgpt-tokens-1","vocab":"byte","vocab_size":256,"splits":{"train":{"files":["../a.bin"]},"val":{"files":["b.bin"]}}}`, "not a file name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseMeta([]byte(c.json))
			require.ErrorContains(t, err, c.want)
		})
	}
}

func TestDirErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := OpenDir(dir)
	require.ErrorContains(t, err, "kvgpt prepare")
	require.NoError(t, os.WriteFile(filepath.Join(dir, MetaFile), []byte("{}"), 0o644))
	_, err = OpenDir(dir)
	require.ErrorContains(t, err, MetaFile)
}

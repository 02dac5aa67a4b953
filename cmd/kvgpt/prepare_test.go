package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/tokens"
)

// runPrepareCmd runs kvgpt prepare with args and standard input stdin, and returns its exit code
// and outputs.
func runPrepareCmd(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb strings.Builder
	err := prepare(args, strings.NewReader(stdin), &out, &errb)
	if err != nil {
		errb.WriteString(err.Error())
		return 1, out.String(), errb.String()
	}
	return 0, out.String(), errb.String()
}

func TestPrepareCmd(t *testing.T) {
	dir := t.TempDir()
	text := strings.Repeat("the quick brown fox jumps over the lazy dog\n", 300)
	in := filepath.Join(dir, "in.txt")
	require.NoError(t, os.WriteFile(in, []byte(text), 0o644))
	out := filepath.Join(dir, "d")

	code, stdout, stderr := runPrepareCmd(t, "", "--data", in, "--vocab", "byte", "--out", out)
	require.Equal(t, 0, code, stderr)
	n := len(text)
	val := int(float64(n) * 0.1)
	require.Contains(t, stdout, "byte tokens (V=256)")
	require.Contains(t, stdout, "train "+strconv.Itoa(n-val)+" tokens (1 files), val "+strconv.Itoa(val)+" tokens (1 files)")
	require.Contains(t, stdout, "1.000 bytes per token")
	require.Contains(t, stdout, "first 20 train tokens: 116 104 101 32")

	// A second prepare into the same directory is refused without --overwrite.
	code, _, stderr = runPrepareCmd(t, "", "--data", in, "--vocab", "byte", "--out", out)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "holds a dataset already")
	code, _, stderr = runPrepareCmd(t, "", "--data", in, "--vocab", "char", "--out", out, "--overwrite")
	require.Equal(t, 0, code, stderr)
	d, err := tokens.OpenDir(out)
	require.NoError(t, err)
	require.Equal(t, "char", d.Meta.Vocab)
	d.Close()

	// Standard input: the same tokens as the file.
	out2 := filepath.Join(dir, "stdin")
	code, stdout, stderr = runPrepareCmd(t, text, "--data", "-", "--vocab", "char", "--out", out2)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "standard input")
	a, err := tokens.OpenDir(out)
	require.NoError(t, err)
	defer a.Close()
	b, err := tokens.OpenDir(out2)
	require.NoError(t, err)
	defer b.Close()
	require.Equal(t, a.Train.Int32s(), b.Train.Int32s())
	require.Equal(t, a.Val.Int32s(), b.Val.Int32s())
	left, _ := filepath.Glob(filepath.Join(out2, ".stdin-*"))
	require.Empty(t, left, "the spooled input is removed")

	// No --data: the default corpus, as kvgpt train's.
	out3 := filepath.Join(dir, "go")
	code, stdout, stderr = runPrepareCmd(t, "", "--vocab", "byte", "--corpus-bytes", "20000", "--out", out3)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "of Go standard library sources")
	require.Contains(t, stdout, "train 18000 tokens (1 files), val 2000 tokens")
}

func TestPrepareTokenFiles(t *testing.T) {
	// nanoGPT's train.bin and val.bin: described in place.
	dir := t.TempDir()
	write := func(name string, ids ...uint16) {
		var b []byte
		for _, x := range ids {
			b = binary.LittleEndian.AppendUint16(b, x)
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
	}
	write("train.bin", 1, 2, 3, 50256, 4)
	write("val.bin", 5, 6)
	code, stdout, stderr := runPrepareCmd(t, "", "--data", dir, "--vocab", "byte", "--out", dir)
	require.Equal(t, 1, code, "50256 is not a byte")
	require.Contains(t, stderr, "token 50256 at position 3 is outside the vocabulary of 256 tokens")
	write("train.bin", 1, 2, 3, 65, 4)
	code, stdout, stderr = runPrepareCmd(t, "", "--data", dir, "--vocab", "byte", "--out", dir)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "train 5 tokens (1 files), val 2 tokens (1 files)")
	d, err := tokens.OpenDir(dir)
	require.NoError(t, err)
	require.Equal(t, []string{"train.bin"}, d.Files[tokens.TrainSplit])
	require.Equal(t, []int32{1, 2, 3, 65, 4}, d.Train.Int32s())
	d.Close()

	// One llm.c file elsewhere: copied and split 90/10 by tokens.
	ids := make([]int32, 100)
	for i := range ids {
		ids[i] = int32(i)
	}
	one := filepath.Join(t.TempDir(), "x.bin")
	require.NoError(t, tokens.WriteShard(one, ids, 256))
	out := filepath.Join(t.TempDir(), "copy")
	code, stdout, stderr = runPrepareCmd(t, "", "--data", one, "--vocab", "byte", "--out", out)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "train 90 tokens (1 files), val 10 tokens (1 files)")
	d, err = tokens.OpenDir(out)
	require.NoError(t, err)
	defer d.Close()
	require.Equal(t, ids[:90], d.Train.Int32s())
	require.Equal(t, ids[90:], d.Val.Int32s())

	code, _, stderr = runPrepareCmd(t, "", "--data", one, "--vocab", "char", "--out", t.TempDir())
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "token files made elsewhere hold gpt2 or byte tokens")
}

func TestPrepareBadInput(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin.dat")
	require.NoError(t, os.WriteFile(bin, []byte{'a', 0, 'b'}, 0o644))
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"corpus-bytes with data", []string{"--data", bin, "--corpus-bytes", "100"}, "--corpus-bytes sizes the default corpus"},
		{"missing", []string{"--data", filepath.Join(dir, "none.txt"), "--out", dir}, "does not exist"},
		{"binary", []string{"--data", bin, "--out", filepath.Join(dir, "o")}, "is not text (a NUL byte at offset 1)"},
		{"vocab", []string{"--data", bin, "--vocab", "words", "--out", dir}, "unknown vocabulary"},
		{"shard tokens", []string{"--data", bin, "--shard-tokens", "0"}, "--shard-tokens"},
		{"device", []string{"--data", "/dev/zero", "--vocab", "byte", "--out", filepath.Join(dir, "z")}, "not a regular file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runPrepareCmd(t, "", c.args...)
			require.Equal(t, 1, code)
			require.Contains(t, stderr, c.want)
		})
	}
}

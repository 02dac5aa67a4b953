package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// trainTiny trains the 1-layer model of tinyArgs with extra flags and returns its checkpoint.
func trainTiny(t *testing.T, extra ...string) string {
	t.Helper()
	out := t.TempDir()
	code, _, stderr := runCLI(tinyArgs(writeData(t), out, extra...)...)
	require.Equal(t, 0, code, stderr)
	return filepath.Join(out, checkpointFile)
}

var speedRE = regexp.MustCompile(`prefill: (\d+) tokens in \S+ \(([\d.]+|-) tokens/s\); generation: (\d+) tokens in \S+ \(([\d.]+|-) tokens/s\), (KV cache|no cache \(the whole context for every token\)); the context slid (\d+) times \(keeping (\d+) of (\d+) tokens\)`)

// TestSampleCacheAndNoCache: greedy text past the block size (16) is the same with the KV cache
// and without, for the default window and nanoGPT's crop (--keep 16), and each run ends with its
// speed and how the context slid.
func TestSampleCacheAndNoCache(t *testing.T) {
	ckpt := trainTiny(t)
	for _, keep := range []string{"0", "16"} {
		var texts []string
		for _, noCache := range []bool{false, true} {
			args := []string{"sample", "--checkpoint", ckpt, "--prompt", "to be", "--tokens", "60", "--temperature", "0", "--keep", keep}
			if noCache {
				args = append(args, "--no-cache")
			}
			code, stdout, stderr := runCLI(args...)
			require.Equal(t, 0, code, stderr)
			require.True(t, strings.HasPrefix(stdout, "to be"), stdout)
			require.Len(t, []rune(strings.TrimSuffix(stdout, "\n")), 65)
			texts = append(texts, stdout)
			m := speedRE.FindStringSubmatch(stderr)
			require.NotNil(t, m, stderr)
			require.Equal(t, "5", m[1], "prefill tokens")
			require.Equal(t, "60", m[3], "new tokens")
			require.Equal(t, noCache, strings.HasPrefix(m[5], "no cache"))
			want := map[string]string{"0": "6", "16": "48"}[keep] // 59 appended to 5: full after 11, then every 16−keep+1
			require.Equal(t, want, m[6], "slides")
			require.Equal(t, map[string]string{"0": "8", "16": "16"}[keep], m[7])
		}
		require.Equal(t, texts[0], texts[1], "--keep %s: KV cache vs --no-cache", keep)
	}
}

// TestSamplePromptFile: --prompt-file with a 1 MB prompt (and the same from standard input) uses
// its last block of tokens, says so, and prints that block before the new text.
func TestSamplePromptFile(t *testing.T) {
	ckpt := trainTiny(t, "--vocab", "byte")
	var sb strings.Builder
	for i := 0; sb.Len() < 1<<20; i++ {
		fmt.Fprintf(&sb, "line %d: to be or not to be.\n", i)
	}
	text := sb.String()[:1<<20]
	path := filepath.Join(t.TempDir(), "prompt.txt")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))

	args := []string{"sample", "--checkpoint", ckpt, "--tokens", "20", "--temperature", "0"}
	code, stdout, stderr := runCLI(append(args, "--prompt-file", path)...)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, fmt.Sprintf("prompt: 1048576 tokens from %s (1.05 MB); the model sees the last 16 (its block size), printed first", path))
	require.True(t, strings.HasPrefix(stdout, text[len(text)-16:]), "stdout %q", stdout)
	require.Len(t, stdout, 16+20+1)

	stdin = strings.NewReader(text)
	defer func() { stdin = os.Stdin }()
	code, fromStdin, stderr := runCLI(append(args, "--prompt-file", "-")...)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "prompt: 1048576 tokens from standard input (1.05 MB); the model sees the last 16")
	require.Equal(t, stdout, fromStdin)

	// The same as the last block given with --prompt.
	code, fromFlag, stderr := runCLI(append(args, "--prompt", text[len(text)-16:])...)
	require.Equal(t, 0, code, stderr)
	require.NotContains(t, stderr, "the model sees the last")
	require.Equal(t, stdout, fromFlag)
}

// TestReadPromptFileKeepsTheTail: a file or stream longer than the limit is read to its end and
// its last limit bytes kept.
func TestReadPromptFileKeepsTheTail(t *testing.T) {
	text := strings.Repeat("0123456789", 1000) + "end"
	path := filepath.Join(t.TempDir(), "p.txt")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	for _, limit := range []int{1, 7, 4096, 10003, 20000} {
		want := text[max(0, len(text)-limit):]
		p, err := readPromptFile(path, nil, limit)
		require.NoError(t, err)
		require.Equal(t, want, p.text, "file, limit %d", limit)
		require.Equal(t, int64(len(text)), p.size)
		require.Equal(t, limit < len(text), p.cut())
		p, err = readTail(strings.NewReader(text), limit, "stdin")
		require.NoError(t, err)
		require.Equal(t, want, p.text, "stream, limit %d", limit)
		require.Equal(t, int64(len(text)), p.size)
	}
}

// TestSampleBadInput: flags and prompt files that cannot work fail with a message that names
// the problem, never a panic.
func TestSampleBadInput(t *testing.T) {
	ckpt := trainTiny(t)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.txt")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	latin1 := filepath.Join(dir, "latin1.txt")
	require.NoError(t, os.WriteFile(latin1, []byte("to b\xe9"), 0o644))
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"prompt and prompt file", []string{"--prompt", "to", "--prompt-file", empty}, "--prompt and --prompt-file are exclusive"},
		{"missing prompt file", []string{"--prompt-file", filepath.Join(dir, "none")}, "prompt file " + filepath.Join(dir, "none") + " does not exist"},
		{"prompt file is a directory", []string{"--prompt-file", dir}, "prompt file " + dir + " is a directory"},
		{"empty prompt file", []string{"--prompt-file", empty}, "prompt file " + empty + " is empty (leave out --prompt-file to start from token 0)"},
		{"prompt file is a device", []string{"--prompt-file", os.DevNull}, "prompt file /dev/null is not a regular file or a pipe"},
		{"prompt file not UTF-8", []string{"--prompt-file", latin1}, "prompt file " + latin1 + ": not valid UTF-8 text, and the checkpoint's tokens are characters"},
		{"zero samples", []string{"--samples", "0"}, "--samples must be ≥ 1, got 0"},
		{"keep past the block", []string{"--keep", "17"}, "--keep must be between 1 and the checkpoint's block size 16 (0: half of it), got 17"},
		{"negative keep", []string{"--keep", "-1"}, "keep must be ≥ 0 (0: half the block size), got -1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runCLI(append([]string{"sample", "--checkpoint", ckpt}, c.args...)...)
			require.NotEqual(t, 0, code)
			require.Contains(t, stderr, c.want)
			require.NotContains(t, stderr, "panic")
		})
	}
}

// TestSampleSamples: --samples N prints N samples of the prompt, separated, sample i with seed
// seed+i: each the text a single run with that seed prints.
func TestSampleSamples(t *testing.T) {
	ckpt := trainTiny(t)
	args := []string{"sample", "--checkpoint", ckpt, "--prompt", "to be", "--tokens", "30"}
	code, stdout, stderr := runCLI(append(args, "--samples", "3", "--seed", "5")...)
	require.Equal(t, 0, code, stderr)
	parts := strings.Split(stdout, "---------------\n")
	require.Len(t, parts, 3)
	for i, part := range parts {
		require.Contains(t, stderr, fmt.Sprintf("sample %d of 3 (seed %d)", i+1, 5+i))
		code, one, stderr := runCLI(append(args, "--seed", fmt.Sprint(5+i))...)
		require.Equal(t, 0, code, stderr)
		require.Equal(t, one, part, "sample %d", i+1)
	}
	require.Len(t, speedRE.FindAllString(stderr, -1), 3)
	require.NotEqual(t, parts[0], parts[1], "different seeds, different text")
}

// TestTextStream: characters split across tokens are written whole once complete; on a terminal
// bytes that are not UTF-8 and control characters are escaped, raw they pass as they are.
func TestTextStream(t *testing.T) {
	for _, c := range []struct {
		name   string
		tokens []string
		escape bool
		want   string
	}{
		{"split characters", []string{"é"[:1], "é"[1:] + "a€"[:2], "€"[1:], "𝄞"[:1], "𝄞"[1:3], "𝄞"[3:]}, true, "éa€𝄞\n"},
		{"invalid bytes, terminal", []string{"a\xff", "\xc3", "(", "\x80b"}, true, `a\xff\xc3(\x80b` + "\n"},
		{"invalid bytes, raw", []string{"a\xff", "\xc3", "(", "\x80b"}, false, "a\xff\xc3(\x80b\n"},
		{"controls, terminal", []string{"a\tb\n", "\x1b[2J", "\u0085\x7f"}, true, "a\tb\n" + `\x1b[2J\u0085\x7f` + "\n"},
		{"controls, raw", []string{"\x1b[2J"}, false, "\x1b[2J\n"},
		{"incomplete at the end, terminal", []string{"x", "€"[:2]}, true, `x\xe2\x82` + "\n"},
		{"incomplete at the end, raw", []string{"x", "€"[:2]}, false, "x\xe2\x82\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			s := newTextStream(&b, true)
			s.escape = c.escape
			for i, tok := range c.tokens {
				_, err := s.Write([]byte(tok))
				require.NoError(t, err)
				require.NoError(t, s.Flush())
				require.LessOrEqual(t, len(s.pending), 3, "token %d", i)
			}
			require.NoError(t, s.EndLine())
			require.Equal(t, c.want, b.String())
		})
	}
	require.False(t, isTerminal(&bytes.Buffer{}))
	f, err := os.CreateTemp(t.TempDir(), "out")
	require.NoError(t, err)
	defer f.Close()
	require.False(t, isTerminal(f), "a file")
}

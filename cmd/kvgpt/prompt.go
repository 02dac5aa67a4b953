package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// maxPromptBytes bounds what --prompt-file reads: the last maxPromptBytes of a longer file or
// stream. The model sees only the last block of the prompt's tokens; a BPE or character
// tokenizer needs some text before them to cut the block's first token where the whole text
// would, and 16 MiB is far more than any block's tokens span.
const maxPromptBytes = 16 << 20

// promptText is the prompt as read from --prompt-file.
type promptText struct {
	text string // at most the last maxPromptBytes
	size int64  // bytes in the file or stream
}

// cut reports whether the file was longer than text.
func (p promptText) cut() bool { return p.size > int64(len(p.text)) }

// readPromptFile reads the prompt file path ("-": stdin) — a regular file, or a pipe or standard
// input, read to its end — keeping at most its last limit bytes, in memory bounded by 2·limit.
func readPromptFile(path string, stdin io.Reader, limit int) (promptText, error) {
	if path == "-" {
		return readTail(stdin, limit, "standard input")
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return promptText{}, fmt.Errorf("prompt file %s does not exist", path)
		}
		return promptText{}, fmt.Errorf("prompt file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return promptText{}, fmt.Errorf("prompt file: %w", err)
	}
	switch mode := st.Mode(); {
	case mode.IsDir():
		return promptText{}, fmt.Errorf("prompt file %s is a directory", path)
	case mode&fs.ModeNamedPipe != 0:
		return readTail(f, limit, path)
	case !mode.IsRegular():
		return promptText{}, fmt.Errorf("prompt file %s is not a regular file or a pipe (%v); pass a file, or - for standard input", path, mode.Type())
	}
	size := st.Size()
	if size > int64(limit) {
		if _, err := f.Seek(size-int64(limit), io.SeekStart); err != nil {
			return promptText{}, fmt.Errorf("prompt file: %w", err)
		}
	}
	b, err := io.ReadAll(io.LimitReader(f, int64(limit))) // a file that grows meanwhile reads no further
	if err != nil {
		return promptText{}, fmt.Errorf("prompt file: %w", err)
	}
	if len(b) == 0 {
		return promptText{}, fmt.Errorf("prompt file %s is empty (leave out --prompt-file to start from token 0)", path)
	}
	return promptText{text: string(b), size: size}, nil
}

// readTail reads r to its end and returns its last limit bytes.
func readTail(r io.Reader, limit int, name string) (promptText, error) {
	var buf bytes.Buffer
	var size int64
	chunk := make([]byte, 64<<10)
	for {
		n, err := r.Read(chunk)
		buf.Write(chunk[:n])
		size += int64(n)
		if buf.Len() > 2*limit { // drop the front, keep the last limit
			tail := buf.Bytes()[buf.Len()-limit:]
			buf.Reset()
			buf.Write(tail) // Reset keeps the storage: tail is copied to its front
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return promptText{}, fmt.Errorf("prompt: reading %s: %w", name, err)
		}
	}
	b := buf.Bytes()
	if len(b) > limit {
		b = b[len(b)-limit:]
	}
	if len(b) == 0 {
		return promptText{}, fmt.Errorf("prompt: %s is empty (leave out --prompt-file to start from token 0)", name)
	}
	return promptText{text: string(b), size: size}, nil
}

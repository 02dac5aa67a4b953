package tokens

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/kvgpt/kvgpt/internal/atomicfile"
	"github.com/kvgpt/kvgpt/internal/inputfile"
)

// The header of an llm.c token file: HeaderInts little-endian int32s, of which the first three are
// the magic number, the version and the number of tokens that follow; the rest are zero.
const (
	HeaderInts  = 256
	HeaderBytes = 4 * HeaderInts

	MagicUint16   = 20240520 // llm.c's GPT-2 token files: uint16 tokens
	VersionUint16 = 1
	MagicUint32   = 20240801 // llm.c's LLaMA-3 token files: uint32 tokens
	VersionUint32 = 7

	// MaxShardTokens is the most tokens one file may hold: the header counts them in an int32.
	MaxShardTokens = math.MaxInt32
)

// Width returns the bytes per token of a file for a vocabulary of v tokens: 2 while the ids fit
// in a uint16, else 4.
func Width(v int) int {
	if v <= 1<<16 {
		return 2
	}
	return 4
}

// Shard is an open token file, memory-mapped: its tokens are Seq.
type Shard struct {
	Path  string
	Width int  // bytes per token: 2 or 4
	Raw   bool // a headerless nanoGPT file (uint16), not an llm.c one
	Seq   Seq
	m     *mapping
}

// Close unmaps the file; s.Seq must not be read after.
func (s *Shard) Close() error {
	if s == nil || s.m == nil {
		return nil
	}
	err := s.m.close()
	s.m = nil
	return err
}

// IsShard reports whether the file at path starts with an llm.c token-file header (either magic).
func IsShard(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [4]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return false
	}
	m := binary.LittleEndian.Uint32(b[:])
	return m == MagicUint16 || m == MagicUint32
}

// OpenShard memory-maps the llm.c token file at path, after checking its header and that its size
// is the header's plus its tokens'.
func OpenShard(path string) (*Shard, error) {
	f, size, err := openRegular(path, "token file")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var hb [HeaderBytes]byte
	if _, err := io.ReadFull(f, hb[:]); err != nil {
		if m := binary.LittleEndian.Uint32(hb[:]); size < 4 || m != MagicUint16 && m != MagicUint32 {
			return nil, fmt.Errorf("tokens: %s is not an llm.c token file (it does not start with magic %d or %d)", path, MagicUint16, MagicUint32)
		}
		return nil, fmt.Errorf("tokens: %s is %d bytes, too short for an llm.c token file's %d-byte header", path, size, HeaderBytes)
	}
	h := func(i int) int64 { return int64(int32(binary.LittleEndian.Uint32(hb[4*i:]))) }
	s := &Shard{Path: path}
	switch magic, version := h(0), h(1); {
	case magic == MagicUint16 && version == VersionUint16:
		s.Width = 2
	case magic == MagicUint32 && version == VersionUint32:
		s.Width = 4
	case magic == MagicUint16 || magic == MagicUint32:
		return nil, fmt.Errorf("tokens: %s has magic %d with version %d; kvgpt reads version %d (uint16 tokens) of magic %d and version %d (uint32) of magic %d",
			path, magic, version, VersionUint16, MagicUint16, VersionUint32, MagicUint32)
	default:
		return nil, fmt.Errorf("tokens: %s is not an llm.c token file (magic %d, want %d or %d)", path, magic, MagicUint16, MagicUint32)
	}
	n := h(2)
	if n < 0 {
		return nil, fmt.Errorf("tokens: %s: the header counts %d tokens", path, n)
	}
	if want := HeaderBytes + n*int64(s.Width); size != want {
		return nil, fmt.Errorf("tokens: %s is %d bytes, but its header counts %d tokens of %d bytes (%d bytes in all): truncated or damaged",
			path, size, n, s.Width, want)
	}
	return s, s.mapTokens(f, HeaderBytes, n)
}

// OpenRaw memory-maps the headerless uint16 token file at path (nanoGPT's train.bin and val.bin).
func OpenRaw(path string) (*Shard, error) {
	f, size, err := openRegular(path, "token file")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if size%2 != 0 {
		return nil, fmt.Errorf("tokens: %s is %d bytes, an odd number: not a file of uint16 tokens", path, size)
	}
	s := &Shard{Path: path, Width: 2, Raw: true}
	return s, s.mapTokens(f, 0, size/2)
}

// Open opens the token file at path: an llm.c file if it starts with a header, else a nanoGPT
// uint16 file if its name ends in .bin.
func Open(path string) (*Shard, error) {
	f, _, err := openRegular(path, "token file")
	if err != nil {
		return nil, err
	}
	f.Close()
	if IsShard(path) {
		return OpenShard(path)
	}
	if strings.HasSuffix(path, ".bin") {
		return OpenRaw(path)
	}
	return nil, fmt.Errorf("tokens: %s is neither an llm.c token file nor a nanoGPT .bin file", path)
}

func (s *Shard) mapTokens(f *os.File, off, n int64) error {
	if n == 0 {
		return nil
	}
	m, err := mapFile(f, off+n*int64(s.Width))
	if err != nil {
		return fmt.Errorf("tokens: cannot map %s: %w", s.Path, err)
	}
	s.m = m
	b := m.data[off:]
	switch s.Width {
	case 2:
		s.Seq = Uint16s(bytesAs[uint16](b, int(n)))
	default:
		s.Seq = Uint32s(bytesAs[uint32](b, int(n)))
	}
	if m.mapped() {
		s.Seq.parts[0].mem = m.data
	}
	return nil
}

// openRegular opens path for reading if it is a regular file, with errors that name it as what.
func openRegular(path, what string) (*os.File, int64, error) {
	f, err := inputfile.Open(what, path, inputfile.NoLimit)
	if err != nil {
		return nil, 0, fmt.Errorf("tokens: %w", err)
	}
	return f.File, f.Size, nil
}

// ShardWriter writes an llm.c token file atomically: nothing appears at its path until Close.
type ShardWriter struct {
	f     *atomicfile.File
	path  string
	width int
	v     int // the vocabulary size: every id must be below it
	n     int64
	buf   []byte
}

// CreateShard starts the llm.c token file path for ids of a vocabulary of v tokens (uint16 if
// they fit, else uint32; see Width).
func CreateShard(path string, v int) (*ShardWriter, error) {
	f, err := atomicfile.Create(path)
	if err != nil {
		return nil, fmt.Errorf("tokens: cannot create %s: %w", path, err)
	}
	w := &ShardWriter{f: f, path: path, width: Width(v), v: v}
	if _, err := f.Write(make([]byte, HeaderBytes)); err != nil { // the header is written by Close
		f.Abort()
		return nil, fmt.Errorf("tokens: writing %s: %w", path, err)
	}
	return w, nil
}

// Len returns the number of tokens written.
func (w *ShardWriter) Len() int64 { return w.n }

// Write appends ids.
func (w *ShardWriter) Write(ids []int32) error {
	if w.n+int64(len(ids)) > MaxShardTokens {
		return fmt.Errorf("tokens: %s would hold more than %d tokens", w.path, MaxShardTokens)
	}
	w.buf = w.buf[:0]
	for i, id := range ids {
		if id < 0 || int(id) >= w.v {
			return fmt.Errorf("tokens: token %d at position %d of %s is outside the vocabulary of %d", id, w.n+int64(i), w.path, w.v)
		}
		if w.width == 2 {
			w.buf = binary.LittleEndian.AppendUint16(w.buf, uint16(id))
		} else {
			w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(id))
		}
	}
	if _, err := w.f.Write(w.buf); err != nil {
		return fmt.Errorf("tokens: writing %s: %w", w.path, err)
	}
	w.n += int64(len(ids))
	return nil
}

// Close writes the header and renames the file into place.
func (w *ShardWriter) Close() error {
	h := make([]byte, 12)
	magic, version := uint32(MagicUint16), uint32(VersionUint16)
	if w.width == 4 {
		magic, version = MagicUint32, VersionUint32
	}
	binary.LittleEndian.PutUint32(h, magic)
	binary.LittleEndian.PutUint32(h[4:], version)
	binary.LittleEndian.PutUint32(h[8:], uint32(w.n))
	if _, err := w.f.WriteAt(h, 0); err != nil {
		w.f.Abort()
		return fmt.Errorf("tokens: writing %s: %w", w.path, err)
	}
	if err := w.f.Commit(); err != nil {
		return fmt.Errorf("tokens: writing %s: %w", w.path, err)
	}
	return nil
}

// Abort removes the unfinished file.
func (w *ShardWriter) Abort() { w.f.Abort() }

// WriteShard writes ids as the llm.c token file path for a vocabulary of v tokens, atomically.
func WriteShard(path string, ids []int32, v int) error {
	w, err := CreateShard(path, v)
	if err != nil {
		return err
	}
	if err := w.Write(ids); err != nil {
		w.Abort()
		return err
	}
	return w.Close()
}

// Scan reads the file's tokens in order, in slices of up to 1<<20, and calls fn with each; it
// reads the file, not the mapping, so that a pass over a large file leaves no pages mapped into
// the process (kvgpt prepare).
func (s *Shard) Scan(fn func(ids []int32) error) error {
	f, err := os.Open(s.Path)
	if err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	defer f.Close()
	off := int64(HeaderBytes)
	if s.Raw {
		off = 0
	}
	const chunk = 1 << 20
	buf := make([]byte, chunk*s.Width)
	ids := make([]int32, chunk)
	for left := int64(s.Seq.Len()); left > 0; {
		n := min(left, chunk)
		b := buf[:n*int64(s.Width)]
		if _, err := f.ReadAt(b, off); err != nil {
			return fmt.Errorf("tokens: reading %s: %w", s.Path, err)
		}
		for i := range n {
			if s.Width == 2 {
				ids[i] = int32(binary.LittleEndian.Uint16(b[2*i:]))
			} else {
				ids[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
			}
		}
		if err := fn(ids[:n]); err != nil {
			return err
		}
		off += int64(len(b))
		left -= n
	}
	return nil
}

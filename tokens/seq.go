package tokens

import (
	"fmt"
	"sort"
	"unsafe"
)

// Seq is a sequence of token ids: ids in memory, the tokens of memory-mapped token files, or a
// concatenation of both. The zero Seq is empty. A Seq is a view: copying it copies no tokens.
type Seq struct {
	parts []part
	n     int
}

// part is one run of tokens of a Seq, in exactly one of the three widths.
type part struct {
	start int // index of the part's first token in the Seq
	i32   []int32
	u16   []uint16
	u32   []uint32
	mem   []byte // the file mapping u16 or u32 lie in (nil: memory): Read releases the pages it reads
}

func (p part) len() int { return len(p.i32) + len(p.u16) + len(p.u32) }

// Int32s returns the Seq of ids (not copied).
func Int32s(ids []int32) Seq { return seqOf(part{i32: ids}) }

// Uint16s returns the Seq of ids (not copied).
func Uint16s(ids []uint16) Seq { return seqOf(part{u16: ids}) }

// Uint32s returns the Seq of ids (not copied).
func Uint32s(ids []uint32) Seq { return seqOf(part{u32: ids}) }

func seqOf(p part) Seq {
	if p.len() == 0 {
		return Seq{}
	}
	return Seq{parts: []part{p}, n: p.len()}
}

// Concat returns the concatenation of seqs.
func Concat(seqs ...Seq) Seq {
	var s Seq
	for _, q := range seqs {
		for _, p := range q.parts {
			p.start = s.n
			s.parts = append(s.parts, p)
			s.n += p.len()
		}
	}
	return s
}

// Len returns the number of tokens.
func (s Seq) Len() int { return s.n }

// Read copies the tokens [off, off+len(dst)) into dst. It panics if they are not all in s.
func (s Seq) Read(dst []int32, off int) {
	if off < 0 || len(dst) > s.n-off {
		panic(fmt.Sprintf("tokens: Read of [%d, %d) from a sequence of %d tokens", off, off+len(dst), s.n))
	}
	i := sort.Search(len(s.parts), func(i int) bool { return s.parts[i].start+s.parts[i].len() > off })
	for len(dst) > 0 {
		p := s.parts[i]
		k := off - p.start
		var n int
		switch {
		case p.i32 != nil:
			n = copy(dst, p.i32[k:])
		case p.u16 != nil:
			src := p.u16[k:min(len(p.u16), k+len(dst))]
			for j, v := range src {
				dst[j] = int32(v)
			}
			n = len(src)
			if p.mem != nil {
				releasePages(p.mem, unsafe.Pointer(unsafe.SliceData(src)), 2*n)
			}
		default:
			src := p.u32[k:min(len(p.u32), k+len(dst))]
			for j, v := range src {
				dst[j] = int32(v)
			}
			n = len(src)
			if p.mem != nil {
				releasePages(p.mem, unsafe.Pointer(unsafe.SliceData(src)), 4*n)
			}
		}
		dst, off, i = dst[n:], off+n, i+1
	}
}

// Slice returns the tokens [off, off+n) of s as a Seq (a view, no copy). It panics if they are not
// all in s.
func (s Seq) Slice(off, n int) Seq {
	if off < 0 || n < 0 || n > s.n-off {
		panic(fmt.Sprintf("tokens: Slice [%d, %d) of a sequence of %d tokens", off, off+n, s.n))
	}
	var out Seq
	for _, p := range s.parts {
		lo, hi := max(off-p.start, 0), min(off+n-p.start, p.len())
		if lo >= hi {
			continue
		}
		q := part{start: out.n, mem: p.mem}
		switch {
		case p.i32 != nil:
			q.i32 = p.i32[lo:hi]
		case p.u16 != nil:
			q.u16 = p.u16[lo:hi]
		default:
			q.u32 = p.u32[lo:hi]
		}
		out.parts = append(out.parts, q)
		out.n += hi - lo
	}
	return out
}

// Int32s returns a copy of all of s's tokens. It reads the whole sequence: for small ones.
func (s Seq) Int32s() []int32 {
	ids := make([]int32, s.n)
	s.Read(ids, 0)
	return ids
}

// ResidentBytes returns the bytes of s's tokens held in process memory (those of Int32s Seqs);
// memory-mapped tokens are not counted: the operating system pages them in and out.
func (s Seq) ResidentBytes() int64 {
	var b int64
	for _, p := range s.parts {
		b += 4 * int64(len(p.i32))
	}
	return b
}

// CheckRange returns an error naming the first token of s[off:off+len(ids)] — whose values are ids —
// that is not in [0, v), or nil. what names the tokens in the message.
func CheckRange(what string, ids []int32, off, v int) error {
	for i, id := range ids {
		if id < 0 || int(id) >= v {
			return fmt.Errorf("%s %d at position %d is outside the vocabulary of %d tokens", what, id, off+i, v)
		}
	}
	return nil
}

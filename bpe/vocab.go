package bpe

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
)

// EndOfText is the text of the end-of-text token, the one special token of every vocabulary.
const EndOfText = "<|endoftext|>"

// Vocab is a byte-level BPE vocabulary: every token is a byte string, and the token's id is its
// rank. Encode cuts text into pieces (Split) and, within each piece, starts from one token per byte
// and repeatedly merges the adjacent pair whose concatenation is the token of lowest rank, the
// leftmost such pair on ties (tiktoken's rule); a piece that is itself a token is that token. The
// last id is EndOfText, a special token Encode never produces.
//
// A Vocab is immutable and safe for concurrent use.
type Vocab struct {
	name   string
	data   []byte   // the bytes of every token, in id order, EndOfText last
	offs   []uint32 // (V+1): the bytes of token id are data[offs[id]:offs[id+1]]
	byteID [256]int32
	whole  map[string]int32 // the bytes of a token → its id (EndOfText not included)
	pairs  map[uint64]int32 // pairKey(a, b) → the id of the token a's bytes + b's bytes, if any
	merges [][2]int32       // a trained vocabulary's merges: id 256+k is merges[k][0] + merges[k][1]
	cache  *sync.Pool       // of *pieceCache
}

// MaxTokenLen is the longest token, in bytes, a trained vocabulary may hold.
const MaxTokenLen = 256

// noMerge marks a pair whose concatenation is no token.
const noMerge = math.MaxInt32

// pairKey packs two token ids into one map key.
func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// newVocab makes a vocabulary of tokens (ids 0…len−1) and EndOfText (id len). Every byte must be a
// token, and no two tokens may be equal.
func newVocab(name string, tokens [][]byte, merges [][2]int32) (*Vocab, error) {
	v := &Vocab{
		name:   name,
		offs:   make([]uint32, 1, len(tokens)+2),
		whole:  make(map[string]int32, len(tokens)),
		merges: merges,
		cache:  &sync.Pool{New: func() any { return newPieceCache() }},
	}
	size := 0
	for _, t := range tokens {
		size += len(t)
	}
	if size+len(EndOfText) > math.MaxUint32 {
		return nil, fmt.Errorf("bpe: %s: the tokens hold %d bytes, too many", name, size)
	}
	v.data = make([]byte, 0, size+len(EndOfText))
	for i := range v.byteID {
		v.byteID[i] = -1
	}
	for id, t := range tokens {
		if len(t) == 0 {
			return nil, fmt.Errorf("bpe: %s: token %d is empty", name, id)
		}
		if prev, ok := v.whole[string(t)]; ok {
			return nil, fmt.Errorf("bpe: %s: tokens %d and %d are both %q", name, prev, id, t)
		}
		v.whole[string(t)] = int32(id)
		if len(t) == 1 {
			v.byteID[t[0]] = int32(id)
		}
		v.data = append(v.data, t...)
		v.offs = append(v.offs, uint32(len(v.data)))
	}
	v.data = append(v.data, EndOfText...)
	v.offs = append(v.offs, uint32(len(v.data)))
	for b, id := range v.byteID {
		if id < 0 {
			return nil, fmt.Errorf("bpe: %s: byte %#02x is not a token", name, b)
		}
	}
	// Every way of writing a token as the concatenation of two tokens is a pair that merges into it.
	v.pairs = make(map[uint64]int32, 4*len(tokens))
	for id, t := range tokens {
		for k := 1; k < len(t); k++ {
			a, okA := v.whole[string(t[:k])]
			b, okB := v.whole[string(t[k:])]
			if okA && okB {
				v.pairs[pairKey(a, b)] = int32(id)
			}
		}
	}
	return v, nil
}

// Name returns the vocabulary's name: "gpt2" or "bpe:N".
func (v *Vocab) Name() string { return v.name }

// Size returns the number of tokens, EndOfText included.
func (v *Vocab) Size() int { return len(v.offs) - 1 }

// EOT returns the id of EndOfText, the last id. Encode never produces it.
func (v *Vocab) EOT() int32 { return int32(v.Size() - 1) }

// TokenBytes returns the bytes of token id (for EOT, the text "<|endoftext|>"); the caller must not
// modify them. It panics if id is not in [0, Size()).
func (v *Vocab) TokenBytes(id int32) []byte {
	if id < 0 || int(id) >= v.Size() {
		panic(fmt.Sprintf("bpe: token id %d out of range [0, %d)", id, v.Size()))
	}
	lo, hi := v.offs[id], v.offs[id+1]
	return v.data[lo:hi:hi]
}

// Decode appends the bytes of the tokens ids to dst and returns it. Decode(nil, Encode(nil, x)) is
// x for every byte string x. It panics if an id is not in [0, Size()).
func (v *Vocab) Decode(dst []byte, ids []int32) []byte {
	for _, id := range ids {
		dst = append(dst, v.TokenBytes(id)...)
	}
	return dst
}

// Encode appends the tokens of text to dst and returns it. Any byte string encodes (invalid UTF-8
// byte for byte), and Decode gives it back exactly.
func (v *Vocab) Encode(dst []int32, text []byte) []int32 {
	c := v.cache.Get().(*pieceCache)
	for len(text) > 0 {
		n := pieceLen(text)
		dst = v.encodePiece(dst, text[:n], c)
		text = text[n:]
	}
	v.cache.Put(c)
	return dst
}

// encodePiece appends the tokens of one piece to dst.
func (v *Vocab) encodePiece(dst []int32, piece []byte, c *pieceCache) []int32 {
	if len(piece) == 1 {
		return append(dst, v.byteID[piece[0]])
	}
	var slot *cacheSlot
	if len(piece) <= cachedPieceLen {
		var key cacheSlot
		copy(key.key[:], piece)
		key.keyLen = uint8(len(piece))
		slot = c.slot(&key)
		if slot.keyLen == key.keyLen && slot.key == key.key {
			return append(dst, slot.ids[:slot.n]...)
		}
		slot.key, slot.keyLen, slot.n = key.key, key.keyLen, 0 // filled below if its ids fit
	}
	start := len(dst)
	if id, ok := v.whole[string(piece)]; ok {
		dst = append(dst, id)
	} else {
		for _, b := range piece {
			dst = append(dst, v.byteID[b])
		}
		if len(piece) <= scanPieceLen {
			dst = dst[:start+v.mergeScan(dst[start:])]
		} else {
			dst = dst[:start+v.mergeHeap(dst[start:])]
		}
	}
	if slot != nil {
		if ids := dst[start:]; len(ids) <= len(slot.ids) {
			slot.n = uint8(copy(slot.ids[:], ids))
		} else {
			slot.keyLen = 0 // too many tokens to keep: leave the slot empty
		}
	}
	return dst
}

// pair returns the id of the token that a and b merge into, or noMerge.
func (v *Vocab) pair(a, b int32) int32 {
	if id, ok := v.pairs[pairKey(a, b)]; ok {
		return id
	}
	return noMerge
}

// scanPieceLen is the longest piece mergeScan handles; longer ones go to mergeHeap.
const scanPieceLen = 64

// mergeScan merges parts (at most scanPieceLen tokens) in place by tiktoken's rule, finding each
// merge by a scan (quadratic, fast on short pieces), and returns how many tokens remain.
func (v *Vocab) mergeScan(parts []int32) int {
	n := len(parts)
	var ranks [scanPieceLen]int32 // ranks[i]: what parts[i] and parts[i+1] merge into
	for i := 0; i+1 < n; i++ {
		ranks[i] = v.pair(parts[i], parts[i+1])
	}
	for n > 1 {
		best, at := int32(noMerge), -1
		for i, r := range ranks[:n-1] {
			if r < best {
				best, at = r, i
			}
		}
		if at < 0 {
			break
		}
		parts[at] = best
		copy(parts[at+1:n-1], parts[at+2:n])
		if at+2 < n {
			copy(ranks[at+1:n-2], ranks[at+2:n-1])
		}
		n--
		if at+1 < n {
			ranks[at] = v.pair(parts[at], parts[at+1])
		}
		if at > 0 {
			ranks[at-1] = v.pair(parts[at-1], parts[at])
		}
	}
	return n
}

// mergeHeap merges parts in place by tiktoken's rule, as mergeScan does, in O(n log n): the parts
// form a linked list, and a heap holds the candidate merges by rank, then position.
func (v *Vocab) mergeHeap(parts []int32) int {
	n := int32(len(parts))
	next := make([]int32, n) // the next live part, or n
	prev := make([]int32, n) // the previous live part, or −1
	rank := make([]int32, n) // what part i merges into with the next part; noMerge for none
	h := make(mergeQueue, 0, n)
	for i := range n {
		next[i], prev[i], rank[i] = i+1, i-1, noMerge
		if i+1 < n {
			rank[i] = v.pair(parts[i], parts[i+1])
			if rank[i] != noMerge {
				h = append(h, candidate{rank[i], i})
			}
		}
	}
	h.init()
	for len(h) > 0 {
		top := h.pop()
		i := top.at
		if rank[i] != top.rank { // stale: part i merged since, or was merged away (rank noMerge)
			continue
		}
		j := next[i]
		parts[i], rank[j] = top.rank, noMerge
		next[i] = next[j]
		if next[j] < n {
			prev[next[j]] = i
		}
		for _, k := range [2]int32{prev[i], i} {
			if k < 0 {
				continue
			}
			rank[k] = noMerge
			if next[k] < n {
				rank[k] = v.pair(parts[k], parts[next[k]])
			}
			if rank[k] != noMerge {
				h.push(candidate{rank[k], k})
			}
		}
	}
	m := 0
	for i := int32(0); i < n; i = next[i] {
		parts[m] = parts[i]
		m++
	}
	return m
}

// candidate is a merge of the part at `at` with the next one into token `rank`.
type candidate struct{ rank, at int32 }

// mergeQueue is a binary min-heap of candidates, by rank and then position (leftmost first).
type mergeQueue []candidate

func (h mergeQueue) less(a, b int) bool {
	return h[a].rank < h[b].rank || h[a].rank == h[b].rank && h[a].at < h[b].at
}

func (h mergeQueue) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *mergeQueue) push(c candidate) {
	*h = append(*h, c)
	h.up(len(*h) - 1)
}

func (h *mergeQueue) pop() candidate {
	q := *h
	top := q[0]
	q[0] = q[len(q)-1]
	*h = q[:len(q)-1]
	h.down(0)
	return top
}

func (h mergeQueue) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			return
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (h mergeQueue) down(i int) {
	for {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if c+1 < len(h) && h.less(c+1, c) {
			c++
		}
		if !h.less(c, i) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// cachedPieceLen is the longest piece the piece cache keeps.
const cachedPieceLen = 16

// cacheBits sets the size of a piece cache: 1<<cacheBits slots of 44 bytes (352 KB). On tiny
// Shakespeare 8192 slots hit 86% of the 207,564 pieces of 2–16 bytes (at most 93% could hit: the
// rest are first sightings), twice as many slots 89%.
const cacheBits = 13

// cacheSlot holds the tokens of one piece of up to cachedPieceLen bytes.
type cacheSlot struct {
	key    [cachedPieceLen]byte // the piece, zero-padded
	keyLen uint8                // its length; 0 for an empty slot
	n      uint8
	ids    [6]int32 // ids[:n]: the piece's tokens
}

// pieceCache is a direct-mapped cache of the tokens of short pieces: in natural text a few
// thousand pieces make up most of it, and a hit costs a hash of 16 bytes and one compare. Each
// Encode call takes one from the Vocab's pool, so concurrent calls never share one.
type pieceCache struct {
	slots [1 << cacheBits]cacheSlot
}

func newPieceCache() *pieceCache { return new(pieceCache) }

// slot returns the slot of key's piece.
func (c *pieceCache) slot(key *cacheSlot) *cacheSlot {
	lo := binary.LittleEndian.Uint64(key.key[:8])
	hi := binary.LittleEndian.Uint64(key.key[8:])
	h := (lo^uint64(key.keyLen))*0x9e3779b97f4a7c15 ^ hi*0xc2b2ae3d27d4eb4f
	h ^= h >> 29
	return &c.slots[h*0x94d049bb133111eb>>(64-cacheBits)]
}

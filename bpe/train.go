package bpe

import (
	"fmt"
	"slices"
)

// MaxTrainSize is the largest vocabulary Train makes.
const MaxTrainSize = 1 << 20

// BPEName returns the name of a trained vocabulary of size tokens: "bpe:4096".
func BPEName(size int) string { return fmt.Sprintf("bpe:%d", size) }

// Train learns a byte-level BPE vocabulary of size tokens (257 ≤ size ≤ MaxTrainSize) from text:
// ids 0–255 are the bytes, ids 256 … size−2 the merges in the order learned, and id size−1
// EndOfText. text is cut into pieces by Split, and no merge crosses a piece. Each step merges, in
// every piece, the adjacent pair of tokens that occurs most often in the text (each piece counted
// as often as it occurs), occurrences taken left to right; ties go to the smallest pair of ids
// (left id first, then right id). So the same text and size give the same vocabulary on every run
// and machine. A pair whose token would be longer than MaxTokenLen bytes, or equal to an existing
// token, is never merged.
//
// progress, if not nil, is called after each merge with the merges done and the merges wanted
// (size−257); keep it cheap. It fails if text has too few distinct pairs for size tokens.
func Train(text []byte, size int, progress func(done, total int)) (*Vocab, error) {
	if size < 257 || size > MaxTrainSize {
		return nil, fmt.Errorf("bpe: a trained vocabulary has 257 to %d tokens (256 bytes, the merges, %s), not %d", MaxTrainSize, EndOfText, size)
	}
	if len(text) == 0 {
		return nil, fmt.Errorf("bpe: no text to train a vocabulary of %d tokens on", size)
	}
	t := newTrainer(text)
	total := size - 257
	for len(t.merges) < total {
		if !t.mergeBest() {
			return nil, fmt.Errorf("bpe: the text (%d bytes) has too few distinct pairs: merges possible %d, %s needs %d; use more text or fewer tokens",
				len(text), len(t.merges), BPEName(size), total)
		}
		if progress != nil {
			progress(len(t.merges), total)
		}
	}
	return newVocab(BPEName(size), t.tokens, t.merges)
}

// trainer holds the state of Train: the distinct pieces of the text as sequences of token ids
// (words), how often each adjacent pair of ids occurs, which words hold each pair, and a heap of
// pairs by count.
type trainer struct {
	sym    []int32 // the ids of all words, each word at sym[start[w] : start[w]+n[w]]
	start  []int32
	n      []int32
	count  []int64 // how often word w occurs in the text
	stamp  []int32 // the last merge that visited word w
	pairs  map[uint64]int64
	where  map[uint64][]int32 // the words that have held the pair (some may no longer)
	heap   pairHeap
	grown  []uint64        // the pairs whose count grew since the last push to the heap
	banned map[uint64]bool // pairs never to merge (too long, or an existing token)

	tokens [][]byte // the bytes of every token so far
	known  map[string]bool
	merges [][2]int32
}

func newTrainer(text []byte) *trainer {
	counts := make(map[string]int64)
	for piece := range Split(text) {
		counts[string(piece)]++
	}
	words := make([]string, 0, len(counts))
	for w := range counts {
		words = append(words, w)
	}
	slices.Sort(words)
	t := &trainer{
		start:  make([]int32, len(words)),
		n:      make([]int32, len(words)),
		count:  make([]int64, len(words)),
		stamp:  make([]int32, len(words)),
		pairs:  make(map[uint64]int64),
		where:  make(map[uint64][]int32),
		banned: make(map[uint64]bool),
		tokens: make([][]byte, 256),
		known:  make(map[string]bool),
	}
	for b := range t.tokens {
		t.tokens[b] = []byte{byte(b)}
		t.known[string(t.tokens[b])] = true
	}
	for w, s := range words {
		t.start[w], t.n[w], t.count[w], t.stamp[w] = int32(len(t.sym)), int32(len(s)), counts[s], -1
		for i := range len(s) {
			t.sym = append(t.sym, int32(s[i]))
			if i > 0 {
				t.add(int32(s[i-1]), int32(s[i]), counts[s], int32(w))
			}
		}
	}
	t.pushGrown()
	return t
}

// add adds delta occurrences of the pair (a, b), in word w.
func (t *trainer) add(a, b int32, delta int64, w int32) {
	k := pairKey(a, b)
	t.pairs[k] += delta
	if delta > 0 {
		t.grown = append(t.grown, k)
		t.where[k] = append(t.where[k], w)
	}
}

// pushGrown pushes each pair whose count grew onto the heap once, with its count now. A pair's
// count may also have shrunk since its entry was pushed: entries only overstate counts, and
// mergeBest corrects them as they come up.
func (t *trainer) pushGrown() {
	slices.Sort(t.grown)
	for _, k := range slices.Compact(t.grown) {
		if c := t.pairs[k]; c > 0 {
			t.heap.push(pairCount{c, int32(k >> 32), int32(uint32(k))})
		}
	}
	t.grown = t.grown[:0]
}

// mergeBest makes the most frequent pair a token and merges it everywhere; false if no pair is left.
func (t *trainer) mergeBest() bool {
	for len(t.heap) > 0 {
		top := t.heap.pop()
		k := pairKey(top.a, top.b)
		c := t.pairs[k]
		if c != top.count || c <= 0 || t.banned[k] {
			if c > 0 && c < top.count && !t.banned[k] {
				t.heap.push(pairCount{c, top.a, top.b}) // decremented since it was pushed
			}
			continue
		}
		tok := slices.Concat(t.tokens[top.a], t.tokens[top.b])
		if len(tok) > MaxTokenLen || t.known[string(tok)] {
			t.banned[k] = true
			continue
		}
		t.merge(top.a, top.b, int32(len(t.tokens)), int32(len(t.merges)))
		t.tokens = append(t.tokens, tok)
		t.known[string(tok)] = true
		t.merges = append(t.merges, [2]int32{top.a, top.b})
		return true
	}
	return false
}

// merge replaces each occurrence of (a, b) by id, left to right in every word that holds it,
// and updates the counts of the pairs around each occurrence.
func (t *trainer) merge(a, b, id, step int32) {
	k := pairKey(a, b)
	for _, w := range t.where[k] {
		if t.stamp[w] == step {
			continue // listed twice
		}
		t.stamp[w] = step
		s := t.sym[t.start[w] : t.start[w]+t.n[w]]
		c := t.count[w]
		out := 0
		for i := 0; i < len(s); {
			if i+1 < len(s) && s[i] == a && s[i+1] == b {
				if out > 0 {
					t.add(s[out-1], a, -c, w)
					t.add(s[out-1], id, c, w)
				}
				if i+2 < len(s) {
					t.add(b, s[i+2], -c, w)
					t.add(id, s[i+2], c, w)
				}
				t.pairs[k] -= c
				s[out] = id
				out, i = out+1, i+2
				continue
			}
			s[out] = s[i]
			out, i = out+1, i+1
		}
		t.n[w] = int32(out)
	}
	delete(t.where, k)
	delete(t.pairs, k)
	t.pushGrown()
}

// pairCount is a heap entry: the pair (a, b) occurred count times when it was pushed.
type pairCount struct {
	count int64
	a, b  int32
}

// before orders pairs for merging: the higher count first, then the smaller ids.
func (p pairCount) before(q pairCount) bool {
	if p.count != q.count {
		return p.count > q.count
	}
	if p.a != q.a {
		return p.a < q.a
	}
	return p.b < q.b
}

// pairHeap is a binary heap of pairCount, the pair to merge first on top.
type pairHeap []pairCount

func (h *pairHeap) push(p pairCount) {
	*h = append(*h, p)
	q := *h
	for i := len(q) - 1; i > 0; {
		up := (i - 1) / 2
		if !q[i].before(q[up]) {
			break
		}
		q[i], q[up] = q[up], q[i]
		i = up
	}
}

func (h *pairHeap) pop() pairCount {
	q := *h
	top := q[0]
	q[0] = q[len(q)-1]
	q = q[:len(q)-1]
	*h = q
	for i := 0; ; {
		c := 2*i + 1
		if c >= len(q) {
			break
		}
		if c+1 < len(q) && q[c+1].before(q[c]) {
			c++
		}
		if !q[c].before(q[i]) {
			break
		}
		q[i], q[c] = q[c], q[i]
		i = c
	}
	return top
}

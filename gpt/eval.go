package gpt

import (
	"fmt"
	"math"

	"github.com/kvgpt/kvgpt/nn"
	"github.com/kvgpt/kvgpt/tokens"
)

// EvalResult is the loss of a model over a token sequence.
type EvalResult struct {
	Tokens int64   // tokens predicted: all but the first of the sequence
	Loss   float64 // mean cross-entropy, nats per token
	Bytes  int64   // bytes of text the predicted tokens stand for (Tokenizer.TextBytes)
}

// Perplexity returns exp(Loss).
func (r EvalResult) Perplexity() float64 { return math.Exp(r.Loss) }

// BitsPerByte returns the loss in bits per byte of text: comparable across vocabularies, since
// every vocabulary encodes the same bytes (0 if the tokens stand for no bytes).
func (r EvalResult) BitsPerByte() float64 {
	if r.Bytes == 0 {
		return 0
	}
	return r.Loss * float64(r.Tokens) / math.Ln2 / float64(r.Bytes)
}

// Evaluator computes a model's loss over whole token sequences, B windows of the block size at a
// time. It allocates its buffers once (NewEvaluator).
type Evaluator struct {
	m              *Model
	B, T           int
	in, tg         nn.IntView // (B, T)
	losses         nn.View    // (B, T)
	hostIn, hostTg []int32    // (B, T)
	hostLoss       []float32  // (B, T)
	win            []int32    // (T+1)
}

// NewEvaluator allocates what Evaluate uses to run m on B windows at a time.
func NewEvaluator(m *Model, B int) (_ *Evaluator, err error) {
	T := m.Config.BlockSize
	if B < 1 {
		return nil, fmt.Errorf("gpt: evaluation batch size must be ≥ 1, got %d", B)
	}
	if err := m.Config.checkBatch(B, T); err != nil {
		return nil, err
	}
	defer nn.RecoverAllocError(&err, "gpt: the activations of an evaluation batch of B=%d × T=%d tokens do not fit; lower --batch-size", B, T)
	b, n := m.b, B*T
	e := &Evaluator{m: m, B: B, T: T}
	m.ensureActs(B, T)
	e.in, e.tg, e.losses = b.AllocInt(n), b.AllocInt(n), b.Alloc(n)
	e.hostIn, e.hostTg, e.hostLoss, e.win = make([]int32, n), make([]int32, n), make([]float32, n), make([]int32, T+1)
	return e, nil
}

// evalWindow is one window of an evaluation: the tokens [start, start+T] (T inputs and T shifted
// targets), of whose losses the first skip are not counted (another window counted them).
type evalWindow struct{ start, skip int }

// evalWindows returns the windows that predict every token of a sequence of n ≥ 2 tokens but the
// first exactly once: non-overlapping windows of T, then, for the rest, one window that ends at the
// last token and counts only the targets the others did not.
func evalWindows(n, T int) []evalWindow {
	k := (n - 1) / T
	w := make([]evalWindow, 0, k+1)
	for i := range k {
		w = append(w, evalWindow{start: i * T})
	}
	if r := n - 1 - k*T; r > 0 {
		w = append(w, evalWindow{start: n - 1 - T, skip: T - r})
	}
	return w
}

// Evaluate returns the loss of the model over seq, every token but the first predicted once with
// up to a block of context (windows of the block size, not overlapping but for the last), and the
// bytes of text its tokens stand for under tok. progress, if not nil, is called after each batch
// with the tokens predicted so far and in all. A token outside the vocabulary is an error.
func (e *Evaluator) Evaluate(seq tokens.Seq, tok Tokenizer, progress func(done, total int64)) (EvalResult, error) {
	n := seq.Len()
	if n < 2 {
		return EvalResult{}, fmt.Errorf("gpt: evaluation needs at least 2 tokens, got %d", n)
	}
	T := min(e.T, n-1)
	windows := evalWindows(n, T)
	V := e.m.Config.VocabSize
	var res EvalResult
	var sum float64
	for first := 0; first < len(windows); first += e.B {
		batch := windows[first:min(first+e.B, len(windows))]
		B := len(batch)
		win := e.win[:T+1]
		for i, w := range batch {
			seq.Read(win, w.start)
			if err := tokens.CheckRange("gpt: evaluation data: token", win, w.start, V); err != nil {
				return EvalResult{}, err
			}
			copy(e.hostIn[i*T:], win[:T])
			copy(e.hostTg[i*T:], win[1:])
		}
		in, tg, losses := e.in.Slice(0, B*T), e.tg.Slice(0, B*T), e.losses.Slice(0, B*T)
		e.m.b.UploadInt(in, e.hostIn[:B*T])
		e.m.b.UploadInt(tg, e.hostTg[:B*T])
		e.m.forward(in, tg, losses, B, T)
		e.m.b.Download(e.hostLoss[:B*T], losses)
		if err := e.m.b.Sync(); err != nil {
			return EvalResult{}, fmt.Errorf("gpt: evaluation: %w", err)
		}
		for i, w := range batch {
			for j := w.skip; j < T; j++ {
				sum += float64(e.hostLoss[i*T+j])
				res.Bytes += int64(tok.TextBytes(e.hostTg[i*T+j]))
				res.Tokens++
			}
		}
		if progress != nil {
			progress(res.Tokens, int64(n-1))
		}
	}
	e.m.haveTargets = false // the activations belong to no training micro-batch
	res.Loss = sum / float64(res.Tokens)
	if math.IsNaN(res.Loss) || math.IsInf(res.Loss, 0) {
		return res, fmt.Errorf("gpt: evaluation loss is %v: the checkpoint's weights are not usable", res.Loss)
	}
	return res, nil
}

// PlanEval returns the memory plan of evaluating a model of configuration c on B windows at a
// time (New, NewEvaluator, Evaluate), with dataBytes already in memory (the loaded checkpoint, the
// data's tokens).
func PlanEval(c Config, B int, dataBytes int64) (MemoryPlan, error) {
	if err := c.Validate(); err != nil {
		return MemoryPlan{}, err
	}
	if err := countable(c, B, 1, 0); err != nil {
		return MemoryPlan{}, err
	}
	p := modelPlan(c, B, false)
	rows := int64(B) * int64(c.BlockSize)
	p.Scratch = rows * f32                    // the losses
	p.Tokens = 2 * rows * f32                 // inputs, targets
	p.Copies = 2 * int64(c.NumParams()) * f32 // New's initial weights and decay mask
	p.Host = 3*rows*f32 + int64(c.BlockSize+1)*f32
	p.Data = dataBytes
	return p, nil
}

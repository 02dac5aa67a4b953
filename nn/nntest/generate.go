package nntest

import (
	"fmt"
	"math"

	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/theory"
)

// The generation cases: kvgpt's Generator (package gpt) on the backend under test, with its KV
// cache and without, run greedily past the block size so that the window slides, against the
// float64 reference transformer of package theory on the same windows. They check that the
// cached path — K and V rows written into the cache, AttentionDecodeForward against it, the
// prefill and the re-encoding of a slid window — computes what the whole window's forward pass
// computes, token after token.

// generateShape is a model shape and a generation: a prompt of Prompt tokens, Tokens new ones,
// windows of at most T that keep their last Keep tokens when they slide.
type generateShape struct {
	T, C, NH, V, L       int
	Prompt, Tokens, Keep int
}

// generateShapes: a window that slides every 6 tokens; and a prompt longer than the block with
// Keep = T, nanoGPT's crop at every token past the block.
var generateShapes = []generateShape{
	{T: 8, C: 12, NH: 3, V: 19, L: 2, Prompt: 3, Tokens: 20, Keep: 3},
	{T: 5, C: 8, NH: 2, V: 11, L: 1, Prompt: 7, Tokens: 9, Keep: 5},
}

func generateCase(s generateShape, mode string) Case {
	shape := fmt.Sprintf("T=%d/C=%d/NH=%d/V=%d/L=%d/prompt=%d/tokens=%d/keep=%d", s.T, s.C, s.NH, s.V, s.L, s.Prompt, s.Tokens, s.Keep)
	return Case{Op: "generate", Mode: mode, Shape: shape, run: func(e *env) {
		cfg := gpt.Config{NLayer: s.L, NHead: s.NH, NEmbd: s.C, BlockSize: s.T, VocabSize: s.V, QueryMode: gpt.QueryMode(mode)}
		m, weights := newGPTModel(e, cfg)
		prompt := e.tokens(s.Prompt, s.V)

		// The reference: greedy tokens, the logits they were chosen from and the slides, on
		// windows kept by the rule Generator documents.
		ref := reference(e, func() generateReference {
			r := generateReference{margin: math.Inf(1)}
			tr, err := theory.FromWeights(cfg, func(name string) ([]float64, error) { return weights[name], nil })
			if err != nil {
				panic(err)
			}
			window := append([]int32(nil), prompt[max(0, len(prompt)-s.T):]...)
			for i := range s.Tokens {
				seq := make([]int, len(window))
				for j, t := range window {
					seq[j] = int(t)
				}
				logits := tr.Logits(seq).Row(len(seq) - 1)
				r.logits = append(r.logits, logits...)
				next, margin := argmaxMargin(logits)
				r.tokens = append(r.tokens, float64(next))
				r.margin = math.Min(r.margin, margin)
				switch {
				case i == s.Tokens-1: // the last token is not run
				case len(window) == s.T: // full: slide to the last Keep tokens, next included
					window = append(append([]int32(nil), window[len(window)-(s.Keep-1):]...), next)
					r.slides++
				default:
					window = append(window, next)
				}
			}
			return r
		})
		if ref.margin < 1e-3 {
			panic(fmt.Sprintf("nntest: a greedy choice of the reference is a near tie (margin %.2g): the case cannot tell paths apart", ref.margin))
		}

		for _, noCache := range []bool{false, true} {
			path := map[bool]string{false: "KV cache", true: "no cache"}[noCache]
			// Teacher-forced: the reference's tokens in, the logits of every step out.
			g, err := m.NewGenerator(s.Keep, noCache)
			if err != nil {
				panic(err)
			}
			var got []float64
			logits, err := g.Start(prompt)
			for i := 0; err == nil; i++ {
				got = append(got, f64(logits)...)
				if i == s.Tokens-1 {
					break
				}
				logits, err = g.Next(int32(ref.tokens[i]))
			}
			if err != nil {
				panic(err)
			}
			e.compare("logits, "+path, got, ref.logits, tolForward, s.Tokens, s.V)
			e.compare("slides, "+path, []float64{float64(g.Slides())}, []float64{float64(ref.slides)}, Tolerance{})
			// Free-running: greedy generation chooses the reference's tokens.
			toks, err := m.Generate(prompt, gpt.SampleConfig{Tokens: s.Tokens, Keep: s.Keep, NoCache: noCache}, nil)
			if err != nil {
				panic(err)
			}
			e.compare("greedy tokens, "+path, f64i(toks), ref.tokens, Tolerance{})
		}
	}}
}

// generateReference is the float64 outcome of a generation case.
type generateReference struct {
	tokens []float64 // the greedy tokens
	logits []float64 // (tokens, V) the logits each was chosen from
	slides int       // times the window slid
	margin float64   // the smallest gap between a step's largest and second-largest logit
}

// argmaxMargin returns the index of the largest of x and its lead over the second largest.
func argmaxMargin(x []float64) (int32, float64) {
	best, second := 0, math.Inf(-1)
	for i, v := range x {
		if v > x[best] {
			best, second = i, x[best]
		} else if i != best && v > second {
			second = v
		}
	}
	return int32(best), x[best] - second
}

// f64i returns token ids as float64.
func f64i(x []int32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

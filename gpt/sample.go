package gpt

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// SampleConfig controls generation.
type SampleConfig struct {
	Tokens      int     // new tokens to generate
	Temperature float64 // ≥ 0; 1 samples the model's distribution, lower is greedier, 0 is greedy (argmax)
	TopK        int     // keep only the k most likely tokens; 0 keeps all
	// TopP keeps only the most likely tokens whose probabilities (after Temperature and TopK)
	// add up to at least TopP, 0 < TopP ≤ 1 (nucleus sampling); 0 or 1 keeps all.
	TopP float64
	Seed uint64
	// Keep is how many of the latest tokens the window keeps when it slides (see Generator):
	// 0 is half the block size; the block size itself slides at every token, as nanoGPT crops.
	Keep int
	// NoCache encodes the whole window for every new token instead of keeping a KV cache.
	NoCache bool
}

// Validate reports the first problem with sc, or nil.
func (sc SampleConfig) Validate() error {
	switch {
	case sc.Tokens < 0:
		return fmt.Errorf("gpt: tokens must be ≥ 0, got %d", sc.Tokens)
	case !(sc.Temperature >= 0) || math.IsInf(sc.Temperature, 0):
		return fmt.Errorf("gpt: temperature must be a finite number ≥ 0 (0: greedy), got %v", sc.Temperature)
	case sc.TopK < 0:
		return fmt.Errorf("gpt: top-k must be ≥ 0, got %d", sc.TopK)
	case !(sc.TopP >= 0 && sc.TopP <= 1):
		return fmt.Errorf("gpt: top-p must be in (0, 1], got %v", sc.TopP)
	case sc.Keep < 0:
		return fmt.Errorf("gpt: keep must be ≥ 0 (0: half the block size), got %d", sc.Keep)
	}
	return nil
}

// GenerateStats are what one generation did and how long it took.
type GenerateStats struct {
	Prompt     int           // tokens of the prompt (1 when it is empty: generation starts from token 0)
	Context    int           // of them, the tokens encoded first: the last BlockSize
	Prefill    time.Duration // encoding them, up to the logits of the first new token
	Tokens     int           // new tokens
	Generation time.Duration // from then to the last new token
	Slides     int           // times the window slid (each re-encoding the Keep tokens it keeps)
}

// Stream continues prompt (token ids, may be empty: generation then starts from token 0) by
// sc.Tokens tokens sampled from the model, over a window of at most BlockSize tokens that slides
// to its last sc.Keep when full (see Generator), and calls emit with each new token as it is
// drawn. It keeps none of them: memory does not grow with sc.Tokens. An error from emit stops the
// generation and is returned.
func (m *Model) Stream(prompt []int32, sc SampleConfig, emit func(int32) error) (st GenerateStats, err error) {
	if err := sc.Validate(); err != nil {
		return st, err
	}
	g, err := m.NewGenerator(sc.Keep, sc.NoCache)
	if err != nil {
		return st, err
	}
	if len(prompt) == 0 {
		prompt = []int32{0}
	}
	st.Prompt, st.Context = len(prompt), min(len(prompt), m.Config.BlockSize)
	if sc.Tokens == 0 {
		return st, nil
	}
	rng := rand.New(rand.NewPCG(sc.Seed, 0x73616d706c65)) // "sample"
	V := m.Config.VocabSize
	probs := make([]float64, V)
	idx := make([]int, V)
	start := time.Now()
	logits, err := g.Start(prompt)
	if err != nil {
		return st, err
	}
	st.Prefill = time.Since(start)
	start = time.Now()
	defer func() { st.Generation, st.Slides = time.Since(start), g.Slides() }()
	for i := range sc.Tokens {
		next, err := pick(logits, probs, idx, sc, rng)
		if err != nil {
			return st, err
		}
		st.Tokens++
		if err := emit(next); err != nil {
			return st, err
		}
		if i < sc.Tokens-1 {
			if logits, err = g.Next(next); err != nil {
				return st, err
			}
		}
	}
	return st, nil
}

// Generate is Stream that also returns the new tokens; emit may be nil.
func (m *Model) Generate(prompt []int32, sc SampleConfig, emit func(int32)) ([]int32, error) {
	var out []int32
	_, err := m.Stream(prompt, sc, func(id int32) error {
		out = append(out, id)
		if emit != nil {
			emit(id)
		}
		return nil
	})
	return out, err
}

// pick samples a token from logits with temperature, top-k and top-p; with temperature 0 it
// returns the argmax (the first, if several tie) and draws nothing from rng.
func pick(logits []float32, probs []float64, idx []int, sc SampleConfig, rng *rand.Rand) (int32, error) {
	if sc.Temperature == 0 {
		return argmax(logits)
	}
	for i := range idx {
		idx[i] = i
	}
	k := len(logits)
	nucleus := sc.TopP > 0 && sc.TopP < 1
	if (sc.TopK > 0 && sc.TopK < k) || nucleus {
		slices.SortFunc(idx, func(a, b int) int {
			switch {
			case logits[a] > logits[b]:
				return -1
			case logits[a] < logits[b]:
				return 1
			}
			return a - b
		})
	}
	if sc.TopK > 0 && sc.TopK < k {
		k = sc.TopK
	}
	mx := math.Inf(-1)
	for _, i := range idx[:k] {
		mx = math.Max(mx, float64(logits[i]))
	}
	if math.IsNaN(mx) || math.IsInf(mx, 0) {
		return 0, errors.New("gpt: the model produced non-finite logits")
	}
	sum := 0.0
	for j, i := range idx[:k] {
		probs[j] = math.Exp((float64(logits[i]) - mx) / sc.Temperature)
		sum += probs[j]
	}
	if nucleus { // the most likely tokens (idx is sorted) whose mass reaches TopP·sum
		cum := 0.0
		for j := range k {
			cum += probs[j]
			if cum >= sc.TopP*sum {
				k = j + 1
				break
			}
		}
		sum = cum
	}
	r := rng.Float64() * sum
	for j, i := range idx[:k] {
		r -= probs[j]
		if r < 0 {
			return int32(i), nil
		}
	}
	return int32(idx[k-1]), nil
}

// argmax returns the index of the largest of logits, the first if several tie. As pick, it fails
// on a NaN, or when the largest is infinite.
func argmax(logits []float32) (int32, error) {
	best := 0
	for i, x := range logits {
		if math.IsNaN(float64(x)) {
			return 0, errors.New("gpt: the model produced non-finite logits")
		}
		if x > logits[best] {
			best = i
		}
	}
	if math.IsInf(float64(logits[best]), 0) {
		return 0, errors.New("gpt: the model produced non-finite logits")
	}
	return int32(best), nil
}

package nn

// Buffer is a device allocation of float32 elements owned by a Backend. Only the backend that
// allocated a buffer may use it.
type Buffer interface {
	// Len reports the number of float32 elements in the buffer.
	Len() int
}

// IntBuffer is a device allocation of int32 elements (token ids) owned by a Backend.
type IntBuffer interface {
	// Len reports the number of int32 elements in the buffer.
	Len() int
}

// View is a contiguous range [Off, Off+N) of a Buffer. The zero View is empty.
type View struct {
	Buf Buffer
	Off int
	N   int
}

// Slice returns the sub-view of n elements starting at element off of v.
// It panics if the range is outside v.
func (v View) Slice(off, n int) View {
	if off < 0 || n < 0 || off+n > v.N {
		panic("nn: View.Slice out of range")
	}
	return View{Buf: v.Buf, Off: v.Off + off, N: n}
}

// IntView is a contiguous range [Off, Off+N) of an IntBuffer.
type IntView struct {
	Buf IntBuffer
	Off int
	N   int
}

// Slice returns the sub-view of n elements starting at element off of v.
// It panics if the range is outside v.
func (v IntView) Slice(off, n int) IntView {
	if off < 0 || n < 0 || off+n > v.N {
		panic("nn: IntView.Slice out of range")
	}
	return IntView{Buf: v.Buf, Off: v.Off + off, N: n}
}

// Strided is a matrix of rows read with a row stride: row r, column c is element
// V.Off + r·Stride + c of V.Buf. Attention takes q, k and v as Strided views, so one op serves
//
//   - the baseline model: q, k, v are column slices of one (B, T, 3C) QKV activation (Stride 3C,
//     offsets 0, C and 2C), and
//   - the query-free model: q is the (B, T, C) LN1 output itself (Stride C) and k, v are column
//     slices of a (B, T, 2C) KV activation (Stride 2C, offsets 0 and C).
//
// V.N counts the elements from the first element of row 0 to the end of the view; it must cover
// (rows−1)·Stride + cols elements.
type Strided struct {
	V      View
	Stride int
}

// Backend runs the ops of a GPT training step on one device. A Backend is not safe for concurrent
// use: one goroutine drives it.
//
// Every backward op accumulates (+=) into its gradient outputs.
type Backend interface {
	// Name reports the backend and its device, e.g. "cpu (gonum, 2 threads)".
	Name() string

	// Alloc returns a zeroed view of a new buffer of n float32 elements.
	Alloc(n int) View
	// AllocInt returns a zeroed view of a new buffer of n int32 elements.
	AllocInt(n int) IntView
	// Upload copies src (len dst.N) into dst.
	Upload(dst View, src []float32)
	// UploadInt copies src (len dst.N) into dst.
	UploadInt(dst IntView, src []int32)
	// Download waits for pending work and copies src into dst (len src.N).
	Download(dst []float32, src View)
	// Sync waits until all submitted work has finished and returns the first error the device
	// reported since the last Sync.
	Sync() error
	// Close releases the backend's device resources. Views of its buffers become invalid.
	Close() error

	// Zero sets every element of x to 0.
	Zero(x View)

	// EmbedForward: out[b,t,:] = wte[tokens[b,t],:] + wpe[t,:].
	//   out (B, T, C), tokens (B, T), wte (V, C), wpe (≥T, C)
	EmbedForward(out View, tokens IntView, wte, wpe View, B, T, C int)
	// EmbedBackward accumulates dwte[tokens[b,t],:] += dout[b,t,:] and dwpe[t,:] += dout[b,t,:].
	// The result does not depend on the order in which rows are processed.
	EmbedBackward(dwte, dwpe View, dout View, tokens IntView, B, T, C int)

	// LayerNormForward: out = (in − mean)·rstd·w per row, rstd = 1/√(var + 1e-5), biased variance;
	// it saves mean and rstd for the backward pass.
	//   out (N, C), mean (N), rstd (N), in (N, C), w (C)
	LayerNormForward(out, mean, rstd View, in, w View, N, C int)
	// LayerNormBackward accumulates din and dw.
	//   din (N, C), dw (C), dout (N, C), in (N, C), w (C), mean (N), rstd (N)
	LayerNormBackward(din, dw View, dout, in, w, mean, rstd View, N, C int)

	// MatmulForward: out = in·wᵀ (an nn.Linear without bias).
	//   out (N, OC), in (N, C), w (OC, C)
	MatmulForward(out View, in, w View, N, C, OC int)
	// MatmulBackward accumulates din += dout·w and dw += doutᵀ·in.
	//   din (N, C), dw (OC, C), dout (N, OC), in (N, C), w (OC, C)
	MatmulBackward(din, dw View, dout, in, w View, N, C, OC int)

	// AttentionForward is causal multi-head self-attention over rows read from q, k, v (each
	// (B·T) rows of C columns, see Strided): for head h with dh = C/NH,
	//   att[b,h,t,s] = softmax_s≤t(scale · q[b,t,h]·k[b,s,h]), zero for s > t,
	//   out[b,t,h]   = Σ_s att[b,h,t,s] · v[b,s,h].
	//   out (B, T, C), att (B, NH, T, T)
	AttentionForward(out, att View, q, k, v Strided, B, T, C, NH int, scale float32)
	// AttentionBackward accumulates dq, dk and dv (Strided like q, k, v; in the query-free model dq
	// is the gradient of the LN1 output itself). datt (B, NH, T, T) is scratch; its contents on
	// return are unspecified.
	//   dout (B, T, C), att (B, NH, T, T) as saved by AttentionForward
	AttentionBackward(dq, dk, dv Strided, datt View, dout, att View, q, k, v Strided, B, T, C, NH int, scale float32)
	// AttentionDecodeForward is AttentionForward for the newest position of one sequence, read
	// against the keys and values of its T positions so far (a KV cache, newest row last): the
	// query q at position T−1 attends to rows 0 … T−1 of k and v,
	//   att[h,s] = softmax_s<T(scale · q[h]·k[s,h]),   out[h] = Σ_s att[h,s] · v[s,h],
	// which is row T−1 of what AttentionForward computes (B = 1). Generation only: no backward.
	//   out (C), att (NH, T), q (C), k, v (T rows of C, see Strided)
	AttentionDecodeForward(out, att, q View, k, v Strided, T, C, NH int, scale float32)

	// GELUForward: out = ½·in·(1 + erf(in/√2)) (exact GELU).
	//   out (N), in (N)
	GELUForward(out, in View, N int)
	// GELUBackward accumulates din += dout·GELU'(in).
	GELUBackward(din View, dout, in View, N int)

	// ResidualForward: out = a + b.
	//   out (N), a (N), b (N)
	ResidualForward(out, a, b View, N int)
	// ResidualBackward accumulates da += dout and db += dout.
	ResidualBackward(da, db View, dout View, N int)

	// CrossEntropyForward: losses[i] = −log softmax(logits[i,:])[targets[i]].
	//   losses (N), logits (N, V), targets (N) with 0 ≤ target < V
	CrossEntropyForward(losses View, logits View, targets IntView, N, V int)
	// CrossEntropyBackward accumulates dlogits[i,:] += dlosses[i]·(softmax(logits[i,:]) − onehot(targets[i])).
	//   dlogits (N, V), dlosses (N), logits (N, V), targets (N)
	CrossEntropyBackward(dlogits View, dlosses View, logits View, targets IntView, N, V int)

	// AdamW updates params in place as PyTorch's torch.optim.AdamW does, at step t ≥ 1, using the
	// gradient g = gradScale·grads (gradScale carries gradient clipping):
	//   p ← p − lr·wd·decay·p;  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
	//   p ← p − lr·(m/(1−β1ᵗ)) / (√(v/(1−β2ᵗ)) + eps)
	// decay is a per-element mask (1 where weight decay applies, 0 elsewhere).
	//   params, grads, m, v, decay (N)
	AdamW(params, m, v View, grads, decay View, N int, h AdamWParams)

	// GradNorm writes the Euclidean norm of grads into out[0].
	//   out (≥1), grads (N)
	GradNorm(out View, grads View, N int)
}

// AdamWParams are the hyper-parameters of one AdamW step.
type AdamWParams struct {
	LR, Beta1, Beta2, Eps, WeightDecay float32
	GradScale                          float32 // multiplies every gradient (clipping); 1 for none
	Step                               int     // t ≥ 1
}

// Package theory holds float64 reference implementations that check the mathematics behind kvgpt's
// query-free transformer (arXiv 2510.23912) independently of the float32 training code:
//
//   - dense float64 matrices (Mat) with the few operations the checks need;
//   - a reference causal multi-head attention and three reference transformers (no LayerNorm with
//     the skip around attention only, no LayerNorm with both skips, and nanoGPT's pre-LayerNorm);
//   - the changes of basis that turn a model with a learned W_Q into one with W_Q = I;
//   - the statistics of attention logits at initialisation;
//   - FromGPT, the float64 twin of a kvgpt model (checked against it in the tests, used by the
//     experiment runner to measure attention logits, and, through FromWeights, the reference of the
//     conformance suite's whole-model cases), and the residual query of arXiv 2603.13381
//     (ResidualQuery, with its backward pass checked by finite differences); and
//   - the ReLU expressivity demo behind `kvgpt expressivity`: a residual block x + W₂·ReLU(W₁x) is
//     generically not a skip-free ReLU MLP of the same width.
//
// # Conventions
//
// Matrices act on row vectors from the right, as in the paper: a sequence is a (T, C) matrix X with
// one token per row, and a projection is X·W with W of shape (C, C'). (kvgpt's float32 code stores
// PyTorch nn.Linear weights (OC, C) and computes X·Wᵀ; the two layouts are transposes of each
// other.) Head h of a (T, C) activation owns the columns h·dh … (h+1)·dh−1, dh = C/NH.
//
// Nothing here is on a hot path: clarity wins over speed everywhere.
package theory

// crossentropy.metal — fused softmax + cross-entropy loss and its backward.
//
// One threadgroup of ROW_THREADS threads per row of logits; the reductions over the row go
// through row_max and row_sum (common.metal), so results do not depend on scheduling. A target
// outside [0, V) yields a NaN loss and NaN gradients for that row rather than an out-of-bounds read.

// CrossEntropyParams is the constant block of the cross-entropy kernels (Go: shaders.crossEntropyParams).
struct CrossEntropyParams {
    uint N;   // rows
    uint V;   // vocabulary size
};

// crossentropy_forward: losses[i] = logsumexp(logits[i, :]) − logits[i, targets[i]].
//   buffer(0) losses (N)   buffer(1) logits (N, V)   buffer(2) targets (N) int
//   buffer(3) CrossEntropyParams
//   grid (N, 1, 1) × 256 threads
kernel void crossentropy_forward(device float*                losses  [[buffer(0)]],
                                 device const float*          logits  [[buffer(1)]],
                                 device const int*            targets [[buffer(2)]],
                                 constant CrossEntropyParams& p       [[buffer(3)]],
                                 uint row  [[threadgroup_position_in_grid]],
                                 uint tid  [[thread_index_in_threadgroup]],
                                 uint sg   [[simdgroup_index_in_threadgroup]],
                                 uint lane [[thread_index_in_simdgroup]])
{
    threadgroup float scratch[ROW_THREADS / 32];
    device const float* l = logits + row * p.V;
    float mx = FLOAT_LOWEST;
    for (uint v = tid; v < p.V; v += ROW_THREADS) {
        mx = max(mx, l[v]);
    }
    mx = row_max(mx, scratch, sg, lane);
    float s = 0.0f;
    for (uint v = tid; v < p.V; v += ROW_THREADS) {
        s += exp(l[v] - mx);
    }
    s = row_sum(s, scratch, sg, lane);
    if (tid == 0) {
        const int target = targets[row];
        losses[row] = (target >= 0 && uint(target) < p.V) ? log(s) + mx - l[target] : NAN;
    }
}

// crossentropy_backward: dlogits[i, v] += dlosses[i]·(softmax(logits[i, :])[v] − [v = targets[i]]).
//   buffer(0) dlogits (N, V)   buffer(1) dlosses (N)   buffer(2) logits (N, V)
//   buffer(3) targets (N) int  buffer(4) CrossEntropyParams
//   grid (N, 1, 1) × 256 threads
kernel void crossentropy_backward(device float*                dlogits [[buffer(0)]],
                                  device const float*          dlosses [[buffer(1)]],
                                  device const float*          logits  [[buffer(2)]],
                                  device const int*            targets [[buffer(3)]],
                                  constant CrossEntropyParams& p       [[buffer(4)]],
                                  uint row  [[threadgroup_position_in_grid]],
                                  uint tid  [[thread_index_in_threadgroup]],
                                  uint sg   [[simdgroup_index_in_threadgroup]],
                                  uint lane [[thread_index_in_simdgroup]])
{
    threadgroup float scratch[ROW_THREADS / 32];
    device const float* l = logits + row * p.V;
    device float*       dl = dlogits + row * p.V;
    float mx = FLOAT_LOWEST;
    for (uint v = tid; v < p.V; v += ROW_THREADS) {
        mx = max(mx, l[v]);
    }
    mx = row_max(mx, scratch, sg, lane);
    float s = 0.0f;
    for (uint v = tid; v < p.V; v += ROW_THREADS) {
        s += exp(l[v] - mx);
    }
    s = row_sum(s, scratch, sg, lane);
    const int target = targets[row];
    const float bad = (target >= 0 && uint(target) < p.V) ? 0.0f : NAN;
    const float d = dlosses[row];
    const float inv = 1.0f / s;
    for (uint v = tid; v < p.V; v += ROW_THREADS) {
        const float prob = exp(l[v] - mx) * inv;
        dl[v] += d * (prob - (int(v) == target ? 1.0f : 0.0f) + bad);
    }
}

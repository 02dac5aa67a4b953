// attention_decode.metal — attention for the newest position of one sequence against its KV cache
// (generation, both query modes): nn.Backend.AttentionDecodeForward.
//
// The query q (C) is the newest position's: in the baseline model its Q row, in the query-free
// model its LN1 output row. k and v arrive as (pointer, row stride): gpt's generator binds the
// columns of its per-layer cache of [K V] rows (stride 2C); positions 0 … T−1 are cached, the
// newest last. Rows past T−1 (the cache's capacity) are never read.
//
//   att[h, s] = softmax_s<T(scale · q[h]·k[s, h]),   out[h] = Σ_s att[h, s]·v[s, h]
//
// One threadgroup of ROW_THREADS (256) threads per head, three passes over the keys:
//   1. scores: simdgroup g takes keys s ≡ g (mod 8); its 32 lanes split the dot product over the
//      head's dh columns (reads of k are coalesced) and lane 0 writes scale·q·k into att;
//   2. softmax: the threadgroup's max and sum (row_max, row_sum of common.metal), thread i taking
//      keys s ≡ i (mod 256), in place in att;
//   3. values: thread (i, g) sums att[s]·v[s, i] over keys s ≡ g (mod P), P = ⌊256 / w⌋ partitions
//      of the w ≤ 256 columns of a pass (every column in one pass when dh ≤ 256); the P partial
//      sums of a column are added in order 0 … P−1 from threadgroup memory.
// Passes 2 and 3 read att that other threads wrote to device memory: each is preceded by a
// threadgroup_barrier(mem_flags::mem_device). Per step a head reads its T·2·dh cached floats once
// (k in pass 1, v in pass 3) and T·3 floats of att.

// AttnDecodeParams is the constant block of attention_decode_forward (Go: shaders.AttentionDecodeForward).
struct AttnDecodeParams {
    uint  T;       // cached positions, the newest is the query's
    uint  dh;      // head size C/NH
    uint  ks;      // row stride of k
    uint  vs;      // row stride of v
    float scale;   // logit scale, e.g. 1/√dh
};

// attention_decode_forward: out[h] and att[h, :] for head h = the threadgroup.
//   buffer(0) out (C)   buffer(1) att (NH, T)   buffer(2) q (C)   buffer(3) k (strided)
//   buffer(4) v (strided)   buffer(5) AttnDecodeParams
//   grid (NH, 1, 1) × 256 threads
kernel void attention_decode_forward(device float*              out  [[buffer(0)]],
                                     device float*              att  [[buffer(1)]],
                                     device const float*        q    [[buffer(2)]],
                                     device const float*        k    [[buffer(3)]],
                                     device const float*        v    [[buffer(4)]],
                                     constant AttnDecodeParams& p    [[buffer(5)]],
                                     uint h    [[threadgroup_position_in_grid]],
                                     uint tid  [[thread_index_in_threadgroup]],
                                     uint sg   [[simdgroup_index_in_threadgroup]],
                                     uint lane [[thread_index_in_simdgroup]])
{
    threadgroup float scratch[ROW_THREADS / 32];
    threadgroup float part[ROW_THREADS];
    const uint dh = p.dh;
    device const float* qh = q + h * dh;
    device const float* kh = k + h * dh;
    device const float* vh = v + h * dh;
    device float*       a  = att + h * p.T;

    // 1. scores
    float mx = FLOAT_LOWEST;
    for (uint s = sg; s < p.T; s += ROW_THREADS / 32) {
        device const float* ks = kh + s * p.ks;
        float d = 0.0f;
        for (uint i = lane; i < dh; i += 32) {
            d += qh[i] * ks[i];
        }
        d = p.scale * simd_sum(d);
        if (lane == 0) {
            a[s] = d;
        }
        mx = max(mx, d);
    }
    mx = row_max(mx, scratch, sg, lane);
    threadgroup_barrier(mem_flags::mem_device);

    // 2. softmax, in place
    float sum = 0.0f;
    for (uint s = tid; s < p.T; s += ROW_THREADS) {
        const float e = exp(a[s] - mx);
        a[s] = e;
        sum += e;
    }
    const float inv = 1.0f / row_sum(sum, scratch, sg, lane);
    for (uint s = tid; s < p.T; s += ROW_THREADS) {
        a[s] *= inv;
    }
    threadgroup_barrier(mem_flags::mem_device);

    // 3. out = att · v, w columns per pass
    for (uint c0 = 0; c0 < dh; c0 += ROW_THREADS) {
        const uint w = min(dh - c0, ROW_THREADS);
        const uint P = ROW_THREADS / w;
        const uint i = tid % w, g = tid / w;
        if (g < P) {
            float o = 0.0f;
            for (uint s = g; s < p.T; s += P) {
                o += a[s] * vh[s * p.vs + c0 + i];
            }
            part[g * w + i] = o;
        }
        threadgroup_barrier(mem_flags::mem_threadgroup);
        if (tid < w) {
            float o = 0.0f;
            for (uint j = 0; j < P; ++j) {
                o += part[j * w + tid];
            }
            out[h * dh + c0 + tid] = o;
        }
        threadgroup_barrier(mem_flags::mem_threadgroup);   // part is reused by the next pass
    }
}

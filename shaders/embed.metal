// embed.metal — token + position embedding and its deterministic backward.
//
// The backward gives each row of dwte (and of dwpe) to one threadgroup, whose threads own the
// columns; every thread walks the tokens in order and adds the matching rows of dout. No float
// atomics: the sums are formed in the same order on every run. The cost is a pass over the
// (B·T) token ids per vocabulary row, cheap for byte- and character-level vocabularies.

// EmbedParams is the constant block of the embedding kernels (Go: shaders.embedParams).
struct EmbedParams {
    uint B, T, C;
    uint V;   // rows of wte; tokens outside [0, V) embed as NaN and get no gradient
};

// embed_forward: out[b,t,:] = wte[tokens[b,t],:] + wpe[t,:].
//   buffer(0) out (B, T, C)   buffer(1) tokens (B, T) int   buffer(2) wte (V, C)   buffer(3) wpe (≥T, C)
//   buffer(4) EmbedParams
//   grid (⌈B·T·C/256⌉ capped at 65535, 1, 1) × 256 threads; grid-stride loop
kernel void embed_forward(device float*         out    [[buffer(0)]],
                          device const int*     tokens [[buffer(1)]],
                          device const float*   wte    [[buffer(2)]],
                          device const float*   wpe    [[buffer(3)]],
                          constant EmbedParams& p      [[buffer(4)]],
                          uint gid     [[thread_position_in_grid]],
                          uint threads [[threads_per_grid]])
{
    const uint n = p.B * p.T * p.C;
    for (uint i = gid; i < n; i += threads) {
        const uint bt = i / p.C, c = i % p.C, t = bt % p.T;
        const int tok = tokens[bt];
        const float e = (tok >= 0 && uint(tok) < p.V) ? wte[uint(tok) * p.C + c] : NAN;
        out[i] = e + wpe[t * p.C + c];
    }
}

// embed_backward: dwte[v,:] += Σ_{(b,t): tokens[b,t] = v} dout[b,t,:] for threadgroups v < V and
// dwpe[t,:] += Σ_b dout[b,t,:] for threadgroups V + t.
//   buffer(0) dwte (V, C)   buffer(1) dwpe (≥T, C)   buffer(2) dout (B, T, C)   buffer(3) tokens (B, T) int
//   buffer(4) EmbedParams
//   grid (V + T, 1, 1) × min(256, ⌈C/32⌉·32) threads
kernel void embed_backward(device float*         dwte   [[buffer(0)]],
                           device float*         dwpe   [[buffer(1)]],
                           device const float*   dout   [[buffer(2)]],
                           device const int*     tokens [[buffer(3)]],
                           constant EmbedParams& p      [[buffer(4)]],
                           uint row [[threadgroup_position_in_grid]],
                           uint tid [[thread_index_in_threadgroup]],
                           uint nt  [[threads_per_threadgroup]])
{
    if (row < p.V) {
        for (uint c = tid; c < p.C; c += nt) {
            float s = 0.0f;
            for (uint i = 0; i < p.B * p.T; ++i) {
                if (tokens[i] == int(row)) {
                    s += dout[i * p.C + c];
                }
            }
            dwte[row * p.C + c] += s;
        }
    } else {
        const uint t = row - p.V;
        for (uint c = tid; c < p.C; c += nt) {
            float s = 0.0f;
            for (uint b = 0; b < p.B; ++b) {
                s += dout[(b * p.T + t) * p.C + c];
            }
            dwpe[t * p.C + c] += s;
        }
    }
}

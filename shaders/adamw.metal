// adamw.metal — one AdamW step over a flat block of parameters, as torch.optim.AdamW computes it.

// AdamWParams is the constant block of adamw_forward (Go: shaders.adamWParams). The bias
// corrections are computed on the host in float64.
struct AdamWParams {
    uint  n;
    float lr;
    float beta1, beta2, eps;
    float weight_decay;
    float grad_scale;   // multiplies every gradient (clipping); 1 for none
    float step_size;    // lr / (1 − β1ᵗ)
    float bc2_sqrt;     // √(1 − β2ᵗ)
};

// adamw_forward: with g = grad_scale·grads,
//   p ← p − lr·wd·decay·p;  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;
//   p ← p − step_size·m / (√v / bc2_sqrt + eps).
//   buffer(0) params (n)   buffer(1) m (n)   buffer(2) v (n)   buffer(3) grads (n)   buffer(4) decay (n)
//   buffer(5) AdamWParams
//   grid (⌈n/256⌉ capped at 65535, 1, 1) × 256 threads; grid-stride loop
kernel void adamw_forward(device float*         params [[buffer(0)]],
                          device float*         m      [[buffer(1)]],
                          device float*         v      [[buffer(2)]],
                          device const float*   grads  [[buffer(3)]],
                          device const float*   decay  [[buffer(4)]],
                          constant AdamWParams& h      [[buffer(5)]],
                          uint gid     [[thread_position_in_grid]],
                          uint threads [[threads_per_grid]])
{
    for (uint i = gid; i < h.n; i += threads) {
        const float g = h.grad_scale * grads[i];
        float p = params[i];
        p -= h.lr * h.weight_decay * decay[i] * p;
        const float mi = h.beta1 * m[i] + (1.0f - h.beta1) * g;
        const float vi = h.beta2 * v[i] + (1.0f - h.beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        params[i] = p - h.step_size * mi / (sqrt(vi) / h.bc2_sqrt + h.eps);
    }
}

// matmul.metal — tiled matrix products on simdgroup_float8x8.
//
// One tiled GEMM body, gemm_tile, computes C (+)= op(A)·op(B) for a 64×64 tile of C per threadgroup
// of 128 threads (2×2 simdgroups, each owning a 32×32 block = 4×4 accumulators of 8×8). It walks
// the inner dimension in steps of BK = 16, staging A and B tiles in padded threadgroup memory.
// Edge tiles are bounds-checked: loads outside the matrices read 0, and the 8×8 blocks that
// straddle an edge are written through a small per-simdgroup staging area.
//
// The matmul kernels below and the batched products of attention.metal are instances of it
// (attention.metal relies on this file coming first in the library source, see shaders.Source).
//
// A is M×K, B is K×N, C is M×N, all row-major with row strides lda, ldb, ldc. "Transposed"
// means the operand is stored the other way round: op(A)[m][k] = A[k·lda + m] and
// op(B)[k][n] = B[n·ldb + k]. For matrix products of a batch (attention), threadgroup z selects
// batch item (z / nh, z % nh), whose element offsets are z/nh·s0 + z%nh·s1 for each operand.

// GemmParams is the constant block of every gemm_tile instance (Go: shaders.gemmParams).
struct GemmParams {
    uint M, N, K;           // C is M×N; the inner dimension is K
    uint lda, ldb, ldc;     // row strides (elements) of A, B, C as stored
    uint nh;                // batch index z splits into (z / nh, z % nh)
    uint sa0, sa1;          // A offset of batch item z: (z / nh)·sa0 + (z % nh)·sa1
    uint sb0, sb1;          // same for B
    uint sc0, sc1;          // same for C
    uint causal;            // GEMM_FULL, GEMM_LOWER_C, GEMM_LOWER_A or GEMM_UPPER_A
};

// Causal shortcuts for attention (M = N or M = K = T): which tiles are known to be zero or unused.
enum : uint {
    GEMM_FULL = 0,      // no shortcut
    GEMM_LOWER_C = 1,   // only C[m][n] with n ≤ m is needed: skip tiles strictly above the diagonal
    GEMM_LOWER_A = 2,   // op(A)[m][k] = 0 for k > m: stop the k loop after the tile's last row
    GEMM_UPPER_A = 3,   // op(A)[m][k] = 0 for k < m: start the k loop at the tile's first row
};

constant constexpr uint GEMM_BM = 64;      // tile rows (M)
constant constexpr uint GEMM_BN = 64;      // tile columns (N)
constant constexpr uint GEMM_BK = 16;      // inner-dimension step
constant constexpr uint GEMM_PAD = 4;      // padding of each threadgroup tile row (bank conflicts)
constant constexpr uint GEMM_THREADS = 128;
// Threadgroup tile sizes (floats): a tile is [BM][BK+PAD] or, transposed, [BK][BM+PAD]; the
// first is the larger, so one size serves both layouts.
constant constexpr uint GEMM_TILE_A = GEMM_BM * (GEMM_BK + GEMM_PAD);
constant constexpr uint GEMM_TILE_B = GEMM_BN * (GEMM_BK + GEMM_PAD);
constant constexpr uint GEMM_STAGE = 4 * 64;   // one 8×8 staging block per simdgroup

// gemm_load_a stages op(A)[m0:m0+BM][k0:k0+BK] in As: [m][k] (row BK+PAD) when A is stored
// row-major, [k][m] (row BM+PAD) when it is stored transposed, so global reads are coalesced.
template <bool TA>
static void gemm_load_a(threadgroup float* As, device const float* A, constant GemmParams& p,
                        uint m0, uint k0, uint tid)
{
    for (uint i = tid; i < GEMM_BM * GEMM_BK; i += GEMM_THREADS) {
        if (!TA) {
            uint r = i / GEMM_BK, c = i % GEMM_BK, m = m0 + r, k = k0 + c;
            As[r * (GEMM_BK + GEMM_PAD) + c] = (m < p.M && k < p.K) ? A[m * p.lda + k] : 0.0f;
        } else {
            uint r = i / GEMM_BM, c = i % GEMM_BM, k = k0 + r, m = m0 + c;
            As[r * (GEMM_BM + GEMM_PAD) + c] = (m < p.M && k < p.K) ? A[k * p.lda + m] : 0.0f;
        }
    }
}

// gemm_load_b stages op(B)[k0:k0+BK][n0:n0+BN] in Bs: [k][n] (row BN+PAD) when B is stored
// row-major, [n][k] (row BK+PAD) when it is stored transposed.
template <bool TB>
static void gemm_load_b(threadgroup float* Bs, device const float* B, constant GemmParams& p,
                        uint n0, uint k0, uint tid)
{
    for (uint i = tid; i < GEMM_BN * GEMM_BK; i += GEMM_THREADS) {
        if (!TB) {
            uint r = i / GEMM_BN, c = i % GEMM_BN, k = k0 + r, n = n0 + c;
            Bs[r * (GEMM_BN + GEMM_PAD) + c] = (n < p.N && k < p.K) ? B[k * p.ldb + n] : 0.0f;
        } else {
            uint r = i / GEMM_BK, c = i % GEMM_BK, n = n0 + r, k = k0 + c;
            Bs[r * (GEMM_BK + GEMM_PAD) + c] = (n < p.N && k < p.K) ? B[n * p.ldb + k] : 0.0f;
        }
    }
}

// gemm_tile computes the C tile of threadgroup tg: C = op(A)·op(B), or C += op(A)·op(B) when ACC.
// All 128 threads of the threadgroup must call it (it contains threadgroup barriers).
template <bool TA, bool TB, bool ACC>
static void gemm_tile(device float* C, device const float* A, device const float* B,
                      constant GemmParams& p,
                      threadgroup float* As, threadgroup float* Bs, threadgroup float* stage,
                      uint3 tg, uint tid, uint sg, uint lane)
{
    const uint m0 = tg.y * GEMM_BM, n0 = tg.x * GEMM_BN;
    if (p.causal == GEMM_LOWER_C && n0 >= m0 + GEMM_BM) {
        return;   // whole threadgroup: the tile lies strictly above the diagonal
    }
    const uint zo = tg.z / p.nh, zi = tg.z % p.nh;
    A += zo * p.sa0 + zi * p.sa1;
    B += zo * p.sb0 + zi * p.sb1;
    C += zo * p.sc0 + zi * p.sc1;

    const uint sm = (sg / 2) * 32, sn = (sg % 2) * 32;   // this simdgroup's 32×32 block
    stage += sg * 64;   // this simdgroup's 8×8 staging block
    simdgroup_float8x8 acc[4][4];
    for (uint i = 0; i < 4; ++i) {
        for (uint j = 0; j < 4; ++j) {
            acc[i][j] = make_filled_simdgroup_matrix<float, 8, 8>(0.0f);
            if (!ACC) {
                continue;
            }
            const uint r0 = m0 + sm + 8 * i, c0 = n0 + sn + 8 * j;
            if (r0 >= p.M || c0 >= p.N) {
                continue;
            }
            device float* Cp = C + r0 * p.ldc + c0;
            if (r0 + 8 <= p.M && c0 + 8 <= p.N) {
                simdgroup_load(acc[i][j], Cp, p.ldc);
            } else {
                for (uint e = lane; e < 64; e += 32) {
                    const uint r = e / 8, c = e % 8;
                    stage[e] = (r0 + r < p.M && c0 + c < p.N) ? Cp[r * p.ldc + c] : 0.0f;
                }
                simdgroup_barrier(mem_flags::mem_threadgroup);
                simdgroup_load(acc[i][j], stage, 8);
                simdgroup_barrier(mem_flags::mem_threadgroup);
            }
        }
    }

    uint kbeg = 0, kend = p.K;
    if (p.causal == GEMM_LOWER_A) {
        kend = min(p.K, m0 + GEMM_BM);
    } else if (p.causal == GEMM_UPPER_A) {
        kbeg = m0 / GEMM_BK * GEMM_BK;
    }
    for (uint k0 = kbeg; k0 < kend; k0 += GEMM_BK) {
        gemm_load_a<TA>(As, A, p, m0, k0, tid);
        gemm_load_b<TB>(Bs, B, p, n0, k0, tid);
        threadgroup_barrier(mem_flags::mem_threadgroup);
        for (uint kk = 0; kk < GEMM_BK; kk += 8) {
            simdgroup_float8x8 a[4], b[4];
            for (uint i = 0; i < 4; ++i) {
                if (!TA) {
                    simdgroup_load(a[i], As + (sm + 8 * i) * (GEMM_BK + GEMM_PAD) + kk, GEMM_BK + GEMM_PAD);
                } else {
                    simdgroup_load(a[i], As + kk * (GEMM_BM + GEMM_PAD) + sm + 8 * i, GEMM_BM + GEMM_PAD,
                                   ulong2(0, 0), true);
                }
            }
            for (uint j = 0; j < 4; ++j) {
                if (!TB) {
                    simdgroup_load(b[j], Bs + kk * (GEMM_BN + GEMM_PAD) + sn + 8 * j, GEMM_BN + GEMM_PAD);
                } else {
                    simdgroup_load(b[j], Bs + (sn + 8 * j) * (GEMM_BK + GEMM_PAD) + kk, GEMM_BK + GEMM_PAD,
                                   ulong2(0, 0), true);
                }
            }
            for (uint i = 0; i < 4; ++i) {
                for (uint j = 0; j < 4; ++j) {
                    simdgroup_multiply_accumulate(acc[i][j], a[i], b[j], acc[i][j]);
                }
            }
        }
        threadgroup_barrier(mem_flags::mem_threadgroup);   // the next k step overwrites As, Bs
    }

    for (uint i = 0; i < 4; ++i) {
        for (uint j = 0; j < 4; ++j) {
            const uint r0 = m0 + sm + 8 * i, c0 = n0 + sn + 8 * j;
            if (r0 >= p.M || c0 >= p.N) {
                continue;
            }
            device float* Cp = C + r0 * p.ldc + c0;
            if (r0 + 8 <= p.M && c0 + 8 <= p.N) {
                simdgroup_store(acc[i][j], Cp, p.ldc);
            } else {
                simdgroup_store(acc[i][j], stage, 8);
                simdgroup_barrier(mem_flags::mem_threadgroup);
                for (uint e = lane; e < 64; e += 32) {
                    const uint r = e / 8, c = e % 8;
                    if (r0 + r < p.M && c0 + c < p.N) {
                        Cp[r * p.ldc + c] = stage[e];
                    }
                }
                simdgroup_barrier(mem_flags::mem_threadgroup);
            }
        }
    }
}

// matmul_forward: out = in·wᵀ. M = N rows, N = OC, K = C; B = w stored transposed.
//   buffer(0) out (N, OC)   buffer(1) in (N, C)   buffer(2) w (OC, C)   buffer(3) GemmParams
//   grid (⌈OC/64⌉, ⌈N/64⌉, 1) × 128 threads
kernel void matmul_forward(device float*          out  [[buffer(0)]],
                           device const float*    in   [[buffer(1)]],
                           device const float*    w    [[buffer(2)]],
                           constant GemmParams&   p    [[buffer(3)]],
                           uint3 tg   [[threadgroup_position_in_grid]],
                           uint  tid  [[thread_index_in_threadgroup]],
                           uint  sg   [[simdgroup_index_in_threadgroup]],
                           uint  lane [[thread_index_in_simdgroup]])
{
    threadgroup float As[GEMM_TILE_A];
    threadgroup float Bs[GEMM_TILE_B];
    threadgroup float stage[GEMM_STAGE];
    gemm_tile<false, true, false>(out, in, w, p, As, Bs, stage, tg, tid, sg, lane);
}

// matmul_backward_din: din += dout·w. M = N rows, N = C, K = OC.
//   buffer(0) din (N, C)   buffer(1) dout (N, OC)   buffer(2) w (OC, C)   buffer(3) GemmParams
//   grid (⌈C/64⌉, ⌈N/64⌉, 1) × 128 threads
kernel void matmul_backward_din(device float*          din  [[buffer(0)]],
                                device const float*    dout [[buffer(1)]],
                                device const float*    w    [[buffer(2)]],
                                constant GemmParams&   p    [[buffer(3)]],
                                uint3 tg   [[threadgroup_position_in_grid]],
                                uint  tid  [[thread_index_in_threadgroup]],
                                uint  sg   [[simdgroup_index_in_threadgroup]],
                                uint  lane [[thread_index_in_simdgroup]])
{
    threadgroup float As[GEMM_TILE_A];
    threadgroup float Bs[GEMM_TILE_B];
    threadgroup float stage[GEMM_STAGE];
    gemm_tile<false, false, true>(din, dout, w, p, As, Bs, stage, tg, tid, sg, lane);
}

// matmul_backward_dw: dw += doutᵀ·in. M = OC, N = C, K = N rows; A = dout stored transposed.
//   buffer(0) dw (OC, C)   buffer(1) dout (N, OC)   buffer(2) in (N, C)   buffer(3) GemmParams
//   grid (⌈C/64⌉, ⌈OC/64⌉, 1) × 128 threads
kernel void matmul_backward_dw(device float*          dw   [[buffer(0)]],
                               device const float*    dout [[buffer(1)]],
                               device const float*    in   [[buffer(2)]],
                               constant GemmParams&   p    [[buffer(3)]],
                               uint3 tg   [[threadgroup_position_in_grid]],
                               uint  tid  [[thread_index_in_threadgroup]],
                               uint  sg   [[simdgroup_index_in_threadgroup]],
                               uint  lane [[thread_index_in_simdgroup]])
{
    threadgroup float As[GEMM_TILE_A];
    threadgroup float Bs[GEMM_TILE_B];
    threadgroup float stage[GEMM_STAGE];
    gemm_tile<true, false, true>(dw, dout, in, p, As, Bs, stage, tg, tid, sg, lane);
}

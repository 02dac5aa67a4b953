#include <metal_stdlib>
using namespace metal;

// One thread per input x; 24 outputs each (see math_test.go for the reference of every column).
kernel void math_fns(device const float* x   [[buffer(0)]],
                     device float*       out [[buffer(1)]],
                     uint gid [[thread_position_in_grid]])
{
    const float v = x[gid];
    const float a = fabs(v) + 0.5f;
    device float* o = out + gid * 24;
    o[0] = exp(v);            o[1] = exp2(v);          o[2] = log(a);         o[3] = log2(a);
    o[4] = sqrt(a);           o[5] = rsqrt(a);         o[6] = sin(v);         o[7] = cos(v);
    o[8] = tanh(v);           o[9] = precise::tanh(v); o[10] = fast::exp(v);  o[11] = pow(a, 1.5f);
    o[12] = floor(v);         o[13] = fract(v);        o[14] = clamp(v, -0.5f, 0.5f);
    o[15] = mix(1.0f, 3.0f, 0.25f);                    o[16] = saturate(v);   o[17] = sign(v);
    o[18] = step(0.0f, v);    o[19] = atan2(v, a);     o[20] = fma(v, v, 1.0f);
    float4 q = float4(v, 1.0f, 2.0f, 3.0f);
    o[21] = dot(q, q);
    o[22] = select(1.0f, 2.0f, v > 0.0f);
    o[23] = float(popcount(as_type<uint>(1.0f))) + M_PI_F + float(min(3, 4)) + max(half(1), half(2));
}

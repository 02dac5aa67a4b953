package shaders

// MetalConstants maps `constant constexpr` constants of the .metal sources to the Go constants the
// host code dispatches their kernels with, for TestGeometryMatchesMetal.
var MetalConstants = map[string]int{
	"GEMM_BM":      gemmBM,
	"GEMM_BN":      gemmBN,
	"GEMM_THREADS": gemmThreads,
	"ROW_THREADS":  rowThreads,
}

// Threadgroup sizes that kernels write as literals (one simdgroup per row; the LayerNorm weight
// gradient's tile), for TestGeometryMatchesMetal.
const (
	AttnRowThreads      = attnRowThreads
	LayerNormRowThreads = layerNormRowThreads
	LayerNormDWCols     = layerNormDWCols
	LayerNormDWRows     = layerNormDWRows
)

package bench

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/cpukernels"
	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/nn"
)

// quick is a timing short enough for tests.
var quick = Timing{MinTime: 5 * time.Millisecond, Rounds: 1}

// tinyShape is a training step small enough to measure in a test.
var tinyShape = Shape{B: 2, T: 8, C: 16, NH: 2, L: 1, V: 32, H: 64}

func TestOpsCoverEveryBackendOp(t *testing.T) {
	// Every op method of nn.Backend, e.g. MatmulBackward → "matmul_backward", must be benchmarked.
	notOps := map[string]bool{"Name": true, "Alloc": true, "AllocInt": true, "Upload": true,
		"UploadInt": true, "Download": true, "Sync": true, "Close": true}
	have := map[string]bool{}
	for _, o := range Ops(tinyShape) {
		have[o.Op] = true
	}
	bt := reflect.TypeFor[nn.Backend]()
	for i := range bt.NumMethod() {
		name := bt.Method(i).Name
		if notOps[name] {
			continue
		}
		snake := strings.ToLower(name)
		for _, pass := range []string{"forward", "backward"} {
			if before, ok := strings.CutSuffix(snake, pass); ok {
				snake = before + "_" + pass
			}
		}
		if name == "AttentionDecodeForward" { // two words before the pass, as its kernel's name
			snake = "attention_decode_forward"
		}
		require.True(t, have[snake], "nn.Backend.%s has no bench op %q", name, snake)
	}
}

func TestOpNamesAreUniqueAndCarryShapes(t *testing.T) {
	for _, s := range []Shape{tinyShape, {B: 2, T: 8, C: 16, NH: 2, L: 1, V: 32, H: 64, Identity: true}} {
		seen := map[string]bool{}
		for _, o := range Ops(s) {
			require.False(t, seen[o.Name()], "duplicate %s", o.Name())
			seen[o.Name()] = true
			require.Regexp(t, `^op=[a-z_]+/([A-Za-z]+=[a-z0-9]+/)*[A-Za-z]+=[a-z0-9]+$`, o.Name())
			require.Greater(t, o.Bytes, 0.0, o.Name())
		}
	}
	ops := Ops(Shape{B: 8, T: 256, C: 384, NH: 6, L: 6, V: 256, H: 1536})
	var names []string
	for _, o := range ops {
		names = append(names, o.Name())
	}
	require.Contains(t, names, "op=matmul_forward/BT=2048/C=384/OC=1536")
	require.Contains(t, names, "op=matmul_backward/BT=2048/C=1536/OC=384")
	require.Contains(t, names, "op=attention_forward/B=8/T=256/C=384/NH=6/q=qkv")
}

func TestFLOPCounts(t *testing.T) {
	s := Shape{B: 2, T: 3, C: 4, NH: 2, L: 1, V: 5, H: 16}
	got := map[string]float64{}
	for _, o := range Ops(s) {
		got[o.Name()] = o.FLOPs
	}
	// matmul forward: 2·N·C·OC; backward twice that.
	require.Equal(t, 2.0*6*4*12, got["op=matmul_forward/BT=6/C=4/OC=12"])
	require.Equal(t, 4.0*6*16*4, got["op=matmul_backward/BT=6/C=16/OC=4"])
	// causal attention: for each of B·NH heads and each query row t, (t+1) dot products of dh and
	// (t+1) axpys of dh, 2 FLOPs per element: 2·2·dh·Σ(t+1) = 4·dh·T(T+1)/2 per head.
	dh := 2.0
	require.Equal(t, 2*2*4*dh*(1+2+3), got["op=attention_forward/B=2/T=3/C=4/NH=2/q=qkv"])
	require.Equal(t, 0.0, got["op=gelu_forward/N=96"])
}

func TestMeasureOpsOnCPU(t *testing.T) {
	be := cpukernels.NewCPU(2)
	defer be.Close()
	for _, s := range []Shape{tinyShape, {B: 2, T: 8, C: 16, NH: 2, L: 1, V: 32, H: 64, Identity: true}} {
		res, err := MeasureOps(be, Ops(s), quick, nil)
		require.NoError(t, err)
		require.Len(t, res, len(Ops(s)))
		for _, r := range res {
			require.Greater(t, r.Seconds, 0.0, r.Op)
			require.Greater(t, r.GBps, 0.0, r.Op)
			require.Zero(t, r.PctPeak, "rated by BackendReport.Rate, not measured")
			if strings.HasPrefix(r.Op, "matmul") || r.Op == "attention_forward" || r.Op == "attention_backward" {
				require.Greater(t, r.GFLOPS, 0.0, r.Op)
			} else {
				require.Zero(t, r.GFLOPS, r.Op)
			}
		}
		// Rated against a peak far above them, every op is a percentage of it, uncapped.
		br := BackendReport{Peak: Peak{GFLOPS: 1e6, GBps: 1e6}, Ops: res}
		br.Rate()
		for _, r := range br.Ops {
			require.False(t, r.AbovePeak, r.Op)
			if r.Compute() {
				require.InDelta(t, 100*r.GFLOPS/1e6, r.PctPeak, 1e-9, r.Op)
			} else {
				require.InDelta(t, 100*r.GBps/1e6, r.PctPeak, 1e-9, r.Op)
			}
		}
	}
}

func TestFLOPsPerToken(t *testing.T) {
	cfg := gpt.Config{NLayer: 2, NHead: 2, NEmbd: 8, BlockSize: 4, VocabSize: 10, QueryMode: gpt.Baseline}
	// N = V·C + T·C + L·(C + 3C² + C² + C + 4C² + 4C²) + C
	n := 10*8 + 4*8 + 2*(8+3*64+64+8+4*64+4*64) + 8
	require.Equal(t, n, cfg.NumParams())
	require.Equal(t, 6*float64(n)+12*2*4*8, FLOPsPerToken(cfg))
}

func TestMeasureStepsTrainsTheTinyPreset(t *testing.T) {
	be := cpukernels.NewCPU(2)
	defer be.Close()
	p := testPreset()
	for _, m := range []gpt.QueryMode{gpt.Baseline, gpt.Identity} {
		r, err := MeasureSteps(be, p, m, StepOptions{Warmup: 1, MinStep: 3})
		require.NoError(t, err)
		require.Equal(t, 3, r.Steps)
		require.Equal(t, Config(p, m).NumParams(), r.Params)
		require.InDelta(t, 32/r.Seconds, r.TokensPerSec, 1e-6*r.TokensPerSec)
		br := BackendReport{Peak: Peak{GFLOPS: 50}, Training: []TrainResult{{StepResult: r}}}
		br.Rate()
		mfu := br.Training[0].MFU
		require.InDelta(t, r.TokensPerSec*r.FLOPsPerToken/50e9, mfu, 1e-12)
		require.Greater(t, mfu, 0.0)
		require.Less(t, mfu, 1.0)
		require.InDelta(t, math.Log(256), r.Loss, 0.5, "a fresh model predicts about uniformly")
	}
	// A warm-up step longer than LongStep: one timed step is enough.
	r, err := MeasureSteps(be, p, gpt.Baseline, StepOptions{Warmup: 1, MinStep: 3, MinTime: time.Hour, LongStep: time.Nanosecond})
	require.NoError(t, err)
	require.Equal(t, 1, r.Steps)
}

// testPreset is a preset of a second's training: L=1, C=16, NH=2, T=16, B=2.
func testPreset() gpt.Preset {
	p, err := gpt.LookupPreset("micro")
	if err != nil {
		panic(err)
	}
	p.Name, p.Model, p.Train.BatchSize = "test", gpt.Config{NLayer: 1, NHead: 2, NEmbd: 16, BlockSize: 16}, 2
	return p
}

package bench

import (
	"fmt"
	"io"
	"time"

	"github.com/kvgpt/kvgpt/nn"
)

// PeakShape is the matrix product whose speed is a backend's compute peak: out (2048, 1024) =
// in (2048, 1024) · wᵀ, 4.3 GFLOP, large enough for any backend to run at full speed.
var PeakShape = struct{ N, C, OC int }{2048, 1024, 1024}

// PeakBandwidthLen is the length of the ResidualForward (out = a + b, 12 bytes per element, 192 MiB
// per call) whose speed is a backend's memory peak.
const PeakBandwidthLen = 1 << 24

// OpResult is the measured speed of one op.
type OpResult struct {
	Op      string  `json:"op"`
	Shape   string  `json:"shape"`
	Seconds float64 `json:"seconds"`          // per call, fastest round
	GFLOPS  float64 `json:"gflops,omitempty"` // compute ops only
	GBps    float64 `json:"gbps"`             // bytes the op must move, per second
	// PctPeak is the speed as a percentage of the backend's peak: GFLOPS of PeakGFLOPS for the
	// compute ops, GBps of PeakGBps for the memory-bound ones.
	PctPeak float64 `json:"pct_peak"`
}

// Peak is a backend's measured peak speeds.
type Peak struct {
	GFLOPS float64 `json:"gflops"` // MatmulForward at PeakShape
	GBps   float64 `json:"gbps"`   // ResidualForward of PeakBandwidthLen elements
}

// syncErr runs call then waits for the backend; the first device error ends the measurement.
type syncErr struct {
	be  nn.Backend
	err error
}

func (s *syncErr) timing(call func(), t Timing) time.Duration {
	return TimeCalls(func() {
		call()
		if err := s.be.Sync(); err != nil && s.err == nil {
			s.err = err
		}
	}, t)
}

// MeasurePeak measures be's compute peak (a large MatmulForward) and memory peak (a large
// ResidualForward), with Sync after every call.
func MeasurePeak(be nn.Backend, t Timing) (Peak, error) {
	s := &syncErr{be: be}
	p := PeakShape
	out, in, w := be.Alloc(p.N*p.OC), be.Alloc(p.N*p.C), be.Alloc(p.OC*p.C)
	d := s.timing(func() { be.MatmulForward(out, in, w, p.N, p.C, p.OC) }, t)
	var pk Peak
	pk.GFLOPS = GFLOPS(2*float64(p.N)*float64(p.C)*float64(p.OC), d)
	n := PeakBandwidthLen
	o, a, b := be.Alloc(n), be.Alloc(n), be.Alloc(n)
	d = s.timing(func() { be.ResidualForward(o, a, b, n) }, t)
	pk.GBps = 3 * f32 * float64(n) / d.Seconds() / 1e9
	if s.err != nil {
		return Peak{}, fmt.Errorf("bench: peak on %s: %w", be.Name(), s.err)
	}
	return pk, nil
}

// MeasureOp measures one op on be and rates it against peak.
func MeasureOp(be nn.Backend, op OpCase, peak Peak, t Timing) (OpResult, error) {
	s := &syncErr{be: be}
	d := s.timing(op.Setup(be), t)
	if s.err != nil {
		return OpResult{}, fmt.Errorf("bench: %s on %s: %w", op.Name(), be.Name(), s.err)
	}
	r := OpResult{Op: op.Op, Shape: op.Shape, Seconds: d.Seconds(), GBps: op.Bytes / d.Seconds() / 1e9}
	switch {
	case op.Compute():
		r.GFLOPS = GFLOPS(op.FLOPs, d)
		r.PctPeak = pct(r.GFLOPS, peak.GFLOPS)
	default:
		r.PctPeak = pct(r.GBps, peak.GBps)
	}
	return r, nil
}

// MeasureOps measures every op in ops on be, writing a progress line per op to progress (nil for none).
func MeasureOps(be nn.Backend, ops []OpCase, peak Peak, t Timing, progress io.Writer) ([]OpResult, error) {
	var res []OpResult
	for i, op := range ops {
		if progress != nil {
			fmt.Fprintf(progress, "\r\033[K  op %d/%d %s", i+1, len(ops), op.Name())
		}
		r, err := MeasureOp(be, op, peak, t)
		if err != nil {
			return nil, err
		}
		res = append(res, r)
	}
	if progress != nil {
		fmt.Fprint(progress, "\r\033[K")
	}
	return res, nil
}

func pct(x, peak float64) float64 {
	if peak <= 0 {
		return 0
	}
	return 100 * x / peak
}

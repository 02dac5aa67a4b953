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
	// PctPeak is the speed as a percentage of the backend's peak, at most 100 (see
	// BackendReport.Rate): GFLOPS of Peak.GFLOPS for the compute ops, GBps of Peak.GBps for the
	// memory-bound ones.
	PctPeak float64 `json:"pct_peak"`
	// AbovePeak: the op ran faster than the measured peak, and PctPeak was capped at 100.
	AbovePeak bool `json:"above_peak,omitempty"`
}

// Compute reports whether r is rated against the compute peak (it counts FLOPs), not the memory peak.
func (r OpResult) Compute() bool { return r.GFLOPS > 0 }

// Peak is a backend's peak speeds: the best of Trials measurements spread over a bench run, so one
// that another process slowed down does not make the utilisations rated against it too high.
type Peak struct {
	GFLOPS float64 `json:"gflops"` // MatmulForward at PeakShape
	GBps   float64 `json:"gbps"`   // ResidualForward of PeakBandwidthLen elements
	Trials int     `json:"trials,omitempty"`
	// GFLOPSMin and GBpsMin are the worst of the trials: how far the machine's speed moved.
	GFLOPSMin float64 `json:"gflops_min,omitempty"`
	GBpsMin   float64 `json:"gbps_min,omitempty"`
}

// add records one more peak measurement.
func (p *Peak) add(gflops, gbps float64) {
	if p.Trials == 0 {
		*p = Peak{GFLOPS: gflops, GBps: gbps, Trials: 1, GFLOPSMin: gflops, GBpsMin: gbps}
		return
	}
	p.Trials++
	p.GFLOPS, p.GFLOPSMin = max(p.GFLOPS, gflops), min(p.GFLOPSMin, gflops)
	p.GBps, p.GBpsMin = max(p.GBps, gbps), min(p.GBpsMin, gbps)
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

// PeakMeter measures a backend's peak again and again — a large MatmulForward for compute and a
// large ResidualForward for memory, with Sync after every call — on buffers allocated once, and
// keeps the best. Call Measure between the other measurements of a run.
type PeakMeter struct {
	be                  nn.Backend
	t                   Timing
	out, in, w, o, a, b nn.View
	Peak                Peak // the best so far
}

// PeakMeterBytes returns the memory of the buffers NewPeakMeter allocates (212 MiB).
func PeakMeterBytes() int64 {
	p := PeakShape
	return 4 * int64(p.N*p.OC+p.N*p.C+p.OC*p.C+3*PeakBandwidthLen)
}

// NewPeakMeter allocates the buffers of the peak measurements on be (PeakMeterBytes).
func NewPeakMeter(be nn.Backend, t Timing) *PeakMeter {
	p, n := PeakShape, PeakBandwidthLen
	return &PeakMeter{be: be, t: t,
		out: be.Alloc(p.N * p.OC), in: be.Alloc(p.N * p.C), w: be.Alloc(p.OC * p.C),
		o: be.Alloc(n), a: be.Alloc(n), b: be.Alloc(n)}
}

// Measure measures the peak once more and keeps the best of all measurements in m.Peak.
func (m *PeakMeter) Measure() error {
	s := &syncErr{be: m.be}
	p, n := PeakShape, PeakBandwidthLen
	d := s.timing(func() { m.be.MatmulForward(m.out, m.in, m.w, p.N, p.C, p.OC) }, m.t)
	gflops := GFLOPS(2*float64(p.N)*float64(p.C)*float64(p.OC), d)
	d = s.timing(func() { m.be.ResidualForward(m.o, m.a, m.b, n) }, m.t)
	gbps := 3 * f32 * float64(n) / d.Seconds() / 1e9
	if s.err != nil {
		return fmt.Errorf("bench: peak on %s: %w", m.be.Name(), s.err)
	}
	m.Peak.add(gflops, gbps)
	return nil
}

// MeasurePeak measures be's compute peak (a large MatmulForward) and memory peak (a large
// ResidualForward) once, with Sync after every call.
func MeasurePeak(be nn.Backend, t Timing) (Peak, error) {
	m := NewPeakMeter(be, t)
	err := m.Measure()
	return m.Peak, err
}

// MeasureOp measures one op on be (BackendReport.Rate rates it against the backend's peak).
func MeasureOp(be nn.Backend, op OpCase, t Timing) (OpResult, error) {
	s := &syncErr{be: be}
	d := s.timing(op.Setup(be), t)
	if s.err != nil {
		return OpResult{}, fmt.Errorf("bench: %s on %s: %w", op.Name(), be.Name(), s.err)
	}
	r := OpResult{Op: op.Op, Shape: op.Shape, Seconds: d.Seconds(), GBps: op.Bytes / d.Seconds() / 1e9}
	if op.Compute() {
		r.GFLOPS = GFLOPS(op.FLOPs, d)
	}
	return r, nil
}

// MeasureOps measures every op in ops on be, writing a progress line per op to progress (nil for none).
func MeasureOps(be nn.Backend, ops []OpCase, t Timing, progress io.Writer) ([]OpResult, error) {
	var res []OpResult
	for i, op := range ops {
		if progress != nil {
			fmt.Fprintf(progress, "\r\033[K  op %d/%d %s", i+1, len(ops), op.Name())
		}
		r, err := MeasureOp(be, op, t)
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

// Rate sets the utilisations of b from b.Peak: each op's PctPeak, each training result's MFU and
// each reference's MatmulPct. A utilisation cannot exceed 100%: a figure above the peak — the
// peak's measurements all came out low, or a memory-bound op ran from cache — is capped at 100%
// and marked AbovePeak. (A reference's MatmulPct compares two products, not a utilisation, and is
// not capped.)
func (b *BackendReport) Rate() {
	for i := range b.Ops {
		o := &b.Ops[i]
		if o.Compute() {
			o.PctPeak, o.AbovePeak = capped(pct(o.GFLOPS, b.Peak.GFLOPS), 100)
		} else {
			o.PctPeak, o.AbovePeak = capped(pct(o.GBps, b.Peak.GBps), 100)
		}
	}
	for i := range b.Training {
		t := &b.Training[i]
		t.MFU, t.AbovePeak = 0, false
		if b.Peak.GFLOPS > 0 {
			t.MFU, t.AbovePeak = capped(t.TokensPerSec*t.FLOPsPerToken/(b.Peak.GFLOPS*1e9), 1)
		}
	}
	for i := range b.References {
		r := &b.References[i]
		r.MatmulPct = pct(b.Peak.GFLOPS, r.GFLOPS)
	}
}

// capped returns min(x, limit) and whether x was above limit.
func capped(x, limit float64) (float64, bool) {
	if x > limit {
		return limit, true
	}
	return x, false
}

func pct(x, peak float64) float64 {
	if peak <= 0 {
		return 0
	}
	return 100 * x / peak
}

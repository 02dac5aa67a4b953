package bench

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kvgpt/kvgpt/cpublas"
)

// Report is everything `kvgpt bench` measured, as printed and as written to --json.
type Report struct {
	Time     time.Time       `json:"time"`
	Host     Host            `json:"host"`
	BLAS     cpublas.Info    `json:"blas"`
	Backends []BackendReport `json:"backends"`
	Seconds  float64         `json:"seconds"` // wall time of the whole run
}

// Host describes the machine and how busy it was: on a shared machine every number is only as
// good as its load.
type Host struct {
	GOOS       string     `json:"goos"`
	GOARCH     string     `json:"goarch"`
	CPU        string     `json:"cpu"`
	NumCPU     int        `json:"num_cpu"`
	GoVersion  string     `json:"go_version"`
	LoadBefore [3]float64 `json:"load_before,omitempty"` // 1, 5 and 15 minute load averages (Linux)
	LoadAfter  [3]float64 `json:"load_after,omitempty"`
}

// NewHost describes this machine, with the load average now.
func NewHost() Host {
	return Host{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, CPU: cpuModel(), NumCPU: runtime.NumCPU(),
		GoVersion: runtime.Version(), LoadBefore: LoadAvg()}
}

// cpuModel returns the CPU's model name where the system says it (Linux), else GOARCH.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				return strings.TrimSpace(v)
			}
		}
	}
	return runtime.GOARCH
}

// LoadAvg returns the 1, 5 and 15 minute load averages, or zeros where /proc/loadavg is missing.
func LoadAvg() [3]float64 {
	var l [3]float64
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Sscan(string(b), &l[0], &l[1], &l[2])
	}
	return l
}

// BackendReport is one backend's table.
type BackendReport struct {
	Backend     string `json:"backend"`               // --backend name: cpu, metal
	Device      string `json:"device,omitempty"`      // the backend's Name()
	Unavailable string `json:"unavailable,omitempty"` // why the backend could not run here
	Peak        Peak   `json:"peak"`
	// References are other implementations of the peak matrix product on the same machine.
	References []Reference   `json:"references,omitempty"`
	Ops        []OpResult    `json:"ops,omitempty"`
	Training   []TrainResult `json:"training,omitempty"`
	// Counts, on a device that is not timed (the fake Metal device of a -tags fakemetal build),
	// take the place of Peak, Ops and Training: what one training step asks of the device.
	Counts []StepCounts `json:"counts,omitempty"`
}

// StepCounts is what one training step of a preset in one mode asks of a GPU backend.
type StepCounts struct {
	Preset         string `json:"preset"`
	Mode           string `json:"mode"`
	B              int    `json:"B"`
	T              int    `json:"T"`
	Params         int    `json:"params"`
	Dispatches     int    `json:"dispatches"`      // compute dispatches per step
	CommandBuffers int    `json:"command_buffers"` // command buffers committed per step
	Waits          int    `json:"waits"`           // times the host waited for the GPU per step
	Bytes          int64  `json:"bytes"`           // device memory the model and trainer allocated
	StepBytes      int64  `json:"step_bytes"`      // device memory allocated by a step after the first (0: none)
}

// Reference is the peak product through another implementation: a direct cblas_sgemm call, gonum's
// pure-Go Sgemm, Apple's MPSMatrixMultiplication.
type Reference struct {
	Name   string  `json:"name"`
	Shape  string  `json:"shape"`
	GFLOPS float64 `json:"gflops"`
	// MatmulPct is the backend's matmul peak as a percentage of this reference.
	MatmulPct float64 `json:"matmul_pct"`
}

// NewReference rates the backend's peak against a reference product that ran at gflops.
func NewReference(name string, gflops float64, peak Peak) Reference {
	p := PeakShape
	return Reference{Name: name, Shape: fmt.Sprintf("BT=%d/C=%d/OC=%d", p.N, p.C, p.OC), GFLOPS: gflops,
		MatmulPct: pct(peak.GFLOPS, gflops)}
}

// TrainResult is a preset's training throughput on the backend and, where measured, PyTorch's on
// the same machine.
type TrainResult struct {
	StepResult
	PyTorch *TorchResult `json:"pytorch,omitempty"`
	// Ratio is kvgpt's tokens/s over PyTorch's.
	Ratio float64 `json:"ratio_to_pytorch,omitempty"`
	// PyTorchError says why PyTorch was not measured, when it was asked for.
	PyTorchError string `json:"pytorch_error,omitempty"`
	// Rounds holds each round's figures when the preset was measured more than once (kvgpt bench
	// --rounds): then the fields above are medians (see MedianOfRounds), and RatioMin and RatioMax
	// the range of the rounds' ratios.
	Rounds   []Round `json:"rounds,omitempty"`
	RatioMin float64 `json:"ratio_min,omitempty"`
	RatioMax float64 `json:"ratio_max,omitempty"`
}

// Round is one round's training throughput of a preset in one mode: kvgpt's, and PyTorch's
// measured right after it.
type Round struct {
	TokensPerSec        float64 `json:"tokens_per_sec"`
	PyTorchTokensPerSec float64 `json:"pytorch_tokens_per_sec,omitempty"`
	Ratio               float64 `json:"ratio_to_pytorch,omitempty"`
}

// MedianOfRounds combines rounds of the same preset and mode into one result: kvgpt's and
// PyTorch's tokens/s are the medians over the rounds (their step times and MFU follow), and the
// ratio is the median of the rounds' own ratios, each of kvgpt and PyTorch measured a few seconds
// apart, which a machine whose speed drifts disturbs least. The rounds are kept in Rounds. A round
// without PyTorch (an error) leaves it out of PyTorch's median and ratio.
func MedianOfRounds(rs []TrainResult) TrainResult {
	if len(rs) <= 1 {
		if len(rs) == 0 {
			return TrainResult{}
		}
		return rs[0]
	}
	out := rs[len(rs)-1]
	out.Rounds = make([]Round, len(rs))
	var kv, torch, ratio []float64
	var lastTorch *TorchResult
	for i, r := range rs {
		out.Rounds[i].TokensPerSec = r.TokensPerSec
		kv = append(kv, r.TokensPerSec)
		if r.PyTorch == nil {
			if out.PyTorchError == "" {
				out.PyTorchError = r.PyTorchError
			}
			continue
		}
		out.Rounds[i].PyTorchTokensPerSec, out.Rounds[i].Ratio = r.PyTorch.TokensPerSec, r.Ratio
		torch, ratio = append(torch, r.PyTorch.TokensPerSec), append(ratio, r.Ratio)
		lastTorch = r.PyTorch
	}
	m := median(kv)
	out.Seconds *= out.TokensPerSec / m
	out.MFU *= m / out.TokensPerSec
	out.TokensPerSec = m
	out.PyTorch, out.Ratio = nil, 0
	if len(torch) > 0 {
		t := *lastTorch
		tm := median(torch)
		t.Seconds *= t.TokensPerSec / tm
		t.TokensPerSec = tm
		out.PyTorch, out.Ratio = &t, median(ratio)
		out.RatioMin, out.RatioMax = slices.Min(ratio), slices.Max(ratio)
	}
	return out
}

// median returns the median of v (the mean of the middle two for an even count).
func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// WriteText prints r as tables, one per backend.
func (r *Report) WriteText(w io.Writer) {
	h := r.Host
	fmt.Fprintf(w, "kvgpt bench: %s/%s, %s, %d CPUs, %s", h.GOOS, h.GOARCH, h.CPU, h.NumCPU, h.GoVersion)
	if h.LoadBefore != ([3]float64{}) {
		fmt.Fprintf(w, ", load average %.2f before, %.2f after", h.LoadBefore[0], h.LoadAfter[0])
	}
	fmt.Fprintf(w, "\nBLAS: %s\n", r.BLAS)
	for _, b := range r.Backends {
		fmt.Fprintf(w, "\n== backend %s", b.Backend)
		if b.Unavailable != "" {
			fmt.Fprintf(w, ": unavailable: %s\n", b.Unavailable)
			continue
		}
		fmt.Fprintf(w, ": %s\n", b.Device)
		if len(b.Counts) > 0 {
			fmt.Fprintln(w, "a fake device: no timings; what one training step asks of it (the second step, after a warm-up)")
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "preset\tmode\tB×T\t    params\tdispatches\tcommand buffers\thost waits\tallocated\tallocated by the step")
			for _, c := range b.Counts {
				fmt.Fprintf(tw, "%s\t%s\t%d×%d\t%10d\t%10d\t%15d\t%10d\t%6.1f MB\t%d B\n", c.Preset, c.Mode, c.B, c.T, c.Params,
					c.Dispatches, c.CommandBuffers, c.Waits, float64(c.Bytes)/1e6, c.StepBytes)
			}
			tw.Flush()
			continue
		}
		p := PeakShape
		fmt.Fprintf(w, "peak: %.1f GFLOP/s (matmul_forward BT=%d/C=%d/OC=%d), %.1f GB/s (residual_forward N=%d)",
			b.Peak.GFLOPS, p.N, p.C, p.OC, b.Peak.GBps, PeakBandwidthLen)
		if b.Peak.Trials > 1 {
			fmt.Fprintf(w, ": the best of %d measurements spread over the run (the lowest: %.1f GFLOP/s, %.1f GB/s)",
				b.Peak.Trials, b.Peak.GFLOPSMin, b.Peak.GBpsMin)
		}
		fmt.Fprintln(w)
		above := false
		for _, ref := range b.References {
			fmt.Fprintf(w, "  %-40s %8.1f GFLOP/s   kvgpt matmul = %5.1f%% of it\n", ref.Name, ref.GFLOPS, ref.MatmulPct)
		}
		if len(b.Ops) > 0 {
			fmt.Fprintln(w)
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "op\tshape\t    time\t GFLOP/s\t    GB/s\t % peak")
			for _, o := range b.Ops {
				gf := "-"
				if o.GFLOPS > 0 {
					gf = fmt.Sprintf("%.1f", o.GFLOPS)
				}
				fmt.Fprintf(tw, "%s\t%s\t%8s\t%8s\t%8.1f\t%7.1f%s\n", o.Op, o.Shape, fmtDuration(o.Seconds), gf, o.GBps, o.PctPeak, mark(o.AbovePeak))
				above = above || o.AbovePeak
			}
			tw.Flush()
		}
		if len(b.Training) > 0 {
			fmt.Fprintf(w, "\ntraining (MFU: 6N + 12·L·T·C FLOPs per token, of the %.1f GFLOP/s peak)", b.Peak.GFLOPS)
			for _, t := range b.Training {
				if t.PyTorch != nil {
					fmt.Fprintf(w, "; PyTorch %s on %d thread", t.PyTorch.Torch, t.PyTorch.Threads)
					if t.PyTorch.Threads != 1 {
						fmt.Fprint(w, "s")
					}
					if t.PyTorch.OMPWaitPolicy != "" {
						fmt.Fprintf(w, ", OMP_WAIT_POLICY=%s", t.PyTorch.OMPWaitPolicy)
					}
					break
				}
			}
			if n := len(b.Training[0].Rounds); n > 1 {
				fmt.Fprintf(w, "; medians of %d rounds (ratio: median of each round's, and its range)", n)
			}
			fmt.Fprintln(w)
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "preset\tmode\tB×T\t    params\t    step\t   tok/s\t   MFU\tPyTorch tok/s\tkvgpt/PyTorch")
			for _, t := range b.Training {
				torch, ratio := "-", "-"
				if t.PyTorch != nil {
					torch = fmt.Sprintf("%.0f", t.PyTorch.TokensPerSec)
					ratio = fmt.Sprintf("%.2f×", t.Ratio)
					if len(t.Rounds) > 1 {
						ratio += fmt.Sprintf(" (%.2f–%.2f)", t.RatioMin, t.RatioMax)
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%d×%d\t%10d\t%8s\t%8.0f\t%5.1f%%%s\t%13s\t%13s\n", t.Preset, t.Mode, t.B, t.T, t.Params,
					fmtDuration(t.Seconds), t.TokensPerSec, 100*t.MFU, mark(t.AbovePeak), torch, ratio)
				above = above || t.AbovePeak
			}
			tw.Flush()
			for _, t := range b.Training {
				if t.PyTorchError != "" {
					fmt.Fprintf(w, "PyTorch %s %s: %s\n", t.Preset, t.Mode, t.PyTorchError)
				}
			}
		}
		if above {
			fmt.Fprintf(w, "* faster than the peak (the best of %d measurements): shown as 100%%; the peak's measurements all came out low (a busy machine), or the op ran from cache\n",
				b.Peak.Trials)
		}
	}
	fmt.Fprintf(w, "\n(%.0f s)\n", r.Seconds)
}

// mark returns "*" for a utilisation capped at 100%, else "".
func mark(above bool) string {
	if above {
		return "*"
	}
	return ""
}

// fmtDuration formats seconds with three significant digits and a unit: 812µs, 12.3ms, 1.25s.
func fmtDuration(s float64) string {
	switch {
	case s < 1e-3:
		return fmt.Sprintf("%.3gµs", s*1e6)
	case s < 1:
		return fmt.Sprintf("%.3gms", s*1e3)
	}
	return fmt.Sprintf("%.3gs", s)
}

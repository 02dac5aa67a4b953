package experiment

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/nn"
	"github.com/stretchr/testify/require"
)

// TestParamCountIdentities is check (f): the parameter counts of the variants of every preset
// satisfy the paper's identities.
func TestParamCountIdentities(t *testing.T) {
	for _, p := range Presets() {
		m := p.Model
		t.Run(fmt.Sprintf("%s/L=%d/C=%d", p.Name, m.NLayer, m.NEmbd), func(t *testing.T) {
			require.NoError(t, p.Validate())
			count := map[string]int{}
			total := map[string]int{}
			for _, v := range Variants(p) {
				c := v.Config(p, 65)
				require.NoError(t, c.Validate(), v.Name)
				name := cmp.Or(v.Base, v.Name) // a learning-rate sweep's variants have the count of their base
				count[name], total[name] = NonEmbeddingParams(c), c.NumParams()
			}
			L, C := m.NLayer, m.NEmbd
			require.Equal(t, total["original"]-L*C*C, total["identity"], "identity = original − L·C²")
			require.Equal(t, count["original"]-L*C*C, count["identity"])
			if _, ok := total["identity-wide-mlp"]; ok || len(p.Main) == 0 {
				require.Equal(t, total["original"], total["identity-wide-mlp"], "identity with MLP 4.5·C = original at 4·C")
			}
			if len(p.Main) > 0 { // the replication runs these only
				require.Len(t, count, len(Variants(p))-len(p.Main)*(max(len(p.LRs), 1)-1))
				return
			}
			require.Equal(t, total["identity"], total["original-narrow-mlp"], "original with MLP 3.5·C = identity")
			require.Equal(t, total["original"]+2*L*C, total["residual-query"], "residual query = original + 2C per layer (norm weights)")

			// original-smaller is the closest baseline width to identity's non-embedding count.
			best := abs(count["original-smaller"] - count["identity"])
			for c := m.NHead; c <= C; c += m.NHead {
				cfg := m
				cfg.QueryMode, cfg.VocabSize, cfg.NEmbd = gpt.Baseline, 65, c
				require.GreaterOrEqual(t, abs(NonEmbeddingParams(cfg)-count["identity"]), best, "C=%d", c)
			}
			require.Less(t, count["original-smaller"], count["original"])
		})
	}
}

func TestVariantsCoverTheSweep(t *testing.T) {
	p, err := LookupPreset("micro")
	require.NoError(t, err)
	vs := Variants(p)
	names := map[string]bool{}
	for _, v := range vs {
		require.False(t, names[v.Name], "duplicate variant %s", v.Name)
		names[v.Name] = true
	}
	r := &Results{Preset: p, Vocab: 256, Variants: vs}
	r.summarize()
	for _, mode := range []string{"baseline", "identity"} {
		for _, wd := range p.WeightDecays {
			require.NotNil(t, r.wdSummary(mode, wd), "%s at weight decay %g", mode, wd)
		}
	}
	_, err = LookupPreset("nope")
	require.ErrorContains(t, err, "unknown preset")
}

// TestMicroPreset runs the micro preset end to end (the CI smoke test) and checks that the report has
// every column and plot, the metrics files exist, and a rerun reuses the finished runs.
func TestMicroPreset(t *testing.T) {
	p, err := LookupPreset("micro")
	require.NoError(t, err)
	text := strings.Repeat("the quick brown fox jumps over the lazy dog; func main() { return 42 }\n", 300)
	ds, err := gpt.NewDataset("test text", text, gpt.ByteTokenizer{}, p.Model.BlockSize)
	require.NoError(t, err)
	dir := t.TempDir()
	opts := Options{
		Preset: p, Data: ds, VocabSize: 256, Out: dir, Backend: "cpu",
		NewBackend: func() (nn.Backend, error) { return nn.NewCPU(0), nil },
	}
	res, err := Run(context.Background(), opts)
	require.NoError(t, err)
	require.Len(t, res.Runs, len(Variants(p))*p.Seeds)

	report, err := os.ReadFile(filepath.Join(dir, ReportFile))
	require.NoError(t, err)
	for _, col := range []string{"| variant |", "non-emb. params", "final val loss (mean ± std)", "Δ vs original",
		"max grad norm", "loss spikes", "max \\|attn logit\\|", "## Weight decay"} {
		require.Contains(t, string(report), col)
	}
	for _, v := range Variants(p) {
		require.Contains(t, string(report), "| "+v.Name+" |")
	}
	require.NotContains(t, string(report), "Incomplete")
	for _, f := range []string{ValPlot, RelDiffPlot, WDPlot} {
		require.Contains(t, string(report), "]("+f+")")
		b, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		require.True(t, len(b) > 1000 && string(b[1:4]) == "PNG", "%s is not a PNG", f)
	}

	var rj Results
	b, err := os.ReadFile(filepath.Join(dir, ResultsFile))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &rj))
	require.Len(t, rj.Summary, len(Variants(p)))
	for _, s := range rj.Summary {
		require.NotNil(t, s.ValMean, s.Variant)
		require.NotNil(t, s.ValStd, s.Variant)
		require.NotNil(t, s.RelDiffPct, s.Variant)
		require.Positive(t, s.MaxGradNorm, s.Variant)
		require.Positive(t, s.MaxGradNormLate, s.Variant)
		require.LessOrEqual(t, s.MaxGradNormLate, s.MaxGradNorm, s.Variant)
		require.Positive(t, s.MaxAttnLogit, s.Variant)
	}
	require.Zero(t, *rj.Summary[0].RelDiffPct, "original vs itself")
	for _, r := range rj.Runs {
		lines, err := os.ReadFile(filepath.Join(dir, r.Metrics))
		require.NoError(t, err)
		require.Equal(t, p.Train.Steps, strings.Count(string(lines), "\n"), r.Metrics)
		require.Equal(t, "done", r.Status)
	}

	// Same initialisation and batches for every variant of a seed: runs that differ only in weight
	// decay have the same first-step loss (decay acts only after the first gradient).
	first := func(variant string, seed uint64) float64 {
		b, err := os.ReadFile(filepath.Join(dir, RunsDir, fmt.Sprintf("%s_seed%d.jsonl", fileName(variant), seed)))
		require.NoError(t, err)
		var m gpt.Metrics
		require.NoError(t, json.Unmarshal([]byte(strings.SplitN(string(b), "\n", 2)[0]), &m))
		return m.Loss
	}
	for _, seed := range res.Seeds {
		require.Equal(t, first("original", seed), first("baseline-wd=0.05", seed))
		require.Equal(t, first("identity", seed), first("identity-wd=0.1", seed))
	}
	require.NotEqual(t, first("original", res.Seeds[0]), first("original", res.Seeds[1]), "seeds must differ")

	// Rewrite recomputes a statistic an older results.json lacks from the metrics files.
	late := map[string]float64{}
	for i, r := range rj.Runs {
		late[runKey(r.Variant, r.Seed)] = r.MaxGradNormLate
		rj.Runs[i].MaxGradNormLate = 0
	}
	old, err := json.Marshal(rj)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, ResultsFile), old, 0o644))
	rw, err := Rewrite(dir, true)
	require.NoError(t, err)
	for _, r := range rw.Runs {
		require.Equal(t, late[runKey(r.Variant, r.Seed)], r.MaxGradNormLate, r.Variant)
	}

	// A rerun reuses every finished run and trains nothing.
	calls := 0
	opts.NewBackend = func() (nn.Backend, error) { calls++; return nn.NewCPU(0), nil }
	res2, err := Run(context.Background(), opts)
	require.NoError(t, err)
	require.Zero(t, calls)
	require.Equal(t, len(res.Runs), len(res2.Runs))
	requireNoTemps(t, filepath.Join(dir, RunsDir))
}

// TestRerunRefusesDamage: a rerun does not reuse a run whose metrics file is damaged — a torn
// line, interleaved records, a missing step, missing — but trains it again, saying so; it refuses
// a results.json that does not parse, or one of another set-up, unless Fresh.
func TestRerunRefusesDamage(t *testing.T) {
	p, err := LookupPreset("micro")
	require.NoError(t, err)
	p.Train.Steps, p.Train.Warmup, p.Train.EvalEvery = 6, 1, 3
	ds, err := gpt.NewDataset("test text", strings.Repeat("abcdefghij klmnop qrstuv\n", 400), gpt.ByteTokenizer{}, p.Model.BlockSize)
	require.NoError(t, err)
	dir := t.TempDir()
	var progress strings.Builder
	calls := 0
	opts := Options{Preset: p, Data: ds, VocabSize: 256, Out: dir, Seeds: 1, Only: regexp.MustCompile("^(original|identity|identity-wide-mlp|original-smaller)$"),
		Progress: &progress, NewBackend: func() (nn.Backend, error) { calls++; return nn.NewCPU(1), nil }}
	res, err := Run(context.Background(), opts)
	require.NoError(t, err)
	require.Equal(t, 4, calls)
	want := map[string]float64{}
	for _, r := range res.Runs {
		want[r.Variant] = *r.FinalVal
	}
	file := func(variant string) string { return filepath.Join(dir, RunsDir, fileName(variant)+"_seed1337.jsonl") }
	edit := func(variant string, change func([]string) []string) {
		b, err := os.ReadFile(file(variant))
		require.NoError(t, err)
		lines := change(strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n"))
		require.NoError(t, os.WriteFile(file(variant), []byte(strings.Join(lines, "")), 0o644))
	}
	edit("original", func(l []string) []string { l[2] = l[2][:len(l[2])/2]; return l })     // torn
	edit("identity", func(l []string) []string { return append(l[:3], l[4:]...) })          // a step missing
	edit("identity-wide-mlp", func(l []string) []string { return append(l[:4], l[1:]...) }) // interleaved
	require.NoError(t, os.Remove(file("original-smaller")))

	calls = 0
	progress.Reset()
	res2, err := Run(context.Background(), opts)
	require.NoError(t, err)
	require.Equal(t, 4, calls, "every damaged run is trained again")
	for _, msg := range []string{
		"not reusing run original seed 1337: metrics file " + file("original") + " is damaged: line 3 is not a metrics record; it is trained again",
		"not reusing run identity seed 1337: metrics file " + file("identity") + " is damaged: line 4 has step 5",
		"not reusing run identity-wide-mlp seed 1337: metrics file " + file("identity-wide-mlp") + " is damaged: line 5 has step 2",
		"not reusing run original-smaller seed 1337: metrics file " + file("original-smaller") + " does not exist",
	} {
		require.Contains(t, progress.String(), msg)
	}
	for _, r := range res2.Runs {
		require.Equal(t, want[r.Variant], *r.FinalVal, "the run trained again is the same run")
		require.NoError(t, checkRunFile(dir, r, p.Train.Steps))
	}

	// results.json: damaged, or of another set-up.
	other := opts
	other.Preset.Train.Steps = 4
	_, err = Run(context.Background(), other)
	require.EqualError(t, err, "experiment: "+filepath.Join(dir, ResultsFile)+" holds the results of another set-up (differences: preset train); pass --fresh to replace them, or another --out")
	require.NoError(t, os.WriteFile(filepath.Join(dir, ResultsFile), []byte(`{"preset": {"name": "micro"`), 0o644))
	_, err = Run(context.Background(), opts)
	require.ErrorContains(t, err, "experiment: results "+filepath.Join(dir, ResultsFile)+" are damaged: unexpected end of JSON input; move it away, or pass --fresh to start over in "+dir)
	calls = 0
	opts.Fresh = true
	_, err = Run(context.Background(), opts)
	require.NoError(t, err)
	require.Equal(t, 4, calls)
	requireNoTemps(t, filepath.Join(dir, RunsDir))
}

// requireNoTemps checks that dir holds no temporary file of an atomic write.
func requireNoTemps(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		require.NotContains(t, e.Name(), ".tmp", "a temporary file is left in %s", dir)
	}
}

func TestRunInterrupted(t *testing.T) {
	p, err := LookupPreset("micro")
	require.NoError(t, err)
	text := strings.Repeat("abcdefghij klmnop\n", 400)
	ds, err := gpt.NewDataset("test text", text, gpt.ByteTokenizer{}, p.Model.BlockSize)
	require.NoError(t, err)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	res, err := Run(ctx, Options{Preset: p, Data: ds, VocabSize: 256, Out: dir, Seeds: 1,
		NewBackend: func() (nn.Backend, error) {
			n++
			if n == 3 {
				cancel()
			}
			return nn.NewCPU(1), nil
		}})
	require.ErrorIs(t, err, context.Canceled)
	require.Len(t, res.Runs, 2)
	report, err := os.ReadFile(filepath.Join(dir, ReportFile))
	require.NoError(t, err)
	require.Contains(t, string(report), "Incomplete: 2 of")
}

// backendOnly hides every method of a backend but those of nn.Backend (so no RMSNorm op).
type backendOnly struct{ nn.Backend }

func TestResidualSkippedWithoutRMSNorm(t *testing.T) {
	p, err := LookupPreset("micro")
	require.NoError(t, err)
	p.Train.Steps, p.Train.Warmup, p.Train.EvalEvery = 3, 1, 0
	ds, err := gpt.NewDataset("test text", strings.Repeat("abcdefghij klmnop\n", 400), gpt.ByteTokenizer{}, p.Model.BlockSize)
	require.NoError(t, err)
	dir := t.TempDir()
	res, err := Run(context.Background(), Options{Preset: p, Data: ds, VocabSize: 256, Out: dir, Seeds: 1,
		NewBackend: func() (nn.Backend, error) { return backendOnly{nn.NewCPU(1)}, nil }})
	require.NoError(t, err)
	for _, r := range res.Runs {
		if r.Variant == "residual-query" {
			require.Contains(t, r.Status, "skipped")
		} else {
			require.Equal(t, "done", r.Status, r.Variant)
		}
	}
	report, err := os.ReadFile(filepath.Join(dir, ReportFile))
	require.NoError(t, err)
	require.Contains(t, string(report), "1 skipped: backend lacks the op")
}

// TestJobsMatchSequential checks the parallel runner: runs trained two at a time give the same
// losses as one at a time (each run has its own backend, seed and batches), and every run is
// reported once.
func TestJobsMatchSequential(t *testing.T) {
	p, err := LookupPreset("micro")
	require.NoError(t, err)
	p.Train.Steps, p.Train.Warmup, p.Train.EvalEvery = 6, 1, 3
	ds, err := gpt.NewDataset("test text", strings.Repeat("abcdefghij klmnop qrstuv\n", 400), gpt.ByteTokenizer{}, p.Model.BlockSize)
	require.NoError(t, err)
	finals := func(jobs int) map[string]float64 {
		res, err := Run(context.Background(), Options{Preset: p, Data: ds, VocabSize: 256, Out: t.TempDir(), Seeds: 2, Jobs: jobs,
			NewBackend: func() (nn.Backend, error) { return nn.NewCPU(1), nil }})
		require.NoError(t, err)
		m := map[string]float64{}
		for _, r := range res.Runs {
			k := runKey(r.Variant, r.Seed)
			require.NotContains(t, m, k, "run reported twice")
			require.NotNil(t, r.FinalVal, k)
			m[k] = *r.FinalVal
		}
		require.Len(t, m, 2*len(Variants(p)))
		return m
	}
	require.Equal(t, finals(1), finals(3))
}

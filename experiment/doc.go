// Package experiment reproduces the comparisons of arXiv 2510.23912 at laptop scale: it trains a set
// of variants of one model — the standard GPT (`original`), the query-free one (`identity`), the
// two parameter-matched reallocations, a narrower baseline, a weight-decay sweep of both modes and a
// scale ablation — each as a normal kvgpt training run with the same seeds and the same batch order,
// and writes per-run metrics, results.json, report.md and PNG plots.
//
// A preset can also sweep (the dh64 preset does): each main variant at several learning rates, so
// that each is compared at its own best; the identity model's attention scale at several widths; and
// the weight decay of both modes down to 0, with stability metrics per run. Because every variant
// of a seed sees the same batches, the report compares variants by paired differences over seeds,
// with 95% t-intervals, and puts each of the paper's claims to them (Results.Claims). Runs train
// in parallel with Options.Jobs.
//
// `kvgpt experiment` is its command line; Presets lists the named set-ups.
package experiment

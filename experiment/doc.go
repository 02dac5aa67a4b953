// Package experiment reproduces the comparisons of arXiv 2510.23912 at laptop scale: it trains a set
// of variants of one model — the standard GPT (`original`), the query-free one (`identity`), the
// two parameter-matched reallocations, a narrower baseline, a weight-decay sweep of both modes and a
// scale ablation — each as a normal kvgpt training run with the same seeds and the same batch order,
// and writes per-run metrics, results.json, report.md and PNG plots.
//
// `kvgpt experiment` is its command line; Presets lists the named set-ups.
package experiment

// Package bench measures kvgpt's throughput: every op of a training step and whole training steps
// of the presets, on every backend the build has, with the matrix-product peak of each backend as
// the yardstick. `kvgpt bench` prints its report; the testing.B benchmarks of this package (`make
// bench`) measure the same things for benchstat.
package bench

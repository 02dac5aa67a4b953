# kvgpt — make test runs exactly what CI runs (after .ci/run installs the system packages).
GO ?= go

.PHONY: test test-short fmtcheck vet gotest darwincheck crossbuild blastest fakemetal fuzz bench train

test: fmtcheck vet darwincheck crossbuild gotest blastest fakemetal fuzz

fmtcheck:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# gotest runs every package's tests once, verbosely into out/gotest.log, and prints the package
# lines and the counts the suites log (the conformance suite's cases, the shader kernels run, the
# DDP round trip's exactness figures, the Hugging Face export's logit differences and which of its
# checks ran); the whole log's tail on failure.
gotest:
	@mkdir -p out
	@echo "$(GO) test -count=1 -v ./... >out/gotest.log"
	@$(GO) test -count=1 -v ./... >out/gotest.log 2>&1; rc=$$?; \
	grep -E '^(ok |FAIL|--- FAIL|panic:|\?)|nntest: |shaders: ran |ddp round trip: |hf export: ' out/gotest.log; \
	if [ $$rc != 0 ]; then echo "--- tail of out/gotest.log:"; tail -n 150 out/gotest.log; fi; exit $$rc

# test-short is a quick loop while editing: go test -short skips the slowest tiers (the conformance
# suite's large-shape tier and the CPU backend's variants) and the slow shader-harness work (the
# strict and AddressSanitizer builds of the kernel library, the reverse thread order, the
# harness's own uncached builds).
test-short:
	$(GO) test -short ./...

# darwincheck type-checks every package, with its tests, as the darwin/arm64 cgo build sees it: the
# Metal backend (metal/, darwin && cgo only) is compiled on a Mac only, so this is its compiler here.
# The second run covers the Accelerate build of the CPU backend (cpublas, cpukernels, -tags accelerate).
darwincheck:
	$(GO) run ./cmd/darwincheck -test ./...
	$(GO) run ./cmd/darwincheck -test -tags accelerate ./...

# crossbuild builds what runs where cgo is off: macOS without cgo, and this platform without cgo.
crossbuild:
	GOOS=darwin GOARCH=arm64 CGO_ENABLED=0 $(GO) build ./...
	CGO_ENABLED=0 $(GO) build ./...

# blastest checks the OpenBLAS build (-tags openblas): cpublas against gonum, the C kernels of
# cpukernels against the Go kernels (also compiled with clang, as on a Mac) and the backend
# conformance suite, both tiers, on cpukernels.NewCPU, bench on OpenBLAS, and `kvgpt bench` on a
# tiny configuration (darwincheck type-checks the Accelerate build). Without libopenblas-dev it is skipped with a message, except
# in CI (CI set), where it fails.
blastest:
	@if printf '#include <cblas.h>\nint main(void){return 0;}\n' | $${CC:-cc} -x c - -lopenblas -o /dev/null 2>/dev/null; then \
		$(GO) test -count=1 -tags openblas ./cpublas ./cpukernels ./bench && \
		$(GO) test -count=1 -tags openblas -run 'Bench' ./cmd/kvgpt && \
		if command -v clang-16 >/dev/null; then CC=clang-16 $(GO) test -count=1 -tags openblas -run Kernels ./cpukernels; fi; \
	elif [ -n "$$CI" ]; then echo "blastest: libopenblas-dev is missing (.ci/run installs it)"; exit 1; \
	else echo "blastest: OpenBLAS build skipped: no libopenblas-dev (apt-get install libopenblas-dev)"; fi

# fakemetal runs the real Metal backend (package metal, through darwinkit and an Objective-C
# runtime) on Linux against the fake Metal device of metal/internal/fakemetal, whose command
# buffers execute with the shader harness: the conformance suite, the training comparison with
# the CPU, the injected host faults, `kvgpt selftest --backend metal`, and the fake's own tests,
# which provoke each misuse it checks. It needs clang-16 and GNUstep (.ci/run installs them; see
# metal/internal/fakemetal/README.md); without them it is skipped with a message, except in CI
# (CI set), where it fails. The full log goes to out/fakemetal-test.log; this prints its
# summary lines, or its tail on failure. The fake's "MISUSE:" lines are left out of the summary:
# the fake's tests print them on purpose, and a misuse in the metal tests fails them anyway (their
# TestMain lists it, and the tail is shown).
FAKEMETAL_ENV = CC=$(CURDIR)/metal/internal/fakemetal/cc CGO_ENABLED=1
fakemetal:
	@if ! printf '#import <Foundation/Foundation.h>\nint main(void){return 0;}\n' | \
		metal/internal/fakemetal/cc -x objective-c - -lgnustep-base -lobjc -o /dev/null 2>/dev/null; then \
		if [ -n "$$CI" ]; then echo "fakemetal: clang-16 or GNUstep is missing (.ci/run installs them)"; exit 1; fi; \
		echo "fakemetal: skipped: needs clang-16 and GNUstep (apt-get install clang-16 libobjc-12-dev libgnustep-base-dev libblocksruntime-dev libffi-dev patch)"; \
		exit 0; fi
	@mkdir -p out
	@echo "$(FAKEMETAL_ENV) $(GO) test -count=1 -tags fakemetal ./metal/... && ... -run Metal ./cmd/kvgpt/"
	@$(FAKEMETAL_ENV) $(GO) vet -tags fakemetal ./metal/... ./cmd/kvgpt/
	@{ $(FAKEMETAL_ENV) $(GO) test -count=1 -tags fakemetal -v ./metal/... && \
	   $(FAKEMETAL_ENV) $(GO) test -count=1 -tags fakemetal -v -run Metal ./cmd/kvgpt/; } >out/fakemetal-test.log 2>&1; rc=$$?; \
	grep -E '^(fakemetal:|ok |FAIL|--- FAIL|panic:)|nntest: ' out/fakemetal-test.log | grep -v '^fakemetal: MISUSE: '; \
	if [ $$rc != 0 ]; then echo "--- tail of out/fakemetal-test.log:"; tail -n 150 out/fakemetal-test.log; fi; exit $$rc

# fuzz runs every Go fuzz target (func Fuzz… in any package; gpt's loaders of checkpoints, tokenizer
# metadata and text) for FUZZTIME each — go test fuzzes one target of one package per run — and
# prints each target's last "execs" line; the whole log is out/fuzz-<target>.log, its tail shown on
# failure, and a failing input is written to the package's testdata/fuzz/<target>/ (keep it: it
# is then a regression case). -fuzzminimizetime 0: in a short run the fuzzer would otherwise spend
# its time shrinking each new input, and not count those runs; a crasher is kept unminimized.
# FUZZTIME is a count of executions, not a duration: with a duration, Go 1.26's fuzz coordinator can
# report "context deadline exceeded" as a failure when the time runs out while a worker is busy
# (go.dev/issue/75804, fixed in Go 1.27; seen here on a loaded machine, no failing input). 150000
# executions take 5–20 s per target on the 2-core development machine.
FUZZTIME ?= 150000x
fuzz:
	@mkdir -p out
	@$(GO) test -list '^Fuzz' ./... | awk '/^Fuzz/ { t[++n] = $$1 } /^(ok|FAIL) / { for (i = 1; i <= n; i++) print $$2, t[i]; n = 0 }' >out/fuzz-targets.txt
	@rc=0; while read -r pkg target; do \
		log=out/fuzz-$$target.log; \
		echo "$(GO) test -run '^$$target\$$' -fuzz '^$$target\$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 0 $$pkg"; \
		if $(GO) test -run "^$$target\$$" -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 0 $$pkg >$$log 2>&1; then \
			echo "$$target: $$(grep 'execs:' $$log | tail -n 1)"; \
		else echo "--- $$target FAILED; tail of $$log:"; tail -n 40 $$log; rc=1; fi; \
	done <out/fuzz-targets.txt; \
	test -s out/fuzz-targets.txt || { echo "fuzz: no fuzz targets found"; rc=1; }; exit $$rc

# bench runs the testing.B benchmarks of bench/ — every op of a training step, whole training steps
# of the presets, the matmuls in each gemm mode, raw Sgemm — BENCH_COUNT times into BENCH_OUT, a file for benchstat
# (`benchstat old.txt new.txt`). TAGS=openblas measures the OpenBLAS build; BENCH narrows the set,
# e.g. BENCH=TrainStep. Machine-wide numbers: run it on an idle machine.
BENCH ?= .
BENCH_COUNT ?= 6
BENCH_OUT ?= out/bench-$(shell date -u +%Y%m%dT%H%M%S)$(if $(TAGS),-$(TAGS)).txt
bench:
	@mkdir -p $(dir $(BENCH_OUT))
	$(GO) test -tags '$(TAGS)' -run '^$$' -bench '$(BENCH)' -count $(BENCH_COUNT) -timeout 2h ./bench | tee $(BENCH_OUT)
	@echo "wrote $(BENCH_OUT) (compare runs with: benchstat A.txt B.txt)"

# train: the query-free model on the default corpus (Go standard library sources) on the CPU,
# a few minutes on two cores, then a sample. Both are the bare commands: kvgpt train's defaults
# (the default preset of gpt/presets.go) write out/train/, where kvgpt sample looks; --overwrite
# lets a second make train replace the first one's run (kvgpt train refuses an --out that holds a
# run without it).
train:
	$(GO) build -o kvgpt ./cmd/kvgpt
	./kvgpt train --overwrite
	@echo "--- sample (kvgpt sample --prompt 'func ': the checkpoint out/train/ckpt.safetensors) ---"
	./kvgpt sample --prompt 'func ' --tokens 400

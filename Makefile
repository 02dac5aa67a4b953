# kvgpt — make test runs exactly what CI runs (after .ci/run installs the system packages).
GO ?= go

.PHONY: test fmtcheck vet gotest darwincheck crossbuild train

test: fmtcheck vet darwincheck crossbuild gotest

fmtcheck:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

gotest:
	$(GO) test -count=1 ./...
	@# go test hides the logs of passing packages: show the conformance suite's case count.
	@$(GO) test -count=1 -run '^TestConformance$$' -v ./nn/ | grep -o 'nntest: .*'
	@# ... and how many of the shader kernels the harness ran (TestMain fails a full run that misses one).
	@$(GO) test -count=1 -run '^TestConformance$$' -v ./shaders/ | grep -o 'shaders: ran .*'

# darwincheck type-checks every package, with its tests, as the darwin/arm64 cgo build sees it: the
# Metal backend (metal/, darwin && cgo only) is compiled on a Mac only, so this is its compiler here.
# The second run covers the Accelerate build of the CPU backend (cpublas, -tags accelerate).
darwincheck:
	$(GO) run ./cmd/darwincheck -test ./...
	$(GO) run ./cmd/darwincheck -test -tags accelerate ./...

# crossbuild builds what runs where cgo is off: macOS without cgo, and this platform without cgo.
crossbuild:
	GOOS=darwin GOARCH=arm64 CGO_ENABLED=0 $(GO) build ./...
	CGO_ENABLED=0 $(GO) build ./...

# train: the query-free model on the default corpus (Go standard library sources) on the CPU,
# a few minutes on two cores, then a sample. The flags are kvgpt train's defaults.
train:
	$(GO) build -o kvgpt ./cmd/kvgpt
	./kvgpt train --out out/train
	@echo "--- sample (kvgpt sample --checkpoint out/train/ckpt.safetensors --prompt 'func ') ---"
	./kvgpt sample --checkpoint out/train/ckpt.safetensors --prompt 'func ' --tokens 400

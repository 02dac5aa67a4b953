# kvgpt — make test runs exactly what CI runs (after .ci/run installs the system packages).
GO ?= go

.PHONY: test fmtcheck vet gotest train

test: fmtcheck vet gotest

fmtcheck:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

gotest:
	$(GO) test -count=1 ./...
	@# go test hides the logs of passing packages: show the conformance suite's case count.
	@$(GO) test -count=1 -run '^TestConformance$$' -v ./nn/ | grep -o 'nntest: .*'

# train: the query-free model on the default corpus (Go standard library sources) on the CPU,
# a few minutes on two cores, then a sample. The flags are kvgpt train's defaults.
train:
	$(GO) build -o kvgpt ./cmd/kvgpt
	./kvgpt train --out out/train
	@echo "--- sample (kvgpt sample --checkpoint out/train/ckpt.safetensors --prompt 'func ') ---"
	./kvgpt sample --checkpoint out/train/ckpt.safetensors --prompt 'func ' --tokens 400

# kvgpt — make test runs exactly what CI runs (after .ci/run installs the system packages).
GO ?= go

.PHONY: test fmtcheck vet gotest

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
	@# ... and how many of the shader kernels the harness ran (TestMain fails a full run that misses one).
	@$(GO) test -count=1 -run '^TestConformance$$' -v ./shaders/ | grep -o 'shaders: ran .*'

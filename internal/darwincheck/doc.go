// Package darwincheck type-checks Go packages as another platform's build would see them —
// by default darwin/arm64 with cgo — without that platform's toolchain or a C compiler.
//
// kvgpt's Metal backend (package metal) compiles only on macOS with cgo, and nobody builds it on
// a Mac in CI. Check makes `make test` on Linux catch what the darwin compiler would: a darwinkit
// method that does not exist, a uint passed where an int is expected, an unused variable in a
// darwin-only file, a test file that no longer compiles.
//
// How it works:
//
//   - `go list -e -deps [-test]` with GOOS, GOARCH and CGO_ENABLED=1 for the target finds every
//     package and its directory, module-aware (plain `go list` does not run cgo);
//   - go/build with the target's Context picks each package's files exactly as the go command
//     would, keeping the files that `import "C"`;
//   - go/types checks them with FakeImportC, so every C.xxx expression is accepted unchecked:
//     keep cgo code to one tiny file, the rest is checked in full.
//
// Dependencies (the standard library, darwinkit) are checked from source for their API only
// (function bodies ignored); the packages named by the patterns are checked in full, with their
// in-package and external test files when Config.Tests is set.
package darwincheck

// Command darwincheck type-checks kvgpt's packages as the darwin/arm64 build with cgo sees them,
// so that the Metal backend, which compiles only on a Mac, is checked on Linux, and lints their
// use of darwinkit (see package internal/darwincheck).
//
//	go run ./cmd/darwincheck [-goos darwin] [-goarch arm64] [-tags a,b] [-test] [-lint=false] [-v] [packages]
//
// It prints every type error and lint problem as file:line:col: message and exits 1 if there is
// any, 2 if the check could not run.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/kvgpt/kvgpt/internal/darwincheck"
)

func main() {
	goos := flag.String("goos", "darwin", "target `GOOS`")
	goarch := flag.String("goarch", "arm64", "target `GOARCH`")
	tags := flag.String("tags", "", "comma-separated extra build `tags`")
	tests := flag.Bool("test", false, "also type-check _test.go files (in-package and external)")
	lint := flag.Bool("lint", true, "lint the packages' use of darwinkit (objc.WrapAsProtocol, objc.Call selectors and types, objc.Call[bool])")
	verbose := flag.Bool("v", false, "list the checked packages and the time taken")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: darwincheck [flags] [packages]")
		flag.PrintDefaults()
	}
	flag.Parse()

	cfg := darwincheck.Config{
		Patterns: flag.Args(),
		GOOS:     *goos,
		GOARCH:   *goarch,
		Tests:    *tests,
		Lint:     *lint,
	}
	if *tags != "" {
		cfg.Tags = strings.Split(*tags, ",")
	}
	start := time.Now()
	res, err := darwincheck.Check(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for _, e := range res.Errors {
		fmt.Fprintln(os.Stderr, e)
	}
	var lintSummary string
	if res.Lint != nil {
		for _, p := range res.Lint.Problems {
			fmt.Fprintln(os.Stderr, p)
		}
		lintSummary = fmt.Sprintf("; lint: %d objc.Call selectors checked, %s", res.Lint.Calls, plural(len(res.Lint.Problems), "problem"))
		if n := len(res.Lint.Allowed); n > 0 {
			lintSummary += fmt.Sprintf(", %d allowed by a %s comment", n, "darwincheck:allow")
		}
	}
	if *verbose {
		for _, r := range res.Roots {
			fmt.Fprintln(os.Stderr, "checked", r)
		}
	}
	if !res.OK() {
		fmt.Fprintf(os.Stderr, "darwincheck: %d error(s) for %s/%s%s\n", len(res.Errors), *goos, *goarch, lintSummary)
		os.Exit(1)
	}
	fmt.Printf("darwincheck: ok, %d package(s) with %d dependencies type-checked for %s/%s (cgo) in %v%s\n",
		len(res.Roots), res.Packages-len(res.Roots), *goos, *goarch, time.Since(start).Round(time.Millisecond), lintSummary)
}

// plural returns "n thing" or "n things".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

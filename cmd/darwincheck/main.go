// Command darwincheck type-checks kvgpt's packages as the darwin/arm64 build with cgo sees them,
// so that the Metal backend, which compiles only on a Mac, is checked on Linux (see package
// internal/darwincheck).
//
//	go run ./cmd/darwincheck [-goos darwin] [-goarch arm64] [-tags a,b] [-test] [-v] [packages]
//
// It prints every type error as file:line:col: message and exits 1 if there is any, 2 if the check
// could not run.
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
	if *verbose {
		for _, r := range res.Roots {
			fmt.Fprintln(os.Stderr, "checked", r)
		}
	}
	if !res.OK() {
		fmt.Fprintf(os.Stderr, "darwincheck: %d error(s) for %s/%s\n", len(res.Errors), *goos, *goarch)
		os.Exit(1)
	}
	fmt.Printf("darwincheck: ok, %d package(s) with %d dependencies type-checked for %s/%s (cgo) in %v\n",
		len(res.Roots), res.Packages-len(res.Roots), *goos, *goarch, time.Since(start).Round(time.Millisecond))
}

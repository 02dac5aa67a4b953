package darwincheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/scanner"
	"go/token"
	"go/types"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Config says what to check and for which platform.
type Config struct {
	Dir      string   // directory in which `go list` runs (inside the module); "" for the current one
	Patterns []string // package patterns, e.g. "./..."; none means "./..."
	GOOS     string   // target OS; "" for darwin
	GOARCH   string   // target architecture; "" for arm64
	Tags     []string // extra build tags
	Tests    bool     // also check _test.go files (in-package and external) of the matched packages
	GoCmd    string   // the go command; "" for "go" on PATH
	Lint     bool     // also run the darwinkit lint (see the package doc) over the matched packages
}

// Result is the outcome of a Check.
type Result struct {
	Roots    []string // import paths of the matched packages, in dependency order
	Packages int      // packages type-checked, including dependencies
	Errors   []string // diagnostics, each "file:line:col: message" where a position is known
	Lint     *Lint    // what the darwinkit lint found; nil unless Config.Lint is set
}

// OK reports whether the check found no type errors and the lint, if it ran, no problems.
func (r *Result) OK() bool { return len(r.Errors) == 0 && (r.Lint == nil || len(r.Lint.Problems) == 0) }

// Check type-checks the packages matched by cfg.Patterns for the target platform. It returns an
// error only when the check itself cannot run (go list fails); type errors are in Result.Errors,
// lint problems (with Config.Lint) in Result.Lint.
func Check(cfg Config) (*Result, error) {
	if cfg.GOOS == "" {
		cfg.GOOS = "darwin"
	}
	if cfg.GOARCH == "" {
		cfg.GOARCH = "arm64"
	}
	if cfg.GoCmd == "" {
		cfg.GoCmd = "go"
	}
	if len(cfg.Patterns) == 0 {
		cfg.Patterns = []string{"./..."}
	}
	dir := cfg.Dir
	if dir == "" {
		var err error
		if dir, err = os.Getwd(); err != nil {
			return nil, fmt.Errorf("darwincheck: %w", err)
		}
	}

	pkgs, err := goList(cfg, dir)
	if err != nil {
		return nil, err
	}

	ctxt := build.Default
	ctxt.GOOS, ctxt.GOARCH, ctxt.CgoEnabled = cfg.GOOS, cfg.GOARCH, true
	ctxt.BuildTags = append([]string(nil), cfg.Tags...)
	ctxt.Dir = dir

	c := &checker{
		fset:  token.NewFileSet(),
		ctxt:  ctxt,
		sizes: types.SizesFor("gc", cfg.GOARCH),
		tests: cfg.Tests,
		lint:  cfg.Lint,
		pkgs:  map[string]*listPkg{},
		roots: map[string]bool{},
		done:  map[string]*types.Package{},
		busy:  map[string]bool{},
		syn:   map[string]*pkgSyntax{},
		res:   &Result{},
	}
	for _, p := range pkgs {
		c.pkgs[p.ImportPath] = p
		if !p.DepOnly {
			c.roots[p.ImportPath] = true
			c.res.Roots = append(c.res.Roots, p.ImportPath)
		}
	}
	if c.sizes == nil {
		return nil, fmt.Errorf("darwincheck: unknown GOARCH %q", cfg.GOARCH)
	}
	for _, path := range c.res.Roots {
		if p := c.pkgs[path]; p.Error != nil {
			c.errorf("%s: %s", path, strings.TrimSpace(p.Error.Err))
			continue
		}
		c.check(path)
		if cfg.Tests {
			c.checkXTest(path)
		}
	}
	c.res.Packages = len(c.done)
	if cfg.Lint {
		c.res.Lint = c.runLint()
	}
	return c.res, nil
}

// listPkg is the part of `go list -json` output the checker uses.
type listPkg struct {
	ImportPath string
	Dir        string
	Goroot     bool
	DepOnly    bool
	ForTest    string
	ImportMap  map[string]string
	Module     *struct{ Path, Version, GoVersion string }
	Error      *struct{ Err string }
}

// goList runs `go list -deps` for the target platform and returns one entry per import path.
// With -test, go list also reports test variants ("p [q.test]") and test mains ("q.test"); the
// checker folds the variants into their plain package (same directory, same files) and drops the
// mains, so a package imported only by a test file still resolves.
func goList(cfg Config, dir string) ([]*listPkg, error) {
	args := []string{"list", "-e", "-deps", "-json=ImportPath,Dir,Goroot,DepOnly,ForTest,ImportMap,Module,Error"}
	if cfg.Tests {
		args = append(args, "-test")
	}
	if len(cfg.Tags) > 0 {
		args = append(args, "-tags", strings.Join(cfg.Tags, ","))
	}
	args = append(args, cfg.Patterns...)
	cmd := exec.Command(cfg.GoCmd, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS="+cfg.GOOS, "GOARCH="+cfg.GOARCH, "CGO_ENABLED=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("darwincheck: go list %s: %v\n%s", strings.Join(cfg.Patterns, " "), err, stderr.String())
	}

	var order []*listPkg
	byPath := map[string]*listPkg{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		p := new(listPkg)
		if err := dec.Decode(p); err != nil {
			return nil, fmt.Errorf("darwincheck: reading go list output: %w", err)
		}
		if strings.HasSuffix(p.ImportPath, ".test") && p.ForTest == "" && !strings.Contains(p.ImportPath, " ") {
			continue // the generated test main
		}
		path := plainPath(p.ImportPath)
		if strings.HasSuffix(path, "_test") && p.ForTest != "" {
			continue // an external test package: checked by checkXTest from its directory
		}
		for k, v := range p.ImportMap {
			p.ImportMap[k] = plainPath(v)
		}
		if q, ok := byPath[path]; ok {
			// A test variant of a package already seen (or the reverse): keep one entry, a root
			// if either is one.
			q.DepOnly = q.DepOnly && p.DepOnly
			if q.Error == nil {
				q.Error = p.Error
			}
			continue
		}
		p.ImportPath = path
		byPath[path] = p
		order = append(order, p)
	}
	return order, nil
}

// plainPath strips the test-variant suffix from an import path: "a/b [a/b.test]" → "a/b".
func plainPath(path string) string {
	if i := strings.Index(path, " ["); i >= 0 {
		return path[:i]
	}
	return path
}

type checker struct {
	fset  *token.FileSet
	ctxt  build.Context
	sizes types.Sizes
	tests bool
	pkgs  map[string]*listPkg
	roots map[string]bool
	done  map[string]*types.Package
	busy  map[string]bool
	lint  bool                  // keep the syntax and types the lint needs
	syn   map[string]*pkgSyntax // by import path: the roots (and "p_test"), and darwinkit's packages when lint is set
	res   *Result
}

func (c *checker) errorf(format string, args ...any) {
	c.res.Errors = append(c.res.Errors, fmt.Sprintf(format, args...))
}

// importer resolves the imports of one package, honouring its ImportMap (vendoring).
type importer struct {
	c    *checker
	from *listPkg
}

func (im importer) Import(path string) (*types.Package, error) {
	if path == "unsafe" {
		return types.Unsafe, nil
	}
	if mapped, ok := im.from.ImportMap[path]; ok {
		path = mapped
	}
	if im.c.busy[path] {
		return nil, fmt.Errorf("import cycle through %s", path)
	}
	return im.c.check(path), nil
}

// parseFiles parses the named files of dir, reporting syntax errors.
func (c *checker) parseFiles(dir string, names []string) []*ast.File {
	var files []*ast.File
	for _, name := range names {
		f, err := parser.ParseFile(c.fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution|parser.ParseComments)
		if err != nil {
			var list scanner.ErrorList
			if errors.As(err, &list) {
				for _, e := range list {
					c.errorf("%s", e)
				}
			} else {
				c.errorf("%v", err)
			}
			if f == nil {
				continue
			}
		}
		files = append(files, f)
	}
	return files
}

// check type-checks the package with the given import path once: in full (with its in-package
// test files if requested) when it is a root, for its exported API when it is a dependency.
func (c *checker) check(path string) *types.Package {
	if tp, ok := c.done[path]; ok {
		return tp
	}
	root := c.roots[path]
	lp := c.pkgs[path]
	if lp == nil {
		c.errorf("%s: package not found by go list for %s/%s", path, c.ctxt.GOOS, c.ctxt.GOARCH)
		tp := types.NewPackage(path, filepath.Base(path))
		c.done[path] = tp
		return tp
	}
	if lp.Error != nil && !root {
		c.errorf("%s: %s", path, strings.TrimSpace(lp.Error.Err))
	}
	c.busy[path] = true
	defer delete(c.busy, path)

	bp, err := c.ctxt.ImportDir(lp.Dir, 0)
	if err != nil {
		var noGo *build.NoGoError
		if !errors.As(err, &noGo) {
			c.errorf("%s: %v", path, err)
		}
	}
	var names []string
	if bp != nil {
		names = append(append(names, bp.GoFiles...), bp.CgoFiles...)
		if root && c.tests {
			names = append(names, bp.TestGoFiles...)
		}
	}
	files := c.parseFiles(lp.Dir, names)
	// The lint follows calls inside darwinkit's function bodies, so it needs them checked too.
	keep := c.lint && (root || isDarwinkit(path))
	conf := types.Config{
		Importer:         importer{c, lp},
		Sizes:            c.sizes,
		FakeImportC:      true,
		IgnoreFuncBodies: !root && !keep, // other dependencies: their API is all that matters
		Error: func(err error) {
			var te types.Error
			if errors.As(err, &te) && !root && te.Soft {
				return // e.g. imports left unused because bodies were skipped
			}
			c.errorf("%v", err)
		},
	}
	if !lp.Goroot && lp.Module != nil && lp.Module.GoVersion != "" {
		conf.GoVersion = "go" + lp.Module.GoVersion
	}
	name := filepath.Base(path)
	if bp != nil && bp.Name != "" {
		name = bp.Name
	}
	var info *types.Info
	if keep {
		info = newInfo(root)
	}
	tp, _ := conf.Check(path, c.fset, files, info)
	if tp == nil {
		tp = types.NewPackage(path, name)
	}
	c.done[path] = tp
	if keep {
		c.syn[path] = &pkgSyntax{path: path, pkg: tp, files: files, info: info, root: root, module: lp.Module}
	}
	return tp
}

// checkXTest type-checks the external test package (package p_test) of the root package path.
func (c *checker) checkXTest(path string) {
	lp := c.pkgs[path]
	bp, err := c.ctxt.ImportDir(lp.Dir, 0)
	if err != nil || len(bp.XTestGoFiles) == 0 {
		return
	}
	files := c.parseFiles(lp.Dir, bp.XTestGoFiles)
	// The external test package imports what its files import; go list -test reported those
	// imports on the test variant, which goList folded into the plain packages.
	xp := &listPkg{ImportPath: path + "_test", Dir: lp.Dir, Module: lp.Module, ImportMap: lp.ImportMap}
	conf := types.Config{
		Importer:    importer{c, xp},
		Sizes:       c.sizes,
		FakeImportC: true,
		Error:       func(err error) { c.errorf("%v", err) },
	}
	if lp.Module != nil && lp.Module.GoVersion != "" {
		conf.GoVersion = "go" + lp.Module.GoVersion
	}
	var info *types.Info
	if c.lint {
		info = newInfo(true)
	}
	tp, _ := conf.Check(path+"_test", c.fset, files, info)
	if c.lint && tp != nil {
		c.syn[path+"_test"] = &pkgSyntax{path: path + "_test", pkg: tp, files: files, info: info, root: true}
	}
}

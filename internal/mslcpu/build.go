package mslcpu

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// csrc holds the compatibility header, the metal_* include shims and the fiber runtime. They are
// written once per content hash into the cache directory and compiled from there, so a build never
// touches the source tree.
//
//go:embed csrc
var csrc embed.FS

// formatVersion is mixed into every cache key; bump it when the build recipe changes.
const formatVersion = "mslcpu-build-1"

// Options selects how a program is built. The zero value is the default build: optimised, flat
// address spaces, no sanitizer.
type Options struct {
	// Strict maps device, threadgroup and constant to distinct clang address spaces, so passing a
	// pointer of one address space where another (or a thread pointer) is expected is a compile
	// error, as it is in the Metal compiler. It also rejects double and non-MSL library calls.
	Strict bool
	// ASan builds the runner with AddressSanitizer: out-of-bounds reads and writes of buffers and of
	// threadgroup memory make Run fail with the sanitizer's report.
	ASan bool
	// Defines are extra preprocessor macros, "NAME" or "NAME=value" (passed as -D).
	Defines []string
	// IncludeDirs are searched for #include "..." after the directory of the source file.
	IncludeDirs []string
	// Headers are files for #include "name" given as bytes (e.g. embedded with go:embed), by
	// slash-separated relative name; they are searched after the source's own directory.
	Headers map[string][]byte
	// CXX is the clang++ to use; empty means $MSLCPU_CXX, then clang++-16, clang++-17, …, clang++.
	CXX string
	// UContext selects the old glibc swapcontext fiber switch instead of the assembly one (for
	// measuring the difference; it is much slower).
	UContext bool
}

// Source is one .metal translation unit given as bytes.
type Source struct {
	// Name is the file name used in diagnostics (#line); it need not exist on disk unless Code is nil.
	Name string
	// Code is the source text; nil means read Name from disk.
	Code []byte
}

// Program is a built kernel runner: an executable holding every kernel of its sources.
type Program struct {
	// Path is the runner executable (in the build cache).
	Path string
	// Kernels are the kernel names, in source order.
	Kernels []string
	// Info describes each kernel's interface, by name: what a Metal pipeline would report and
	// which bindings a dispatch must make.
	Info map[string]KernelInfo
	// Options are the options the program was built with.
	Options Options
}

// KernelInfo is the interface of one kernel.
type KernelInfo struct {
	// MaxThreads is the kernel's [[max_total_threads_per_threadgroup(n)]], or
	// MaxThreadsPerThreadgroup when it declares none (a pipeline's maxTotalThreadsPerThreadgroup).
	MaxThreads int
	// Buffers are the [[buffer(n)]] indices of its parameters, in parameter order.
	Buffers []int
	// Threadgroups are the [[threadgroup(n)]] indices of its parameters, in parameter order.
	Threadgroups []int
}

// StaticThreadgroupMemory returns, by kernel, the bytes of threadgroup memory its declared
// threadgroup variables take (each rounded up to 16 bytes), as a Metal pipeline reports them
// (staticThreadgroupMemoryLength): those of the kernel's body and of the functions it calls. A
// kernel whose count the harness could not compute (its declarations name something not visible
// at file scope) is absent. The runner checks at every dispatch that no threadgroup of a kernel
// declares more.
func (p *Program) StaticThreadgroupMemory() (map[string]int, error) {
	out, err := exec.Command(p.Path, "--kernels").Output()
	if err != nil {
		return nil, fmt.Errorf("mslcpu: listing the kernels of %s: %w", p.Path, err)
	}
	m := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		if n, err := strconv.Atoi(f[2]); err == nil && n >= 0 {
			m[f[0]] = n
		}
	}
	return m, nil
}

// BuildFile compiles the .metal file at path into a runner program.
func BuildFile(path string, opts Options) (*Program, error) {
	return BuildSources([]Source{{Name: path}}, opts)
}

// BuildSource compiles the .metal source src (named name in diagnostics) into a runner program.
// Quoted #includes are resolved relative to the directory of name and then opts.IncludeDirs.
func BuildSource(name string, src []byte, opts Options) (*Program, error) {
	if src == nil {
		src = []byte{}
	}
	return BuildSources([]Source{{Name: name, Code: src}}, opts)
}

// BuildSources compiles several .metal translation units into one runner program. Kernel names
// must be unique across the sources.
func BuildSources(srcs []Source, opts Options) (*Program, error) {
	if len(srcs) == 0 {
		return nil, errors.New("mslcpu: BuildSources: no sources")
	}
	cxx, cxxID, err := compiler(opts.CXX)
	if err != nil {
		return nil, err
	}
	dir, err := CacheDir()
	if err != nil {
		return nil, err
	}
	srcDir, srcHash, err := unpackRuntime(dir)
	if err != nil {
		return nil, err
	}
	flags := baseFlags(opts, srcDir)
	incDirs := append([]string(nil), opts.IncludeDirs...)
	if len(opts.Headers) > 0 {
		hdrDir, err := writeHeaders(dir, opts.Headers)
		if err != nil {
			return nil, err
		}
		incDirs = append([]string{hdrDir}, incDirs...)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%q\n", formatVersion, cxxID, srcHash, flags)
	type unit struct {
		name, dir string
		gen       string
		plain     string // gen without the static threadgroup memory counts (the fallback)
	}
	var units []unit
	var kernels []string
	info := map[string]KernelInfo{}
	seen := map[string]string{}
	for _, s := range srcs {
		code := s.Code
		if code == nil {
			if code, err = os.ReadFile(s.Name); err != nil {
				return nil, fmt.Errorf("mslcpu: %w", err)
			}
		}
		name := s.Name // as given: diagnostics and #line use it
		srcDirOf := filepath.Dir(name)
		if abs, err := filepath.Abs(srcDirOf); err == nil {
			srcDirOf = abs
		}
		gen, ks, err := generate(name, string(code), true)
		if err != nil {
			return nil, fmt.Errorf("mslcpu: %w", err)
		}
		plain, _, err := generate(name, string(code), false)
		if err != nil {
			return nil, fmt.Errorf("mslcpu: %w", err)
		}
		for _, k := range ks {
			if prev, ok := seen[k.Name]; ok {
				return nil, fmt.Errorf("mslcpu: kernel %s is defined in both %s and %s", k.Name, prev, s.Name)
			}
			seen[k.Name] = s.Name
			kernels = append(kernels, k.Name)
			info[k.Name] = k.info()
		}
		fmt.Fprintf(h, "unit %q %q %d\n%s\n", name, srcDirOf, len(gen), gen)
		if err := hashIncludes(h, string(code), append([]string{srcDirOf}, incDirs...), map[string]bool{}); err != nil {
			return nil, err
		}
		units = append(units, unit{name, srcDirOf, gen, plain})
	}
	key := hex.EncodeToString(h.Sum(nil))[:24]
	base := strings.TrimSuffix(filepath.Base(srcs[0].Name), filepath.Ext(srcs[0].Name))
	base = regexp.MustCompile(`[^A-Za-z0-9_.-]`).ReplaceAllString(base, "_")
	bin := filepath.Join(dir, "bin", base+"-"+key)
	prog := &Program{Path: bin, Kernels: kernels, Info: info, Options: opts}
	pruneOnce.Do(func() { prune(dir, 14*24*time.Hour) })
	err = once(bin, func() error {
		if _, err := os.Stat(bin); err == nil {
			now := time.Now()
			os.Chtimes(bin, now, now) // recently used: keep it when pruning
			return nil
		}
		rtObj, err := buildRuntime(dir, cxx, cxxID, srcHash, srcDir, flags)
		if err != nil {
			return err
		}
		tmp, err := os.MkdirTemp(dir, "tmp-build-")
		if err != nil {
			return fmt.Errorf("mslcpu: %w", err)
		}
		defer os.RemoveAll(tmp)
		objs := []string{}
		for i, u := range units {
			obj := filepath.Join(tmp, fmt.Sprintf("unit%d.o", i))
			compile := func(gen string) error {
				cpp := filepath.Join(tmp, fmt.Sprintf("unit%d.cpp", i))
				if err := os.WriteFile(cpp, []byte(gen), 0o644); err != nil {
					return err
				}
				args := append(append([]string{}, flags...), "-I", u.dir)
				for _, d := range incDirs {
					args = append(args, "-I", d)
				}
				return runCompiler(cxx, append(args, "-c", cpp, "-o", obj))
			}
			// The static threadgroup memory counts are evaluated at file scope; where a kernel's
			// declarations name something only its body sees, the unit does not compile with them,
			// and is compiled again without (its kernels' counts are then unknown). The compiler's
			// message, if it still fails, is the plain unit's.
			if err := compile(u.gen); err != nil {
				if err := compile(u.plain); err != nil {
					return fmt.Errorf("mslcpu: compiling %s:\n%w", u.name, err)
				}
			}
			objs = append(objs, obj)
		}
		out := filepath.Join(tmp, "runner")
		args := append(append(append([]string{}, flags...), rtObj), objs...)
		args = append(args, "-o", out)
		if err := runCompiler(cxx, args); err != nil {
			if opts.ASan && strings.Contains(err.Error(), "clang_rt.asan") {
				return fmt.Errorf("mslcpu: linking %s: the AddressSanitizer runtime is missing (Debian: apt-get install libclang-rt-16-dev):\n%w", base, err)
			}
			return fmt.Errorf("mslcpu: linking %s:\n%w", base, err)
		}
		return publish(out, bin)
	})
	if err != nil {
		return nil, err
	}
	return prog, nil
}

// baseFlags are the clang flags shared by the runtime and the kernel translation units.
func baseFlags(opts Options, srcDir string) []string {
	f := []string{"-std=c++17", "-fwrapv", "-ffp-contract=off", "-fno-strict-aliasing",
		"-Wno-unknown-attributes", "-Wno-ignored-attributes", "-I", srcDir, "-pthread", "-O1", "-gline-tables-only"}
	if runtime.GOARCH == "amd64" {
		// probe large stack frames page by page, so a fiber stack overflow always hits the guard page
		f = append(f, "-fstack-clash-protection")
	}
	if opts.Strict {
		f = append(f, "-DMSLCPU_STRICT_AS")
	}
	if opts.ASan {
		f = append(f, "-fsanitize=address", "-fno-omit-frame-pointer")
	}
	if opts.UContext {
		f = append(f, "-DMSLCPU_UCONTEXT")
	}
	for _, d := range opts.Defines {
		f = append(f, "-D"+d)
	}
	return f
}

// buildRuntime compiles the fiber runtime and the request loop into one object, cached by the
// runtime sources, compiler and flags.
func buildRuntime(dir, cxx, cxxID, srcHash, srcDir string, flags []string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00rt\x00%s\x00%s\x00%q", formatVersion, cxxID, srcHash, flags)
	obj := filepath.Join(dir, "obj", "rt-"+hex.EncodeToString(h.Sum(nil))[:24]+".o")
	err := once(obj, func() error {
		if _, err := os.Stat(obj); err == nil {
			now := time.Now()
			os.Chtimes(obj, now, now)
			return nil
		}
		tmp, err := os.MkdirTemp(dir, "tmp-rt-")
		if err != nil {
			return fmt.Errorf("mslcpu: %w", err)
		}
		defer os.RemoveAll(tmp)
		out := filepath.Join(tmp, "rt.o")
		args := append(append([]string{}, flags...), "-c", filepath.Join(srcDir, "runner.cpp"), "-o", out)
		if err := runCompiler(cxx, args); err != nil {
			return fmt.Errorf("mslcpu: compiling the runtime:\n%w", err)
		}
		return publish(out, obj)
	})
	return obj, err
}

// publish moves a finished artefact into place atomically; a concurrent process that built the
// same key wins or loses the rename harmlessly (both files have the same content).
func publish(tmp, final string) error {
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return fmt.Errorf("mslcpu: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("mslcpu: %w", err)
	}
	return nil
}

var (
	onceMu   sync.Mutex
	onceRuns = map[string]*onceRun{}
)

type onceRun struct {
	done chan struct{}
	err  error
}

// once runs f at most once at a time per key in this process; callers for the same key wait for
// the running build and share its result. Failed builds are retried by later calls. once may
// nest (a program build waits for the runtime build) as long as keys do not form a cycle.
func once(key string, f func() error) error {
	onceMu.Lock()
	if r, ok := onceRuns[key]; ok {
		onceMu.Unlock()
		<-r.done
		if r.err == nil {
			return nil
		}
		return once(key, f)
	}
	r := &onceRun{done: make(chan struct{})}
	onceRuns[key] = r
	onceMu.Unlock()
	r.err = f()
	onceMu.Lock()
	if r.err != nil {
		delete(onceRuns, key)
	}
	onceMu.Unlock()
	close(r.done)
	return r.err
}

// compileSem bounds concurrent clang invocations of this process to the number of CPUs.
var compileSem = make(chan struct{}, max(1, runtime.NumCPU()))

func runCompiler(cxx string, args []string) error {
	compileSem <- struct{}{}
	defer func() { <-compileSem }()
	cmd := exec.Command(cxx, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %v\n%s", filepath.Base(cxx), err, out.String())
	}
	return nil
}

// unpackRuntime writes the embedded csrc files to dir/src-<hash> (once) and returns that
// directory and the hash.
func unpackRuntime(dir string) (string, string, error) {
	h := sha256.New()
	var names []string
	err := fs.WalkDir(csrc, "csrc", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return err
	})
	if err != nil {
		return "", "", err
	}
	sort.Strings(names)
	files := map[string][]byte{}
	for _, n := range names {
		b, err := csrc.ReadFile(n)
		if err != nil {
			return "", "", err
		}
		files[n] = b
		fmt.Fprintf(h, "%s %d\n", n, len(b))
		h.Write(b)
	}
	sum := hex.EncodeToString(h.Sum(nil))[:24]
	final := filepath.Join(dir, "src-"+sum)
	err = once(final, func() error {
		if _, err := os.Stat(filepath.Join(final, "msl_cpu.h")); err == nil {
			return nil
		}
		tmp, err := os.MkdirTemp(dir, "tmp-src-")
		if err != nil {
			return fmt.Errorf("mslcpu: %w", err)
		}
		for n, b := range files {
			if err := os.WriteFile(filepath.Join(tmp, strings.TrimPrefix(n, "csrc/")), b, 0o644); err != nil {
				os.RemoveAll(tmp)
				return fmt.Errorf("mslcpu: %w", err)
			}
		}
		if err := os.Rename(tmp, final); err != nil {
			os.RemoveAll(tmp)
			if _, serr := os.Stat(filepath.Join(final, "msl_cpu.h")); serr == nil {
				return nil // another process was faster
			}
			return fmt.Errorf("mslcpu: %w", err)
		}
		return nil
	})
	return final, sum, err
}

// writeHeaders writes Options.Headers into dir/hdr-<hash> (once) and returns that directory.
func writeHeaders(dir string, hdrs map[string][]byte) (string, error) {
	names := make([]string, 0, len(hdrs))
	for n := range hdrs {
		if n == "" || filepath.IsAbs(n) || strings.HasPrefix(filepath.Clean(n), "..") {
			return "", fmt.Errorf("mslcpu: Options.Headers: bad header name %q (want a relative path)", n)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s %d\n", n, len(hdrs[n]))
		h.Write(hdrs[n])
	}
	final := filepath.Join(dir, "hdr-"+hex.EncodeToString(h.Sum(nil))[:24])
	err := once(final, func() error {
		if _, err := os.Stat(final); err == nil {
			return nil
		}
		tmp, err := os.MkdirTemp(dir, "tmp-hdr-")
		if err != nil {
			return fmt.Errorf("mslcpu: %w", err)
		}
		for _, n := range names {
			p := filepath.Join(tmp, filepath.FromSlash(n))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
				err = os.WriteFile(p, hdrs[n], 0o644)
			}
			if err != nil {
				os.RemoveAll(tmp)
				return fmt.Errorf("mslcpu: %w", err)
			}
		}
		if err := os.Rename(tmp, final); err != nil {
			os.RemoveAll(tmp)
			if _, serr := os.Stat(final); serr == nil {
				return nil // another process was faster
			}
			return fmt.Errorf("mslcpu: %w", err)
		}
		return nil
	})
	return final, err
}

var pruneOnce sync.Once

// prune removes cache entries (programs, runtime objects, unpacked sources, abandoned temporary
// directories) not used for longer than age. Entries in use by another process are at worst
// rebuilt.
func prune(dir string, age time.Duration) {
	cutoff := time.Now().Add(-age)
	for _, sub := range []string{"bin", "obj", "."} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			continue
		}
		for _, e := range ents {
			if sub == "." && !strings.HasPrefix(e.Name(), "hdr-") && !strings.HasPrefix(e.Name(), "tmp-") {
				continue
			}
			info, err := e.Info()
			if err != nil || info.ModTime().After(cutoff) {
				continue
			}
			os.RemoveAll(filepath.Join(dir, sub, e.Name()))
		}
	}
}

var includeRE = regexp.MustCompile(`(?m)^[ \t]*#[ \t]*include[ \t]*"([^"]+)"`)

// hashIncludes adds the content of every quoted #include of code (recursively) to h, so the
// cache key changes when a local header changes.
func hashIncludes(h interface{ Write([]byte) (int, error) }, code string, dirs []string, seen map[string]bool) error {
	for _, m := range includeRE.FindAllStringSubmatch(code, -1) {
		for _, d := range dirs {
			p := filepath.Join(d, m[1])
			b, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			if !seen[p] {
				seen[p] = true
				fmt.Fprintf(h, "include %q %d\n", p, len(b))
				h.Write(b)
				if err := hashIncludes(h, string(b), append([]string{filepath.Dir(p)}, dirs...), seen); err != nil {
					return err
				}
			}
			break
		}
	}
	return nil
}

// CacheDir returns the directory holding build artefacts: $MSLCPU_CACHE if set, else
// os.UserCacheDir()/kvgpt-mslcpu, else a directory under os.TempDir(). It is created if needed.
func CacheDir() (string, error) {
	var dirs []string
	if d := os.Getenv("MSLCPU_CACHE"); d != "" {
		dirs = append(dirs, d)
	} else {
		if d, err := os.UserCacheDir(); err == nil {
			dirs = append(dirs, filepath.Join(d, "kvgpt-mslcpu"))
		}
		dirs = append(dirs, filepath.Join(os.TempDir(), fmt.Sprintf("kvgpt-mslcpu-%d", os.Getuid())))
	}
	var errs []error
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			errs = append(errs, err)
			continue
		}
		return d, nil
	}
	return "", fmt.Errorf("mslcpu: no usable cache directory: %w", errors.Join(errs...))
}

var (
	cxxMu    sync.Mutex
	cxxFound = map[string][2]string{}
)

// Compiler returns the clang++ that builds use (see Options.CXX) or an error saying how to
// install one.
func Compiler() (string, error) {
	p, _, err := compiler("")
	return p, err
}

// compiler resolves the C++ compiler and an identity string (path and --version) for cache keys.
func compiler(want string) (string, string, error) {
	if want == "" {
		want = os.Getenv("MSLCPU_CXX")
	}
	cxxMu.Lock()
	defer cxxMu.Unlock()
	if c, ok := cxxFound[want]; ok {
		return c[0], c[1], nil
	}
	cands := []string{want}
	if want == "" {
		cands = []string{"clang++-16", "clang++-17", "clang++-18", "clang++-19", "clang++-20", "clang++-15", "clang++"}
	}
	var tried []string
	for _, c := range cands {
		p, err := exec.LookPath(c)
		if err != nil {
			tried = append(tried, c)
			continue
		}
		out, err := exec.Command(p, "--version").Output()
		if err != nil {
			return "", "", fmt.Errorf("mslcpu: %s --version: %v", p, err)
		}
		m := regexp.MustCompile(`clang version (\d+)`).FindSubmatch(out)
		if m == nil {
			return "", "", fmt.Errorf("mslcpu: %s is not clang (the Metal header needs clang >= 15)", p)
		}
		if v := string(m[1]); len(v) < 2 || v < "15" {
			return "", "", fmt.Errorf("mslcpu: %s is clang %s; the Metal header needs clang >= 15 (apt-get install clang-16)", p, v)
		}
		id := p + "\x00" + string(out)
		cxxFound[want] = [2]string{p, id}
		return p, id, nil
	}
	return "", "", fmt.Errorf("mslcpu: no clang++ found (tried %s); install clang >= 15, e.g. apt-get install clang-16, or set MSLCPU_CXX",
		strings.Join(tried, ", "))
}

//go:build (darwin || fakemetal) && cgo

package metal

import (
	"fmt"
	"sort"
	"strings"
	"unsafe"

	"github.com/progrium/darwinkit/macos/foundation"
	"github.com/progrium/darwinkit/macos/metal"
	"github.com/progrium/darwinkit/objc"
)

// library holds the compiled kernels — one MTLLibrary from shaders.Source, whose #line directives
// make compiler messages name the .metal file — and one compute pipeline per kernel name, built on
// first use.
type library struct {
	lib       metal.LibraryObject  // owned
	names     map[string]bool      // the library's function names
	pipelines map[string]*pipeline // by kernel name
}

// pipeline is a kernel's compute pipeline state and its limits, read once.
type pipeline struct {
	pso        metal.ComputePipelineStateObject // owned
	maxThreads int                              // maxTotalThreadsPerThreadgroup
	staticMem  int                              // staticThreadgroupMemoryLength, bytes
}

// compile compiles the library source once, with fast math off: the kernels are checked against
// the CPU backend with tight tolerances, and fast math changes exp, erf and division. Call it
// inside a pool.
func compile(dev metal.DeviceObject, source string) (*library, error) {
	opts := metal.NewCompileOptions() // autoreleased
	opts.SetFastMathEnabled(false)
	var nsErr foundation.Error
	lib := dev.NewLibraryWithSourceOptionsError(source, opts, unsafe.Pointer(&nsErr)) // owned (+1)
	if lib.IsNil() {
		return nil, fmt.Errorf("metal: compiling the kernels of package shaders: %w", nsErrorOrUnknown(nsErr))
	}
	// On success nsErr may still hold the compiler's warnings; they are not errors.
	l := &library{lib: lib, names: map[string]bool{}, pipelines: map[string]*pipeline{}}
	for _, name := range lib.FunctionNames() {
		l.names[name] = true
	}
	return l, nil
}

// kernels returns the names of every compiled kernel, sorted.
func (l *library) kernels() []string {
	names := make([]string, 0, len(l.names))
	for name := range l.names {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// pipeline returns the compute pipeline of the named kernel, building it on first use. Call it
// inside a pool.
func (l *library) pipeline(dev metal.DeviceObject, kernel string) (*pipeline, error) {
	if p, ok := l.pipelines[kernel]; ok {
		return p, nil
	}
	if !l.names[kernel] {
		return nil, fmt.Errorf("metal: no kernel named %q in the compiled shaders (have %s)",
			kernel, strings.Join(l.kernels(), ", "))
	}
	fn := l.lib.NewFunctionWithName(kernel) // owned (+1)
	if fn.IsNil() {
		return nil, fmt.Errorf("metal: the library has no function %q", kernel)
	}
	defer fn.Release()
	var nsErr foundation.Error
	// objc.Call on raw handles: darwinkit's NewComputePipelineStateWithFunctionError wraps fn with
	// objc.WrapAsProtocol, which panics on a struct (see doc.go).
	pso := metal.ComputePipelineStateObject{Object: objc.Call[objc.Object](dev, // owned (+1)
		objc.Sel("newComputePipelineStateWithFunction:error:"), fn.Object, unsafe.Pointer(&nsErr))}
	if pso.IsNil() {
		return nil, fmt.Errorf("metal: building the pipeline of kernel %s: %w", kernel, nsErrorOrUnknown(nsErr))
	}
	p := &pipeline{
		pso:        pso,
		maxThreads: int(pso.MaxTotalThreadsPerThreadgroup()),
		staticMem:  int(pso.StaticThreadgroupMemoryLength()),
	}
	l.pipelines[kernel] = p
	return p, nil
}

// release releases every pipeline and the library. Call it inside a pool.
func (l *library) release() {
	for name, p := range l.pipelines {
		p.pso.Release()
		delete(l.pipelines, name)
	}
	l.lib.Release()
	l.lib = metal.LibraryObject{}
	clear(l.names)
}

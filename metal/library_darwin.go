//go:build darwin && cgo

package metal

import (
	"fmt"
	"sort"
	"strings"
	"unsafe"

	"github.com/progrium/darwinkit/macos/foundation"
	"github.com/progrium/darwinkit/macos/metal"
)

// library holds the compiled kernels: one MTLLibrary per .metal file (each compiles on its own,
// so a compile error names its file and two op families may share helper names), the file that
// defines each kernel, and one compute pipeline per kernel name, built on first use.
type library struct {
	libs      []metal.LibraryObject                       // owned
	byKernel  map[string]metal.LibraryObject              // kernel name → its library
	pipelines map[string]metal.ComputePipelineStateObject // owned, by kernel name
}

// compile compiles each source file into a library, with fast math off: the kernels are checked
// against the CPU backend with tight tolerances, and fast math changes exp, erf and division. Call
// it inside a pool.
func compile(dev metal.DeviceObject, files []sourceFile) (*library, error) {
	l := &library{byKernel: map[string]metal.LibraryObject{}, pipelines: map[string]metal.ComputePipelineStateObject{}}
	opts := metal.NewCompileOptions() // autoreleased
	opts.SetFastMathEnabled(false)
	for _, f := range files {
		var nsErr foundation.Error
		lib := dev.NewLibraryWithSourceOptionsError(f.text, opts, unsafe.Pointer(&nsErr))
		if lib.IsNil() {
			l.release()
			return nil, fmt.Errorf("metal: compiling %s: %v", f.name, nsError(nsErr))
		}
		// On success nsErr may still hold the compiler's warnings; they are not errors.
		l.libs = append(l.libs, lib)
		for _, name := range lib.FunctionNames() {
			if _, dup := l.byKernel[name]; dup {
				l.release()
				return nil, fmt.Errorf("metal: kernel %s is defined twice (again in %s)", name, f.name)
			}
			l.byKernel[name] = lib
		}
	}
	return l, nil
}

// kernels returns the names of every compiled kernel, sorted.
func (l *library) kernels() []string {
	names := make([]string, 0, len(l.byKernel))
	for name := range l.byKernel {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// pipeline returns the compute pipeline of the named kernel, building it on first use. Call it
// inside a pool.
func (l *library) pipeline(dev metal.DeviceObject, kernel string) (metal.ComputePipelineStateObject, error) {
	if p, ok := l.pipelines[kernel]; ok {
		return p, nil
	}
	lib, ok := l.byKernel[kernel]
	if !ok {
		return metal.ComputePipelineStateObject{}, fmt.Errorf("metal: no kernel named %q in the compiled shaders (have %s)",
			kernel, strings.Join(l.kernels(), ", "))
	}
	fn := lib.NewFunctionWithName(kernel) // owned (+1)
	if fn.IsNil() {
		return metal.ComputePipelineStateObject{}, fmt.Errorf("metal: the library has no function %q", kernel)
	}
	defer fn.Release()
	var nsErr foundation.Error
	p := dev.NewComputePipelineStateWithFunctionError(fn, unsafe.Pointer(&nsErr)) // owned (+1)
	if p.IsNil() {
		return p, fmt.Errorf("metal: building the pipeline of kernel %s: %v", kernel, nsError(nsErr))
	}
	l.pipelines[kernel] = p
	return p, nil
}

// release releases every pipeline and library. Call it inside a pool.
func (l *library) release() {
	for name, p := range l.pipelines {
		p.Release()
		delete(l.pipelines, name)
	}
	for _, lib := range l.libs {
		lib.Release()
	}
	l.libs = nil
	clear(l.byKernel)
}

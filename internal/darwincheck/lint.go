package darwincheck

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/token"
	"go/types"
	"slices"
	"strconv"
	"strings"
)

// darwinkitPath is darwinkit's module path, objcPath the import path of its package objc.
const (
	darwinkitPath = "github.com/progrium/darwinkit"
	objcPath      = darwinkitPath + "/objc"
)

// isDarwinkit reports whether the import path is a package of darwinkit.
func isDarwinkit(path string) bool {
	return path == darwinkitPath || strings.HasPrefix(path, darwinkitPath+"/")
}

// Lint is what the darwinkit lint found in the checked packages (see the package doc).
type Lint struct {
	Calls    int      // objc.Call sites whose selector was checked against darwinkit
	Problems []string // each "file:line:col: message", in file and line order
	// Allowed are the findings on lines marked with a `darwincheck:allow` comment, kept out of
	// Problems: a negative-control test's deliberate bug, for instance. Each is reported here.
	Allowed []string
}

// allowMarker, in a comment on the same line, lets a finding stand (see Lint.Allowed).
const allowMarker = "darwincheck:allow"

// pkgSyntax is a type-checked package with its syntax and type information, kept for the lint.
type pkgSyntax struct {
	path   string
	pkg    *types.Package
	files  []*ast.File
	info   *types.Info
	root   bool // a package named by the patterns (or its external test), not a dependency
	module *struct{ Path, Version, GoVersion string }
}

// newInfo returns the type information the lint reads: the identifiers' objects and
// instantiations everywhere, and the types of all expressions in the checked packages only
// (darwinkit is large; the types of its identifiers are enough).
func newInfo(root bool) *types.Info {
	info := &types.Info{
		Defs:      map[*ast.Ident]types.Object{},
		Uses:      map[*ast.Ident]types.Object{},
		Instances: map[*ast.Ident]types.Instance{},
	}
	if root {
		info.Types = map[ast.Expr]types.TypeAndValue{}
	}
	return info
}

// target is what a darwinkit function called by the checked packages must not reach.
type target int

const (
	wrapAsProtocol target = iota // objc.WrapAsProtocol
	callBool                     // objc.Call[bool]
	numTargets
)

func (t target) String() string {
	if t == wrapAsProtocol {
		return "objc.WrapAsProtocol"
	}
	return "objc.Call[bool]"
}

// why explains what is wrong with reaching the target, and what to do instead.
func (t target) why() string {
	if t == wrapAsProtocol {
		return "it panics when the argument's Go type is a struct and hands Objective-C a Go-made adaptor " +
			"for an interface; send the message with objc.Call on raw handles"
	}
	return "libffi writes a whole 8-byte ffi_arg into darwinkit's 1-byte bool result; read BOOL results in a cgo shim"
}

// funcInfo is what the lint knows of one darwinkit function with a body.
type funcInfo struct {
	fn      *types.Func
	decl    *ast.FuncDecl
	info    *types.Info
	scanned bool
	direct  [numTargets]bool // the body calls the target itself
	callees []*types.Func    // darwinkit functions the body refers to (called or taken as values)
	sends   []send           // the body's objc.Call sites on the function's own receiver
}

// send is an objc.Call in darwinkit's code: the message a generated method sends to its receiver.
type send struct {
	fn       *types.Func
	sel      string
	result   types.Type   // T of objc.Call[T]
	args     []ast.Expr   // the arguments after the selector
	argTypes []types.Type // their types, where recorded (the identifiers')
	variadic bool         // the arguments are passed with ..., so they cannot be compared
}

// linter holds the state of one lint run.
type linter struct {
	fset    *token.FileSet
	sizes   types.Sizes
	version string // darwinkit's module version, e.g. "v0.5.0"

	call, sel, wrap *types.Func      // objc.Call, objc.Sel, objc.WrapAsProtocol
	object          types.Type       // objc.Object
	handle          *types.Interface // objc.Handle: what objc.Call sends as an object pointer

	funcs  map[*types.Func]*funcInfo             // every darwinkit function with a body
	chains map[*types.Func]*[numTargets][]string // memo of reaches

	lint     *Lint
	problems []problem
	allowed  map[string]map[int]bool // file → lines carrying allowMarker
}

// problem is one finding, kept with its position for sorting.
type problem struct {
	pos token.Position
	msg string
}

// runLint lints the root packages against the darwinkit sources checked with them.
func (c *checker) runLint() *Lint {
	l := &linter{
		fset:   c.fset,
		sizes:  c.sizes,
		funcs:  map[*types.Func]*funcInfo{},
		chains: map[*types.Func]*[numTargets][]string{},
		lint:   &Lint{},
	}
	objc := c.syn[objcPath]
	if objc == nil {
		return l.lint // nothing imports darwinkit: nothing to check
	}
	l.version = "(unknown version)"
	if m := objc.module; m != nil && m.Version != "" {
		l.version = m.Version
	}
	scope := objc.pkg.Scope()
	l.call, _ = scope.Lookup("Call").(*types.Func)
	l.sel, _ = scope.Lookup("Sel").(*types.Func)
	l.wrap, _ = scope.Lookup("WrapAsProtocol").(*types.Func)
	if o, ok := scope.Lookup("Object").(*types.TypeName); ok {
		l.object = o.Type()
	}
	if h, ok := scope.Lookup("Handle").(*types.TypeName); ok {
		l.handle, _ = h.Type().Underlying().(*types.Interface)
	}
	if l.call == nil || l.sel == nil || l.wrap == nil || l.object == nil || l.handle == nil {
		c.errorf("darwincheck: lint: %s lacks Call, Sel, WrapAsProtocol, Object or Handle: not the darwinkit the lint knows", objcPath)
		return l.lint
	}

	var roots []*pkgSyntax
	for _, ps := range c.syn {
		if ps.root {
			roots = append(roots, ps)
		}
		if !isDarwinkit(ps.path) {
			continue
		}
		for _, f := range ps.files {
			for _, d := range f.Decls {
				if fd, ok := d.(*ast.FuncDecl); ok && fd.Body != nil {
					if fn, ok := ps.info.Defs[fd.Name].(*types.Func); ok {
						l.funcs[fn] = &funcInfo{fn: fn, decl: fd, info: ps.info}
					}
				}
			}
		}
	}
	for _, ps := range roots {
		if !isDarwinkit(ps.path) {
			l.checkPackage(ps)
		}
	}

	slices.SortFunc(l.problems, func(a, b problem) int {
		if a.pos.Filename != b.pos.Filename {
			return strings.Compare(a.pos.Filename, b.pos.Filename)
		}
		if a.pos.Line != b.pos.Line {
			return a.pos.Line - b.pos.Line
		}
		if a.pos.Column != b.pos.Column {
			return a.pos.Column - b.pos.Column
		}
		return strings.Compare(a.msg, b.msg)
	})
	for i, p := range l.problems {
		if i > 0 && p == l.problems[i-1] {
			continue
		}
		l.lint.Problems = append(l.lint.Problems, fmt.Sprintf("%v: %s", p.pos, p.msg))
	}
	return l.lint
}

func (l *linter) report(pos token.Pos, format string, args ...any) {
	p := problem{l.fset.Position(pos), fmt.Sprintf(format, args...)}
	if l.allowed[p.pos.Filename][p.pos.Line] {
		l.lint.Allowed = append(l.lint.Allowed, fmt.Sprintf("%v: %s", p.pos, p.msg))
		return
	}
	l.problems = append(l.problems, p)
}

// markAllowed records the lines of f that carry allowMarker in a comment.
func (l *linter) markAllowed(f *ast.File) {
	for _, g := range f.Comments {
		for _, c := range g.List {
			if strings.Contains(c.Text, allowMarker) {
				pos := l.fset.Position(c.Pos())
				if l.allowed == nil {
					l.allowed = map[string]map[int]bool{}
				}
				if l.allowed[pos.Filename] == nil {
					l.allowed[pos.Filename] = map[int]bool{}
				}
				l.allowed[pos.Filename][pos.Line] = true
			}
		}
	}
}

// checkPackage reports, in one checked package, every reference to a darwinkit function that
// reaches a target and every objc.Call whose message does not match darwinkit's.
func (l *linter) checkPackage(ps *pkgSyntax) {
	for _, f := range ps.files {
		l.markAllowed(f)
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.Ident:
				fn, ok := ps.info.Uses[n].(*types.Func)
				if !ok {
					break
				}
				fn = fn.Origin()
				switch {
				case fn == l.call:
					// Called or not: objc.Call[bool] is never safe. The message is checked at the
					// call (checkCall).
					if t := resultType(ps.info, n); t != nil && isBool(t) {
						l.report(n.Pos(), "objc.Call[%s]: %s", typeString(t), callBool.why())
					}
				case fn == l.wrap:
					l.report(n.Pos(), "calls %s: %s", wrapAsProtocol, wrapAsProtocol.why())
				case l.funcs[fn] != nil:
					for t := range numTargets {
						if chain := l.reaches(fn, t); chain != nil {
							l.report(n.Pos(), "calls %s, which reaches %s (%s): %s",
								chain[0], t, strings.Join(chain, " → "), t.why())
						}
					}
				}
			case *ast.CallExpr:
				if id := l.callee(ps.info, n); id != nil {
					l.checkCall(ps.info, n, id)
				}
			}
			return true
		})
	}
}

// callee returns the identifier of objc.Call if call calls it, else nil.
func (l *linter) callee(info *types.Info, call *ast.CallExpr) *ast.Ident {
	fun := ast.Unparen(call.Fun)
	switch e := fun.(type) {
	case *ast.IndexExpr:
		fun = e.X
	case *ast.IndexListExpr:
		fun = e.X
	}
	var id *ast.Ident
	switch e := ast.Unparen(fun).(type) {
	case *ast.Ident:
		id = e
	case *ast.SelectorExpr:
		id = e.Sel
	default:
		return nil
	}
	if fn, ok := info.Uses[id].(*types.Func); ok && fn.Origin() == l.call {
		return id
	}
	return nil
}

// resultType returns T of the objc.Call[T] whose identifier is id.
func resultType(info *types.Info, id *ast.Ident) types.Type {
	if inst, ok := info.Instances[id]; ok && inst.TypeArgs.Len() == 1 {
		return inst.TypeArgs.At(0)
	}
	return nil
}

// isBool reports whether t is a boolean type.
func isBool(t types.Type) bool {
	b, ok := t.Underlying().(*types.Basic)
	return ok && b.Info()&types.IsBoolean != 0
}

// selector returns the constant string of an objc.Sel("…") expression.
func (l *linter) selector(info *types.Info, e ast.Expr) (string, bool) {
	call, ok := ast.Unparen(e).(*ast.CallExpr)
	if !ok || len(call.Args) != 1 {
		return "", false
	}
	var id *ast.Ident
	switch f := ast.Unparen(call.Fun).(type) {
	case *ast.Ident:
		id = f
	case *ast.SelectorExpr:
		id = f.Sel
	default:
		return "", false
	}
	if fn, ok := info.Uses[id].(*types.Func); !ok || fn != l.sel {
		return "", false
	}
	if v := info.Types[call.Args[0]].Value; v != nil && v.Kind() == constant.String {
		return constant.StringVal(v), true
	}
	if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
		s, err := strconv.Unquote(lit.Value)
		return s, err == nil
	}
	return "", false
}

// scan reads a darwinkit function's body once: what it refers to and which messages it sends.
func (l *linter) scan(fi *funcInfo) {
	if fi.scanned {
		return
	}
	fi.scanned = true
	var recv types.Object // the method's receiver, if it has a name
	if r := fi.decl.Recv; r != nil && len(r.List) == 1 && len(r.List[0].Names) == 1 {
		recv = fi.info.Defs[r.List[0].Names[0]]
	}
	seen := map[*types.Func]bool{}
	ast.Inspect(fi.decl.Body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.Ident:
			callee, ok := fi.info.Uses[n].(*types.Func)
			if !ok {
				break
			}
			callee = callee.Origin()
			switch {
			case callee == l.wrap:
				fi.direct[wrapAsProtocol] = true
			case callee == l.call:
				if t := resultType(fi.info, n); t != nil && isBool(t) {
					fi.direct[callBool] = true
				}
			case l.funcs[callee] != nil && !seen[callee]:
				seen[callee] = true
				fi.callees = append(fi.callees, callee)
			}
		case *ast.CallExpr:
			id := l.callee(fi.info, n)
			if id == nil || recv == nil || len(n.Args) < 2 {
				break
			}
			if r, ok := ast.Unparen(n.Args[0]).(*ast.Ident); !ok || fi.info.Uses[r] != recv {
				break
			}
			sel, ok := l.selector(fi.info, n.Args[1])
			if !ok {
				break
			}
			s := send{fn: fi.fn, sel: sel, result: resultType(fi.info, id), args: n.Args[2:], variadic: n.Ellipsis.IsValid()}
			for _, a := range s.args {
				s.argTypes = append(s.argTypes, fi.info.TypeOf(a))
			}
			fi.sends = append(fi.sends, s)
		}
		return true
	})
}

// reaches returns the chain of darwinkit functions, by name, from fn to the target (fn first, the
// target last), or nil if fn's body does not reach it through static calls. Calls through
// interfaces and function values are not followed.
func (l *linter) reaches(fn *types.Func, t target) []string {
	if memo, ok := l.chains[fn]; ok {
		return memo[t]
	}
	var memo [numTargets][]string
	for t := range numTargets {
		// Breadth first, so the chain reported is a shortest one.
		prev := map[*types.Func]*types.Func{fn: nil}
		queue := []*types.Func{fn}
		for len(queue) > 0 {
			f := queue[0]
			queue = queue[1:]
			fi := l.funcs[f]
			l.scan(fi)
			if fi.direct[t] {
				chain := []string{t.String()}
				for ; f != nil; f = prev[f] {
					chain = append(chain, funcName(f))
				}
				slices.Reverse(chain)
				memo[t] = chain
				break
			}
			for _, g := range fi.callees {
				if _, ok := prev[g]; !ok {
					prev[g] = f
					queue = append(queue, g)
				}
			}
		}
	}
	l.chains[fn] = &memo
	return memo[t]
}

// funcName names a function as "pkg.F" or "pkg.T.M".
func funcName(fn *types.Func) string {
	name := fn.Name()
	if recv := fn.Signature().Recv(); recv != nil {
		t := recv.Type()
		if p, ok := t.(*types.Pointer); ok {
			t = p.Elem()
		}
		if n, ok := t.(*types.Named); ok {
			name = n.Obj().Name() + "." + name
		}
	}
	if fn.Pkg() != nil {
		name = fn.Pkg().Name() + "." + name
	}
	return name
}

// typeString writes t with package names, e.g. metal.ComputeCommandEncoderObject.
func typeString(t types.Type) string {
	return types.TypeString(t, func(p *types.Package) string { return p.Name() })
}

// checkCall checks one objc.Call of a checked package: a constant selector that a darwinkit
// method of the receiver's type sends, with as many arguments as the selector has colons, each
// marshalled as darwinkit marshals its own, and the result read as darwinkit reads it.
func (l *linter) checkCall(info *types.Info, call *ast.CallExpr, id *ast.Ident) {
	l.lint.Calls++
	result := resultType(info, id)
	if len(call.Args) < 2 {
		return // not valid Go: the type-check reports it
	}
	sel, ok := l.selector(info, call.Args[1])
	if !ok {
		l.report(call.Args[1].Pos(), "the selector of objc.Call is not objc.Sel of a constant string, so it cannot be checked against darwinkit %s", l.version)
		return
	}
	recv := info.TypeOf(call.Args[0])
	if recv == nil {
		return
	}
	if p, ok := recv.(*types.Pointer); ok {
		recv = p.Elem()
	}
	switch {
	case types.Identical(recv, l.object):
		l.report(call.Args[0].Pos(), "the receiver of %q is a plain objc.Object, which cannot be checked against darwinkit: give it its darwinkit type (e.g. metal.DeviceObject{Object: o})", sel)
		return
	case types.IsInterface(recv):
		l.report(call.Args[0].Pos(), "the receiver of %q has the interface type %s, which cannot be checked against darwinkit: give it its darwinkit struct type (e.g. metal.DeviceObject)", sel, typeString(recv))
		return
	}
	sends := l.sendsOf(recv, sel)
	if len(sends) == 0 {
		l.report(call.Args[1].Pos(), "selector %q is not a method of %s in darwinkit %s", sel, typeString(recv), l.version)
		return
	}
	args := call.Args[2:]
	if call.Ellipsis.IsValid() {
		l.report(call.Ellipsis, "the arguments of %q are passed with ..., so they cannot be checked against darwinkit: pass them one by one", sel)
		return
	}
	if n := strings.Count(sel, ":"); n != len(args) {
		l.report(call.Args[1].Pos(), "selector %q takes %d argument(s), one per colon; the call passes %d", sel, n, len(args))
		return
	}
	var best []problem
	for _, s := range sends {
		ps := l.compare(info, call, id, result, s)
		if len(ps) == 0 {
			return
		}
		if best == nil || len(ps) < len(best) {
			best = ps
		}
	}
	l.problems = append(l.problems, best...)
}

// sendsOf returns the messages with the selector that darwinkit's methods of type t (its own and
// those promoted through embedded fields) send to their receiver.
func (l *linter) sendsOf(t types.Type, sel string) []send {
	var sends []send
	ms := types.NewMethodSet(types.NewPointer(t))
	for i := range ms.Len() {
		fi := l.funcs[ms.At(i).Obj().(*types.Func).Origin()]
		if fi == nil {
			continue
		}
		l.scan(fi)
		for _, s := range fi.sends {
			if s.sel == sel {
				sends = append(sends, s)
			}
		}
	}
	return sends
}

// compare returns how an objc.Call of a checked package differs from darwinkit's send s of the
// same selector: the number of arguments, the marshalling of each, that of the result.
func (l *linter) compare(info *types.Info, call *ast.CallExpr, id *ast.Ident, result types.Type, s send) []problem {
	var ps []problem
	add := func(pos token.Pos, format string, args ...any) {
		ps = append(ps, problem{l.fset.Position(pos), fmt.Sprintf(format, args...)})
	}
	by := funcName(s.fn)
	if result != nil && s.result != nil {
		if got, want := l.kindOf(result), l.kindOf(s.result); !got.matches(want) {
			add(id.Pos(), "objc.Call[%s] reads the result of %q as %s; darwinkit's %s reads it with objc.Call[%s], as %s",
				typeString(result), s.sel, got, by, typeString(s.result), want)
		}
	}
	if s.variadic {
		return ps
	}
	args := call.Args[2:]
	if len(args) != len(s.args) {
		add(call.Args[1].Pos(), "%q is sent with %d argument(s); darwinkit's %s sends %d", s.sel, len(args), by, len(s.args))
		return ps
	}
	for i, a := range args {
		if s.argTypes[i] == nil {
			continue // not an identifier in darwinkit (e.g. objc.Ptr(x)): its type was not recorded
		}
		got, want := l.kindOf(info.TypeOf(a)), l.kindOf(s.argTypes[i])
		if !got.matches(want) {
			add(a.Pos(), "argument %d of %q has type %s, %s; darwinkit's %s passes %s of type %s, %s",
				i+1, s.sel, typeString(info.TypeOf(a)), got, by, types.ExprString(s.args[i]), typeString(s.argTypes[i]), want)
		}
	}
	return ps
}

// kind is how darwinkit's objc.Call marshals a Go value for libffi: by the reflect kind of its
// dynamic type (see toFFIType and convertToObjcValue in darwinkit's objc package).
type kind struct {
	name string
	t    types.Type // the struct type, for a struct passed by value
}

// String describes the kind, e.g. "an unsigned 64-bit integer (NSUInteger)".
func (k kind) String() string {
	if k.name == "struct" {
		return "the struct " + typeString(k.t) + " by value"
	}
	return k.name
}

// matches reports whether a value of kind k is marshalled as one of kind want is: the same kind
// (the same type, for a struct), a nil where darwinkit passes an object or a pointer, or an object
// where darwinkit passes a Go string (which it makes an NSString).
func (k kind) matches(want kind) bool {
	switch {
	case k.name == "struct" || want.name == "struct":
		return k.name == want.name && types.Identical(k.t, want.t)
	case k.name == want.name:
		return true
	case k.name == nameNil:
		return want.name == nameObject || want.name == namePointer
	case k.name == nameObject:
		return want.name == nameString
	}
	return false
}

// The kinds that matches relates.
const (
	nameNil     = "nil"
	nameObject  = "an object"
	namePointer = "a pointer"
	nameString  = "a Go string (an NSString)"
)

// kindOf classifies a Go type as darwinkit marshals it.
func (l *linter) kindOf(t types.Type) kind {
	if t == nil {
		return kind{name: "of unknown type"}
	}
	if b, ok := t.(*types.Basic); ok && b.Kind() == types.UntypedNil {
		return kind{name: nameNil}
	}
	switch u := t.Underlying().(type) {
	case *types.Basic:
		switch u.Kind() {
		case types.Bool, types.UntypedBool:
			return kind{name: "a bool (BOOL)"}
		case types.Int8:
			return kind{name: "a signed 8-bit integer"}
		case types.Int16:
			return kind{name: "a signed 16-bit integer"}
		case types.Int32, types.UntypedRune:
			return kind{name: "a signed 32-bit integer"}
		case types.Int, types.Int64, types.UntypedInt:
			return kind{name: "a signed 64-bit integer (NSInteger)"}
		case types.Uint8:
			return kind{name: "an unsigned 8-bit integer"}
		case types.Uint16:
			return kind{name: "an unsigned 16-bit integer"}
		case types.Uint32:
			return kind{name: "an unsigned 32-bit integer"}
		case types.Uint, types.Uint64, types.Uintptr:
			return kind{name: "an unsigned 64-bit integer (NSUInteger)"}
		case types.Float32:
			return kind{name: "a float32 (float)"}
		case types.Float64, types.UntypedFloat:
			return kind{name: "a float64 (double, CGFloat)"}
		case types.UnsafePointer:
			return kind{name: namePointer}
		case types.String, types.UntypedString:
			return kind{name: nameString}
		}
	case *types.Pointer:
		if b, ok := u.Elem().Underlying().(*types.Basic); ok && b.Kind() == types.String {
			return kind{name: nameString}
		}
		return kind{name: namePointer}
	case *types.Interface:
		if types.Implements(t, l.handle) {
			return kind{name: nameObject}
		}
	case *types.Struct:
		if l.sizes.Sizeof(t) == 0 {
			return kind{name: "nothing (objc.Void)"}
		}
		if types.Implements(t, l.handle) {
			return kind{name: nameObject}
		}
		return kind{name: "struct", t: t}
	case *types.Slice:
		return kind{name: "a slice (an NSArray or NSData)"}
	case *types.Map:
		return kind{name: "a map (an NSDictionary)"}
	case *types.Signature:
		return kind{name: "a func (a block)"}
	}
	return kind{name: "a value darwinkit cannot marshal"}
}

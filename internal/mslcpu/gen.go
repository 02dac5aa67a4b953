package mslcpu

// The generator turns a .metal compute source into a C++ translation unit that compiles against
// msl_cpu.h: it rewrites threadgroup variable declarations into per-threadgroup storage owned by
// the runtime and appends, for every kernel, a wrapper that binds buffers, threadgroup memory and
// the built-in thread ids from their MSL attributes. Rewrites never add or remove lines, and
// #line directives map everything back to the .metal file, so diagnostics name .metal lines.

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

type tok struct {
	s    string
	off  int
	line int
	kind byte   // 'i' ident, 'n' number, 's' string, 'p' punct
	file string // from the last #line directive, "" before any
}

// lineDirective matches `#line 12 "file"` and the short form `# 12 "file"`.
var lineDirective = regexp.MustCompile(`^#\s*(?:line\s+)?(\d+)(?:\s+"([^"]*)")?\s*$`)

// lex splits src into tokens that carry their line and, after a #line directive naming a file,
// that file ("" until then).
func lex(src string) ([]tok, error) {
	var ts []tok
	line := 1
	file := ""
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			i++
		case strings.HasPrefix(src[i:], "//"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case strings.HasPrefix(src[i:], "/*"):
			j := strings.Index(src[i+2:], "*/")
			if j < 0 {
				return nil, fmt.Errorf("%d: unterminated comment", line)
			}
			line += strings.Count(src[i:i+2+j+2], "\n")
			i += 2 + j + 2
		case c == '#': // preprocessor line: skip (with continuations), but follow #line
			start := i
			for i < len(src) && src[i] != '\n' {
				if src[i] == '\\' && i+1 < len(src) && src[i+1] == '\n' {
					line++
					i++
				}
				i++
			}
			if m := lineDirective.FindStringSubmatch(src[start:i]); m != nil {
				n, _ := strconv.Atoi(m[1])
				line = n - 1 // the newline ending the directive starts line n
				if m[2] != "" {
					file = m[2]
				}
			}
		case c == '"' || c == '\'':
			j := i + 1
			for j < len(src) && src[j] != c {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			ts = append(ts, tok{src[i : j+1], i, line, 's', file})
			i = j + 1
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(src) && (src[j] == '_' || src[j] >= 'a' && src[j] <= 'z' || src[j] >= 'A' && src[j] <= 'Z' || src[j] >= '0' && src[j] <= '9') {
				j++
			}
			ts = append(ts, tok{src[i:j], i, line, 'i', file})
			i = j
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9':
			j := i
			for j < len(src) && (src[j] == '.' || src[j] == '_' || src[j] >= '0' && src[j] <= '9' || src[j] >= 'a' && src[j] <= 'z' || src[j] >= 'A' && src[j] <= 'Z' ||
				(src[j] == '+' || src[j] == '-') && (src[j-1] == 'e' || src[j-1] == 'E')) {
				j++
			}
			ts = append(ts, tok{src[i:j], i, line, 'n', file})
			i = j
		default:
			n := 1
			for _, p := range []string{"[[", "]]", "::", "->", "<<", ">>", "&&", "||", "==", "!=", "<=", ">=", "++", "--", "+=", "-=", "*=", "/="} {
				if strings.HasPrefix(src[i:], p) {
					n = 2
					break
				}
			}
			ts = append(ts, tok{src[i : i+n], i, line, 'p', file})
			i += n
		}
	}
	return ts, nil
}

// param is one kernel parameter.
type param struct {
	Type, Name, Attr, AttrArg string
	Line                      int
	Loc                       string // file:line for messages
}

// kernelDecl is one `kernel void name(...)` entry point.
type kernelDecl struct {
	Name       string
	File       string // file of the kernel (after #line directives)
	Line       int
	Params     []param
	MaxThreads string // [[max_total_threads_per_threadgroup(n)]] argument, or ""
}

// info is the kernel's interface as Program.Info reports it. Indices the generator has already
// validated parse as integers; any other text counts as no binding.
func (k kernelDecl) info() KernelInfo {
	ki := KernelInfo{MaxThreads: MaxThreadsPerThreadgroup}
	if n, err := strconv.Atoi(strings.TrimSpace(k.MaxThreads)); err == nil && n > 0 {
		ki.MaxThreads = n
	}
	for _, p := range k.Params {
		n, err := strconv.Atoi(strings.TrimSpace(p.AttrArg))
		if err != nil {
			continue
		}
		switch p.Attr {
		case "buffer":
			ki.Buffers = append(ki.Buffers, n)
		case "threadgroup":
			ki.Threadgroups = append(ki.Threadgroups, n)
		}
	}
	return ki
}

var builtins = map[string]string{
	"thread_position_in_grid":          "id.tpig",
	"thread_position_in_threadgroup":   "id.tptg",
	"threadgroup_position_in_grid":     "id.tgpig",
	"threads_per_threadgroup":          "id.tptgs",
	"dispatch_threads_per_threadgroup": "id.dtptg",
	"threadgroups_per_grid":            "id.tgpg",
	"threads_per_grid":                 "id.tpg",
	"thread_index_in_threadgroup":      "id.tiitg",
	"thread_index_in_simdgroup":        "id.tiisg",
	"simdgroup_index_in_threadgroup":   "id.sgitg",
	"threads_per_simdgroup":            "id.tpsg",
	"thread_execution_width":           "id.tpsg",
	"simdgroups_per_threadgroup":       "id.sgptg",
}

func join(ts []tok) string {
	var b strings.Builder
	for i, t := range ts {
		if i > 0 && (t.kind == 'i' || t.kind == 'n') && (ts[i-1].kind == 'i' || ts[i-1].kind == 'n') {
			b.WriteByte(' ')
		} else if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(t.s)
	}
	return b.String()
}

// loc formats the position of t for messages: its #line file (or file) and line.
func loc(file string, t tok) string {
	if t.file != "" {
		file = t.file
	}
	return fmt.Sprintf("%s:%d", file, t.line)
}

// maxThreadsAttr is the [[max_total_threads_per_threadgroup(n)]] kernel attribute.
const maxThreadsAttr = "max_total_threads_per_threadgroup"

// splitTop splits the declaration tokens ts at depth-0 occurrences of sep (depth counts (), [],
// {} and template brackets <>).
func splitTop(ts []tok, sep string) [][]tok {
	var out [][]tok
	depth, start := 0, 0
	for i, t := range ts {
		switch t.s {
		case "(", "[", "{", "[[", "<":
			depth++
		case ")", "]", "}", "]]", ">":
			depth--
		case ">>":
			depth -= 2
		}
		if depth == 0 && t.s == sep {
			out = append(out, ts[start:i])
			start = i + 1
		}
	}
	return append(out, ts[start:])
}

// tgDecl parses the declaration `threadgroup T a[..], b[..];` whose tokens after the keyword are
// body (without the semicolon). It returns the element type and the declarators (name, array
// dimensions), or ok=false when the statement declares a pointer or reference into threadgroup
// memory (then `threadgroup` is a type qualifier and stays as it is).
func tgDecl(body []tok) (typ string, names, dims []string, ok bool) {
	parts := splitTop(body, ",")
	for pi, p := range parts {
		depth := 0
		for _, t := range p {
			switch t.s {
			case "[", "[[", "<":
				depth++
			case "]", "]]", ">":
				depth--
			case "*", "&", "&&", "=", "(":
				if depth == 0 {
					return "", nil, nil, false
				}
			}
		}
		br := len(p)
		for i, t := range p {
			if t.s == "[" {
				br = i
				break
			}
		}
		if pi == 0 {
			if br < 2 || p[br-1].kind != 'i' {
				return "", nil, nil, false
			}
			typ = join(p[:br-1])
			names = append(names, p[br-1].s)
		} else {
			if br != 1 || p[0].kind != 'i' {
				return "", nil, nil, false
			}
			names = append(names, p[0].s)
		}
		dims = append(dims, join(p[br:]))
	}
	return typ, names, dims, typ != ""
}

// generate returns the C++ translation unit for the .metal source src; file is the name used in
// #line directives and messages. With staticTG, each kernel's entry carries the C++ expression of
// its static threadgroup memory where it can be computed at file scope (staticThreadgroupMemory);
// without it, or where it cannot, -1 (unknown).
func generate(file, src string, staticTG bool) (string, []kernelDecl, error) {
	ts, err := lex(src)
	if err != nil {
		return "", nil, fmt.Errorf("%s:%w", file, err)
	}
	type edit struct {
		off, n int
		s      string
	}
	var edits []edit
	var decls []tgVar
	// 1. threadgroup declarations at statement start become references into runtime storage.
	inAttr := false
	nvar := 0
	for i := 0; i < len(ts); i++ {
		t := ts[i]
		switch {
		case t.s == "[[":
			inAttr = true
		case t.s == "]]":
			inAttr = false
		case t.kind == 'i' && t.s == "threadgroup" && inAttr:
			// [[threadgroup(n)]]: keep the attribute parseable once `threadgroup` is a macro
			edits = append(edits, edit{t.off, len(t.s), "mslcpu_threadgroup"})
		case t.kind == 'i' && t.s == "threadgroup" && (i == 0 || ts[i-1].s == ";" || ts[i-1].s == "{" || ts[i-1].s == "}"):
			j := i + 1
			depth := 0
			for ; j < len(ts); j++ {
				switch ts[j].s {
				case "(", "[", "{":
					depth++
				case ")", "]", "}":
					depth--
				}
				if depth == 0 && ts[j].s == ";" || depth < 0 {
					break
				}
			}
			if j >= len(ts) || ts[j].s != ";" {
				continue
			}
			typ, names, dims, ok := tgDecl(ts[i+1 : j])
			if !ok {
				continue
			}
			var b strings.Builder
			for k, name := range names {
				decls = append(decls, tgVar{at: i, typ: typ, dims: dims[k], idents: idents(ts[i+1:j], names)})
				id := fmt.Sprintf("mslcpu_tg%d", nvar)
				nvar++
				// One line: `static char key; using T_ = type dims; threadgroup T_ &name = storage;`
				fmt.Fprintf(&b, "static char %s_key; using %s_t = %s %s; threadgroup %s_t &%s = *(threadgroup %s_t *)(uintptr_t)mslcpu::tg_var(&%s_key, sizeof(%s_t), alignof(%s_t), %q); ",
					id, id, typ, dims[k], id, name, id, id, id, id, name)
			}
			end := ts[j].off + 1
			b.WriteString(strings.Repeat("\n", strings.Count(src[t.off:end], "\n")))
			edits = append(edits, edit{t.off, end - t.off, b.String()})
			i = j
		}
	}
	// 2. find kernels
	var ks []kernelDecl
	for i := 0; i < len(ts); i++ {
		isKernel := ts[i].kind == 'i' && ts[i].s == "kernel"
		if ts[i].s == "[[" && i+2 < len(ts) && ts[i+1].s == "kernel" && ts[i+2].s == "]]" {
			isKernel = true
			i += 2
		}
		if !isKernel {
			continue
		}
		if i > 0 && ts[i-1].s == ">" {
			return "", nil, fmt.Errorf("%s: templated kernels are not supported by the harness; write one kernel per variant", loc(file, ts[i]))
		}
		if i+3 >= len(ts) || ts[i+1].s != "void" || ts[i+2].kind != 'i' || ts[i+3].s != "(" {
			if i > 0 && ts[i-1].s == "template" || i > 0 && ts[i-1].s == ">" || i+1 < len(ts) && ts[i+1].s == "decltype" {
				return "", nil, fmt.Errorf("%s: templated kernels and [[host_name]] instantiations are not supported by the harness; write one kernel per variant", loc(file, ts[i]))
			}
			continue
		}
		k := kernelDecl{Name: ts[i+2].s, Line: ts[i].line, File: ts[i].file}
		if k.File == "" {
			k.File = file
		}
		// [[max_total_threads_per_threadgroup(n)]] right before `kernel`
		for a := i - 1; a >= 5 && ts[a].s == "]]"; {
			if ts[a-5].s == "[[" && ts[a-4].s == maxThreadsAttr && ts[a-3].s == "(" && ts[a-1].s == ")" {
				k.MaxThreads = ts[a-2].s
			}
			a -= 6
		}
		j := i + 4
		depth := 0
		var cur []tok
		var params [][]tok
		for ; j < len(ts); j++ {
			s := ts[j].s
			if depth == 0 && s == ")" {
				break
			}
			switch s {
			case "(", "[[", "<", "[":
				depth++
			case ")", "]]", ">", "]":
				depth--
			}
			if depth == 0 && s == "," {
				params = append(params, cur)
				cur = nil
				continue
			}
			cur = append(cur, ts[j])
		}
		if len(cur) > 0 {
			params = append(params, cur)
		}
		// [[max_total_threads_per_threadgroup(n)]] after the parameter list
		if j+6 < len(ts) && ts[j+1].s == "[[" && ts[j+2].s == maxThreadsAttr && ts[j+3].s == "(" {
			k.MaxThreads = ts[j+4].s
		}
		for _, p := range params {
			var prm param
			a := -1
			for x, t := range p {
				if t.s == "[[" {
					a = x
					break
				}
			}
			decl := p
			if a >= 0 {
				decl = p[:a]
				attr := p[a+1:]
				if len(attr) > 0 && attr[len(attr)-1].s == "]]" {
					attr = attr[:len(attr)-1]
				}
				if len(attr) == 0 {
					return "", nil, fmt.Errorf("%s: kernel %s: empty attribute on parameter %q", loc(file, p[0]), k.Name, join(p))
				}
				prm.Attr = attr[0].s
				if len(attr) >= 4 && attr[1].s == "(" {
					prm.AttrArg = join(attr[2 : len(attr)-1])
				}
			}
			if len(decl) < 2 || decl[len(decl)-1].kind != 'i' {
				return "", nil, fmt.Errorf("%s: cannot parse parameter %q of kernel %s", loc(file, p[0]), join(p), k.Name)
			}
			prm.Name = decl[len(decl)-1].s
			prm.Type = join(decl[:len(decl)-1])
			prm.Line = p[0].line
			prm.Loc = loc(file, p[0])
			k.Params = append(k.Params, prm)
		}
		ks = append(ks, k)
		i = j
	}
	// 3. the translation unit: header, rewritten source under #line, wrappers
	var out strings.Builder
	fmt.Fprintf(&out, "// Code generated by mslcpu from %s. DO NOT EDIT.\n#define MSLCPU_KERNEL_TU 1\n#include \"msl_cpu.h\"\n#line 1 %q\n", file, file)
	last := 0
	for _, e := range edits {
		out.WriteString(src[last:e.off])
		out.WriteString(e.s)
		last = e.off + e.n
	}
	out.WriteString(src[last:])
	out.WriteString("\n\n// ---- bindings ----\n")
	for _, k := range ks {
		fmt.Fprintf(&out, "#line %d %q\nstatic void mslcpu_wrap_%s(const mslcpu::binding &b, const mslcpu::ids &id) {\n  (void)b; (void)id;\n  %s(", k.Line, k.File, k.Name, k.Name)
		for pi, p := range k.Params {
			if pi > 0 {
				out.WriteString(",")
			}
			out.WriteString("\n    ")
			typ := p.Type
			switch {
			case p.Attr == "buffer":
				switch {
				case strings.HasSuffix(typ, "*"):
					fmt.Fprintf(&out, "(%s)(uintptr_t)mslcpu::need_buffer(b, %s, 0, %q, %q)", typ, p.AttrArg, k.Name, p.Name)
				case strings.HasSuffix(typ, "&"):
					elem := strings.TrimSuffix(typ, "&")
					fmt.Fprintf(&out, "*(%s*)(uintptr_t)mslcpu::need_buffer(b, %s, sizeof(%s), %q, %q)", elem, p.AttrArg, elem, k.Name, p.Name)
				default:
					return "", nil, fmt.Errorf("%s: kernel %s: buffer parameter %s must be a pointer or a reference", p.Loc, k.Name, p.Name)
				}
			case p.Attr == "threadgroup":
				fmt.Fprintf(&out, "(%s)(uintptr_t)mslcpu::need_tgmem(b, %s, %q, %q)", typ, p.AttrArg, k.Name, p.Name)
			case builtins[p.Attr] != "":
				fmt.Fprintf(&out, "mslcpu::builtin<%s>(%s)", typ, builtins[p.Attr])
			case p.Attr == "":
				return "", nil, fmt.Errorf("%s: kernel %s: parameter %s has no attribute ([[buffer(n)]], [[threadgroup(n)]] or a thread-position attribute)", p.Loc, k.Name, p.Name)
			default:
				return "", nil, fmt.Errorf("%s: kernel %s: parameter %s has the attribute [[%s]], which the harness does not model", p.Loc, k.Name, p.Name, p.Attr)
			}
		}
		out.WriteString(");\n}\n")
	}
	static := map[string]string{}
	if staticTG {
		static = staticThreadgroupMemory(src, ts, decls)
	}
	out.WriteString("static const mslcpu::kernel_entry mslcpu_kernels[] = {\n")
	for _, k := range ks {
		mt := k.MaxThreads
		if mt == "" {
			mt = "0"
		}
		fmt.Fprintf(&out, "  {%q, mslcpu_wrap_%s, %s, %s},\n", k.Name, k.Name, mt, cmp.Or(static[k.Name], "-1"))
	}
	if len(ks) == 0 {
		out.WriteString("  {nullptr, nullptr, 0, -1},\n")
	}
	fmt.Fprintf(&out, "};\nstatic const int mslcpu_registered = (mslcpu::register_kernels(mslcpu_kernels, %d), 0);\n", len(ks))
	return out.String(), ks, nil
}

// tgVar is one threadgroup variable declared in a function body: `threadgroup typ name dims;` at
// token index at; idents are the identifiers of its type and dimensions.
type tgVar struct {
	at        int
	typ, dims string
	idents    []string
}

// idents returns the identifiers among ts but the names declared.
func idents(ts []tok, declared []string) []string {
	var out []string
	for _, t := range ts {
		if t.kind == 'i' && !slices.Contains(declared, t.s) {
			out = append(out, t.s)
		}
	}
	return out
}

// defineName matches a #define directive and captures the macro's name.
var defineName = regexp.MustCompile(`(?m)^[ \t]*#[ \t]*define[ \t]+([A-Za-z_][A-Za-z0-9_]*)`)

// mslTypeName matches the scalar, vector, matrix, atomic and SIMD-group types of MSL and the C++
// words a threadgroup declaration's type may use.
var mslTypeName = regexp.MustCompile(`^(?:(?:bool|char|uchar|short|ushort|int|uint|long|ulong|half|float|bfloat)(?:[234](?:x[234])?)?|atomic_(?:int|uint|bool|float)|simdgroup_\w+|unsigned|signed|const|volatile|struct|metal|packed_\w+)$`)

// staticThreadgroupMemory returns, by kernel name, the C++ expression of the threadgroup memory its
// declared threadgroup variables take — theirs and those of the functions it names, transitively:
// a real compiler inlines them and allocates all of them statically — in bytes, each rounded up to
// 16 as the runtime allocates them (tg_var). A kernel whose variables name anything that is not
// visible at file scope (a template parameter, a local constant) is left out: its static memory
// is unknown. The runtime checks at every dispatch that a kernel's variables never take more
// than this count.
func staticThreadgroupMemory(src string, ts []tok, decls []tgVar) map[string]string {
	// Functions at file scope: name → the token range of its body. Names at file scope.
	type fn struct {
		name   string
		lo, hi int
	}
	var fns []fn
	fileScope := map[string]bool{}
	for _, m := range defineName.FindAllStringSubmatch(src, -1) {
		fileScope[m[1]] = true
	}
	for i := 0; i < len(ts); i++ {
		t := ts[i]
		if t.s != "{" {
			if t.kind == 'i' {
				fileScope[t.s] = true
			}
			continue
		}
		depth, j := 0, i
		for ; j < len(ts); j++ {
			switch ts[j].s {
			case "{":
				depth++
			case "}":
				depth--
			}
			if depth == 0 {
				break
			}
		}
		// A function body follows `name ( … )`, perhaps with attributes or qualifiers between.
		k := i - 1
		for k >= 0 && (ts[k].s == "]]" || ts[k].s == "const") {
			if ts[k].s == "]]" {
				for k >= 0 && ts[k].s != "[[" {
					k--
				}
			}
			k--
		}
		if k >= 0 && ts[k].s == ")" {
			d := 0
			for ; k >= 0; k-- {
				if ts[k].s == ")" {
					d++
				} else if ts[k].s == "(" {
					d--
					if d == 0 {
						break
					}
				}
			}
			if k > 0 && ts[k-1].kind == 'i' {
				fns = append(fns, fn{ts[k-1].s, i, j})
			}
		} else {
			// not a function (a struct, an initialiser): its names are file-scope names
			for _, u := range ts[i:min(j, len(ts)-1)] {
				if u.kind == 'i' {
					fileScope[u.s] = true
				}
			}
		}
		i = j
	}
	// Each function's own variables and the functions it names.
	own := map[string][]int{}
	names := map[string][]string{}
	isFn := map[string]bool{}
	for _, f := range fns {
		isFn[f.name] = true
	}
	for _, f := range fns {
		for di, d := range decls {
			if d.at > f.lo && d.at < f.hi {
				own[f.name] = append(own[f.name], di)
			}
		}
		for _, t := range ts[f.lo:f.hi] {
			if t.kind == 'i' && isFn[t.s] && t.s != f.name {
				names[f.name] = append(names[f.name], t.s)
			}
		}
	}
	out := map[string]string{}
	for _, f := range fns {
		seen := map[string]bool{}
		stack := []string{f.name}
		var terms []string
		ok := true
		for len(stack) > 0 {
			g := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[g] {
				continue
			}
			seen[g] = true
			for _, di := range own[g] {
				d := decls[di]
				for _, id := range d.idents {
					if !fileScope[id] && !mslTypeName.MatchString(id) {
						ok = false
					}
				}
				terms = append(terms, fmt.Sprintf("mslcpu::tg_padded(sizeof(%s %s))", d.typ, d.dims))
			}
			stack = append(stack, names[g]...)
		}
		switch {
		case !ok:
		case len(terms) == 0:
			out[f.name] = "0"
		default:
			out[f.name] = strings.Join(terms, " + ")
		}
	}
	return out
}

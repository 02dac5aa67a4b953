// generate (mslgen) turns a .metal compute source into a C++ translation unit that
// compiles against msl_cpu.h: it rewrites `threadgroup` variable declarations
// into shared storage and appends, for every kernel, a wrapper that binds
// buffers / threadgroup memory / built-in thread ids from their MSL attributes.
package mslcpu

import (
	"fmt"
	"strings"
)

type tok struct {
	s    string
	off  int
	line int
	kind byte // 'i' ident, 'n' number, 's' string, 'p' punct
}

func lex(src string) ([]tok, error) {
	var ts []tok
	line := 1
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
				return nil, fmt.Errorf("line %d: unterminated comment", line)
			}
			line += strings.Count(src[i:i+2+j+2], "\n")
			i += 2 + j + 2
		case c == '#': // preprocessor line: skip (with continuations)
			for i < len(src) && src[i] != '\n' {
				if src[i] == '\\' && i+1 < len(src) && src[i+1] == '\n' {
					line++
					i++
				}
				i++
			}
		case c == '"' || c == '\'':
			j := i + 1
			for j < len(src) && src[j] != c {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			ts = append(ts, tok{src[i : j+1], i, line, 's'})
			i = j + 1
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(src) && (src[j] == '_' || src[j] >= 'a' && src[j] <= 'z' || src[j] >= 'A' && src[j] <= 'Z' || src[j] >= '0' && src[j] <= '9') {
				j++
			}
			ts = append(ts, tok{src[i:j], i, line, 'i'})
			i = j
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9':
			j := i
			for j < len(src) && (src[j] == '.' || src[j] == '_' || src[j] >= '0' && src[j] <= '9' || src[j] >= 'a' && src[j] <= 'z' || src[j] >= 'A' && src[j] <= 'Z' ||
				(src[j] == '+' || src[j] == '-') && (src[j-1] == 'e' || src[j-1] == 'E')) {
				j++
			}
			ts = append(ts, tok{src[i:j], i, line, 'n'})
			i = j
		default:
			n := 1
			for _, p := range []string{"[[", "]]", "::", "->", "<<", ">>", "&&", "||", "==", "!=", "<=", ">=", "++", "--", "+=", "-=", "*=", "/="} {
				if strings.HasPrefix(src[i:], p) {
					n = 2
					break
				}
			}
			ts = append(ts, tok{src[i : i+n], i, line, 'p'})
			i += n
		}
	}
	return ts, nil
}

// param is one kernel parameter.
type param struct {
	Type, Name, Attr, AttrArg string
}

// kernelDecl is one `kernel void name(...)` entry point.
type kernelDecl struct {
	Name   string
	Line   int
	Params []param
}

var builtins = map[string]string{
	"thread_position_in_grid":          "id.tpig",
	"thread_position_in_threadgroup":   "id.tptg",
	"threadgroup_position_in_grid":     "id.tgpig",
	"threads_per_threadgroup":          "id.tptgs",
	"dispatch_threads_per_threadgroup": "id.tptgs",
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

// generate returns the C++ translation unit for src (file name used in #line).
func generate(file, src string) (string, []kernelDecl, error) {
	ts, err := lex(src)
	if err != nil {
		return "", nil, err
	}
	// 1. rewrite `threadgroup T x[..];` declarations (statement start) -> shared storage
	type edit struct {
		off, n int
		s      string
	}
	var edits []edit
	inAttr := false
	for i, t := range ts {
		switch {
		case t.s == "[[":
			inAttr = true
		case t.s == "]]":
			inAttr = false
		case t.kind == 'i' && t.s == "threadgroup" && inAttr:
			// [[threadgroup(n)]]: keep the attribute parseable once `threadgroup` is a macro
			edits = append(edits, edit{t.off, len(t.s), "mslcpu_threadgroup"})
		case t.kind == 'i' && t.s == "threadgroup":
			if i == 0 || ts[i-1].s == ";" || ts[i-1].s == "{" || ts[i-1].s == "}" {
				edits = append(edits, edit{t.off, len(t.s), "MSLCPU_THREADGROUP_DECL"})
			}
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
		if i+3 >= len(ts) || ts[i+1].s != "void" || ts[i+2].kind != 'i' || ts[i+3].s != "(" {
			if i > 0 && ts[i-1].s == "template" || i+1 < len(ts) && ts[i+1].s == "decltype" {
				return "", nil, fmt.Errorf("%s:%d: templated kernels / host_name instantiations are not supported by this prototype", file, ts[i].line)
			}
			continue
		}
		k := kernelDecl{Name: ts[i+2].s, Line: ts[i].line}
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
				prm.Attr = attr[0].s
				if len(attr) >= 4 && attr[1].s == "(" {
					prm.AttrArg = join(attr[2 : len(attr)-1])
				}
			}
			if len(decl) < 2 || decl[len(decl)-1].kind != 'i' {
				return "", nil, fmt.Errorf("%s:%d: cannot parse parameter %q of kernel %s", file, p[0].line, join(p), k.Name)
			}
			prm.Name = decl[len(decl)-1].s
			prm.Type = join(decl[:len(decl)-1])
			k.Params = append(k.Params, prm)
		}
		ks = append(ks, k)
		i = j
	}
	// apply edits (same length in lines -> #line stays valid)
	var out strings.Builder
	fmt.Fprintf(&out, "// Code generated by mslgen from %s. DO NOT EDIT.\n#include \"msl_cpu.h\"\n#line 1 %q\n", file, file)
	last := 0
	for _, e := range edits {
		out.WriteString(src[last:e.off])
		out.WriteString(e.s)
		last = e.off + e.n
	}
	out.WriteString(src[last:])
	out.WriteString("\n\n// ---- mslgen bindings ----\n")
	for _, k := range ks {
		fmt.Fprintf(&out, "#line %d %q\nstatic void mslcpu_wrap_%s(const mslcpu::binding &b, const mslcpu::ids &id) {\n  (void)b; (void)id;\n  %s(", k.Line, file, k.Name, k.Name)
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
					fmt.Fprintf(&out, "(%s)mslcpu::need_buffer(b, %s, %q, %q)", typ, p.AttrArg, k.Name, p.Name)
				case strings.HasSuffix(typ, "&"):
					fmt.Fprintf(&out, "*(%s*)mslcpu::need_buffer(b, %s, %q, %q)", strings.TrimSuffix(typ, "&"), p.AttrArg, k.Name, p.Name)
				default:
					return "", nil, fmt.Errorf("%s:%d: kernel %s: buffer parameter %s must be a pointer or reference", file, k.Line, k.Name, p.Name)
				}
			case p.Attr == "threadgroup":
				fmt.Fprintf(&out, "(%s)b.tgmem[%s]", typ, p.AttrArg)
			case builtins[p.Attr] != "":
				fmt.Fprintf(&out, "mslcpu::builtin<%s>(%s)", typ, builtins[p.Attr])
			default:
				return "", nil, fmt.Errorf("%s:%d: kernel %s: parameter %s has unsupported attribute [[%s]]", file, k.Line, k.Name, p.Name, p.Attr)
			}
		}
		out.WriteString(");\n}\n")
	}
	out.WriteString("static const mslcpu::kernel_entry mslcpu_kernels[] = {\n")
	for _, k := range ks {
		fmt.Fprintf(&out, "  {%q, mslcpu_wrap_%s},\n", k.Name, k.Name)
	}
	out.WriteString("};\nstatic const int mslcpu_registered = (mslcpu::register_kernels(mslcpu_kernels, sizeof mslcpu_kernels / sizeof *mslcpu_kernels), 0);\n")
	return out.String(), ks, nil
}

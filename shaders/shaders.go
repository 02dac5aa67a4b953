package shaders

import (
	"embed"
	"fmt"
	"math"
	"strings"

	"github.com/kvgpt/kvgpt/nn"
)

//go:embed *.metal
var files embed.FS

// Files lists the .metal files in the order Source joins them: common.metal and matmul.metal
// first (attention.metal uses the tiled GEMM of matmul.metal), then the rest by name.
var Files = []string{
	"common.metal", "matmul.metal",
	"adamw.metal", "attention.metal", "attention_decode.metal", "crossentropy.metal", "embed.metal", "gelu.metal",
	"layernorm.metal", "reduce.metal", "residual.metal", "zero.metal",
}

// Source returns the Metal library source: every file of Files, each preceded by a #line
// directive so that compiler messages name the .metal file and line.
func Source() string {
	var b strings.Builder
	for _, f := range Files {
		src, err := files.ReadFile(f)
		if err != nil {
			panic("shaders: " + err.Error()) // embedded: cannot happen unless Files is wrong
		}
		fmt.Fprintf(&b, "#line 1 %q\n", f)
		b.Write(src)
		if len(src) > 0 && src[len(src)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// Limits of one Dispatch.
const (
	MaxArgs        = 8        // buffer bindings per dispatch (the parameter block not counted)
	MaxParamWords  = 16       // 32-bit words of the scalar parameter block
	MaxThreadgroup = 4        // dynamic [[threadgroup(i)]] allocations
	MaxTGMemory    = 32 << 10 // threadgroup memory of one threadgroup on Apple GPUs, bytes
)

// Arg binds one kernel buffer slot to a view: a float32 View, or an int32 IntView when IsInt.
type Arg struct {
	Slot  int
	F     nn.View
	I     nn.IntView
	IsInt bool
}

// Dispatch is one compute dispatch: dispatchThreadgroups(Groups, Threads) of Kernel with the
// buffers Args[:NArgs] bound at their slots (setBuffer:offset:atIndex: with the byte offset
// 4·Off of the view in its buffer; kernels never read outside the view), the scalar block
// Params[:NParams] set with setBytes at ParamSlot, and TGMem[i] bytes of dynamic threadgroup
// memory at [[threadgroup(i)]] (0 = none; the current kernels use only static threadgroup arrays).
//
// Params holds the kernel's constant struct as little-endian 32-bit words in field order: every
// such struct in the .metal files is made of 4-byte uint and float fields only.
type Dispatch struct {
	Kernel    string
	Groups    [3]int // threadgroups per grid
	Threads   [3]int // threads per threadgroup
	Args      [MaxArgs]Arg
	NArgs     int
	ParamSlot int
	Params    [MaxParamWords]uint32
	NParams   int
	TGMem     [MaxThreadgroup]int
}

// ParamBytes returns the scalar block as bytes (little-endian), appended to dst.
func (d *Dispatch) ParamBytes(dst []byte) []byte {
	for _, w := range d.Params[:d.NParams] {
		dst = append(dst, byte(w), byte(w>>8), byte(w>>16), byte(w>>24))
	}
	return dst
}

// Encoder runs or records dispatches in order. A dispatch sees the effects of every earlier one
// (a serial compute encoder). Dispatch must not retain d after it returns: Ops reuses it. Errors
// are the Encoder's to keep and report (the backend's Sync).
type Encoder interface {
	Dispatch(d *Dispatch)
}

// ScratchLen is the number of float32 elements of the scratch view Ops needs (GradNorm's partial sums).
const ScratchLen = gradNormMaxGroups

// Ops implements the compute ops of nn.Backend (Zero, Embed…, LayerNorm…, Matmul…, Attention…,
// AttentionDecodeForward,
// GELU…, Residual…, CrossEntropy…, AdamW, GradNorm) by computing each dispatch and handing it to
// Enc. Scratch is a view of at least ScratchLen floats owned by the backend, used between the two
// passes of GradNorm. Ops is not safe for concurrent use; it does not allocate per op.
type Ops struct {
	Enc     Encoder
	Scratch nn.View

	d Dispatch
}

// begin starts a dispatch of kernel with the given grid and threadgroup size.
func (o *Ops) begin(kernel string, groups, threads [3]int) *Dispatch {
	o.d = Dispatch{Kernel: kernel, Groups: groups, Threads: threads}
	return &o.d
}

func (d *Dispatch) buf(slot int, v nn.View) {
	d.Args[d.NArgs] = Arg{Slot: slot, F: v}
	d.NArgs++
}

func (d *Dispatch) ints(slot int, v nn.IntView) {
	d.Args[d.NArgs] = Arg{Slot: slot, I: v, IsInt: true}
	d.NArgs++
}

func (d *Dispatch) u32(x int) {
	if x < 0 || x > math.MaxUint32 {
		panic("nn: size does not fit a 32-bit kernel parameter")
	}
	d.Params[d.NParams] = uint32(x)
	d.NParams++
}

func (d *Dispatch) f32(x float32) {
	d.Params[d.NParams] = math.Float32bits(x)
	d.NParams++
}

// send hands the dispatch to the encoder with the parameter block at slot.
func (o *Ops) send(paramSlot int) {
	o.d.ParamSlot = paramSlot
	o.Enc.Dispatch(&o.d)
}

// ceilDiv returns ⌈a/b⌉.
func ceilDiv(a, b int) int { return (a + b - 1) / b }

// eltwiseGroups is the grid of the element-wise kernels: ⌈n/256⌉ threadgroups of 256 threads,
// capped at 65535 (the kernels loop over the grid).
func eltwiseGroups(n int) [3]int {
	return [3]int{max(1, min(ceilDiv(n, eltwiseThreads), 65535)), 1, 1}
}

const eltwiseThreads = 256

// need panics with msg unless v holds at least n elements.
func need(v nn.View, n int, msg string) {
	if v.N < n || v.Buf == nil && n > 0 {
		panic(msg)
	}
}

func needInt(v nn.IntView, n int, msg string) {
	if v.N < n || v.Buf == nil && n > 0 {
		panic(msg)
	}
}

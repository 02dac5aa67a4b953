// Package safetensors writes safetensors files (https://huggingface.co/docs/safetensors): an
// 8-byte little-endian header length, a JSON header that maps each tensor's name to its dtype,
// shape and byte range of the data section, and a "__metadata__" object of strings, padded with
// spaces to a multiple of 8 bytes, then the tensors' little-endian data, in order.
package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
)

// Tensor is one tensor of a file: its name, dtype ("F32", "F16", …), shape and data (little
// endian, row-major).
type Tensor struct {
	Name  string
	DType string
	Shape []int
	Data  []byte
}

// entry is a tensor's header entry.
type entry struct {
	DType       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// Write writes the tensors, in order, and the metadata strings meta (none if nil) to w as a
// safetensors file.
func Write(w io.Writer, tensors []Tensor, meta map[string]string) error {
	header := map[string]any{}
	var off int64
	for _, t := range tensors {
		if _, dup := header[t.Name]; dup || t.Name == "__metadata__" {
			return fmt.Errorf("safetensors: tensor name %q repeated or reserved", t.Name)
		}
		header[t.Name] = entry{t.DType, t.Shape, [2]int64{off, off + int64(len(t.Data))}}
		off += int64(len(t.Data))
	}
	if meta != nil {
		header["__metadata__"] = meta
	}
	hj, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("safetensors: header: %w", err)
	}
	for len(hj)%8 != 0 { // align the data section to 8 bytes, as the reference writer does
		hj = append(hj, ' ')
	}
	var lenb [8]byte
	binary.LittleEndian.PutUint64(lenb[:], uint64(len(hj)))
	if _, err := w.Write(lenb[:]); err != nil {
		return err
	}
	if _, err := w.Write(hj); err != nil {
		return err
	}
	for _, t := range tensors {
		if _, err := w.Write(t.Data); err != nil {
			return err
		}
	}
	return nil
}

// F32 returns x as little-endian float32 bytes.
func F32(x []float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// F16 returns x as little-endian IEEE 754 half-precision bytes, each rounded to the nearest half
// (ties to even); it fails on a value whose magnitude rounds past the largest half, 65504 (or is
// not finite), naming its index.
func F16(x []float32) ([]byte, error) {
	b := make([]byte, 2*len(x))
	for i, v := range x {
		h, ok := Half(v)
		if !ok {
			return nil, fmt.Errorf("safetensors: element %d, %v, does not fit a float16 (largest 65504)", i, v)
		}
		binary.LittleEndian.PutUint16(b[2*i:], h)
	}
	return b, nil
}

// Half returns the IEEE 754 half-precision number nearest to v (ties to even) and true, or false if
// v is not finite or rounds to a magnitude past 65504.
func Half(v float32) (uint16, bool) {
	bits := math.Float32bits(v)
	sign := uint16(bits>>16) & 0x8000
	exp := int(bits>>23) & 0xff
	mant := bits & 0x7fffff
	if exp == 0xff {
		return 0, false // Inf or NaN
	}
	e := exp - 127 + 15 // the half's biased exponent
	switch {
	case e >= 0x1f:
		return 0, false
	case e <= 0: // a subnormal half, or zero: shift the full significand right
		if e < -10 {
			return sign, true // below half the smallest subnormal: ±0
		}
		m := mant | 0x800000
		shift := uint(14 - e) // 24-bit significand to 10 bits, less e
		h := m >> shift
		rem, halfway := m&(1<<shift-1), uint32(1)<<(shift-1)
		if rem > halfway || rem == halfway && h&1 == 1 {
			h++ // may carry into the smallest normal: still the right bits
		}
		return sign | uint16(h), true
	}
	h := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || rem == 0x1000 && h&1 == 1 {
		h++ // may carry into the exponent: right, up to 0x7c00 (Inf)
	}
	if h >= 0x7c00 {
		return 0, false
	}
	return sign | uint16(h), true
}

// HalfValue returns the value of the IEEE 754 half-precision number with bits h (finite).
func HalfValue(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	e, m := int(h>>10)&0x1f, float64(h&0x3ff)
	if e == 0 {
		return sign * m * math.Pow(2, -24) // subnormal
	}
	return sign * (1 + m/1024) * math.Pow(2, float64(e-15))
}

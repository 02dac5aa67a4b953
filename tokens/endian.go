package tokens

import "encoding/binary"

// littleEndian reports whether the machine stores integers little-endian, as token files do.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// decodeLE decodes the n little-endian elements of type T that b starts with.
func decodeLE[T uint16 | uint32](b []byte, n int) []T {
	out := make([]T, n)
	var z T
	for i := range out {
		switch any(z).(type) {
		case uint16:
			out[i] = T(binary.LittleEndian.Uint16(b[2*i:]))
		default:
			out[i] = T(binary.LittleEndian.Uint32(b[4*i:]))
		}
	}
	return out
}

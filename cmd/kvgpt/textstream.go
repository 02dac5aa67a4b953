package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"unicode/utf8"
)

// textStream writes generated text as its tokens arrive. A token's bytes may end inside a UTF-8
// character (a byte vocabulary splits every multi-byte character; a BPE token may too): the
// stream writes only whole characters and keeps the rest of one (at most 3 bytes) until the next
// token completes it. Bytes that cannot begin or continue a character are written escaped (\xNN)
// when escape is set — for a terminal, which would show them as replacement characters or, for
// control bytes, act on them — and as they are otherwise (--raw, or output to a file or pipe).
// With escape, control characters other than newline and tab are escaped too (\x1b, \u0085).
type textStream struct {
	w       *bufio.Writer
	escape  bool
	pending []byte // the start of a character whose other bytes have not come yet
}

// newTextStream returns a stream to w that escapes as isTerminal(w) says unless raw.
func newTextStream(w io.Writer, raw bool) *textStream {
	return &textStream{w: bufio.NewWriter(w), escape: !raw && isTerminal(w)}
}

// isTerminal reports whether w is a character device (a terminal), as the standard library can
// tell without a terminal package.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Write writes the whole characters of the pending bytes and p, and keeps an incomplete last one.
// It buffers: Flush writes out.
func (s *textStream) Write(p []byte) (int, error) {
	buf := append(s.pending, p...)
	for len(buf) > 0 {
		if !utf8.FullRune(buf) { // the start of a character: wait for its other bytes
			break
		}
		r, n := utf8.DecodeRune(buf)
		s.put(buf[:n], r)
		buf = buf[n:]
	}
	s.pending = append(s.pending[:0:0], buf...) // a copy: buf may share s.pending's storage
	return len(p), nil
}

// put writes one character r encoded as b (r is utf8.RuneError with len(b) = 1 for a byte that is
// not UTF-8).
func (s *textStream) put(b []byte, r rune) {
	switch {
	case !s.escape:
		s.w.Write(b)
	case r == utf8.RuneError && len(b) == 1:
		fmt.Fprintf(s.w, `\x%02x`, b[0])
	case r < 0x20 && r != '\n' && r != '\t' || r == 0x7f:
		fmt.Fprintf(s.w, `\x%02x`, r)
	case r >= 0x80 && r < 0xa0: // C1 controls
		fmt.Fprintf(s.w, `\u%04x`, r)
	default:
		s.w.Write(b)
	}
}

// Flush writes the buffered text out (not an incomplete last character: see EndLine).
func (s *textStream) Flush() error { return s.w.Flush() }

// EndLine ends the text: it writes the bytes of an incomplete last character, which no token will
// complete (escaped as bytes that are not UTF-8), and a newline, and flushes.
func (s *textStream) EndLine() error {
	for _, c := range s.pending {
		s.put([]byte{c}, utf8.RuneError)
	}
	s.pending = s.pending[:0]
	s.w.WriteByte('\n')
	return s.w.Flush()
}

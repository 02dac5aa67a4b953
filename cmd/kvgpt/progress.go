package main

import (
	"fmt"
	"github.com/kvgpt/kvgpt/gpt"
	"io"
	"strings"
	"time"
)

// progressBar draws the progress of a long piece of work (tokens evaluated, bytes tokenized) on
// standard error: a bar rewritten in place on a terminal, else a line every progressLineEvery so
// that logs show it is alive. Done ends it with the totals.
type progressBar struct {
	w     io.Writer
	tty   bool
	what  string // the unit counted: "tokens", "MB"
	scale float64
	start time.Time
	last  time.Time
	drawn bool
	every time.Duration
}

const (
	progressTTYEvery  = 200 * time.Millisecond
	progressLineEvery = 10 * time.Second
)

// newProgressBar returns a bar on w counting in what (with done and total divided by scale).
func newProgressBar(w io.Writer, what string, scale float64) *progressBar {
	p := &progressBar{w: w, tty: terminal(w) != nil, what: what, scale: scale, start: time.Now(), every: progressLineEvery}
	if p.tty {
		p.every = progressTTYEvery
	}
	p.last = p.start
	return p
}

// Update shows done of total (total ≤ 0: unknown) and the rate of a second quantity, rateN of
// rateWhat per second since the start (rateWhat "": none).
func (p *progressBar) Update(done, total float64, rateN float64, rateWhat string) {
	if p == nil || p.w == nil {
		return
	}
	now := time.Now()
	if now.Sub(p.last) < p.every {
		return
	}
	p.last = now
	el := now.Sub(p.start).Seconds()
	var b strings.Builder
	if total > 0 {
		frac := min(done/total, 1)
		const width = 30
		n := int(frac * width)
		fmt.Fprintf(&b, "%3.0f%% [%s%s] %s/%s", 100*frac, strings.Repeat("=", n), strings.Repeat(" ", width-n), p.count(done), p.count(total))
		if frac > 0 {
			fmt.Fprintf(&b, ", ETA %s", (time.Duration(el/frac*(1-frac)) * time.Second).Round(time.Second))
		}
	} else {
		b.WriteString(p.count(done))
	}
	if rateWhat != "" && el > 0 {
		fmt.Fprintf(&b, ", %s %s/s", humanCount(rateN/el), rateWhat)
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r%s\033[K", b.String())
		p.drawn = true
	} else {
		fmt.Fprintln(p.w, b.String())
	}
}

// count returns n of what is counted: bytes in their unit, anything else with a k, M or G suffix.
func (p *progressBar) count(n float64) string {
	if p.what == "bytes" {
		return gpt.FormatBytes(int64(n))
	}
	return humanCount(n/p.scale) + " " + p.what
}

// Done clears the bar from a terminal.
func (p *progressBar) Done() {
	if p != nil && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

// humanCount returns x with a k, M or G suffix and three significant digits.
func humanCount(x float64) string {
	for _, u := range []struct {
		s string
		v float64
	}{{"G", 1e9}, {"M", 1e6}, {"k", 1e3}} {
		if x >= u.v {
			return fmt.Sprintf("%.3g%s", x/u.v, u.s)
		}
	}
	return fmt.Sprintf("%.3g", x)
}

package experiment

import (
	"bytes"
	"fmt"
	"image/color"
	"math"

	"github.com/kvgpt/kvgpt/internal/atomicfile"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// figure is a plot that remembers the points of its lines, so that the legend can be put where it
// covers none. Every series gets its own colour, dash pattern and glyph: the series stay apart in
// greyscale too.
type figure struct {
	*plot.Plot
	lines   []plotter.XYs
	entries int
}

func newFigure(title, x, y string) *figure {
	return &figure{Plot: newPlot(title, x, y)}
}

// style returns series i's colour, dashes and glyph shape.
func style(i int) (color.Color, []vg.Length, draw.GlyphDrawer) {
	return plotutil.Color(i), plotutil.Dashes(i), plotutil.Shape(i)
}

// line adds series i called name through pts, with glyphs at its points when marks is set.
func (f *figure) line(name string, i int, pts plotter.XYs, marks bool) error {
	if len(pts) == 0 {
		return nil
	}
	c, dashes, shape := style(i)
	l, err := plotter.NewLine(pts)
	if err != nil {
		return err
	}
	l.Color, l.Dashes, l.Width = c, dashes, vg.Points(1.5)
	thumbs := []plot.Thumbnailer{l}
	f.Add(l)
	if marks {
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return err
		}
		sc.Color, sc.Shape, sc.Radius = c, shape, vg.Points(3.5)
		f.Add(sc)
		thumbs = append(thumbs, sc)
	}
	f.Legend.Add(name, thumbs...)
	f.lines, f.entries = append(f.lines, pts), f.entries+1
	return nil
}

// errorBars adds ± err[k] bars at pts in series i's colour.
func (f *figure) errorBars(i int, pts plotter.XYs, err []float64) error {
	e := errPoints{XYs: pts}
	for _, v := range err {
		e.YErrors = append(e.YErrors, struct{ Low, High float64 }{v, v})
	}
	b, er := plotter.NewYErrorBars(e)
	if er != nil {
		return er
	}
	b.Color = plotutil.Color(i)
	f.Add(b)
	for k, p := range pts { // the bars' ends count as data for the legend
		f.lines = append(f.lines, plotter.XYs{{X: p.X, Y: p.Y - err[k]}, {X: p.X, Y: p.Y + err[k]}})
	}
	return nil
}

type errPoints struct {
	plotter.XYs
	plotter.YErrors
}

// band adds the shaded region between lo and hi along xs, in series i's colour, half transparent.
func (f *figure) band(i int, xs, lo, hi []float64) error {
	if len(xs) == 0 {
		return nil
	}
	var poly plotter.XYs
	for k := range xs {
		poly = append(poly, plotter.XY{X: xs[k], Y: lo[k]})
	}
	for k := len(xs) - 1; k >= 0; k-- {
		poly = append(poly, plotter.XY{X: xs[k], Y: hi[k]})
	}
	pg, err := plotter.NewPolygon(poly)
	if err != nil {
		return err
	}
	r, g, b, _ := plotutil.Color(i).RGBA()
	pg.Color = color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: 60}
	pg.LineStyle.Width = 0
	f.Add(pg)
	f.lines = append(f.lines, poly)
	return nil
}

// zero adds a grey horizontal line at y = 0.
func (f *figure) zero() {
	z := plotter.NewFunction(func(float64) float64 { return 0 })
	z.Color = color.Gray{Y: 120}
	f.Add(z)
}

// placeLegend puts the legend in the corner of the data area that the lines cross least; if every
// corner has data, it raises the top of the y range by the legend's height and puts it there, so
// the legend never covers a line.
func (f *figure) placeLegend() {
	if f.entries == 0 {
		return
	}
	xmin, xmax, ymin, ymax := f.X.Min, f.X.Max, f.Y.Min, f.Y.Max
	if !(xmax > xmin) || !(ymax > ymin) {
		return
	}
	w, h := 0.45, math.Min(0.9, 0.07*float64(f.entries)+0.04) // the legend's share of the area
	type corner struct{ top, left bool }
	hits := map[corner]int{}
	for _, l := range f.lines {
		for k := range l {
			// Points along each segment, so a line crossing a corner counts.
			next := k + 1
			if next == len(l) {
				next = k
			}
			for s := 0.0; s <= 1; s += 0.05 {
				x := ((l[k].X + s*(l[next].X-l[k].X)) - xmin) / (xmax - xmin)
				y := ((l[k].Y + s*(l[next].Y-l[k].Y)) - ymin) / (ymax - ymin)
				for _, c := range []corner{{true, false}, {true, true}, {false, false}, {false, true}} {
					inX := (c.left && x <= w) || (!c.left && x >= 1-w)
					inY := (c.top && y >= 1-h) || (!c.top && y <= h)
					if inX && inY {
						hits[c]++
					}
				}
			}
		}
	}
	best, bestN := corner{true, false}, math.MaxInt
	for _, c := range []corner{{true, false}, {true, true}, {false, false}, {false, true}} {
		if hits[c] < bestN {
			best, bestN = c, hits[c]
		}
	}
	if bestN > 0 {
		best = corner{true, false}
		f.Y.Max = ymax + (ymax-ymin)*h/(1-h)
	}
	f.Legend.Top, f.Legend.Left = best.top, best.left
	f.Legend.XOffs, f.Legend.YOffs = 0, 0
	if best.left {
		f.Legend.XOffs = vg.Points(6)
	} else {
		f.Legend.XOffs = -vg.Points(6)
	}
}

// save places the legend and writes the figure as a PNG.
func (f *figure) save(path string) error {
	f.placeLegend()
	return savePlot(f.Plot, path)
}

// saveStacked writes the figures one above the other in one PNG, their x axes aligned.
func saveStacked(path string, figs ...*figure) error {
	rows := make([][]*plot.Plot, len(figs))
	for i, f := range figs {
		f.placeLegend()
		rows[i] = []*plot.Plot{f.Plot}
	}
	img := vgimg.New(8*vg.Inch, vg.Length(len(figs))*4*vg.Inch)
	dc := draw.New(img)
	t := draw.Tiles{Rows: len(figs), Cols: 1, PadTop: vg.Points(6), PadBottom: vg.Points(6), PadX: vg.Points(6), PadY: vg.Points(16)}
	cs := plot.Align(rows, t, dc)
	for i := range rows {
		rows[i][0].Draw(cs[i][0])
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return err
	}
	return atomicfile.Write(path, buf.Bytes())
}

// categoryTicks labels the evenly spaced positions 0, 1, … of a categorical x axis.
type categoryTicks []string

func (c categoryTicks) Ticks(min, max float64) []plot.Tick {
	var t []plot.Tick
	for i, l := range c {
		t = append(t, plot.Tick{Value: float64(i), Label: l})
	}
	return t
}

// categorical sets f's x axis to the labelled positions 0 … len(labels)−1.
func (f *figure) categorical(labels []string) {
	f.X.Tick.Marker = categoryTicks(labels)
	f.X.Min, f.X.Max = -0.3, float64(len(labels))-0.7
}

func fmtScale(s float64) string {
	switch s {
	case 0.25:
		return "¼/√dh"
	case 0.5:
		return "½/√dh"
	case 1:
		return "1/√dh"
	}
	return fmt.Sprintf("%g/√dh", s)
}

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"image/color"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/kvgpt/kvgpt/gpt"
)

// plotLoss draws the training and validation loss of a metrics file (JSON lines of gpt.Metrics)
// into a PNG at out.
func plotLoss(metricsPath, out, title string) error {
	f, err := os.Open(metricsPath)
	if err != nil {
		return err
	}
	defer f.Close()
	var train, val plotter.XYs
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		var m gpt.Metrics
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return fmt.Errorf("%s: %w", metricsPath, err)
		}
		train = append(train, plotter.XY{X: float64(m.Step), Y: m.Loss})
		if m.ValLoss != nil {
			val = append(val, plotter.XY{X: float64(m.Step), Y: *m.ValLoss})
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(train) == 0 {
		return fmt.Errorf("%s has no records", metricsPath)
	}
	p := plot.New()
	p.Title.Text = "kvgpt loss — " + title
	p.X.Label.Text = "step"
	p.Y.Label.Text = "loss (nats/token)"
	p.Add(plotter.NewGrid())
	tl, err := plotter.NewLine(train)
	if err != nil {
		return err
	}
	tl.Color = plotter.DefaultLineStyle.Color
	p.Add(tl)
	p.Legend.Add("train", tl)
	if len(val) > 0 {
		vl, vp, err := plotter.NewLinePoints(val)
		if err != nil {
			return err
		}
		vl.Color = vgRed
		vp.Color = vgRed
		p.Add(vl, vp)
		p.Legend.Add("validation", vl, vp)
	}
	p.Legend.Top = true
	return p.Save(8*vg.Inch, 5*vg.Inch, out)
}

var vgRed = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}

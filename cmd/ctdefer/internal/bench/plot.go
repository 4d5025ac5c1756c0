package bench

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"slices"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// The plots, by file stem.
const (
	PlotCDF        = "latency-cdf"
	PlotThroughput = "throughput"
	PlotScale      = "scale"
	PlotGaps       = "gaps"
)

// Figure is one plot file: an overall title, a grid of panels (nil cells
// stay blank) and one legend for them all, drawn in a column of its own to
// the right of the grid, where it covers no data.
type Figure struct {
	Title        string
	Grid         [][]*plot.Plot
	Legend       plot.Legend
	names        []string // the legend's entries, to size its column
	CellW, CellH vg.Length
}

func newFigure(title string, cellW, cellH vg.Length) *Figure {
	f := &Figure{Title: title, Legend: plot.NewLegend(), CellW: cellW, CellH: cellH}
	f.Legend.Top, f.Legend.Left = true, true
	f.Legend.Padding = vg.Points(4) // between entries: room for a wider fallback font
	return f
}

// add puts a legend entry, once per name.
func (f *Figure) add(name string, thumbs ...plot.Thumbnailer) {
	if slices.Contains(f.names, name) {
		return
	}
	f.names = append(f.names, name)
	f.Legend.Add(name, thumbs...)
}

// legendWidth is the width of the legend's column.
func (f *Figure) legendWidth() vg.Length {
	w := vg.Length(0)
	for _, n := range f.names {
		w = max(w, f.Legend.TextStyle.Width(n))
	}
	if w == 0 {
		return 0
	}
	// A third more than the text needs: a viewer without the font
	// (Liberation Serif) draws the SVG with a wider one.
	return w*4/3 + f.Legend.ThumbnailWidth + 2*f.Legend.Padding + 8*vg.Millimeter
}

// ninesMax is the highest percentile the CDF axis shows (99.999 %).
const ninesMax = 1 - 1e-5

// ninesScale maps a fraction p to -log10(1-p), the "number of nines", so a
// CDF's tail is spread out: 90 %, 99 %, 99.9 % ... are equally spaced.
type ninesScale struct{}

func nines(p float64) float64 { return -math.Log10(1 - min(max(p, 0), ninesMax)) }

func (ninesScale) Normalize(lo, hi, x float64) float64 {
	a, b := nines(lo), nines(hi)
	if b == a {
		return 0
	}
	return (nines(x) - a) / (b - a)
}

// ninesTicks marks 0 %, 50 %, 90 %, 99 %, ...
type ninesTicks struct{}

func (ninesTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for _, t := range []struct {
		v     float64
		label string
	}{{0, "0"}, {0.5, "50%"}, {0.9, "90%"}, {0.99, "99%"}, {0.999, "99.9%"}, {0.9999, "99.99%"}, {0.99999, "99.999%"}} {
		if t.v >= lo-1e-12 && t.v <= hi+1e-12 {
			ts = append(ts, plot.Tick{Value: t.v, Label: t.label})
		}
	}
	return ts
}

// decadeTicks marks 1, 2 and 5 times each power of ten on a log axis,
// labelling them all when the axis spans at most three decades and only
// the powers of ten beyond that. Labels use k, M and G.
type decadeTicks struct{}

func (decadeTicks) Ticks(lo, hi float64) []plot.Tick {
	if lo <= 0 || hi <= lo {
		return nil
	}
	all := math.Log10(hi/lo) <= 3
	var ts []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v < lo*0.9999 || v > hi*1.0001 {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || all {
				t.Label = siLabel(v)
			}
			ts = append(ts, t)
		}
	}
	return ts
}

// siLabel writes v with a k, M or G suffix: 1k, 20M, 0.5.
func siLabel(v float64) string {
	for _, u := range []struct {
		f float64
		s string
	}{{1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if v >= u.f {
			return strconv.FormatFloat(v/u.f, 'g', 3, 64) + u.s
		}
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// pow2Ticks marks powers of two on a log axis.
type pow2Ticks struct{}

func (pow2Ticks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for v := 1.0; v <= hi*1.0001; v *= 2 {
		if v >= lo*0.9999 {
			ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
		}
	}
	return ts
}

// style gives series i a color and, past the palette, a dash pattern.
func style(l *plotter.Line, i int) {
	l.Color = plotutil.Color(i)
	l.Width = vg.Points(1.3)
	l.Dashes = plotutil.Dashes(i / 7)
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Add(plotter.NewGrid())
	return p
}

// decadeRange widens [lo, hi] to powers of ten, so that a log axis has a
// labelled tick at or below every value and at or above it.
func decadeRange(lo, hi float64) (float64, float64) {
	return math.Pow(10, math.Floor(math.Log10(lo))), math.Pow(10, math.Ceil(math.Log10(hi)))
}

// plotCDF draws the iteration-time distribution of every mode, one panel
// per send rate.
func plotCDF(hot HotResults) (*Figure, error) {
	fig := newFigure("hot-loop iteration time by delivery mode, one panel per sender rate", 12*vg.Centimeter, 9*vg.Centimeter)
	rates := append([]float64{-1}, hot.Rates...)
	xmin, xmax := math.Inf(1), 0.0
	for _, r := range hot.Runs {
		for _, pt := range r.cdf {
			if us := float64(pt.V) / 1e3; us > 0 {
				xmin, xmax = min(xmin, us), max(xmax, us)
			}
		}
	}
	if xmax == 0 {
		return nil, fmt.Errorf("no iteration times to plot")
	}
	var panels []*plot.Plot
	for _, rate := range rates {
		title := "no sender"
		if rate >= 0 {
			title = "sender: " + RateLabel(rate)
		}
		p := newPlot(title, "iteration time (µs, log)", "iterations at or below (%)")
		p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, decadeTicks{}
		p.Y.Scale, p.Y.Tick.Marker = ninesScale{}, ninesTicks{}
		p.X.Min, p.X.Max = decadeRange(xmin, xmax)
		p.Y.Min, p.Y.Max = 0, ninesMax
		for i, mode := range hot.Modes {
			idx := slices.IndexFunc(hot.Runs, func(r HotRun) bool { return r.Mode == mode && r.Rate == rate })
			if idx < 0 || len(hot.Runs[idx].cdf) == 0 {
				continue
			}
			var xys plotter.XYs
			for _, pt := range hot.Runs[idx].cdf {
				if us := float64(pt.V) / 1e3; us > 0 {
					xys = append(xys, plotter.XY{X: us, Y: min(pt.Fraction, ninesMax)})
				}
			}
			l, err := plotter.NewLine(xys)
			if err != nil {
				return nil, fmt.Errorf("%s at %s: %w", mode, RateLabel(rate), err)
			}
			style(l, i)
			p.Add(l)
			fig.add(mode, l)
		}
		panels = append(panels, p)
	}
	cols := 2
	for i := 0; i < len(panels); i += cols {
		row := panels[i:min(i+cols, len(panels))]
		for len(row) < cols {
			row = append(row, nil)
		}
		fig.Grid = append(fig.Grid, row)
	}
	return fig, nil
}

// plotThroughput draws the hot loop's throughput, relative to no sender,
// against the send rate achieved.
func plotThroughput(hot HotResults) (*Figure, error) {
	fig := newFigure("hot-loop throughput against the sender's rate", 18*vg.Centimeter, 11*vg.Centimeter)
	p := newPlot("", "items delivered per second (log)", "relative throughput (1 = no sender)")
	p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, decadeTicks{}
	n := 0
	xmin, xmax := math.Inf(1), 0.0
	for i, mode := range hot.Modes {
		var xys plotter.XYs
		for _, r := range hot.Runs {
			if r.Mode == mode && r.Rate >= 0 && r.SendsPerSec > 0 && r.Err == "" {
				xys = append(xys, plotter.XY{X: r.SendsPerSec, Y: r.Relative})
			}
		}
		if len(xys) == 0 {
			continue
		}
		slices.SortFunc(xys, func(a, b plotter.XY) int { return cmpFloat(a.X, b.X) })
		xmin, xmax = min(xmin, xys[0].X), max(xmax, xys[len(xys)-1].X)
		l, s, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, err
		}
		style(l, i)
		s.Color, s.Shape = plotutil.Color(i), plotutil.Shape(i)
		p.Add(l, s)
		fig.add(mode, l, s)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("no throughput to plot")
	}
	p.X.Min, p.X.Max = decadeRange(xmin, xmax)
	p.Y.Min = 0
	p.Y.Max = max(p.Y.Max, 1.05)
	fig.Grid = [][]*plot.Plot{{p}}
	return fig, nil
}

// plotScale draws the cost per CPU against the number of CPUs.
func plotScale(sc ScaleResults) (*Figure, error) {
	fig := newFigure("cost per CPU against the number of CPUs (simulated, unpinned)", 18*vg.Centimeter, 11*vg.Centimeter)
	p := newPlot("", "CPUs (log)", "cost per CPU (ns, log)")
	p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, pow2Ticks{}
	p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, decadeTicks{}
	n := 0
	ymin, ymax := math.Inf(1), 0.0
	for i, series := range sc.Series {
		var xys plotter.XYs
		for _, r := range sc.Runs {
			if r.Series == series && r.Err == "" && r.NsPerCPU() > 0 {
				xys = append(xys, plotter.XY{X: float64(r.CPUs), Y: r.NsPerCPU()})
				ymin, ymax = min(ymin, r.NsPerCPU()), max(ymax, r.NsPerCPU())
			}
		}
		if len(xys) == 0 {
			continue
		}
		l, s, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, err
		}
		style(l, i)
		s.Color, s.Shape = plotutil.Color(i), plotutil.Shape(i)
		p.Add(l, s)
		fig.add(series, l, s)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("no scale figures to plot")
	}
	p.Y.Min, p.Y.Max = decadeRange(ymin, ymax)
	fig.Grid = [][]*plot.Plot{{p}}
	return fig, nil
}

// gapSourceNames name the sources of gaps, in stacking order.
var gapSourceNames = []string{"ctdefer IPI or item handled", "Go preemption", "GC", "other (OS, hypervisor)"}

func (g GapSources) bySource() []GapCount {
	return []GapCount{g.Delivery, g.Preemption, g.GC, g.Other}
}

// plotGaps draws, per delivery mode, the hot loop's gaps per second, every
// run of the mode together, stacked by source.
func plotGaps(hot HotResults) (*Figure, error) {
	fig := newFigure(fmt.Sprintf("where the hot loop's gaps (iterations over %v) came from", hot.GapThreshold), 18*vg.Centimeter, 11*vg.Centimeter)
	p := newPlot("", "delivery mode (every sender rate, and no sender)", "gaps per second of loop time")
	perSec := make([]plotter.Values, len(gapSourceNames))
	total := 0.0
	top := 0.0 // the highest bar
	for _, mode := range hot.Modes {
		var g GapSources
		var elapsed time.Duration
		for _, r := range hot.Runs {
			if r.Mode == mode && r.Err == "" {
				g.merge(r.Gaps)
				elapsed += r.Elapsed
			}
		}
		sum := 0.0
		for i, c := range g.bySource() {
			v := 0.0
			if elapsed > 0 {
				v = float64(c.N) / elapsed.Seconds()
			}
			perSec[i] = append(perSec[i], v)
			total = max(total, v)
			sum += v
		}
		top = max(top, sum)
	}
	if total == 0 && len(hot.Runs) == 0 {
		return nil, fmt.Errorf("no gaps to plot")
	}
	var below *plotter.BarChart
	for i, vals := range perSec {
		b, err := plotter.NewBarChart(vals, vg.Centimeter)
		if err != nil {
			return nil, err
		}
		b.Color = plotutil.Color(i)
		b.LineStyle.Width = 0
		if below != nil {
			b.StackOn(below)
		}
		below = b
		p.Add(b)
		fig.add(gapSourceNames[i], b)
	}
	p.NominalX(hot.Modes...)
	p.Y.Min, p.Y.Max = 0, max(top*1.1, 1) // a tick above the highest bar
	fig.Grid = [][]*plot.Plot{{p}}
	return fig, nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// savePlots draws fig into path, as SVG or PNG by format: the title on
// top, the grid below it, the legend in a column to the right.
func savePlots(fig *Figure, path, format string) error {
	rows, cols := len(fig.Grid), len(fig.Grid[0])
	title := plot.New().Title.TextStyle
	title.Font.Size = vg.Points(13)
	titleH := title.Height(fig.Title) + 6*vg.Millimeter
	legendW := fig.legendWidth()
	w, h := fig.CellW*vg.Length(cols)+legendW, fig.CellH*vg.Length(rows)+titleH
	var canvas vg.CanvasWriterTo
	switch format {
	case "svg":
		canvas = vgsvg.New(w, h)
	case "png":
		canvas = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(120), vgimg.UseBackgroundColor(color.White))}
	default:
		return fmt.Errorf("plot format %q: want svg or png", format)
	}
	dc := draw.New(canvas)
	title.XAlign, title.YAlign = draw.XCenter, draw.YTop
	dc.FillText(title, vg.Point{X: w / 2, Y: h - 3*vg.Millimeter}, fig.Title)
	grid := draw.Crop(dc, 0, -legendW, 0, -titleH)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	for j, row := range fig.Grid {
		for i, p := range row {
			if p != nil {
				p.Draw(tiles.At(grid, i, j))
			}
		}
	}
	if legendW > 0 {
		fig.Legend.Draw(draw.Crop(dc, w-legendW+2*vg.Millimeter, 0, 0, -titleH-4*vg.Millimeter))
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := canvas.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

package integration

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// nfr1Plot draws latency percentile vs change rate (ours and end to end,
// p50 and p99, one panel per sync delay) as a standalone SVG: no plotting
// library is needed (the test machines have no matplotlib).
func nfr1Plot(res nfr1Result) string {
	const (
		panelW, panelH = 460.0, 340.0
		left, top      = 70.0, 50.0
		plotW, plotH   = 360.0, 240.0
		yMin, yMax     = 0.1, 100000.0 // ms, log scale
	)
	var delays []int
	seen := map[int]bool{}
	for _, r := range res.Rows {
		if r.Operator != "none" && !seen[r.DelayMs] {
			seen[r.DelayMs] = true
			delays = append(delays, r.DelayMs)
		}
	}
	width := panelW * float64(max(1, len(delays)))
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="11">`+"\n", width, panelH+40)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="18" font-size="13">sliceplane-operator, PRD NFR1: change → slice entry seen by a separate watch (%d endpoints, %d node IPs, rate limits %s; load %s)</text>`+"\n",
		res.Endpoints, res.Nodes, res.RateLimits, res.LoadBefore)
	y := func(v float64) float64 {
		v = math.Min(math.Max(v, yMin), yMax)
		return top + plotH - plotH*(math.Log10(v)-math.Log10(yMin))/(math.Log10(yMax)-math.Log10(yMin))
	}
	x := func(i int) float64 { return left + plotW*(float64(i)+0.5)/float64(len(nfr1Rates)) }
	type series struct {
		name, color, dash string
		get               func(nfr1Row) float64
	}
	all := []series{
		{"ours p50", "#1f77b4", "4 3", func(r nfr1Row) float64 { return r.Ours.P50 }},
		{"ours p99", "#1f77b4", "", func(r nfr1Row) float64 { return r.Ours.P99 }},
		{"end to end p50", "#d62728", "4 3", func(r nfr1Row) float64 { return r.EndToEnd.P50 }},
		{"end to end p99", "#d62728", "", func(r nfr1Row) float64 { return r.EndToEnd.P99 }},
		{"API write RTT p99", "#7f7f7f", "1 3", func(r nfr1Row) float64 { return r.WriteRoundTrip.P99 }},
	}
	for p, d := range delays {
		ox := float64(p) * panelW
		fmt.Fprintf(&b, `<g transform="translate(%.0f,0)">`+"\n", ox)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="12">sync delay %d ms</text>`+"\n", left, top-8, d)
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="#333"/>`+"\n", left, top, plotW, plotH)
		for v := yMin; v <= yMax*1.001; v *= 10 {
			fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, left+plotW, y(v), y(v))
			fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end">%g ms</text>`+"\n", left-4, y(v)+4, v)
		}
		for _, target := range []float64{10, 100} {
			fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#2ca02c" stroke-dasharray="2 2"/>`+"\n", left, left+plotW, y(target), y(target))
		}
		for i, r := range nfr1Rates {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%d</text>`+"\n", x(i), top+plotH+15, r)
		}
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle">endpoint changes per second (paced)</text>`+"\n", left+plotW/2, top+plotH+32)
		for si, s := range all {
			var pts []string
			for i, rate := range nfr1Rates {
				for _, r := range res.Rows {
					if r.Operator != "none" && r.DelayMs == d && r.Rate == rate && r.EndToEnd.N > 0 {
						pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(s.get(r))))
					}
				}
			}
			dash := ""
			if s.dash != "" {
				dash = fmt.Sprintf(` stroke-dasharray="%s"`, s.dash)
			}
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), s.color, dash)
			for _, pt := range pts {
				xy := strings.Split(pt, ",")
				fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="2.5" fill="%s"/>`+"\n", xy[0], xy[1], s.color)
			}
			if p == 0 {
				ly := top + plotH + 50 + 14*float64(si/3) // legend: three per line
				lx := left + 150*float64(si%3)
				fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.0f" y2="%.0f" stroke="%s" stroke-width="2"%s/><text x="%.0f" y="%.0f">%s</text>`+"\n",
					lx, lx+24, ly-4, ly-4, s.color, dash, lx+28, ly, s.name)
			}
		}
		b.WriteString("</g>\n")
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// TestNFR1Replot redraws nfr1.svg and nfr1.md from the nfr1.json in
// $SLICEPLANE_NFR1_REPLOT (a folder nfr1.sh wrote), without measuring again.
func TestNFR1Replot(t *testing.T) {
	dir := os.Getenv("SLICEPLANE_NFR1_REPLOT")
	if dir == "" {
		t.Skip("SLICEPLANE_NFR1_REPLOT=<folder with nfr1.json>")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "nfr1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res nfr1Result
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nfr1.svg"), []byte(nfr1Plot(res)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nfr1.md"), []byte(nfr1Table(res)), 0o644); err != nil {
		t.Fatal(err)
	}
}

//! The self-contained HTML report of `simulate --report`: inline CSS and
//! hand-made SVG charts, no scripts, no external resources.

use crate::simulate::{Summary, percentile, table_rows};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A bar chart: (label, value) bars, with a title.
fn bar_chart(id: &str, title: &str, bars: &[(String, f64)], unit: &str) -> String {
    let (w, h, pad) = (640.0, 240.0, 40.0);
    let max = bars.iter().map(|b| b.1).fold(0.0f64, f64::max).max(1.0);
    let n = bars.len().max(1) as f64;
    let bw = (w - 2.0 * pad) / n;
    let mut svg = format!(
        "<svg id=\"{id}\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{t}\">\
<text x=\"{pad}\" y=\"16\" font-size=\"13\">{t}</text>\
<line x1=\"{pad}\" y1=\"{y0}\" x2=\"{x1}\" y2=\"{y0}\" stroke=\"#333\"/>\
<text x=\"4\" y=\"{ty}\" font-size=\"10\">{max:.0} {unit}</text>",
        t = esc(title),
        y0 = h - pad,
        x1 = w - pad,
        ty = pad - 4.0,
    );
    let label_every = (bars.len() / 12).max(1);
    for (i, (label, v)) in bars.iter().enumerate() {
        let bh = (h - 2.0 * pad) * v / max;
        let x = pad + i as f64 * bw;
        svg.push_str(&format!(
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"#3b7dd8\"><title>{}: {v}</title></rect>",
            h - pad - bh,
            (bw - 1.0).max(0.5),
            esc(label)
        ));
        if i % label_every == 0 {
            svg.push_str(&format!(
                "<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"9\">{}</text>",
                h - pad + 12.0,
                esc(label)
            ));
        }
    }
    svg.push_str("</svg>");
    svg
}

pub fn html(s: &Summary) -> String {
    // Slice fill histogram: buckets of 10% of the maximum.
    let max = s.max_per_slice.max(1);
    let step = max.div_ceil(10).max(1);
    let mut buckets = vec![0u64; max.div_ceil(step) + 1];
    for &f in &s.fill {
        let last = buckets.len() - 1;
        buckets[(f / step).min(last)] += 1;
    }
    let fill: Vec<(String, f64)> = buckets
        .iter()
        .enumerate()
        .map(|(i, &c)| (format!("{}", i * step), c as f64))
        .collect();
    // Writes over time: 100 ms buckets of simulated time after the initial build.
    let end = s.writes_over_time.last().map_or(0, |w| w.0);
    let width = (end / 60).max(100).div_ceil(100) * 100;
    let mut wot = vec![0u64; (end / width) as usize + 1];
    for &(t, n) in &s.writes_over_time {
        wot[(t / width) as usize] += n;
    }
    let wot: Vec<(String, f64)> = wot
        .iter()
        .enumerate()
        .map(|(i, &n)| (format!("{}s", i as u64 * width / 1000), n as f64))
        .collect();
    let delays: Vec<(String, f64)> = [50.0, 90.0, 99.0, 100.0]
        .iter()
        .map(|&p| {
            (
                if p == 100.0 {
                    "max".to_string()
                } else {
                    format!("p{p}")
                },
                percentile(&s.delays, p) as f64,
            )
        })
        .collect();
    let rows = table_rows(s);
    let mut table = String::from("<table>");
    for (i, r) in rows.iter().enumerate() {
        let tag = if i == 0 { "th" } else { "td" };
        table.push_str("<tr>");
        for c in r {
            table.push_str(&format!("<{tag}>{}</{tag}>", esc(c)));
        }
        table.push_str("</tr>");
    }
    table.push_str("</table>");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>sliceplane simulate</title>\
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}svg{{display:block;margin:1em 0}}</style></head><body>\
<h1>sliceplane simulate</h1><p>{} pods, {} nodes, source {}. Cold build {:.1} ms. Slices {} vs ideal {}. Peak memory {} KiB.</p>\
<h2>Summary</h2>{table}<pre>{}</pre>\
<h2>Slice fill</h2>{}\
<h2>Writes over time</h2>{}\
<h2>Propagation delay</h2>{}\
</body></html>\n",
        s.pods,
        s.nodes,
        esc(&s.source),
        s.cold_build_ms,
        s.slices,
        s.ideal,
        s.peak_rss_kb.unwrap_or(0),
        esc(&crate::simulate::summary_table(s)),
        bar_chart("fill", "Endpoints per slice (slice count)", &fill, "slices"),
        bar_chart("writes", "Writes over simulated time", &wot, "writes"),
        bar_chart(
            "delay",
            "Propagation delay percentiles (simulated ms)",
            &delays,
            "ms"
        ),
    )
}

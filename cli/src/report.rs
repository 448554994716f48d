//! The self-contained HTML report of `simulate --report`: inline CSS, no
//! scripts, no external resources, plots drawn by the `plotters` crate into
//! SVG strings (no I/O here: the caller writes the page).
//!
//! The page is well-formed XML (every element closed, only XML's own
//! entities), so that tests can check it with an XML parser. Plots, one SVG
//! each: propagation CDF per configuration with the NFR1 100 ms line
//! (`id="delay"`), writes over time per configuration (`id="writes"`),
//! slice-fill histogram before and after the churn (`id="fill"`).

use plotters::prelude::*;

use crate::simulate::{
    ConfigResult, NFR1_MS, PlotData, Summary, conclusions, config_rows, fmt_bytes, fmt_ms, group,
    percentile, plot_data,
};

type PlotResult<T> = Result<T, Box<dyn std::error::Error>>;

const W: u32 = 860;
const H: u32 = 380;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Series colour of configuration `i`: Cilium in warm colours, sliceplane blue.
fn colour(c: &ConfigResult, i: usize) -> RGBColor {
    match c.setup.key.as_str() {
        "cilium-code" => RGBColor(200, 55, 45),
        "cilium-helm" => RGBColor(230, 145, 30),
        "sliceplane" => RGBColor(40, 100, 200),
        _ => [RGBColor(40, 150, 70), RGBColor(120, 60, 160)][i % 2],
    }
}

/// Puts `id`, a role and a label on the SVG root plotters produced.
fn tag_svg(svg: String, id: &str, label: &str) -> String {
    svg.replacen(
        "<svg ",
        &format!(
            "<svg id=\"{id}\" role=\"img\" aria-label=\"{}\" ",
            esc(label)
        ),
        1,
    )
}

/// A label formatter that prints integers only (no repeated labels when
/// the mesh picks fractional positions).
fn int_label(x: f64, f: impl Fn(u64) -> String) -> String {
    if x >= 0.0 && (x - x.round()).abs() < 1e-9 {
        f(x.round() as u64)
    } else {
        String::new()
    }
}

/// Propagation CDF per configuration, log-scale delay axis, NFR1 line.
fn cdf_plot(s: &Summary, pd: &PlotData) -> PlotResult<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE)?;
        let max = pd
            .cdf
            .iter()
            .flat_map(|c| c.last().map(|p| p.0))
            .max()
            .unwrap_or(1)
            .max(NFR1_MS * 2) as f64;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Propagation: endpoint event to the slice write carrying it (CDF)",
                ("sans-serif", 17),
            )
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(56)
            .build_cartesian_2d((1.0f64..max * 1.2).log_scale(), 0.0f64..1.0)?;
        chart
            .configure_mesh()
            .x_desc("delay, simulated ms (log scale; 0 ms drawn at 1 ms)")
            .y_desc("share of updates")
            .x_label_formatter(&|x| {
                if *x >= 1000.0 {
                    format!("{} s", x / 1000.0)
                } else {
                    format!("{x} ms")
                }
            })
            .y_label_formatter(&|y| format!("{:.0}%", y * 100.0))
            .draw()?;
        for (i, (c, pts)) in s.configs.iter().zip(&pd.cdf).enumerate() {
            if pts.is_empty() {
                continue;
            }
            let col = colour(c, i);
            // A step function: flat to each point, then up.
            let mut line: Vec<(f64, f64)> = Vec::with_capacity(pts.len() * 2 + 1);
            let mut prev = 0.0;
            for &(d, q) in pts {
                let x = (d.max(1)) as f64;
                line.push((x, prev));
                line.push((x, q));
                prev = q;
            }
            chart
                .draw_series(LineSeries::new(line, col.stroke_width(2)))?
                .label(format!(
                    "{} (p99 {})",
                    c.setup.key,
                    fmt_ms(percentile(&c.delays, 99.0))
                ))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(2))
                });
        }
        let nfr = NFR1_MS as f64;
        chart
            .draw_series(DashedLineSeries::new(
                vec![(nfr, 0.0), (nfr, 1.0)],
                6,
                4,
                BLACK.stroke_width(1),
            ))?
            .label("NFR1: 100 ms")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}

/// Slice writes per time bucket, one line per configuration.
fn writes_plot(s: &Summary, pd: &PlotData) -> PlotResult<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE)?;
        let buckets = pd.writes.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let bucket_s = pd.writes_bucket_ms as f64 / 1000.0;
        let end = buckets as f64 * bucket_s;
        let top = pd
            .writes
            .iter()
            .flat_map(|v| v.iter().copied())
            .max()
            .unwrap_or(1)
            .max(1) as f64;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "API writes over the churn (per {} of simulated time)",
                    fmt_ms(pd.writes_bucket_ms)
                ),
                ("sans-serif", 17),
            )
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0f64..end, 0.0f64..top * 1.1)?;
        let fine = end < 20.0;
        chart
            .configure_mesh()
            .x_desc("simulated s since the churn began (each configuration's own timeline)")
            .y_desc("API writes")
            .x_label_formatter(&|x| {
                if fine {
                    format!("{x:.1}")
                } else {
                    format!("{x:.0}")
                }
            })
            .y_label_formatter(&|y| int_label(*y, group))
            .draw()?;
        for (i, (c, v)) in s.configs.iter().zip(&pd.writes).enumerate() {
            let col = colour(c, i);
            let mut line = Vec::with_capacity(v.len() * 2);
            for (k, &w) in v.iter().enumerate() {
                line.push((k as f64 * bucket_s, w as f64));
                line.push(((k + 1) as f64 * bucket_s, w as f64));
            }
            chart
                .draw_series(LineSeries::new(line, col.stroke_width(2)))?
                .label(format!(
                    "{} ({} writes)",
                    c.setup.key,
                    group(c.churn_writes.total)
                ))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}

/// Slices per fill bucket: before the churn, then after it per configuration.
fn fill_plot(s: &Summary, pd: &PlotData) -> PlotResult<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE)?;
        let grey = RGBColor(150, 150, 150);
        // (label, colour, counts): one "before" when every configuration
        // built the same slices, else one per configuration.
        let mut series: Vec<(String, RGBColor, &Vec<u64>)> = Vec::new();
        let same_before = pd.fill.windows(2).all(|w| w[0].0 == w[1].0);
        for (i, (c, (before, after))) in s.configs.iter().zip(&pd.fill).enumerate() {
            if i == 0 && same_before {
                series.push(("before the churn (all)".into(), grey, before));
            } else if !same_before {
                let RGBColor(r, g, b) = colour(c, i);
                let light = RGBColor(
                    ((r as u16 + 255) / 2) as u8,
                    ((g as u16 + 255) / 2) as u8,
                    ((b as u16 + 255) / 2) as u8,
                );
                series.push((format!("{} before", c.setup.key), light, before));
            }
            series.push((format!("{} after", c.setup.key), colour(c, i), after));
        }
        let n = pd.fill.first().map_or(1, |f| f.0.len()).max(1);
        let top = series
            .iter()
            .flat_map(|(_, _, v)| v.iter().copied())
            .max()
            .unwrap_or(1)
            .max(1) as f64;
        let bucket = pd.fill_bucket;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Slice fill: slices by endpoints per slice, before and after the churn",
                ("sans-serif", 17),
            )
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(56)
            .build_cartesian_2d(-0.5f64..n as f64 - 0.5, 0.0f64..top * 1.15)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_desc(format!(
                "endpoints per slice (bucket: up to the label, {bucket} wide)"
            ))
            .y_desc("slices")
            .x_label_formatter(&|x| int_label(*x, |i| format!("{}", i as usize * bucket)))
            .y_label_formatter(&|y| int_label(*y, group))
            .draw()?;
        let k = series.len().max(1) as f64;
        let width = 0.8 / k;
        for (j, (label, col, counts)) in series.iter().enumerate() {
            let col = *col;
            let x0 = -0.4 + j as f64 * width;
            chart
                .draw_series(counts.iter().enumerate().map(|(b, &c)| {
                    let x = b as f64 + x0;
                    Rectangle::new([(x, 0.0), (x + width * 0.9, c as f64)], col.filled())
                }))?
                .label(label.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], col.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}

fn html_table(rows: &[Vec<String>], class: &str) -> String {
    let mut t = format!("<table class=\"{class}\">");
    for (i, r) in rows.iter().enumerate() {
        let tag = if i == 0 { "th" } else { "td" };
        t.push_str("<tr>");
        for c in r {
            t.push_str(&format!("<{tag}>{}</{tag}>", esc(c)));
        }
        t.push_str("</tr>");
    }
    t.push_str("</table>");
    t
}

/// Every phase of one configuration, all columns.
fn phase_table(c: &ConfigResult) -> String {
    let mut rows = vec![
        [
            "phase",
            "events",
            "events/s (wall)",
            "create slice",
            "update slice",
            "delete slice",
            "identity writes",
            "bytes",
            "slices",
            "ideal",
            "p50",
            "p99",
            "max",
            "within 100 ms",
            "unwritten",
            "last write after",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>(),
    ];
    for p in &c.phases {
        let get = |k: &str| p.writes.by.get(k).copied().unwrap_or(0);
        let ident = p.writes.total - p.writes.slice_writes();
        let d = &p.delays;
        let pct = |q: f64| {
            if d.is_empty() {
                "-".to_string()
            } else {
                fmt_ms(percentile(d, q))
            }
        };
        rows.push(vec![
            p.name.clone(),
            group(p.events),
            group((p.events as f64 / p.wall_s.max(1e-9)) as u64),
            group(get("create slice")),
            group(get("update slice")),
            group(get("delete slice")),
            group(ident),
            fmt_bytes(p.writes.bytes),
            group(p.slices as u64),
            group(p.ideal as u64),
            pct(50.0),
            pct(99.0),
            pct(100.0),
            if d.is_empty() {
                "-".into()
            } else {
                format!(
                    "{:.1}%",
                    d.partition_point(|&x| x <= NFR1_MS) as f64 * 100.0 / d.len() as f64
                )
            },
            group(p.unwritten),
            fmt_ms(p.span_ms),
        ]);
    }
    html_table(&rows, "phases")
}

fn plot_or_error(r: PlotResult<String>, id: &str, label: &str) -> String {
    match r {
        Ok(svg) => tag_svg(svg, id, label),
        Err(e) => format!(
            "<p class=\"error\">plot {id} failed: {}</p>",
            esc(&e.to_string())
        ),
    }
}

/// The report page.
pub fn html(s: &Summary) -> String {
    let pd = plot_data(s);
    let c = &s.cluster;
    let h = s.headline();
    let mut body = String::new();
    body.push_str(&format!(
        "<h1>sliceplane simulate</h1><p>{} pods on {} nodes, {} namespaces, {} label sets ({}, seed {}); \
         source {}.</p><p>Churn: {}; {}.</p>",
        group(c.pods as u64),
        group(c.nodes as u64),
        group(c.namespaces as u64),
        group(c.label_sets as u64),
        esc(&c.origin),
        c.seed,
        esc(&s.source),
        esc(&s
            .traces
            .iter()
            .map(|(t, n)| format!("{t} ({} events)", group(*n)))
            .collect::<Vec<_>>()
            .join(", ")),
        esc(&s.pacing_text),
    ));
    body.push_str("<h2>Conclusions</h2><ul>");
    for l in conclusions(s) {
        body.push_str(&format!("<li>{}</li>", esc(&l)));
    }
    body.push_str("</ul>");
    body.push_str("<h2>Side by side, over the churn traces</h2>");
    body.push_str(&html_table(&config_rows(s), "side"));
    body.push_str("<dl>");
    for cfg in &s.configs {
        body.push_str(&format!(
            "<dt>{} — {}</dt><dd>{}</dd>",
            esc(&cfg.setup.key),
            esc(&cfg.setup.label),
            esc(&cfg.setup.description)
        ));
    }
    body.push_str("</dl>");
    body.push_str("<h2>Propagation</h2>");
    body.push_str(&plot_or_error(
        cdf_plot(s, &pd),
        "delay",
        "Propagation delay CDF per configuration, with the 100 ms line",
    ));
    body.push_str("<h2>Writes over time</h2>");
    body.push_str(&plot_or_error(
        writes_plot(s, &pd),
        "writes",
        "API writes over simulated time per configuration",
    ));
    body.push_str("<h2>Slice fill</h2>");
    body.push_str(&plot_or_error(
        fill_plot(s, &pd),
        "fill",
        "Slices by endpoints per slice, before and after the churn",
    ));
    body.push_str("<h2>Per phase</h2>");
    for cfg in &s.configs {
        body.push_str(&format!(
            "<h3>{} — {}</h3>",
            esc(&cfg.setup.key),
            esc(&cfg.setup.label)
        ));
        body.push_str("<div class=\"scroll\">");
        body.push_str(&phase_table(cfg));
        body.push_str("</div>");
    }
    body.push_str(&format!(
        "<h2>Engine figures ({}, wall clock, this process)</h2>",
        esc(&h.setup.key)
    ));
    let engine_rows = vec![
        vec!["figure".to_string(), "value".to_string()],
        vec![
            "cold build:".into(),
            format!(
                "{:.1} ms (initial build: {} slices vs {} ideal)",
                h.cold_build_ms,
                group(h.phases[0].slices as u64),
                group(h.phases[0].ideal as u64)
            ),
        ],
        vec![
            "apply (wall):".into(),
            format!(
                "p50 {:.1} us, p99 {:.1} us, max {:.1} us (n={})",
                percentile(&h.apply_ns, 50.0) as f64 / 1e3,
                percentile(&h.apply_ns, 99.0) as f64 / 1e3,
                percentile(&h.apply_ns, 100.0) as f64 / 1e3,
                h.apply_ns.len()
            ),
        ],
        vec![
            "snapshot publish:".into(),
            format!(
                "p50 {:.1} us, p99 {:.1} us, max {:.1} us (n={}, after flushes that wrote)",
                percentile(&h.publish_ns, 50.0) as f64 / 1e3,
                percentile(&h.publish_ns, 99.0) as f64 / 1e3,
                percentile(&h.publish_ns, 100.0) as f64 / 1e3,
                h.publish_ns.len()
            ),
        ],
        vec![
            "IP -> identity:".into(),
            format!(
                "{:.0} ns per lookup ({} lookups on the final snapshot)",
                h.ip_lookup_ns, h.ip_lookups
            ),
        ],
        vec![
            "peak memory:".into(),
            s.peak_rss_kb.map_or("unknown".to_string(), |k| {
                format!(
                    "{:.1} MiB (VmHWM, whole run, {} configurations)",
                    k as f64 / 1024.0,
                    s.configs.len()
                )
            }),
        ],
    ];
    body.push_str(&html_table(&engine_rows, "engine"));
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\
<title>sliceplane simulate</title><style>\
body{{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}}\
table{{border-collapse:collapse;margin:0.5em 0 1.5em}}\
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right;white-space:nowrap}}table.phases{{font-size:0.85em}}.scroll{{overflow-x:auto}}\
td:first-child,th:first-child{{text-align:left}}\
th{{background:#f2f2f2}}dt{{font-weight:bold}}dd{{margin:0 0 0.5em 1.5em}}\
svg{{display:block;margin:1em 0;max-width:100%;height:auto}}li{{margin:0.3em 0}}\
</style></head><body>{body}</body></html>\n"
    )
}

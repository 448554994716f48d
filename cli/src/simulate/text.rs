//! The default text output ([`summary_text`]): fits 100 columns,
//! conclusions first, then the side-by-side table, the per-phase table and
//! the engine figures; and the number formats the report shares.

use super::NFR1_MS;
use super::results::{ConfigResult, Summary, percentile};
use super::setups::active_step;

/// `1234567` → `1,234,567`.
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Simulated milliseconds, human: `42 ms`, `1.5 s`, `2.1 min`.
pub fn fmt_ms(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < 120_000 {
        format!("{:.1} s", ms as f64 / 1e3)
    } else {
        format!("{:.1} min", ms as f64 / 60e3)
    }
}

pub fn fmt_bytes(b: u64) -> String {
    if b < 10 * 1024 {
        format!("{b} B")
    } else if b < 1024 * 1024 {
        format!("{:.0} KiB", b as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", b as f64 / 1048576.0)
    }
}

/// Why a configuration misses NFR1, in words.
fn miss_cause(c: &ConfigResult, nodes: u32) -> String {
    let d = c.setup.config.write.sync_delay_ms;
    let max = percentile(&c.delays, 100.0);
    let (limit, burst) = active_step(&c.setup.config, nodes);
    let mut why = Vec::new();
    if d >= NFR1_MS {
        why.push(format!("its {d} ms sync delay alone exceeds 100 ms"));
    }
    if max > d + NFR1_MS {
        why.push(format!(
            "writes queue behind its {} writes/s (burst {burst}) budget",
            trim_f(limit)
        ));
    }
    if why.is_empty() {
        why.push("the sync delay and the write queue add up past 100 ms".into());
    }
    why.join("; ")
}

fn trim_f(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x}")
    }
}

/// The conclusions, one paragraph each (not wrapped).
pub fn conclusions(s: &Summary) -> Vec<String> {
    let nodes = s.cluster.nodes;
    let mut out = Vec::new();
    let cilium = s.configs.iter().find(|c| c.setup.key == "cilium-code");
    for c in &s.configs {
        let p99 = percentile(&c.delays, 99.0);
        let max = percentile(&c.delays, 100.0);
        let within = c.within_nfr1() * 100.0;
        let writes = c.churn_writes.total;
        let mut line = if c.delays.is_empty() {
            format!(
                "{}: no update to measure ({} API writes).",
                c.setup.label,
                group(writes)
            )
        } else if c.nfr1_holds() {
            format!(
                "{}: NFR1 holds, every update within 100 ms (p99 {}, max {}); {} API writes",
                c.setup.label,
                fmt_ms(p99),
                fmt_ms(max),
                group(writes)
            )
        } else {
            format!(
                "{}: NFR1 (100 ms) missed, p99 {}, max {}, {:.0}% of updates within 100 ms; \
                 {} API writes",
                c.setup.label,
                fmt_ms(p99),
                fmt_ms(max),
                within,
                group(writes)
            )
        };
        if let Some(base) = cilium.filter(|b| b.setup.key != c.setup.key) {
            let bw = base.churn_writes.total.max(1);
            line.push_str(&format!(
                " ({:.2}x Cilium's code defaults)",
                writes as f64 / bw as f64
            ));
        }
        line.push_str(&format!(
            "; {} slices vs {} ideal after the churn.",
            group(c.slices as u64),
            group(c.ideal as u64)
        ));
        if !c.delays.is_empty() && !c.nfr1_holds() {
            line.push_str(&format!(" Why: {}.", miss_cause(c, nodes)));
        }
        out.push(line);
    }
    if let Some(rec) = s.configs.iter().find(|c| c.setup.key == "sliceplane") {
        let (limit, burst) = active_step(&rec.setup.config, nodes);
        let cost = cilium.map_or(String::new(), |b| {
            format!(
                " Freshness costs writes: {:.1}x those of Cilium's code defaults here.",
                rec.churn_writes.total as f64 / b.churn_writes.total.max(1) as f64
            )
        });
        out.push(format!(
            "Recommended: syncDelayMs {} (Cilium: 500) so that coalescing leaves room in 100 ms; \
             {} writes/s burst {burst} (Cilium's ceiling: 50/s burst 100) so that a rollout's \
             dirty slices are written in time; compaction on to keep slices near ideal. \
             README.md has the YAML.{cost}",
            rec.setup.config.write.sync_delay_ms,
            trim_f(limit),
        ));
        if !rec.nfr1_holds() && !rec.delays.is_empty() {
            out.push(
                "Even the recommended config misses NFR1 on this churn: the write budget, not \
                 the engine, is the limit. Raise rateLimits (the API server must take it) or \
                 pace the churn."
                    .into(),
            );
        }
    }
    out
}

/// Word-wraps `text` to `width` columns; later lines start with `indent`.
pub fn wrap(text: &str, width: usize, first: &str, indent: &str) -> String {
    let mut out = String::new();
    let mut line = first.to_string();
    let mut empty = true;
    for w in text.split_whitespace() {
        if !empty && line.len() + 1 + w.len() > width {
            out.push_str(line.trim_end());
            out.push('\n');
            line = indent.to_string();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(w);
        empty = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}

fn table(rows: &[Vec<String>], left: usize) -> String {
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |x| x.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = widths[i].saturating_sub(c.chars().count());
                if i < left {
                    format!("{c}{}", " ".repeat(pad))
                } else {
                    format!("{}{c}", " ".repeat(pad))
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The side-by-side table (over the churn traces): header, then one row per
/// configuration.
pub fn config_rows(s: &Summary) -> Vec<Vec<String>> {
    let mut rows = vec![
        [
            "configuration",
            "API writes",
            "bytes",
            "slices vs ideal",
            "p50",
            "p99",
            "max",
            "NFR1 100 ms",
        ]
        .iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>(),
    ];
    for c in &s.configs {
        let d = &c.delays;
        let nfr = if d.is_empty() {
            "-".to_string()
        } else if c.nfr1_holds() {
            "holds".to_string()
        } else {
            format!("no ({:.0}%)", c.within_nfr1() * 100.0)
        };
        rows.push(vec![
            c.setup.key.clone(),
            group(c.churn_writes.total),
            fmt_bytes(c.churn_writes.bytes),
            format!("{} / {}", group(c.slices as u64), group(c.ideal as u64)),
            if d.is_empty() {
                "-".into()
            } else {
                fmt_ms(percentile(d, 50.0))
            },
            if d.is_empty() {
                "-".into()
            } else {
                fmt_ms(percentile(d, 99.0))
            },
            if d.is_empty() {
                "-".into()
            } else {
                fmt_ms(percentile(d, 100.0))
            },
            nfr,
        ]);
    }
    rows
}

/// Per phase: events, then per configuration API writes and p99 delay
/// (the initial build: writes and the time until its last write). Two
/// header rows: configuration keys, then column names.
pub fn phase_rows(s: &Summary) -> Vec<Vec<String>> {
    let mut keys = vec![String::new(), String::new()];
    let mut head = vec!["phase".to_string(), "events".to_string()];
    for c in &s.configs {
        keys.push(c.setup.key.clone());
        keys.push(String::new());
        head.push("writes".to_string());
        head.push("p99".to_string());
    }
    let mut rows = vec![keys, head];
    // Phases by name, in order (a configuration may lack the last one).
    let mut names: Vec<(&str, u64)> = Vec::new();
    for c in &s.configs {
        for p in &c.phases {
            if !names.iter().any(|n| n.0 == p.name) {
                names.push((&p.name, p.events));
            }
        }
    }
    for (name, events) in names {
        let mut row = vec![name.to_string(), group(events)];
        for c in &s.configs {
            match c.phases.iter().find(|p| p.name == name) {
                Some(p) => {
                    row.push(group(p.writes.total));
                    row.push(if p.name == "initial build" || p.events == 0 {
                        format!("({})", fmt_ms(p.span_ms))
                    } else if p.delays.is_empty() {
                        "-".into()
                    } else {
                        fmt_ms(percentile(&p.delays, 99.0))
                    });
                }
                None => {
                    row.push("0".into());
                    row.push("-".into());
                }
            }
        }
        rows.push(row);
    }
    rows
}

/// The default text output: fits 100 columns, conclusions first.
pub fn summary_text(s: &Summary) -> String {
    let c = &s.cluster;
    let mut out = String::new();
    out.push_str(&wrap(
        &format!(
            "sliceplane simulate: {} pods on {} nodes, {} namespaces, {} label sets \
             ({}, seed {}); source {}.",
            group(c.pods as u64),
            group(c.nodes as u64),
            group(c.namespaces as u64),
            group(c.label_sets as u64),
            c.origin,
            c.seed,
            s.source
        ),
        100,
        "",
        "  ",
    ));
    let total_events: u64 = s.traces.iter().map(|t| t.1).sum();
    let names: Vec<&str> = s.traces.iter().map(|t| t.0.as_str()).collect();
    out.push_str(&wrap(
        &format!(
            "Churn: {} ({} events), {}.",
            names.join(", "),
            group(total_events),
            s.pacing_text
        ),
        100,
        "",
        "  ",
    ));
    out.push_str("\nConclusions\n");
    for line in conclusions(s) {
        out.push_str(&wrap(&line, 100, "- ", "  "));
    }
    out.push_str(
        "\nOver the churn traces (propagation: endpoint event -> the slice write carrying it):\n",
    );
    out.push_str(&table(&config_rows(s), 1));
    out.push('\n');
    for cfg in &s.configs {
        out.push_str(&wrap(
            &format!("{}: {}.", cfg.setup.key, cfg.setup.description),
            100,
            "  ",
            "    ",
        ));
    }
    out.push_str(
        "\nAPI writes and p99 per phase (in parentheses: time until the phase's last write):\n",
    );
    out.push_str(&table(&phase_rows(s), 1));
    let h = s.headline();
    out.push_str(&format!(
        "\nEngine ({}, wall clock, this process):\n",
        h.setup.key
    ));
    out.push_str(&format!(
        "  cold build:        {:.1} ms  (initial build: {} slices vs {} ideal)\n",
        h.cold_build_ms,
        group(h.phases[0].slices as u64),
        group(h.phases[0].ideal as u64)
    ));
    out.push_str(&format!(
        "  slices vs ideal:   {} / {} ({:.3}x) after the churn\n",
        group(h.slices as u64),
        group(h.ideal as u64),
        h.slices as f64 / h.ideal.max(1) as f64
    ));
    out.push_str(&format!(
        "  apply (wall):      p50 {:.1} us  p99 {:.1} us  max {:.1} us  (n={})\n",
        percentile(&h.apply_ns, 50.0) as f64 / 1e3,
        percentile(&h.apply_ns, 99.0) as f64 / 1e3,
        percentile(&h.apply_ns, 100.0) as f64 / 1e3,
        h.apply_ns.len()
    ));
    out.push_str(&format!(
        "  snapshot publish:  p50 {:.1} us  p99 {:.1} us  max {:.1} us  (n={}, after flushes that wrote)\n",
        percentile(&h.publish_ns, 50.0) as f64 / 1e3,
        percentile(&h.publish_ns, 99.0) as f64 / 1e3,
        percentile(&h.publish_ns, 100.0) as f64 / 1e3,
        h.publish_ns.len()
    ));
    out.push_str(&format!(
        "  IP -> identity:    {:.0} ns per lookup  ({} lookups on the final snapshot)\n",
        h.ip_lookup_ns, h.ip_lookups
    ));
    out.push_str(&format!(
        "  peak memory:       {}  (whole run, {} configurations); run took {:.1} s\n",
        s.peak_rss_kb.map_or("unknown".to_string(), |k| format!(
            "{:.1} MiB (VmHWM)",
            k as f64 / 1024.0
        )),
        s.configs.len(),
        s.wall_s
    ));
    out
}

//! The series the HTML report plots and `--json` carries: slice fill
//! before and after the churn, writes over time, propagation CDF.

use super::results::Summary;

/// The series the report plots (and `--json` carries).
pub struct PlotData {
    /// Slice-fill histogram: bucket width (endpoints) and, per configuration,
    /// slice counts per bucket before and after the churn.
    pub fill_bucket: usize,
    pub fill: Vec<(Vec<u64>, Vec<u64>)>,
    /// Writes over time: bucket width (simulated ms) and per configuration
    /// writes per bucket.
    pub writes_bucket_ms: u64,
    pub writes: Vec<Vec<u64>>,
    /// Propagation CDF per configuration: (delay ms, share ≤ it) points.
    pub cdf: Vec<Vec<(u64, f64)>>,
}

fn fill_hist(fill: &[usize], bucket: usize, n: usize) -> Vec<u64> {
    let mut h = vec![0u64; n];
    for &f in fill {
        // Bucket i holds fills in ((i-1)·w, i·w]; bucket 0 holds empty slices.
        let i = f.div_ceil(bucket).min(n - 1);
        h[i] += 1;
    }
    h
}

pub fn plot_data(s: &Summary) -> PlotData {
    let max = s.max_per_slice.max(1);
    let fill_bucket = max.div_ceil(10).max(1);
    let n = max.div_ceil(fill_bucket) + 1;
    let fill = s
        .configs
        .iter()
        .map(|c| {
            (
                fill_hist(&c.fill_before, fill_bucket, n),
                fill_hist(&c.fill_after, fill_bucket, n),
            )
        })
        .collect();
    let end = s
        .configs
        .iter()
        .filter_map(|c| c.writes_over_time.last().map(|w| w.0))
        .max()
        .unwrap_or(0);
    // About 100 buckets, a round width of at least 100 ms.
    let raw = (end / 100).max(100);
    let mag = 10u64.pow(raw.ilog10());
    let writes_bucket_ms = [1, 2, 5, 10]
        .iter()
        .map(|m| m * mag)
        .find(|&w| w >= raw)
        .unwrap_or(10 * mag);
    let buckets = (end / writes_bucket_ms) as usize + 1;
    let writes = s
        .configs
        .iter()
        .map(|c| {
            let mut v = vec![0u64; buckets];
            for &(t, w) in &c.writes_over_time {
                v[((t / writes_bucket_ms) as usize).min(buckets - 1)] += w;
            }
            v
        })
        .collect();
    let cdf = s
        .configs
        .iter()
        .map(|c| {
            let d = &c.delays;
            let mut pts: Vec<(u64, f64)> = Vec::new();
            if d.is_empty() {
                return pts;
            }
            // At most ~200 points: every distinct value's last index when few,
            // else evenly spaced quantiles plus the max.
            let len = d.len();
            let step = (len / 200).max(1);
            let mut i = 0;
            while i < len {
                let mut j = (i + step).min(len) - 1;
                while j + 1 < len && d[j + 1] == d[j] {
                    j += 1;
                }
                pts.push((d[j], (j + 1) as f64 / len as f64));
                i = j + 1;
            }
            pts
        })
        .collect();
    PlotData {
        fill_bucket,
        fill,
        writes_bucket_ms,
        writes,
        cdf,
    }
}

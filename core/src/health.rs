//! Health of the write path: `degraded` when failures pass the configured
//! threshold (consecutive failures, or a failure ratio over a window of
//! caller time), `healthy` again once a write succeeds and the ratio is back
//! under the threshold. The embedding operator decides what to do with it
//! (e.g. fall back to per-endpoint mode).
// Every public item documented (lib.rs may still allow otherwise).
#![warn(missing_docs)]

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::config::ErrorThreshold;

/// The write path's health. Serializes as `{"state": "healthy"}` or `{"state": "degraded", "reason": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum Health {
    /// Writes succeed.
    Healthy,
    /// Failures passed the threshold; `reason` says which.
    Degraded {
        /// Which threshold was passed.
        reason: String,
    },
}

impl Health {
    /// Whether the write path is degraded.
    pub fn is_degraded(&self) -> bool {
        matches!(self, Health::Degraded { .. })
    }
}

/// Tracks write outcomes against the configured threshold.
#[derive(Debug, Clone)]
pub struct HealthTracker {
    threshold: ErrorThreshold,
    consecutive_failures: u32,
    /// (time, failed) of writes within the window.
    window: VecDeque<(u64, bool)>,
    failures_in_window: usize,
    state: Health,
}

impl HealthTracker {
    /// A tracker starting healthy.
    pub fn new(threshold: ErrorThreshold) -> Self {
        HealthTracker {
            threshold,
            consecutive_failures: 0,
            window: VecDeque::new(),
            failures_in_window: 0,
            state: Health::Healthy,
        }
    }

    /// The current state.
    pub fn state(&self) -> &Health {
        &self.state
    }

    /// Records one write outcome; returns the new state when it changed.
    pub fn record(&mut self, now: u64, failed: bool) -> Option<Health> {
        if failed {
            self.consecutive_failures += 1;
        } else {
            self.consecutive_failures = 0;
        }
        let t = self.threshold;
        if t.failure_ratio > 0.0 {
            self.window.push_back((now, failed));
            if failed {
                self.failures_in_window += 1;
            }
            while let Some(&(at, f)) = self.window.front() {
                if at.saturating_add(t.window_ms) > now {
                    break;
                }
                self.window.pop_front();
                if f {
                    self.failures_in_window -= 1;
                }
            }
        }
        let ratio = if self.window.is_empty() {
            0.0
        } else {
            self.failures_in_window as f64 / self.window.len() as f64
        };
        let by_count =
            t.consecutive_failures > 0 && self.consecutive_failures >= t.consecutive_failures;
        let by_ratio = t.failure_ratio > 0.0
            && self.window.len() >= t.min_writes as usize
            && ratio >= t.failure_ratio;
        let next = if by_count {
            Health::Degraded {
                reason: format!("{} consecutive failed writes", self.consecutive_failures),
            }
        } else if by_ratio {
            Health::Degraded {
                reason: format!(
                    "{} of the last {} writes failed (ratio {:.2} >= {})",
                    self.failures_in_window,
                    self.window.len(),
                    ratio,
                    t.failure_ratio
                ),
            }
        } else if failed && self.state.is_degraded() {
            // Still failing: stay degraded until a write succeeds.
            self.state.clone()
        } else {
            Health::Healthy
        };
        let changed = next.is_degraded() != self.state.is_degraded();
        self.state = next;
        changed.then(|| self.state.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker(consecutive: u32, ratio: f64, min: u32) -> HealthTracker {
        HealthTracker::new(ErrorThreshold {
            consecutive_failures: consecutive,
            failure_ratio: ratio,
            window_ms: 1000,
            min_writes: min,
        })
    }

    #[test]
    fn consecutive_failures_degrade_and_success_recovers() {
        let mut h = tracker(3, 0.0, 0);
        assert_eq!(h.record(0, true), None);
        assert_eq!(h.record(1, true), None);
        assert!(h.record(2, true).unwrap().is_degraded());
        assert_eq!(h.record(3, true), None);
        assert_eq!(h.record(4, false), Some(Health::Healthy));
    }

    #[test]
    fn ratio_over_window() {
        let mut h = tracker(0, 0.5, 4);
        assert_eq!(h.record(0, true), None, "1 write: below min writes");
        assert_eq!(h.record(1, false), None);
        assert_eq!(h.record(2, true), None, "3 writes: below min writes");
        let d = h
            .record(3, false)
            .expect("2 of 4 failed: ratio 0.5 reaches the threshold");
        assert!(d.is_degraded());
        assert_eq!(h.record(4, false), Some(Health::Healthy), "2 of 5 = 0.4");
        // The window forgets old writes: at t=1004 only t>=5 counts.
        let mut h = tracker(0, 0.5, 4);
        for t in 0..3 {
            assert_eq!(h.record(t, false), None);
        }
        assert_eq!(h.record(3, true), None, "1 of 4");
        assert_eq!(h.record(4, true), None, "2 of 5");
        assert!(h.record(5, true).unwrap().is_degraded(), "3 of 6");
        assert_eq!(
            h.record(2000, true),
            None,
            "old writes expired: 1 write, below min writes, still failing"
        );
        assert!(h.state().is_degraded());
        assert_eq!(h.record(2001, false), Some(Health::Healthy));
    }
}

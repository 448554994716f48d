//! The write rate limit: a token bucket whose rate and burst follow the
//! node count through a list of steps (Cilium's `ces-rate-limits`).
//!
//! The active step is the last one whose `nodes` is at most the current
//! node count (steps are sorted by `nodes`; a count below every step uses the
//! first). Time is the caller's: tokens refill by `limit` per second of the
//! `now` values given.

use crate::config::RateLimitStep;

#[derive(Debug, Clone, PartialEq)]
pub struct TokenBucket {
    steps: Vec<RateLimitStep>,
    active: RateLimitStep,
    tokens: f64,
    last_refill: Option<u64>,
}

impl TokenBucket {
    /// `steps` must be non-empty (the config validates it).
    pub fn new(steps: &[RateLimitStep]) -> Self {
        let mut steps = steps.to_vec();
        steps.sort_by_key(|s| s.nodes);
        let active = steps.first().copied().unwrap_or(RateLimitStep {
            nodes: 0,
            limit: 10.0,
            burst: 20,
        });
        TokenBucket {
            tokens: f64::from(active.burst),
            steps,
            active,
            last_refill: None,
        }
    }

    /// The step for `nodes` nodes.
    pub fn step_for(&self, nodes: usize) -> RateLimitStep {
        self.steps
            .iter()
            .rev()
            .find(|s| s.nodes as usize <= nodes)
            .or(self.steps.first())
            .copied()
            .unwrap_or(self.active)
    }

    /// Re-evaluates the step; returns true when it changed.
    pub fn set_nodes(&mut self, nodes: usize) -> bool {
        let step = self.step_for(nodes);
        if step == self.active {
            return false;
        }
        self.active = step;
        self.tokens = self.tokens.min(f64::from(step.burst));
        true
    }

    pub fn active(&self) -> RateLimitStep {
        self.active
    }

    fn refill(&mut self, now: u64) {
        if let Some(last) = self.last_refill
            && now > last
        {
            let add = (now - last) as f64 / 1000.0 * self.active.limit;
            self.tokens = (self.tokens + add).min(f64::from(self.active.burst));
        }
        if self.last_refill.is_none_or(|l| now > l) {
            self.last_refill = Some(now);
        }
    }

    /// Takes one token at `now` if there is one.
    pub fn try_take(&mut self, now: u64) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whole tokens available at `now`.
    pub fn available(&mut self, now: u64) -> u64 {
        self.refill(now);
        self.tokens.floor() as u64
    }

    /// When the next token will be there, if none is now.
    pub fn next_token_at(&self, now: u64) -> u64 {
        if self.tokens >= 1.0 {
            return now;
        }
        let missing = 1.0 - self.tokens;
        let ms = (missing / self.active.limit * 1000.0).ceil() as u64;
        self.last_refill
            .unwrap_or(now)
            .max(now)
            .saturating_add(ms.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(nodes: u32, limit: f64, burst: u32) -> RateLimitStep {
        RateLimitStep {
            nodes,
            limit,
            burst,
        }
    }

    #[test]
    fn burst_then_rate() {
        let mut b = TokenBucket::new(&[step(0, 10.0, 20)]);
        let taken = (0..30).filter(|_| b.try_take(0)).count();
        assert_eq!(taken, 20);
        assert!(!b.try_take(99));
        assert!(b.try_take(100), "10/s: one token per 100 ms");
        assert!(!b.try_take(150));
        assert_eq!(b.next_token_at(150), 200);
        assert_eq!(b.available(10_000), 20, "never above the burst");
    }

    #[test]
    fn steps_follow_node_count_like_cilium() {
        // Unsorted steps select by node count (Cilium rate_limit_test cases).
        let b = TokenBucket::new(&[step(24, 3.0, 30), step(0, 1.0, 10), step(16, 2.0, 20)]);
        assert_eq!(b.step_for(0).nodes, 0);
        assert_eq!(b.step_for(16).nodes, 16);
        assert_eq!(b.step_for(23).nodes, 16);
        assert_eq!(b.step_for(24).nodes, 24);
        assert_eq!(b.step_for(25).nodes, 24);
        assert_eq!(b.step_for(1000).nodes, 24);
        let mut b = b;
        assert!(!b.set_nodes(5));
        assert!(b.set_nodes(30));
        assert_eq!(b.active().limit, 3.0);
        let single = TokenBucket::new(&[step(0, 10.0, 20)]);
        assert_eq!(
            single.step_for(100_000).nodes,
            0,
            "a single step never changes"
        );
    }
}

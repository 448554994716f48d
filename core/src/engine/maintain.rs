//! Time-driven changes to the model: identity expiry, retrying waiting
//! endpoints, compaction, label-map pruning, resync.

use crate::config::Source;
use crate::slicing::{EndpointIdx, GroupKey, SliceId};

use super::*;

impl Engine {
    /// The time-driven changes to the model, due at `now`: expired
    /// identities are released, endpoints waiting for an identity number
    /// retry, unused label maps are pruned and fragmented groups compacted.
    /// [`Engine::flush`] runs it first; an embedder may also run it alone
    /// (it plans nothing). Does nothing before the initial sync.
    pub fn maintain(&mut self, now: u64) {
        if !self.synced {
            return;
        }
        self.identities.expire(now);
        self.retry_waiting(now);
        self.prune_label_maps();
        if self.config.slicing.compaction.enabled {
            self.compact(now);
        }
    }

    /// Retries endpoints waiting for an identity number, oldest first.
    pub(super) fn retry_waiting(&mut self, now: u64) {
        if self.config.source != Source::Pods
            || self.st.waiting.is_empty()
            || self.identities.free_count() == 0
        {
            return;
        }
        let waiting: Vec<EndpointIdx> = self.st.waiting.values().copied().collect();
        for idx in waiting {
            if self.identities.free_count() == 0 {
                break;
            }
            self.refresh_pod(idx, now);
        }
    }

    /// Forgets pod profiles (labels and their security labels) no pod uses
    /// any more, once their number doubled.
    pub(super) fn prune_label_maps(&mut self) {
        self.profiles.prune();
    }
    /// Moves endpoints out of the emptiest slices of fragmented groups into
    /// fuller ones, within the per-flush move budget.
    pub(super) fn compact(&mut self, now: u64) {
        let mut budget = self.config.slicing.compaction.move_budget;
        let max = self.config.slicing.max_endpoints_per_slice as usize;
        let min_frag = self.config.slicing.compaction.min_fragmentation;
        // Groups in order (namespace, then group), whatever the set's order.
        let mut candidates: Vec<GroupKey> = self.st.compaction_candidates.drain().collect();
        candidates.sort_unstable();
        for group in candidates {
            if budget == 0 {
                self.st.compaction_candidates.insert(group);
                continue;
            }
            loop {
                let ids: Vec<SliceId> = self.st.slices.group_slices(&group).collect();
                let mut sizes: Vec<(usize, SliceId)> = ids
                    .iter()
                    .filter_map(|&s| self.st.slices.get(s).map(|x| (x.members.len(), s)))
                    .filter(|&(n, _)| n > 0)
                    .collect();
                let total: usize = sizes.iter().map(|&(n, _)| n).sum();
                let ideal = total.div_ceil(max).max(1);
                if (sizes.len() as f64) <= (ideal as f64) * min_frag
                    || sizes.len() <= ideal
                    || budget == 0
                {
                    break;
                }
                sizes.sort_unstable();
                let (src_n, src) = sizes[0];
                let room: usize = sizes[1..].iter().map(|&(n, _)| max - n).sum();
                if room < src_n {
                    break;
                }
                let members: Vec<EndpointIdx> = self
                    .st
                    .slices
                    .get(src)
                    .map(|s| s.members.clone())
                    .unwrap_or_default();
                for idx in members {
                    if budget == 0 {
                        break;
                    }
                    // Fullest other slice with room.
                    let dst = sizes[1..]
                        .iter()
                        .rev()
                        .filter_map(|&(_, s)| self.st.slices.get(s).map(|x| (x.members.len(), s)))
                        .filter(|&(n, _)| n < max)
                        .max_by_key(|&(n, s)| (n, std::cmp::Reverse(s)))
                        .map(|(_, s)| s);
                    let Some(dst) = dst else { break };
                    self.st.move_member(idx, src, dst, now);
                    budget -= 1;
                    self.counters.compaction_moves += 1;
                }
                if self
                    .st
                    .slices
                    .get(src)
                    .is_some_and(|s| !s.members.is_empty())
                {
                    self.st.compaction_candidates.insert(group);
                    break;
                }
            }
        }
    }

    /// Marks every slice for comparison with the server at the next flush
    /// (level-triggered resync). Equal slices cost no write; slices dropped
    /// after their retries are picked up again.
    pub fn resync(&mut self, now: u64) {
        let ids: Vec<SliceId> = self.st.slices.ids().collect();
        for sid in ids {
            if let Some(s) = self.st.slices.get_mut(sid) {
                s.failures = 0;
                s.not_before = 0;
            }
            self.st.slices.mark_dirty(sid, now);
        }
        self.retry_waiting(now);
    }
}

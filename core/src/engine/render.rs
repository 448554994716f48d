//! Rendering: a slice's desired object and the content stamps that say
//! whether it differs from what the server holds. Read-only over [`State`];
//! the plan phase and queries call it.

use crate::entry;
use crate::model::CiliumEndpointSlice;
use crate::slicing::SliceId;

use super::Endpoint;
use super::state::State;

impl State {
    /// The sorted content stamps of a slice's members.
    pub(super) fn desired_stamps(&self, sid: SliceId) -> Vec<u64> {
        let Some(slice) = self.slices.get(sid) else {
            return Vec::new();
        };
        let mut v: Vec<u64> = Vec::with_capacity(slice.members.len());
        v.extend(
            slice
                .members
                .iter()
                .filter_map(|&m| self.ep(m).map(|e| e.stamp)),
        );
        v.sort_unstable();
        v
    }

    /// The desired object of a slice, endpoints sorted by name.
    pub(super) fn render_slice(&self, sid: SliceId) -> CiliumEndpointSlice {
        let Some(slice) = self.slices.get(sid) else {
            debug_assert!(false, "rendering slice {sid}, which is gone");
            return CiliumEndpointSlice::default();
        };
        let ns = self
            .namespace_name(slice.group.namespace())
            .map(|n| String::from(&**n))
            .unwrap_or_default();
        let mut obj = CiliumEndpointSlice::new(String::from(&*slice.name), ns);
        if let Some(s) = &slice.server {
            obj.metadata.resource_version = s.resource_version.clone();
        }
        // Sorted by name through a 32-byte prefix key first: names up to
        // 32 bytes (most pod names) differ there, so a comparison is a few
        // integer compares instead of a memcmp call. Names are unique within
        // a slice (one namespace), so the unstable sort gives one order.
        let mut members: Vec<(NamePrefix, &Endpoint)> = Vec::with_capacity(slice.members.len());
        members.extend(
            slice
                .members
                .iter()
                .filter_map(|&m| self.ep(m))
                .map(|ep| (name_prefix(&ep.name), ep)),
        );
        members.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
        let mut endpoints = Vec::with_capacity(members.len());
        for (_, ep) in &members {
            if let Some(id) = ep.identity() {
                endpoints.push(entry::encode(&ep.name, id, self.view(ep)));
            }
        }
        obj.endpoints = endpoints;
        obj
    }
}

/// The first 32 bytes of a name, zero-padded, as big-endian integers.
type NamePrefix = [u64; 4];

/// The first 32 bytes of `name` ([`NamePrefix`]). Where two names'
/// prefixes differ, they order as the names do (a name that ends inside
/// the prefix is padded with zeros, which sort first, as a shorter name
/// that the other extends does); where they are equal the names
/// themselves decide.
fn name_prefix(name: &str) -> NamePrefix {
    let mut bytes = [0u8; 32];
    let n = name.len().min(32);
    bytes[..n].copy_from_slice(&name.as_bytes()[..n]);
    let mut key = [0u64; 4];
    for (k, chunk) in key.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        *k = u64::from_be_bytes(word);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::name_prefix;

    /// Ordering by (prefix, name) is ordering by name, including names
    /// that are prefixes of each other, longer than the prefix, or hold
    /// a NUL byte (which pads like the end of a name).
    #[test]
    fn prefix_then_name_orders_as_name() {
        let names = [
            "",
            "a",
            "a\0",
            "a\0b",
            "ab",
            "abc",
            "ep-1",
            "ep-10",
            "ep-100",
            "ep-2",
            "frontend-0123456",
            "frontend-01234567",
            "frontend-0123456z",
            "frontend-012345",
            "frontend-01234560",
            "z",
            "\u{7f}",
            "é",
        ];
        for a in names {
            for b in names {
                let by_key = name_prefix(a).cmp(&name_prefix(b)).then_with(|| a.cmp(b));
                assert_eq!(by_key, a.cmp(b), "{a:?} vs {b:?}");
            }
        }
    }
}

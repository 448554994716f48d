//! Lock-free snapshots (DESIGN.md §6).
//!
//! A [`Snapshot`] is an immutable, versioned view of the endpoints, slices,
//! identities and the IP cache. It is an `Arc` inside: cloning is O(1), and it
//! is `Send + Sync`. A [`SnapshotReader`] is a handle over an `ArcSwap` from
//! which any thread loads the latest snapshot without locks and without ever
//! making the writer wait.
//!
//! The writer (the engine or the consumer) owns an internal `SnapshotBuilder`: the
//! next snapshot's parts, changed in place for what changed only.
//! Publishing clones the parts (O(1) each, structure is shared with the
//! previous snapshot) and stores the result: a publish costs O(what changed
//! since the last one), never O(cluster).
//!
//! The parts (see `snaptable.rs`):
//! - endpoints: `Arc<EndpointView>`s by a dense slot (the engine's endpoint
//!   index; the consumer's from the builder's free list) in a copy-on-write
//!   radix of 16-slot leaves;
//! - (namespace, name) → slot and IP → slot: open-addressing hash tables of
//!   plain `Copy` entries in copy-on-write leaves (copying a leaf bumps no
//!   refcounts);
//! - slot → identity: a compact copy-on-write radix of `u32`s (4 MiB for a
//!   million endpoints, so it stays in the last-level cache): IP → identity
//!   reads the IP entry then this table, and an identity change rewrites
//!   no IP entry;
//! - slices, namespaces, identities: persistent maps (`imbl`), small next to
//!   the endpoints.

//!
//! The module's two sides:
//! - `read.rs`: what readers on other threads see: [`Snapshot`] (the
//!   content and its lookups) and [`SnapshotReader`];
//! - `build.rs`: what the writer feeds on each change and how the next
//!   snapshot is made: the `SnapshotBuilder` (the next snapshot's parts and
//!   the IP-ownership rules) and the engine's `Publisher` (what changed since
//!   the last publish).

mod build;
mod read;

use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use crate::identity::IdentityId;

pub(crate) use build::{EngineEndpoint, IpOwnership, Publisher, SnapshotBuilder};
pub use read::{Snapshot, SnapshotReader};

/// What a snapshot says about an endpoint besides its name and identity
/// ([`EndpointView::data`]), with the types of its parts.
pub use crate::endpoint::{Addressing, EndpointData, PortEntry, Protocol as PortProtocol};

/// A small deterministic hasher (FxHash-style) for the persistent maps: no
/// random state, so iteration order is the same on every run.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FxHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            self.add(u64::from_le_bytes(b));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(b) ^ ((rest.len() as u64) << 56));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // Final avalanche so the HAMT's top bits are spread.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }
}

type Fx = BuildHasherDefault<FxHasher>;
/// A persistent hash map with a deterministic hasher.
pub(crate) type PMap<K, V> = imbl::GenericHashMap<K, V, Fx, imbl::shared_ptr::DefaultSharedPtr>;
/// A persistent ordered set.
pub(crate) type PSet<T> = imbl::OrdSet<T>;

/// (namespace, name) of an endpoint.
pub type EndpointKey = (Arc<str>, Arc<str>);

/// One endpoint as a snapshot shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointView {
    /// The endpoint's namespace.
    pub namespace: Arc<str>,
    /// The endpoint's name.
    pub name: Arc<str>,
    /// The slice holding it (the consumer: the current copy's slice).
    pub slice: Arc<str>,
    /// The endpoint's security identity.
    pub identity: IdentityId,
    /// Addresses, node IP, encryption key, named ports, service account.
    pub data: EndpointData,
}

impl EndpointView {
    /// (namespace, name): the endpoint's key.
    pub fn key(&self) -> EndpointKey {
        (self.namespace.clone(), self.name.clone())
    }
    /// The endpoint's IP addresses.
    pub fn ips(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.data.ips()
    }
    /// The IP of the node the endpoint runs on, if known.
    pub fn node_ip(&self) -> Option<IpAddr> {
        self.data.node_ip
    }
    /// The node's encryption key index (0: none).
    pub fn encryption_key(&self) -> u8 {
        self.data.encryption_key
    }
}

/// One slice as a snapshot shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceView {
    /// The slice's name.
    pub name: Arc<str>,
    /// The namespace all its endpoints are in.
    pub namespace: Arc<str>,
    /// Endpoint names, sorted.
    pub endpoints: Arc<[Arc<str>]>,
}

/// Per-namespace part of a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespaceView {
    /// Names of the namespace's slices, sorted.
    pub slices: PSet<Arc<str>>,
    /// How many endpoints the namespace has in slices.
    pub endpoints: usize,
}

/// Slices against the ideal count (⌈endpoints / max per slice⌉).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fragmentation {
    /// Slices there are.
    pub slices: usize,
    /// Slices there would be at best: ⌈endpoints / max per slice⌉ per namespace.
    pub ideal: usize,
}

impl Fragmentation {
    /// slices / ideal (1.0 when both are 0).
    pub fn ratio(&self) -> f64 {
        if self.ideal == 0 {
            if self.slices == 0 { 1.0 } else { f64::INFINITY }
        } else {
            self.slices as f64 / self.ideal as f64
        }
    }
}

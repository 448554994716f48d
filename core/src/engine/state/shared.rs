//! The values records share, and the conversion between a record and the
//! public [`EndpointData`].
//!
//! A node's endpoints share its IP and a workload's pods share a service
//! account, so a record holds these as `u32` ids of counted tables
//! ([`Shared`]) rather than copies: an IPv6 node IP (16 bytes; an IPv4 one
//! is kept inline in the record) and the service account (a string). An id
//! has one count per record holding it; the last release frees it.
//!
//! [`Shared`] owns those tables and is the only code that writes a record's
//! content: [`Shared::record`] builds one, [`Shared::store`] overwrites it,
//! [`Shared::release`] gives back its ids when it is removed; and it reads
//! a record back as data ([`Shared::view`], [`Shared::data`],
//! [`Shared::same_content`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use crate::endpoint::{DataRef, EndpointData};
use crate::identity::IdentityId;

use super::super::NO_ID;
use super::super::profiles::Counted;
use super::record::{Addrs, Endpoint, NODE_NONE, NODE_V4, NODE_V6};

/// The counted tables of the values records share (see the module docs).
#[derive(Debug, Clone, Default)]
pub(super) struct Shared {
    /// IPv6 node IPs (`Endpoint::node_ip` when `node_kind` is `NODE_V6`).
    node_ips: Counted<Ipv6Addr>,
    /// Service accounts (`Endpoint::service_account`).
    service_accounts: Counted<Arc<str>>,
}

impl Shared {
    /// A new record of `data`, in no slice; its shared values acquired.
    #[inline]
    pub(super) fn record(
        &mut self,
        ns: u32,
        name: &str,
        identity: Option<IdentityId>,
        stamp: u64,
        data: EndpointData,
    ) -> Endpoint {
        let node_ip = data.node_ip;
        let sa = match &data.service_account {
            Some(sa) => self.service_accounts.acquire(sa.clone()),
            None => NO_ID,
        };
        let mut ep = Endpoint::new(ns, name, identity, stamp, data, sa);
        self.set_node_ip(&mut ep, node_ip);
        ep
    }

    /// Writes `data` into a record: the address pairs, ports and key in
    /// place, the node IP and service account as ids (an unchanged value
    /// keeps its id; a changed one releases the old).
    #[inline]
    pub(super) fn store(&mut self, ep: &mut Endpoint, data: EndpointData) {
        self.set_node_ip(ep, data.node_ip);
        let sa = match data.service_account {
            None => NO_ID,
            Some(sa)
                if self
                    .service_accounts
                    .get(ep.service_account)
                    .is_some_and(|old| *old == sa) =>
            {
                ep.service_account
            }
            Some(sa) => self.service_accounts.acquire(sa),
        };
        if sa != ep.service_account && ep.service_account != NO_ID {
            self.service_accounts.release(ep.service_account);
        }
        ep.service_account = sa;
        if ep.addressing.as_slice() != data.addressing.as_slice() {
            ep.addressing = Addrs::from_slice(&data.addressing);
        }
        ep.named_ports = data.named_ports;
        ep.encryption_key = data.encryption_key;
    }

    /// Gives back a removed record's ids.
    #[inline]
    pub(super) fn release(&mut self, ep: &mut Endpoint) {
        self.set_node_ip(ep, None);
        if ep.service_account != NO_ID {
            self.service_accounts.release(ep.service_account);
            ep.service_account = NO_ID;
        }
    }

    /// Sets a record's node IP: an IPv4 address inline, an IPv6 one as an
    /// id (kept if it is unchanged; a replaced id is released).
    #[inline]
    fn set_node_ip(&mut self, ep: &mut Endpoint, ip: Option<IpAddr>) {
        let old_v6 = (ep.node_kind == NODE_V6).then_some(ep.node_ip);
        let (kind, bits) = match ip {
            None => (NODE_NONE, 0),
            Some(IpAddr::V4(v4)) => (NODE_V4, u32::from(v4)),
            Some(IpAddr::V6(v6)) => match old_v6 {
                Some(id) if self.node_ips.get(id) == Some(&v6) => return,
                _ => (NODE_V6, self.node_ips.acquire(v6)),
            },
        };
        if let Some(id) = old_v6 {
            self.node_ips.release(id);
        }
        ep.node_kind = kind;
        ep.node_ip = bits;
    }

    /// The node IP of a record.
    #[inline]
    pub(super) fn node_ip(&self, ep: &Endpoint) -> Option<IpAddr> {
        match ep.node_kind {
            NODE_V4 => Some(IpAddr::V4(Ipv4Addr::from(ep.node_ip))),
            NODE_V6 => self.node_ips.get(ep.node_ip).map(|&ip| IpAddr::V6(ip)),
            _ => None,
        }
    }

    /// The service account of a record.
    #[inline]
    fn service_account(&self, ep: &Endpoint) -> Option<&Arc<str>> {
        self.service_accounts.get(ep.service_account)
    }

    /// The data of a record, borrowed.
    #[inline]
    pub(super) fn view<'a>(&'a self, ep: &'a Endpoint) -> DataRef<'a> {
        DataRef {
            addressing: ep.addressing.as_slice(),
            node_ip: self.node_ip(ep),
            encryption_key: ep.encryption_key,
            named_ports: &ep.named_ports,
            service_account: self.service_account(ep).map(|s| &**s),
        }
    }

    /// The data of a record, owned.
    #[inline]
    pub(super) fn data(&self, ep: &Endpoint) -> EndpointData {
        EndpointData {
            addressing: ep.addressing.as_slice().into(),
            node_ip: self.node_ip(ep),
            encryption_key: ep.encryption_key,
            named_ports: ep.named_ports.clone(),
            service_account: self.service_account(ep).cloned(),
        }
    }

    /// Whether a record holds this identity and data.
    #[inline]
    pub(super) fn same_content(
        &self,
        ep: &Endpoint,
        identity: Option<IdentityId>,
        d: &EndpointData,
    ) -> bool {
        ep.identity() == identity
            && ep.encryption_key == d.encryption_key
            && ep.addressing.as_slice() == d.addressing.as_slice()
            && ep.named_ports == d.named_ports
            && self.node_ip(ep) == d.node_ip
            && self.service_account(ep).map(|s| &**s) == d.service_account.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{State, content_stamp};
    use super::*;
    use crate::config::{Config, Source};

    /// A record gives back the data it was given, through every change
    /// from one content to another, and its removal leaves nothing in the
    /// shared node IP and service account tables.
    #[test]
    fn records_keep_their_data_and_release_shared_values() {
        use crate::endpoint::{Addressing, PortEntry, Protocol};
        use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
        let pair = |a: u8, b: Option<u16>| Addressing {
            ipv4: Some(Ipv4Addr::new(10, 0, 0, a)),
            ipv6: b.map(|x| Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, x)),
        };
        let mut datas = Vec::new();
        for node in [
            None,
            Some(IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1))),
            Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            Some(IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 9))),
        ] {
            for sa in [None, Some("a"), Some("b")] {
                for addressing in [
                    smallvec::smallvec![],
                    smallvec::smallvec![pair(1, None)],
                    smallvec::smallvec![pair(1, Some(1)), pair(2, None)],
                ] {
                    datas.push(EndpointData {
                        addressing,
                        node_ip: node,
                        encryption_key: sa.map_or(0, |_| 3),
                        named_ports: vec![PortEntry {
                            name: Arc::from("p"),
                            port: 80,
                            protocol: Protocol::Tcp,
                        }]
                        .into(),
                        service_account: sa.map(Arc::from),
                    });
                }
            }
        }
        let config = Config {
            source: Source::Ciliumendpoints,
            ..Config::default()
        };
        let mut st = State::new(&config);
        st.start_placing();
        // Two endpoints, so shared values are shared while one changes.
        let (b, _) = st.upsert("ns", "b", Some(1), datas[5].clone(), None, 0);
        for (i, d) in datas.iter().enumerate() {
            let (a, _) = st.upsert("ns", "a", Some(1), d.clone(), None, i as u64);
            assert_eq!(st.data(st.ep(a).unwrap()), *d, "variant {i}");
            assert_eq!(st.view(st.ep(a).unwrap()), d.view(), "variant {i}");
            assert_eq!(st.data(st.ep(b).unwrap()), datas[5]);
            assert_eq!(
                st.ep(a).unwrap().stamp,
                content_stamp("a", Some(1), d.view())
            );
            if i % 5 == 0 {
                st.remove("ns", "a", i as u64);
            }
        }
        assert_eq!(st.check_invariants(), Ok(()));
        st.remove("ns", "a", 100);
        st.remove("ns", "b", 100);
        for id in 0..8 {
            assert_eq!(st.shared.node_ips.get(id), None);
            assert_eq!(st.shared.service_accounts.get(id), None);
        }
    }
}

//! IP prefixes (`10.0.0.0/8`, `fd00::/64`) and CIDR rules with exceptions.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// An IP prefix. The address is stored with its host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

fn bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    }
}

fn mask(prefix: u8, width: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        let all: u128 = if width == 32 {
            u128::from(u32::MAX)
        } else {
            u128::MAX
        };
        let shift = u32::from(width.saturating_sub(prefix));
        all.checked_shr(shift)
            .unwrap_or(0)
            .checked_shl(shift)
            .unwrap_or(0)
            & all
    }
}

impl Cidr {
    /// Parses `addr/len`; a bare address is a host prefix. `None` if invalid.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => {
                let ip: IpAddr = a.trim().parse().ok()?;
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 3 {
                    return None;
                }
                let n: u8 = p.parse().ok()?;
                (ip, n)
            }
            None => {
                let ip: IpAddr = s.trim().parse().ok()?;
                let (_, w) = bits(ip);
                (ip, w)
            }
        };
        let (value, width) = bits(addr);
        if prefix > width {
            return None;
        }
        let masked = value & mask(prefix, width);
        let addr = match addr {
            IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::from(masked as u32)),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::from(masked)),
        };
        Some(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let (net, width) = bits(self.addr);
        let (value, w) = bits(ip);
        width == w && value & mask(self.prefix, width) == net
    }

    /// Whether `other` lies entirely inside this prefix.
    pub fn covers(&self, other: &Cidr) -> bool {
        other.prefix >= self.prefix && self.contains(other.addr)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A prefix minus exceptions: `ipBlock` / `fromCIDRSet`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CidrMatch {
    pub cidr: Cidr,
    pub except: Vec<Cidr>,
}

impl CidrMatch {
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.cidr.contains(ip) && !self.except.iter().any(|e| e.contains(ip))
    }

    /// The same match with every prefix as a network and a mask, for
    /// matching many times.
    pub fn to_bits(&self) -> CidrMatchBits {
        CidrMatchBits {
            cidr: PrefixBits::of(&self.cidr),
            except: self.except.iter().map(PrefixBits::of).collect(),
        }
    }
}

/// An address as the bits [`PrefixBits`] compare: the value and whether it
/// is IPv6.
#[inline]
pub fn address_bits(ip: IpAddr) -> (u128, bool) {
    let (value, width) = bits(ip);
    (value, width == 128)
}

/// A prefix as its network and mask: [`Cidr::contains`] without
/// recomputing them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PrefixBits {
    net: u128,
    mask: u128,
    v6: bool,
}

impl PrefixBits {
    fn of(cidr: &Cidr) -> PrefixBits {
        let (net, width) = bits(cidr.addr);
        PrefixBits {
            net,
            mask: mask(cidr.prefix, width),
            v6: width == 128,
        }
    }

    /// As [`Cidr::contains`] for an address given by [`address_bits`].
    #[inline]
    fn contains(&self, (value, v6): (u128, bool)) -> bool {
        self.v6 == v6 && value & self.mask == self.net
    }
}

/// A [`CidrMatch`] as [`PrefixBits`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CidrMatchBits {
    cidr: PrefixBits,
    except: Vec<PrefixBits>,
}

impl CidrMatchBits {
    /// As [`CidrMatch::contains`] for an address given by [`address_bits`].
    #[inline]
    pub fn contains(&self, ip: (u128, bool)) -> bool {
        self.cidr.contains(ip) && !self.except.iter().any(|e| e.contains(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_contain() {
        let c = Cidr::parse("10.1.2.3/16").unwrap();
        assert_eq!(c.to_string(), "10.1.0.0/16");
        assert!(c.contains("10.1.255.1".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(!c.contains("::1".parse().unwrap()));
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains("1.2.3.4".parse().unwrap())
        );
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("10.0.0/8").is_none());
        assert!(Cidr::parse("10.0.0.0/").is_none());
        assert!(Cidr::parse("10.0.0.0/-1").is_none());
        let v6 = Cidr::parse("fd00::1/64").unwrap();
        assert!(v6.contains("fd00::ffff".parse().unwrap()));
        assert_eq!(Cidr::parse("1.2.3.4").unwrap().prefix, 32);
        assert!(c.covers(&Cidr::parse("10.1.2.0/24").unwrap()));
        assert!(!c.covers(&Cidr::parse("10.0.0.0/8").unwrap()));
    }

    #[test]
    fn bits_match_as_the_prefixes_do() {
        let m = CidrMatch {
            cidr: Cidr::parse("10.1.0.0/16").unwrap(),
            except: vec![Cidr::parse("10.1.2.0/24").unwrap()],
        };
        let all = CidrMatch {
            cidr: Cidr::parse("0.0.0.0/0").unwrap(),
            except: vec![],
        };
        let v6 = CidrMatch {
            cidr: Cidr::parse("fd00::/64").unwrap(),
            except: vec![Cidr::parse("fd00::1/128").unwrap()],
        };
        for ip in [
            "10.1.0.1", "10.1.2.3", "10.1.3.3", "10.2.0.1", "0.0.0.0", "fd00::1", "fd00::2",
            "fd01::2", "::",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            for c in [&m, &all, &v6] {
                assert_eq!(
                    c.to_bits().contains(address_bits(ip)),
                    c.contains(ip),
                    "{c:?} {ip}"
                );
            }
        }
    }
}

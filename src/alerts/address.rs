//! Which IP addresses a production webhook may name, as two tables.
//!
//! The tables follow the IANA IPv4 and IPv6 Special-Purpose Address
//! Registries (RFC 6890 and its updates), so a reader can hold them side by
//! side. Every block there that is not globally reachable is refused, and so
//! are a few that are globally reachable but are anycast or infrastructure
//! services that never host a webhook receiver (AS112, AMT, the
//! 192.0.0.0/24 and 2001::/23 anycast addresses): refusing them costs
//! nothing and keeps the rule simple. Multicast, reserved space, the
//! limited broadcast address and everything in IPv6 outside global unicast
//! `2000::/3` are refused too.
//!
//! An IPv6 address that carries an IPv4 address is judged by that IPv4
//! address first (Teredo carries two: its server, and its client with every
//! bit flipped), then by its own block:
//! - IPv4-mapped `::ffff:a.b.c.d` is only another spelling of `a.b.c.d`,
//!   and the NAT64 well-known prefix `64:ff9b::/96` reaches `a.b.c.d`
//!   through a translator; both pass exactly when `a.b.c.d` does.
//! - The other forms are refused whatever they carry: IPv4-compatible
//!   `::a.b.c.d` and IPv4-translated `::ffff:0:a.b.c.d` (deprecated or not
//!   routed), the local-use NAT64 prefix `64:ff9b:1::/48` (private to a
//!   network), 6to4 `2002::/16` and Teredo `2001::/32` (transition forms the
//!   registry does not call globally reachable, which no receiver needs).
//!
//! Each table is read top down and the first block holding the address
//! decides, so narrower blocks come before the blocks that contain them.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// An IPv4 block that a production webhook may not name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct V4Block {
    /// The block's first address.
    pub net: Ipv4Addr,
    /// The prefix length.
    pub len: u8,
    /// What the block is.
    pub name: &'static str,
}

/// How an IPv6 block carries an IPv4 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Carries {
    /// It carries none.
    Nothing,
    /// In its last 32 bits (IPv4-mapped, -compatible, -translated, NAT64
    /// `/96`).
    Last32,
    /// In bits 16 to 48 (6to4).
    SixToFour,
    /// Teredo: the server in bits 32 to 64, the client in the last 32 bits
    /// with every bit flipped.
    Teredo,
}

/// What an IPv6 block means for a webhook, once what it carries passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Refused.
    Refused,
    /// Passes: its addresses are judged by the IPv4 address they carry.
    AsCarried,
    /// Passes: global unicast.
    Public,
}

/// An IPv6 block with a rule of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct V6Block {
    /// The block's first address.
    pub net: Ipv6Addr,
    /// The prefix length.
    pub len: u8,
    /// What the block is.
    pub name: &'static str,
    /// Where its addresses carry an IPv4 address, if they do.
    pub carries: Carries,
    /// Whether its addresses pass.
    pub rule: Rule,
}

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8, name: &'static str) -> V4Block {
    V4Block {
        net: Ipv4Addr::new(a, b, c, d),
        len,
        name,
    }
}

const fn v6(segments: [u16; 8], len: u8, name: &'static str) -> V6Block {
    with(segments, len, name, Carries::Nothing, Rule::Refused)
}

const fn with(s: [u16; 8], len: u8, name: &'static str, carries: Carries, rule: Rule) -> V6Block {
    V6Block {
        net: Ipv6Addr::new(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]),
        len,
        name,
        carries,
        rule,
    }
}

/// The IPv4 blocks refused in production; any other address passes.
pub const V4_BLOCKS: &[V4Block] = &[
    v4(0, 0, 0, 0, 8, "\"this network\""),
    v4(10, 0, 0, 0, 8, "private-use"),
    v4(100, 64, 0, 0, 10, "shared address space"),
    v4(127, 0, 0, 0, 8, "loopback"),
    v4(169, 254, 0, 0, 16, "link-local"),
    v4(172, 16, 0, 0, 12, "private-use"),
    v4(192, 0, 0, 0, 24, "IETF protocol assignments"),
    v4(192, 0, 2, 0, 24, "documentation, TEST-NET-1"),
    v4(192, 31, 196, 0, 24, "AS112-v4"),
    v4(192, 52, 193, 0, 24, "AMT"),
    v4(192, 88, 99, 0, 24, "deprecated 6to4 relay anycast"),
    v4(192, 168, 0, 0, 16, "private-use"),
    v4(192, 175, 48, 0, 24, "AS112 direct delegation"),
    v4(198, 18, 0, 0, 15, "benchmarking"),
    v4(198, 51, 100, 0, 24, "documentation, TEST-NET-2"),
    v4(203, 0, 113, 0, 24, "documentation, TEST-NET-3"),
    v4(224, 0, 0, 0, 4, "multicast"),
    v4(255, 255, 255, 255, 32, "limited broadcast"),
    v4(240, 0, 0, 0, 4, "reserved"),
];

/// The IPv6 blocks with a rule, first match deciding; the last one holds
/// every address.
pub const V6_BLOCKS: &[V6Block] = &[
    v6([0, 0, 0, 0, 0, 0, 0, 0], 128, "unspecified"),
    v6([0, 0, 0, 0, 0, 0, 0, 1], 128, "loopback"),
    with(
        [0, 0, 0, 0, 0, 0xffff, 0, 0],
        96,
        "IPv4-mapped",
        Carries::Last32,
        Rule::AsCarried,
    ),
    with(
        [0, 0, 0, 0, 0xffff, 0, 0, 0],
        96,
        "IPv4-translated",
        Carries::Last32,
        Rule::Refused,
    ),
    with(
        [0, 0, 0, 0, 0, 0, 0, 0],
        96,
        "deprecated IPv4-compatible",
        Carries::Last32,
        Rule::Refused,
    ),
    with(
        [0x64, 0xff9b, 0, 0, 0, 0, 0, 0],
        96,
        "NAT64 well-known prefix",
        Carries::Last32,
        Rule::AsCarried,
    ),
    v6(
        [0x64, 0xff9b, 1, 0, 0, 0, 0, 0],
        48,
        "NAT64 local-use prefix",
    ),
    v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "discard-only"),
    v6([0x100, 0, 0, 1, 0, 0, 0, 0], 64, "dummy prefix"),
    with(
        [0x2001, 0, 0, 0, 0, 0, 0, 0],
        32,
        "Teredo",
        Carries::Teredo,
        Rule::Refused,
    ),
    v6([0x2001, 1, 0, 0, 0, 0, 0, 1], 128, "PCP anycast"),
    v6([0x2001, 1, 0, 0, 0, 0, 0, 2], 128, "TURN anycast"),
    v6([0x2001, 1, 0, 0, 0, 0, 0, 3], 128, "DNS-SD SRP anycast"),
    v6([0x2001, 2, 0, 0, 0, 0, 0, 0], 48, "benchmarking"),
    v6([0x2001, 3, 0, 0, 0, 0, 0, 0], 32, "AMT"),
    v6([0x2001, 4, 0x112, 0, 0, 0, 0, 0], 48, "AS112-v6"),
    v6([0x2001, 0x10, 0, 0, 0, 0, 0, 0], 28, "deprecated ORCHID"),
    v6([0x2001, 0x20, 0, 0, 0, 0, 0, 0], 28, "ORCHIDv2"),
    v6([0x2001, 0x30, 0, 0, 0, 0, 0, 0], 28, "drone remote ID tags"),
    v6(
        [0x2001, 0, 0, 0, 0, 0, 0, 0],
        23,
        "IETF protocol assignments",
    ),
    v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, "documentation"),
    with(
        [0x2002, 0, 0, 0, 0, 0, 0, 0],
        16,
        "6to4",
        Carries::SixToFour,
        Rule::Refused,
    ),
    v6(
        [0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0],
        48,
        "AS112 direct delegation",
    ),
    v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, "documentation"),
    v6([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16, "SRv6 SIDs"),
    v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "unique local"),
    v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "link-local"),
    v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, "deprecated site-local"),
    v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "multicast"),
    with(
        [0x2000, 0, 0, 0, 0, 0, 0, 0],
        3,
        "global unicast",
        Carries::Nothing,
        Rule::Public,
    ),
    v6([0, 0, 0, 0, 0, 0, 0, 0], 0, "not global unicast"),
];

/// Why an address was refused: the block that refused it, and the IPv4
/// address it carries when that was the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The block, as `address/length`.
    pub block: String,
    /// What the block is.
    pub name: &'static str,
    /// The carried IPv4 address that is in `block`, if that is why.
    pub carried: Option<Ipv4Addr>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(v4) = self.carried {
            write!(f, "carries {v4}, which is ")?;
        } else {
            write!(f, "is ")?;
        }
        write!(f, "in {} ({})", self.block, self.name)
    }
}

impl V4Block {
    /// Whether `ip` is in the block.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
        u32::from(ip) & mask == u32::from(self.net)
    }

    /// The block's last address.
    pub fn last(&self) -> Ipv4Addr {
        let host = u32::MAX.checked_shr(u32::from(self.len)).unwrap_or(0);
        Ipv4Addr::from(u32::from(self.net) | host)
    }

    fn refusal(&self) -> Refusal {
        Refusal {
            block: format!("{}/{}", self.net, self.len),
            name: self.name,
            carried: None,
        }
    }
}

impl V6Block {
    /// Whether `ip` is in the block.
    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        let mask = u128::MAX
            .checked_shl(128 - u32::from(self.len))
            .unwrap_or(0);
        u128::from(ip) & mask == u128::from(self.net)
    }

    /// The block's last address.
    pub fn last(&self) -> Ipv6Addr {
        let host = u128::MAX.checked_shr(u32::from(self.len)).unwrap_or(0);
        Ipv6Addr::from(u128::from(self.net) | host)
    }

    fn refusal(&self) -> Refusal {
        Refusal {
            block: format!("{}/{}", self.net, self.len),
            name: self.name,
            carried: None,
        }
    }
}

impl Carries {
    /// The IPv4 addresses `ip` carries in this form (none, one, or two).
    pub fn addresses(self, ip: Ipv6Addr) -> Vec<Ipv4Addr> {
        let bits = u128::from(ip);
        // The 32 bits that end `end` bits from the address's right end.
        let word = |end: u32| Ipv4Addr::from((bits >> end) as u32);
        match self {
            Carries::Nothing => vec![],
            Carries::Last32 => vec![word(0)],
            Carries::SixToFour => vec![word(80)],
            Carries::Teredo => vec![word(64), Ipv4Addr::from(!(bits as u32))],
        }
    }
}

/// Judges an IPv4 address by [`V4_BLOCKS`].
///
/// # Errors
/// The [`Refusal`] of the first block holding it.
pub fn judge_v4(ip: Ipv4Addr) -> Result<(), Refusal> {
    match V4_BLOCKS.iter().find(|b| b.contains(ip)) {
        Some(block) => Err(block.refusal()),
        None => Ok(()),
    }
}

/// Judges an IPv6 address by [`V6_BLOCKS`]: the first block holding it
/// decides, after any IPv4 address it carries was judged by [`judge_v4`].
///
/// # Errors
/// The [`Refusal`] of a carried IPv4 address, or of the block.
pub fn judge_v6(ip: Ipv6Addr) -> Result<(), Refusal> {
    let block = V6_BLOCKS
        .iter()
        .find(|b| b.contains(ip))
        .expect("the last block holds every address");
    for carried in block.carries.addresses(ip) {
        judge_v4(carried).map_err(|refusal| Refusal {
            carried: Some(carried),
            ..refusal
        })?;
    }
    match block.rule {
        Rule::Refused => Err(block.refusal()),
        Rule::AsCarried | Rule::Public => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block holds its first address only when that address has no
    /// bits set past the prefix.
    #[test]
    fn blocks_start_on_their_boundary() {
        for b in V4_BLOCKS {
            assert!(
                b.len <= 32 && b.contains(b.net) && b.contains(b.last()),
                "{b:?}"
            );
        }
        for b in V6_BLOCKS {
            assert!(
                b.len <= 128 && b.contains(b.net) && b.contains(b.last()),
                "{b:?}"
            );
        }
        let misaligned = V4Block {
            net: Ipv4Addr::new(10, 0, 0, 1),
            len: 8,
            name: "",
        };
        assert!(!misaligned.contains(misaligned.net));
    }

    #[test]
    fn no_block_is_hidden_by_an_earlier_one() {
        for (i, b) in V4_BLOCKS.iter().enumerate() {
            let hidden = V4_BLOCKS[..i]
                .iter()
                .any(|a| a.contains(b.net) && a.contains(b.last()));
            assert!(!hidden, "{b:?}");
        }
        for (i, b) in V6_BLOCKS.iter().enumerate() {
            let hidden = V6_BLOCKS[..i]
                .iter()
                .any(|a| a.contains(b.net) && a.contains(b.last()));
            assert!(!hidden, "{b:?}");
        }
    }

    #[test]
    fn carried_addresses_are_read_where_each_form_puts_them() {
        let ip = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        let v4 = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(
            Carries::Last32.addresses(ip("64:ff9b::c000:201")),
            [v4("192.0.2.1")]
        );
        assert_eq!(
            Carries::SixToFour.addresses(ip("2002:c000:201:1::5")),
            [v4("192.0.2.1")]
        );
        assert_eq!(
            Carries::Teredo.addresses(ip("2001:0:4136:e378:8000:63bf:3fff:fdd2")),
            [v4("65.54.227.120"), v4("192.0.2.45")]
        );
    }

    #[test]
    fn refusals_name_the_block_and_what_was_carried() {
        let ip = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        assert_eq!(
            judge_v6(ip("2002:7f00:1::")).unwrap_err().to_string(),
            "carries 127.0.0.1, which is in 127.0.0.0/8 (loopback)"
        );
        assert_eq!(
            judge_v6(ip("2002:808:808::")).unwrap_err().to_string(),
            "is in 2002::/16 (6to4)"
        );
        assert_eq!(
            judge_v4(Ipv4Addr::new(192, 88, 99, 1))
                .unwrap_err()
                .to_string(),
            "is in 192.88.99.0/24 (deprecated 6to4 relay anycast)"
        );
        assert!(judge_v6(ip("::ffff:8.8.8.8")).is_ok());
        assert!(judge_v6(ip("2606:4700::1111")).is_ok());
    }
}

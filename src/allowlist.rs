//! Per-team IP allow-lists for API access: which client addresses may call the API for a team
//! (user sessions and API keys alike). Pure core: the edge passes the client address Cloudflare
//! saw (`CF-Connecting-IP`, which a client cannot set through Cloudflare) and the team's list;
//! storing, auditing and enforcing the list are the service's and the edge's.
//!
//! An empty list means no restriction. Entries are CIDR networks (`203.0.113.0/24`,
//! `2001:db8::/32`) or single addresses; parsing refuses anything ambiguous instead of guessing.

use ipnet::IpNet;
use std::net::IpAddr;

/// Most networks one team may list (a longer list is a sign a CIDR was meant).
pub const MAX_ENTRIES: usize = 100;

/// Why an entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("is not an IPv4 or IPv6 address or CIDR network")]
    Syntax,
    #[error("has host bits set; the network is {0}")]
    HostBits(String),
    #[error("allows every address; remove the allow-list instead")]
    Everything,
    #[error("is an IPv4-mapped IPv6 network; write it as IPv4 ({0})")]
    Mapped(String),
    #[error("is listed twice")]
    Duplicate,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllowListError {
    #[error("an allow-list has at most {MAX_ENTRIES} entries, not {0}")]
    TooMany(usize),
    #[error("entry {index} ({entry:?}) {reason}")]
    Entry {
        /// 0-based, for the API's field path (`entries[2]`).
        index: usize,
        entry: String,
        reason: EntryError,
    },
}

/// A validated allow-list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AllowList {
    nets: Vec<IpNet>,
}

fn parse_entry(raw: &str) -> Result<IpNet, EntryError> {
    let entry = raw.trim();
    let net = match entry.parse::<IpNet>() {
        Ok(net) => {
            if net.trunc() != net {
                return Err(EntryError::HostBits(net.trunc().to_string()));
            }
            net
        }
        Err(_) => IpNet::from(entry.parse::<IpAddr>().map_err(|_| EntryError::Syntax)?),
    };
    if net.prefix_len() == 0 {
        return Err(EntryError::Everything);
    }
    if let IpNet::V6(v6) = net {
        if let Some(v4) = v6.addr().to_ipv4_mapped() {
            if v6.prefix_len() >= 96 {
                let v4net = ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).expect("prefix in range");
                return Err(EntryError::Mapped(v4net.to_string()));
            }
        }
    }
    Ok(net)
}

/// An IPv4-mapped IPv6 client (`::ffff:203.0.113.7`) is the IPv4 client it wraps.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl AllowList {
    /// Parses the entries a team submitted, keeping their order.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<AllowList, AllowListError> {
        if entries.len() > MAX_ENTRIES {
            return Err(AllowListError::TooMany(entries.len()));
        }
        let mut nets: Vec<IpNet> = Vec::with_capacity(entries.len());
        for (index, raw) in entries.iter().enumerate() {
            let err = |reason| AllowListError::Entry {
                index,
                entry: raw.as_ref().chars().take(100).collect(),
                reason,
            };
            let net = parse_entry(raw.as_ref()).map_err(err)?;
            if nets.contains(&net) {
                return Err(err(EntryError::Duplicate));
            }
            nets.push(net);
        }
        Ok(AllowList { nets })
    }

    /// Whether the list restricts anything (an empty list allows every address).
    pub fn is_enforced(&self) -> bool {
        !self.nets.is_empty()
    }

    /// May a client at `ip` call the API?
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        !self.is_enforced() || self.nets.iter().any(|n| n.contains(&ip))
    }

    /// The entries in normal form (`203.0.113.7/32`, compressed IPv6), as stored and shown.
    pub fn entries(&self) -> Vec<String> {
        self.nets.iter().map(IpNet::to_string).collect()
    }

    /// Would saving this list shut out the caller making the change? The service refuses such a
    /// change unless the caller confirms it, so an admin cannot lock a team out by a typo.
    pub fn locks_out(&self, caller: IpAddr) -> bool {
        !self.permits(caller)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_and_single_addresses_match() {
        let list =
            AllowList::parse(&[" 203.0.113.0/24 ", "198.51.100.7", "2001:db8:abcd::/48"]).unwrap();
        assert_eq!(
            list.entries(),
            ["203.0.113.0/24", "198.51.100.7/32", "2001:db8:abcd::/48"]
        );
        for allowed in [
            "203.0.113.0",
            "203.0.113.255",
            "198.51.100.7",
            "2001:db8:abcd:12::1",
            "::ffff:203.0.113.9",
        ] {
            assert!(list.permits(ip(allowed)), "{allowed}");
        }
        for denied in [
            "203.0.114.1",
            "198.51.100.8",
            "2001:db8:abce::1",
            "::ffff:198.51.100.8",
            "::1",
            "127.0.0.1",
        ] {
            assert!(!list.permits(ip(denied)), "{denied}");
        }
        assert!(list.locks_out(ip("192.0.2.1")));
        assert!(!list.locks_out(ip("198.51.100.7")));
    }

    #[test]
    fn an_empty_list_restricts_nothing() {
        let list = AllowList::parse::<&str>(&[]).unwrap();
        assert!(!list.is_enforced());
        assert!(list.permits(ip("192.0.2.1")));
    }

    #[test]
    fn ambiguous_entries_are_refused_with_their_index() {
        for (entries, index, reason) in [
            (
                vec!["10.0.0.1/8"],
                0,
                EntryError::HostBits("10.0.0.0/8".into()),
            ),
            (vec!["10.0.0.0/8", "0.0.0.0/0"], 1, EntryError::Everything),
            (vec!["::/0"], 0, EntryError::Everything),
            (vec!["10.0.0.0/33"], 0, EntryError::Syntax),
            (vec!["example.com"], 0, EntryError::Syntax),
            (vec![""], 0, EntryError::Syntax),
            (vec!["fe80::1%eth0"], 0, EntryError::Syntax),
            (vec!["10.0.0.0/8", "10.0.0.0/8"], 1, EntryError::Duplicate),
            (vec!["1.2.3.4", "1.2.3.4/32"], 1, EntryError::Duplicate),
            (
                vec!["::ffff:10.0.0.0/104"],
                0,
                EntryError::Mapped("10.0.0.0/8".into()),
            ),
            (
                vec!["2001:db8::1/32"],
                0,
                EntryError::HostBits("2001:db8::/32".into()),
            ),
        ] {
            match AllowList::parse(&entries) {
                Err(AllowListError::Entry {
                    index: i,
                    reason: r,
                    ..
                }) => {
                    assert_eq!((i, r), (index, reason), "{entries:?}")
                }
                other => panic!("{entries:?}: {other:?}"),
            }
        }
        let err = AllowList::parse(&["10.0.0.1/8"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "entry 0 (\"10.0.0.1/8\") has host bits set; the network is 10.0.0.0/8"
        );
        let many: Vec<String> = (0..=MAX_ENTRIES)
            .map(|i| format!("10.0.{i}.0/24"))
            .collect();
        assert_eq!(AllowList::parse(&many), Err(AllowListError::TooMany(101)));
    }
}

//! Which upstream addresses may be called. An account's connection fields (Salesforce's
//! `instance_url`), a token response (`token_response.store`) and a provider's answers can all
//! name a URL; none of them may make the engine call a loopback, private, link-local or cloud
//! metadata address (server-side request forgery) unless the operator allows it.
//!
//! The check runs twice: on the URL as built, before anything is sent (a literal address, a
//! metadata host name), by the engine whatever its transport; and, in a guarded
//! [`HttpTransport`](super::HttpTransport), on every address a name resolves to, when the
//! connection is made: the addresses checked are the addresses connected to, so a name that
//! resolves to loopback, or changes its answer between two lookups, is refused too. Redirects
//! are never followed.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use url::{Host, Url};

/// Host names of cloud metadata services, refused by name (before any lookup) unless the
/// operator names them.
const METADATA_NAMES: &[&str] = &["metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal"];

/// What an address is when it is not public.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// A cloud provider's instance metadata service (169.254.169.254, fd00:ec2::254, …):
    /// allowed only by an entry that covers it, never by `all`.
    Metadata,
    Loopback,
    /// RFC 1918, unique local (fc00::/7), deprecated site-local (fec0::/10).
    Private,
    LinkLocal,
    Unspecified,
    /// 100.64.0.0/10, carrier-grade NAT.
    Shared,
    Multicast,
    /// Everything else not routable: documentation, benchmarking, IETF protocol assignments,
    /// 240.0.0.0/4, the broadcast address, the discard prefix.
    Reserved,
}

impl AddressClass {
    pub fn name(self) -> &'static str {
        match self {
            AddressClass::Metadata => "cloud metadata",
            AddressClass::Loopback => "loopback",
            AddressClass::Private => "private",
            AddressClass::LinkLocal => "link-local",
            AddressClass::Unspecified => "unspecified",
            AddressClass::Shared => "shared (carrier-grade NAT)",
            AddressClass::Multicast => "multicast",
            AddressClass::Reserved => "reserved",
        }
    }
}

/// The class of `ip` when it is not a public unicast address; `None` for a public one. An
/// IPv6 address that embeds an IPv4 one (IPv4-mapped, IPv4-compatible, NAT64, 6to4) is
/// classed by the IPv4 address.
pub fn classify(ip: IpAddr) -> Option<AddressClass> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<AddressClass> {
    use AddressClass::*;
    let [a, b, c, d] = ip.octets();
    let class = match (a, b, c, d) {
        // AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle; ECS task metadata; Alibaba; Oracle's
        // older address.
        (169, 254, 169, 254) | (169, 254, 170, 2) | (100, 100, 100, 200) | (192, 0, 0, 192) => Metadata,
        (0, ..) => Unspecified,
        (127, ..) => Loopback,
        (10, ..) | (192, 168, ..) => Private,
        (172, b, ..) if (16..32).contains(&b) => Private,
        (169, 254, ..) => LinkLocal,
        (100, b, ..) if (64..128).contains(&b) => Shared,
        (192, 0, 0, _) | (192, 0, 2, _) | (198, 51, 100, _) | (203, 0, 113, _) => Reserved,
        (198, 18..=19, ..) => Reserved,
        (224..=239, ..) => Multicast,
        (240..=255, ..) => Reserved,
        _ => return None,
    };
    Some(class)
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressClass> {
    use AddressClass::*;
    let segments = ip.segments();
    // AWS's metadata service over IPv6 (and its time service beside it).
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) || ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23) {
        return Some(Metadata);
    }
    if ip.is_unspecified() {
        return Some(Unspecified);
    }
    if ip.is_loopback() {
        return Some(Loopback);
    }
    let embedded = |high: u32, low: u32| Ipv4Addr::from(((high & 0xffff) << 16) | (low & 0xffff));
    // IPv4-mapped ::ffff:a.b.c.d and the deprecated IPv4-compatible ::a.b.c.d.
    if segments[..5] == [0; 5] && (segments[5] == 0xffff || segments[5] == 0) {
        return classify_v4(embedded(segments[6].into(), segments[7].into()));
    }
    match segments[0] {
        // NAT64, the well-known prefix 64:ff9b::/96 (the address it translates to), and the
        // local-use prefix 64:ff9b:1::/48.
        0x64 if segments[1] == 0xff9b && segments[2..6] == [0; 4] => classify_v4(embedded(segments[6].into(), segments[7].into())),
        0x64 if segments[1] == 0xff9b && segments[2] == 1 => Some(Private),
        // 6to4: 2002:AABB:CCDD::/48 carries a.b.c.d.
        0x2002 => classify_v4(embedded(segments[1].into(), segments[2].into())),
        // Documentation, 2001:db8::/32.
        0x2001 if segments[1] == 0xdb8 => Some(Reserved),
        // The discard prefix, 100::/64.
        0x100 if segments[1..4] == [0; 3] => Some(Reserved),
        s if s & 0xfe00 == 0xfc00 => Some(Private),
        s if s & 0xffc0 == 0xfe80 => Some(LinkLocal),
        s if s & 0xffc0 == 0xfec0 => Some(Private),
        s if s & 0xff00 == 0xff00 => Some(Multicast),
        _ => None,
    }
}

/// An IP network: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// `ADDRESS/PREFIX`, or one address (`/32`, `/128`); an IPv6 address may be in brackets.
    pub fn parse(text: &str) -> Result<Network, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| format!("`{text}` is not an IP address or network (ADDRESS/PREFIX)"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}`: the prefix length must be a number from 0 to {max}"))?,
        };
        Ok(Network { addr, prefix })
    }

    /// Whether `ip` is in the network. An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) counts
    /// as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// An origin the operator allows: scheme, host and port (the scheme's default made explicit).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    fn of(url: &Url) -> Option<Origin> {
        Some(Origin { scheme: url.scheme().to_string(), host: url.host_str()?.to_string(), port: url.port_or_known_default()? })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// The operator's allow-list of upstream targets that are not public. Empty (the default), only
/// public addresses are called. Entries, as [`PrivateUpstreams::parse`] reads them:
/// - `all`: every address that is not public, except cloud metadata ones;
/// - a host name (`crm.internal`): that name, wherever it resolves, metadata names included;
/// - an address or network (`10.1.2.3`, `10.0.0.0/8`, `fd00::/8`): the addresses it covers,
///   whether written in a URL or resolved from a name, metadata ones included when covered;
/// - an origin (`http://127.0.0.1:9100`): that scheme, host and port only. The engine adds the
///   origin of every origin override (`--upstream`) itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrivateUpstreams {
    all: bool,
    hosts: Vec<String>,
    networks: Vec<Network>,
    origins: Vec<Origin>,
}

/// How a URL that passed the check is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The operator allows its host or origin: it is called wherever its name resolves.
    Allowed,
    /// A literal address that is public or allowed: nothing to resolve.
    Address,
    /// A name: every address it resolves to must be public or allowed
    /// ([`PrivateUpstreams::filter_resolved`]).
    Resolve,
}

/// A target refused by the check: why, in words (the origin is added by [`refused_error`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub reason: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for Refused {}

impl PrivateUpstreams {
    /// Nothing but public addresses.
    pub fn none() -> PrivateUpstreams {
        PrivateUpstreams::default()
    }

    /// A comma-separated list of entries (see the type).
    pub fn parse(text: &str) -> Result<PrivateUpstreams, String> {
        let mut list = PrivateUpstreams::default();
        for entry in text.split(',') {
            list.add(entry)?;
        }
        Ok(list)
    }

    /// Adds one entry (see the type).
    pub fn add(&mut self, entry: &str) -> Result<(), String> {
        let entry = entry.trim();
        if entry.is_empty() {
            return Err("an empty entry: give `all`, a host name, an address, a network (ADDRESS/PREFIX) or an origin".into());
        }
        if entry.eq_ignore_ascii_case("all") {
            self.all = true;
        } else if entry.contains("://") {
            let url = Url::parse(entry).map_err(|e| format!("`{entry}` is not a URL: {e}"))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(format!("`{entry}`: an origin is http(s)://HOST[:PORT]"));
            }
            if url.path() != "/" || url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
                return Err(format!("`{entry}`: give only scheme://host:port"));
            }
            self.allow_origin(&url);
        } else if entry.contains('/') || entry.starts_with('[') || entry.parse::<IpAddr>().is_ok() {
            let network = Network::parse(entry)?;
            if !self.networks.contains(&network) {
                self.networks.push(network);
            }
        } else {
            let host = entry.trim_end_matches('.').to_ascii_lowercase();
            let valid = !host.is_empty()
                && host.split('.').all(|label| !label.is_empty())
                && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !valid {
                return Err(format!("`{entry}` is not a host name, an address, a network or an origin"));
            }
            if !self.hosts.contains(&host) {
                self.hosts.push(host);
            }
        }
        Ok(())
    }

    /// Allows the origin of `url` (scheme, host, port): an origin override's.
    pub fn allow_origin(&mut self, url: &Url) {
        if let Some(origin) = Origin::of(url) {
            if !self.origins.contains(&origin) {
                self.origins.push(origin);
            }
        }
    }

    /// Adds every entry of `other`.
    pub fn extend(&mut self, other: &PrivateUpstreams) {
        self.all |= other.all;
        for host in &other.hosts {
            if !self.hosts.contains(host) {
                self.hosts.push(host.clone());
            }
        }
        for network in &other.networks {
            if !self.networks.contains(network) {
                self.networks.push(*network);
            }
        }
        for origin in &other.origins {
            if !self.origins.contains(origin) {
                self.origins.push(origin.clone());
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        !self.all && self.hosts.is_empty() && self.networks.is_empty() && self.origins.is_empty()
    }

    /// Checks a URL as it was built, before anything is sent: an allowed origin or host name
    /// passes; a literal address must be public or allowed; a cloud metadata host name is
    /// refused; any other name passes here, and its addresses are checked when it resolves.
    pub fn check(&self, url: &Url) -> Result<Reach, Refused> {
        if Origin::of(url).is_some_and(|origin| self.origins.contains(&origin)) {
            return Ok(Reach::Allowed);
        }
        let ip = match url.host() {
            None => return Ok(Reach::Address),
            Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
            Some(Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if self.hosts.contains(&name) {
                    return Ok(Reach::Allowed);
                }
                if METADATA_NAMES.contains(&name.as_str()) {
                    return Err(Refused { reason: format!("`{name}` is a cloud metadata address") });
                }
                return Ok(Reach::Resolve);
            }
        };
        match self.allows(ip) {
            Ok(()) => Ok(Reach::Address),
            Err(class) => Err(Refused { reason: format!("{ip} is {} {} address", article(class), class.name()) }),
        }
    }

    /// The addresses `name` resolved to that may be connected to. When none may (and some
    /// were found), the name is refused, naming the first address and its class.
    pub fn filter_resolved(&self, name: &str, addrs: impl IntoIterator<Item = SocketAddr>) -> Result<Vec<SocketAddr>, Refused> {
        let mut kept = Vec::new();
        let mut refused = None;
        for addr in addrs {
            match self.allows(addr.ip()) {
                Ok(()) => kept.push(addr),
                Err(class) => {
                    refused.get_or_insert((addr.ip(), class));
                }
            }
        }
        match refused {
            Some((ip, class)) if kept.is_empty() => Err(Refused {
                reason: format!(
                    "`{name}` resolves only to addresses that are not public ({ip}: {} {} address)",
                    article(class),
                    class.name()
                ),
            }),
            _ => Ok(kept),
        }
    }

    /// Whether `ip` may be connected to: a public address, one a listed network covers, or,
    /// with `all`, any that is not a cloud metadata address.
    fn allows(&self, ip: IpAddr) -> Result<(), AddressClass> {
        let Some(class) = classify(ip) else { return Ok(()) };
        if self.networks.iter().any(|network| network.contains(ip)) || (self.all && class != AddressClass::Metadata) {
            return Ok(());
        }
        Err(class)
    }
}

fn article(class: AddressClass) -> &'static str {
    match class {
        AddressClass::Unspecified => "an",
        _ => "a",
    }
}

impl fmt::Display for PrivateUpstreams {
    /// The entries as [`PrivateUpstreams::parse`] reads them: `all`, hosts, networks, origins.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut entries: Vec<String> = Vec::new();
        if self.all {
            entries.push("all".into());
        }
        entries.extend(self.hosts.iter().cloned());
        entries.extend(self.networks.iter().map(Network::to_string));
        entries.extend(self.origins.iter().map(Origin::to_string));
        f.write_str(&entries.join(", "))
    }
}

/// The error for a refused target: `invalid_request`, naming the origin and why, and how the
/// operator allows it. Nothing was sent.
pub fn refused_error(url: &Url, refused: &Refused) -> crate::error::RuntimeError {
    crate::error::RuntimeError::new(
        crate::error::ErrorKind::InvalidRequest,
        format!(
            "the upstream {} is refused: {refused}. Only public addresses are called unless the operator allows others \
             (--allow-private-upstreams)",
            url.origin().ascii_serialization()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(text: &str) -> Option<&'static str> {
        classify(text.parse().unwrap()).map(AddressClass::name)
    }

    #[test]
    fn addresses_are_classed() {
        for (ip, expected) in [
            ("8.8.8.8", None),
            ("1.1.1.1", None),
            ("172.32.0.1", None),
            ("100.128.0.1", None),
            ("2606:4700::1111", None),
            ("127.0.0.1", Some("loopback")),
            ("127.255.0.9", Some("loopback")),
            ("0.0.0.0", Some("unspecified")),
            ("10.0.0.1", Some("private")),
            ("172.16.0.1", Some("private")),
            ("172.31.255.255", Some("private")),
            ("192.168.1.1", Some("private")),
            ("169.254.1.1", Some("link-local")),
            ("169.254.169.254", Some("cloud metadata")),
            ("169.254.170.2", Some("cloud metadata")),
            ("100.100.100.200", Some("cloud metadata")),
            ("100.64.0.1", Some("shared (carrier-grade NAT)")),
            ("224.0.0.1", Some("multicast")),
            ("255.255.255.255", Some("reserved")),
            ("192.0.2.1", Some("reserved")),
            ("::", Some("unspecified")),
            ("::1", Some("loopback")),
            ("::ffff:127.0.0.1", Some("loopback")),
            ("::ffff:169.254.169.254", Some("cloud metadata")),
            ("::ffff:8.8.8.8", None),
            ("::127.0.0.1", Some("loopback")),
            ("64:ff9b::10.0.0.1", Some("private")),
            ("64:ff9b::8.8.8.8", None),
            ("2002:7f00:1::", Some("loopback")),
            ("fd00:ec2::254", Some("cloud metadata")),
            ("fd12:3456::1", Some("private")),
            ("fc00::1", Some("private")),
            ("fe80::1", Some("link-local")),
            ("fec0::1", Some("private")),
            ("ff02::1", Some("multicast")),
            ("2001:db8::1", Some("reserved")),
        ] {
            assert_eq!(class(ip), expected, "{ip}");
        }
    }

    #[test]
    fn urls_are_checked_before_anything_is_sent() {
        let check = |list: &PrivateUpstreams, url: &str| list.check(&Url::parse(url).unwrap());
        let none = PrivateUpstreams::none();
        assert_eq!(check(&none, "https://api.example.com/x"), Ok(Reach::Resolve));
        assert_eq!(check(&none, "https://8.8.8.8/x"), Ok(Reach::Address));
        for url in ["http://127.0.0.1:9100", "http://0x7f.1", "http://[::1]", "http://169.254.169.254", "http://METADATA.google.internal./"]
        {
            assert!(check(&none, url).is_err(), "{url}");
        }
        let refused = check(&none, "http://0.0.0.0").unwrap_err();
        assert_eq!(refused.reason, "0.0.0.0 is an unspecified address");

        let list = PrivateUpstreams::parse("crm.internal, 10.0.0.0/8, http://127.0.0.1:9100").unwrap();
        assert_eq!(check(&list, "http://crm.internal:8443/x"), Ok(Reach::Allowed));
        assert_eq!(check(&list, "http://10.9.8.7/x"), Ok(Reach::Address));
        assert_eq!(check(&list, "http://[::ffff:10.9.8.7]/x"), Ok(Reach::Address));
        assert_eq!(check(&list, "http://127.0.0.1:9100/x"), Ok(Reach::Allowed));
        assert!(check(&list, "http://127.0.0.1:9101/x").is_err(), "the origin, not the host");
        assert!(check(&list, "https://127.0.0.1:9100/x").is_err(), "the origin, not the host");

        let all = PrivateUpstreams::parse("all").unwrap();
        assert_eq!(check(&all, "http://192.168.0.1"), Ok(Reach::Address));
        assert!(check(&all, "http://169.254.169.254").is_err(), "`all` does not open metadata");
        assert!(check(&all, "http://metadata.google.internal").is_err());
        let named = PrivateUpstreams::parse("169.254.169.254, metadata.google.internal").unwrap();
        assert_eq!(check(&named, "http://169.254.169.254"), Ok(Reach::Address));
        assert_eq!(check(&named, "http://metadata.google.internal"), Ok(Reach::Allowed));
    }

    #[test]
    fn resolved_addresses_are_filtered() {
        let addr = |text: &str| SocketAddr::new(text.parse().unwrap(), 443);
        let none = PrivateUpstreams::none();
        let refused = none.filter_resolved("svc.test", [addr("127.0.0.1"), addr("::1")]).unwrap_err();
        assert_eq!(refused.reason, "`svc.test` resolves only to addresses that are not public (127.0.0.1: a loopback address)");
        // A name that resolves to public and private addresses is called on the public ones only.
        assert_eq!(none.filter_resolved("svc.test", [addr("10.0.0.1"), addr("8.8.8.8")]).unwrap(), vec![addr("8.8.8.8")]);
        let list = PrivateUpstreams::parse("127.0.0.0/8").unwrap();
        assert_eq!(list.filter_resolved("localhost", [addr("::1"), addr("127.0.0.1")]).unwrap(), vec![addr("127.0.0.1")]);
    }

    #[test]
    fn networks() {
        let net = Network::parse("10.0.0.0/8").unwrap();
        assert!(net.contains("10.255.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.0.0.1".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        assert!(Network::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        let v6 = Network::parse("[fd00::]/8").unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        assert!(Network::parse("10.0.0.0/33").is_err());
        assert!(Network::parse("::/129").is_err());
    }
}

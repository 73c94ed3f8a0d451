//! The client's IP address: the socket peer, or, behind proxies you trust, the address they
//! say they forwarded for.

use std::net::{IpAddr, SocketAddr};

use http::header::{HeaderMap, FORWARDED};
use ipnet::IpNet;

use crate::BuildError;

/// The proxies whose forwarding headers are believed, as CIDR blocks.
///
/// With none (the default) the client IP is the socket peer, and `Forwarded` and
/// `X-Forwarded-For` are ignored: anyone can send them. With some, the chain of addresses is
/// read right to left, starting from the peer: each trusted hop hands over to the address it
/// forwarded for, and the first untrusted one is the client. The header read is the one your
/// proxies write, `X-Forwarded-For` unless [`TrustedProxies::header`] says `Forwarded`
/// (RFC 7239); the other is ignored, since a client can send it through a proxy that does not
/// write it. A hop that cannot be read (`unknown`, an obfuscated name, garbage) makes the
/// answer the peer, never a guess. Only the hops the trusted proxies appended are read, so a
/// client cannot spoof its address by sending the header itself. IPv4-mapped IPv6 addresses
/// (`::ffff:192.0.2.7`) count as IPv4.
///
/// ```
/// use std::net::IpAddr;
/// use event_core::http::TrustedProxies;
///
/// let proxies = TrustedProxies::new(["10.0.0.0/8"])?;
/// let mut headers = http::HeaderMap::new();
/// headers.insert("x-forwarded-for", "198.51.100.1, 203.0.113.9, 10.1.2.3".parse().unwrap());
/// let peer: IpAddr = "10.0.0.1".parse().unwrap();
/// assert_eq!(proxies.client_ip(peer, &headers), "203.0.113.9".parse::<IpAddr>().unwrap());
/// assert_eq!(TrustedProxies::none().client_ip(peer, &headers), peer);
/// # Ok::<(), event_core::BuildError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    header: ForwardedHeader,
}

/// The forwarding header trusted proxies write, the only one [`TrustedProxies`] reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1` (the default: nginx, HAProxy, cloud load balancers).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

impl TrustedProxies {
    /// Trusts nobody: the client IP is the socket peer.
    pub fn none() -> TrustedProxies {
        TrustedProxies::default()
    }

    /// Trusts the given blocks: `"10.0.0.0/8"`, `"2001:db8::/32"`, or a single address.
    pub fn new<I, S>(blocks: I) -> Result<TrustedProxies, BuildError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut nets = Vec::new();
        for block in blocks {
            let block = block.as_ref().trim();
            let net = match block.parse::<IpNet>() {
                Ok(net) => net.trunc(),
                Err(_) => match block.parse::<IpAddr>() {
                    Ok(ip) => IpNet::from(normalize(ip)),
                    Err(_) => {
                        return Err(BuildError::new(
                            "trusted_proxies",
                            format!(
                                "`{block}` is not an IP address or CIDR block, such as \
                                 `10.0.0.0/8` or `2001:db8::/32`"
                            ),
                        ))
                    }
                },
            };
            nets.push(net);
        }
        Ok(TrustedProxies {
            nets,
            header: ForwardedHeader::default(),
        })
    }

    /// Reads `header` instead of `X-Forwarded-For`: set it to what your proxies write.
    pub fn header(mut self, header: ForwardedHeader) -> TrustedProxies {
        self.header = header;
        self
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = normalize(ip);
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request that arrived from `peer` with `headers`.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = normalize(peer);
        if !self.contains(peer) {
            return peer;
        }
        let (name, read): (&str, ReadHop) = match self.header {
            ForwardedHeader::Forwarded => (FORWARDED.as_str(), forwarded_hop),
            ForwardedHeader::XForwardedFor => ("x-forwarded-for", x_forwarded_for_hop),
        };
        let mut client = peer;
        // Later header lines were appended later: walk them, and each one's hops, backwards.
        for line in headers.get_all(name).iter().rev() {
            let Ok(line) = line.to_str() else {
                return peer;
            };
            for hop in line.rsplit(',') {
                let Some(ip) = read(hop) else {
                    return peer;
                };
                client = normalize(ip);
                if !self.contains(client) {
                    return client;
                }
            }
        }
        // Every hop is a trusted proxy: the leftmost is as close to the client as we know.
        client
    }
}

/// What the envelope's `http.client_ip` carries. The client's IP address is personal data
/// (it can identify a person, and under the GDPR it is personal data): keep it only where you
/// need it.
///
/// GeoIP lookups, when configured, always use the full address; the policy decides only what
/// is written.
///
/// ```
/// use event_core::http::IpPolicy;
///
/// let ip = "203.0.113.77".parse().unwrap();
/// assert_eq!(IpPolicy::truncate(ip), "203.0.113.0".parse::<std::net::IpAddr>().unwrap());
/// let ip = "2001:db8:aaaa:bbbb::1".parse().unwrap();
/// assert_eq!(IpPolicy::truncate(ip), "2001:db8:aaaa::".parse::<std::net::IpAddr>().unwrap());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IpPolicy {
    /// The address as it is (the default).
    #[default]
    Keep,
    /// The network only: IPv4 to its /24 (`203.0.113.0`), IPv6 to its /48 (`2001:db8:aaaa::`).
    Truncate,
    /// A keyed hash, `hmac-sha256:<key_id>:<hex>`, with the layer's hash key (which `build`
    /// then requires): the same client gives the same value, and it cannot be reversed
    /// without the key.
    Hash,
    /// No `client_ip` at all.
    Omit,
}

impl IpPolicy {
    /// `ip` cut to its /24 (IPv4) or /48 (IPv6) network, as [`IpPolicy::Truncate`] writes it.
    pub fn truncate(ip: IpAddr) -> IpAddr {
        match normalize(ip) {
            IpAddr::V4(v4) => {
                let [a, b, c, _] = v4.octets();
                IpAddr::V4([a, b, c, 0].into())
            }
            IpAddr::V6(v6) => {
                let s = v6.segments();
                IpAddr::V6([s[0], s[1], s[2], 0, 0, 0, 0, 0].into())
            }
        }
    }
}

/// Reads one hop of a forwarding header.
type ReadHop = fn(&str) -> Option<IpAddr>;

/// `::ffff:a.b.c.d` as `a.b.c.d`; every other address as it is.
pub fn normalize(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// One element of `Forwarded`: `for=192.0.2.60;proto=http`, `for="[2001:db8::17]:4711"`.
fn forwarded_hop(element: &str) -> Option<IpAddr> {
    let value = element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| value.trim())
    })?;
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    address(value)
}

/// One element of `X-Forwarded-For`: an address, perhaps with a port.
fn x_forwarded_for_hop(element: &str) -> Option<IpAddr> {
    address(element.trim())
}

/// `192.0.2.60`, `192.0.2.60:80`, `2001:db8::17`, `[2001:db8::17]` or `[2001:db8::17]:4711`.
fn address(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = text.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    let inner = text.strip_prefix('[')?.strip_suffix(']')?;
    inner.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn nobody_trusted_means_the_peer() {
        let spoofed = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=1.2.3.4")]);
        assert_eq!(
            TrustedProxies::none().client_ip(ip("203.0.113.9"), &spoofed),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn chains_with_zero_one_and_two_trusted_proxies() {
        let proxies = TrustedProxies::new(["10.0.0.0/8", "2001:db8:1::/48"]).unwrap();
        // 0: the peer is not a proxy we trust, so its headers are not believed.
        let h = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(
            proxies.client_ip(ip("198.51.100.7"), &h),
            ip("198.51.100.7")
        );
        // 1: one trusted proxy in front of the client.
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(proxies.client_ip(ip("10.0.0.1"), &h), ip("203.0.113.9"));
        // 2: two trusted proxies; the client's own spoofed entry on the left is not read.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.9.9.9")]);
        assert_eq!(proxies.client_ip(ip("10.0.0.1"), &h), ip("203.0.113.9"));
        // The same chain over two header lines.
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6, 203.0.113.9"),
            ("x-forwarded-for", "10.9.9.9"),
        ]);
        assert_eq!(proxies.client_ip(ip("10.0.0.1"), &h), ip("203.0.113.9"));
        // Every hop trusted: the leftmost.
        let h = headers(&[("x-forwarded-for", "10.5.5.5, 10.9.9.9")]);
        assert_eq!(proxies.client_ip(ip("10.0.0.1"), &h), ip("10.5.5.5"));
        // No header at all: the peer.
        assert_eq!(
            proxies.client_ip(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn only_the_configured_header_is_read() {
        let proxies = TrustedProxies::new(["10.0.0.0/8"]).unwrap();
        // Behind proxies that write X-Forwarded-For, a client's own `Forwarded` is ignored.
        let h = headers(&[
            ("forwarded", "for=8.8.8.8"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(proxies.client_ip(ip("10.0.0.1"), &h), ip("203.0.113.9"));
        let proxies = proxies.header(ForwardedHeader::Forwarded);
        assert_eq!(proxies.client_ip(ip("10.0.0.1"), &h), ip("8.8.8.8"));
    }

    #[test]
    fn forwarded_is_read_as_rfc_7239_writes_it() {
        let proxies = TrustedProxies::new(["10.0.0.0/8", "2001:db8:1::/48"])
            .unwrap()
            .header(ForwardedHeader::Forwarded);
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            (
                "forwarded",
                "for=\"[2001:db8:cafe::17]:4711\";proto=https, For=10.2.2.2;by=10.0.0.1",
            ),
        ]);
        assert_eq!(
            proxies.client_ip(ip("10.0.0.1"), &h),
            ip("2001:db8:cafe::17")
        );
        let h = headers(&[("forwarded", "proto=http;for=\"192.0.2.43:47011\"")]);
        assert_eq!(proxies.client_ip(ip("2001:db8:1::5"), &h), ip("192.0.2.43"));
    }

    #[test]
    fn an_unreadable_hop_means_the_peer() {
        let proxies = TrustedProxies::new(["10.0.0.0/8"]).unwrap();
        for (name, value) in [
            ("forwarded", "for=unknown"),
            ("forwarded", "for=_hidden"),
            ("forwarded", "proto=https"),
            ("x-forwarded-for", "not-an-ip"),
            ("x-forwarded-for", "203.0.113.9, "),
        ] {
            let h = headers(&[(name, value)]);
            let proxies = match name {
                "forwarded" => proxies.clone().header(ForwardedHeader::Forwarded),
                _ => proxies.clone(),
            };
            assert_eq!(
                proxies.client_ip(ip("10.0.0.1"), &h),
                ip("10.0.0.1"),
                "{value}"
            );
        }
        // Garbage left of the first untrusted hop is never read.
        let h = headers(&[("x-forwarded-for", "garbage, 203.0.113.9")]);
        assert_eq!(proxies.client_ip(ip("10.0.0.1"), &h), ip("203.0.113.9"));
    }

    #[test]
    fn mapped_addresses_count_as_ipv4() {
        assert_eq!(normalize(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        let proxies = TrustedProxies::new(["10.0.0.0/8"]).unwrap();
        let h = headers(&[("x-forwarded-for", "::ffff:203.0.113.9")]);
        assert_eq!(
            proxies.client_ip(ip("::ffff:10.0.0.1"), &h),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn blocks_that_are_not_addresses_are_build_errors() {
        assert!(TrustedProxies::new(["192.0.2.7", "10.0.0.0/8", "::1"]).is_ok());
        let err = TrustedProxies::new(["10.0.0.0/33"]).unwrap_err();
        assert_eq!(err.setting(), "trusted_proxies");
        assert!(err.to_string().contains("10.0.0.0/33"), "{err}");
        assert!(TrustedProxies::new(["proxy.internal"]).is_err());
    }
}

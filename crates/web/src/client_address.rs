//! Who a request comes from, for the per-address limits and the audit log's origin. Behind a
//! reverse proxy every request arrives from the proxy, so the per-address limits would become
//! one limit for the whole clinic; the proxy says who its client was in `X-Forwarded-For`. That
//! header is believed only from the proxies the operator names (`--trusted-proxy CIDR`): anyone
//! else could write whatever address they like into it.

use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::Response;
use std::net::{IpAddr, SocketAddr};

/// A network: an address and how many leading bits of it count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Net {
    type Err = String;

    /// `10.0.0.0/8`, `192.168.1.7`, `fd00::/8` or `::1`.
    fn from_str(s: &str) -> Result<Net, String> {
        let bad = || {
            format!("'{s}' is not an address or network (e.g. 10.0.0.0/8, 192.168.1.7, fd00::/8)")
        };
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(Net { addr, prefix })
    }
}

impl Net {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<Net>);

impl TrustedProxies {
    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }

    /// The client: the peer itself, unless the peer is a trusted proxy; then the nearest
    /// address in `X-Forwarded-For` (read from the right, as each proxy appends) that is not a
    /// trusted proxy too. A header that does not parse is not believed.
    pub fn client(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let Some(header) = forwarded_for else {
            return peer;
        };
        let hops: Option<Vec<IpAddr>> = header.split(',').map(|h| h.trim().parse().ok()).collect();
        let Some(hops) = hops else {
            return peer;
        };
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            client = hop;
            if !self.trusts(hop) {
                break;
            }
        }
        client
    }
}

/// The client's address as worked out for this request.
#[derive(Debug, Clone)]
pub struct ClientAddress(pub String);

/// Middleware: works out the client's address once, for every handler.
pub async fn resolve(
    trusted: std::sync::Arc<TrustedProxies>,
    mut req: Request,
    next: Next,
) -> Response {
    if let Some(peer) = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
    {
        let forwarded = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        let client = trusted.client(peer, forwarded);
        req.extensions_mut()
            .insert(ClientAddress(client.to_string()));
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn trusted(nets: &[&str]) -> TrustedProxies {
        TrustedProxies(nets.iter().map(|n| n.parse().expect("net")).collect())
    }

    #[test]
    fn networks_parse_and_match() {
        let n: Net = "10.0.0.0/8".parse().expect("net");
        assert!(n.contains(ip("10.200.3.4")) && !n.contains(ip("11.0.0.1")));
        assert!(!n.contains(ip("::ffff:10.0.0.1")), "families do not mix");
        let one: Net = "192.168.1.7".parse().expect("net");
        assert!(one.contains(ip("192.168.1.7")) && !one.contains(ip("192.168.1.8")));
        let v6: Net = "fd00::/8".parse().expect("net");
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        let all: Net = "0.0.0.0/0".parse().expect("net");
        assert!(all.contains(ip("8.8.8.8")));
        for bad in ["10.0.0.0/33", "10.0.0/8", "proxy", "::/129", ""] {
            let e = bad.parse::<Net>().expect_err("refused");
            assert!(e.contains("is not an address or network"), "{e}");
        }
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let t = trusted(&["10.0.0.0/8"]);
        // From the proxy: the client it names.
        assert_eq!(
            t.client(ip("10.0.0.2"), Some("203.0.113.9")),
            ip("203.0.113.9")
        );
        // A client that writes its own header in front gets the proxy's view, not its claim.
        assert_eq!(
            t.client(ip("10.0.0.2"), Some("1.2.3.4, 203.0.113.9")),
            ip("203.0.113.9")
        );
        // Two trusted hops: the nearest untrusted address.
        assert_eq!(
            t.client(ip("10.0.0.2"), Some("203.0.113.9, 10.0.0.7")),
            ip("203.0.113.9")
        );
        // Not from the proxy: the header is ignored.
        assert_eq!(
            t.client(ip("198.51.100.1"), Some("203.0.113.9")),
            ip("198.51.100.1")
        );
        // Garbage or no header: the peer.
        assert_eq!(t.client(ip("10.0.0.2"), Some("nonsense")), ip("10.0.0.2"));
        assert_eq!(t.client(ip("10.0.0.2"), None), ip("10.0.0.2"));
        // Nothing trusted: the peer, always.
        assert_eq!(
            TrustedProxies::default().client(ip("10.0.0.2"), Some("203.0.113.9")),
            ip("10.0.0.2")
        );
    }
}

//! DNS through systemd-resolved's D-Bus API (`org.freedesktop.resolve1.Manager`), per link, and
//! the checks every pushed DNS setting passes first: the servers and domains come from the VPN
//! gateway, which is not trusted to write arbitrary text into resolv.conf or resolved.

use std::net::IpAddr;

use crate::platform::{DnsSettings, PlatformError};

const RESOLVE1: &str = "org.freedesktop.resolve1";
const RESOLVE1_PATH: &str = "/org/freedesktop/resolve1";
const RESOLVE1_MANAGER: &str = "org.freedesktop.resolve1.Manager";

/// At most this many servers and domains are used (glibc reads three nameservers; resolved more).
const MAX_SERVERS: usize = 8;
const MAX_DOMAINS: usize = 32;

/// Whether `name` is a DNS name we are willing to configure: letters, digits, `-` and `_` in
/// dot-separated labels of 1–63 bytes, 253 bytes in all. Anything else (spaces, newlines, `~`,
/// non-ASCII) could change the meaning of resolv.conf or of resolved's routing domains.
#[must_use]
pub fn valid_domain(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The usable part of pushed DNS settings: unusable servers and malformed domains are dropped
/// (with a warning), duplicates removed, and the counts capped.
#[must_use]
pub fn sanitize(settings: &DnsSettings) -> DnsSettings {
    let mut out = DnsSettings::default();
    for server in &settings.servers {
        if server.is_unspecified() || server.is_multicast() {
            tracing::warn!(%server, "ignoring unusable DNS server address");
        } else if !out.servers.contains(server) && out.servers.len() < MAX_SERVERS {
            out.servers.push(*server);
        }
    }
    for domain in &settings.domains {
        if !valid_domain(domain) {
            tracing::warn!(domain = %domain.escape_debug(), "ignoring malformed DNS domain");
            continue;
        }
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        if !out.domains.contains(&domain) && out.domains.len() < MAX_DOMAINS {
            out.domains.push(domain);
        }
    }
    out
}

/// The `a(iay)` server list of `SetLinkDNS`: address family and address bytes.
#[must_use]
pub fn link_dns_arg(servers: &[IpAddr]) -> Vec<(i32, Vec<u8>)> {
    servers
        .iter()
        .map(|server| match server {
            IpAddr::V4(v4) => (nix::libc::AF_INET, v4.octets().to_vec()),
            IpAddr::V6(v6) => (nix::libc::AF_INET6, v6.octets().to_vec()),
        })
        .collect()
}

/// The `a(sb)` domain list of `SetLinkDomains` (`true` = routing-only). A full tunnel adds the
/// `~.` routing domain, so every query goes to the tunnel's servers; the pushed domains are
/// search domains (which resolved also routes by) in both modes.
#[must_use]
pub fn link_domains_arg(domains: &[String], full: bool) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = domains.iter().map(|d| (d.clone(), false)).collect();
    if full {
        out.push((".".into(), true));
    }
    out
}

fn dns_error(what: &str) -> impl FnOnce(zbus::Error) -> PlatformError {
    let what = what.to_owned();
    move |source| PlatformError::Dns {
        what,
        source: Box::new(source),
    }
}

fn link_index(index: u32) -> Result<i32, PlatformError> {
    i32::try_from(index).map_err(|_| PlatformError::InvalidPlan(format!("interface index {index}")))
}

/// A connection to systemd-resolved on the system bus.
#[derive(Debug)]
pub struct Resolved {
    bus: zbus::Connection,
}

impl Resolved {
    /// Connects to the system bus (or the bus at `address`); `Ok(None)` when resolved is not
    /// running there.
    pub async fn connect(address: Option<&str>) -> Result<Option<Self>, PlatformError> {
        let builder = match address {
            Some(address) => zbus::connection::Builder::address(address),
            None => zbus::connection::Builder::system(),
        };
        let bus = builder
            .build()
            .await
            .map_err(dns_error("connect to the system bus"))?;
        Self::on(bus).await
    }

    /// Uses an existing bus connection (tests use a private bus); `Ok(None)` when resolved is
    /// not on it.
    pub async fn on(bus: zbus::Connection) -> Result<Option<Self>, PlatformError> {
        let reply = bus
            .call_method(
                Some("org.freedesktop.DBus"),
                "/org/freedesktop/DBus",
                Some("org.freedesktop.DBus"),
                "NameHasOwner",
                &(RESOLVE1,),
            )
            .await
            .map_err(dns_error("ask the bus for systemd-resolved"))?;
        let present: bool = reply
            .body()
            .deserialize()
            .map_err(dns_error("read the bus's answer"))?;
        Ok(present.then_some(Self { bus }))
    }

    async fn call<B>(&self, method: &str, body: &B) -> Result<(), PlatformError>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        self.bus
            .call_method(
                Some(RESOLVE1),
                RESOLVE1_PATH,
                Some(RESOLVE1_MANAGER),
                method,
                body,
            )
            .await
            .map_err(dns_error(method))?;
        Ok(())
    }

    /// Gives the link the tunnel's servers and domains. A full tunnel also makes it the default
    /// route for DNS (`~.`, `SetLinkDefaultRoute(true)`); a split tunnel only routes the pushed
    /// domains to it.
    pub async fn set_link(
        &self,
        index: u32,
        settings: &DnsSettings,
        full: bool,
    ) -> Result<(), PlatformError> {
        let link = link_index(index)?;
        self.call("SetLinkDNS", &(link, link_dns_arg(&settings.servers)))
            .await?;
        self.call(
            "SetLinkDomains",
            &(link, link_domains_arg(&settings.domains, full)),
        )
        .await?;
        self.call("SetLinkDefaultRoute", &(link, full)).await?;
        tracing::info!(index, full, "DNS configured in systemd-resolved");
        Ok(())
    }

    /// Drops every per-link setting; a link resolved no longer knows counts as done.
    pub async fn revert_link(&self, index: u32) -> Result<(), PlatformError> {
        let link = link_index(index)?;
        match self.call("RevertLink", &(link,)).await {
            Err(PlatformError::Dns { source, .. })
                if source.to_string().contains("NoSuchLink")
                    || source.to_string().contains("No such link") =>
            {
                Ok(())
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_validation() {
        for good in [
            "corp.example",
            "a-b.c_d.example.",
            "x",
            "xn--bcher-kva.example",
        ] {
            assert!(valid_domain(good), "{good}");
        }
        for bad in [
            "",
            ".",
            "a..b",
            "-a.example",
            "evil\nnameserver 6.6.6.6",
            "sp ace",
            "~.",
            "bücher.example",
            &"a".repeat(64),
            &format!("{}.x", "a.".repeat(130)),
        ] {
            assert!(!valid_domain(bad), "{bad:?}");
        }
    }

    #[test]
    fn sanitize_drops_junk_dedups_and_caps() {
        let settings = DnsSettings {
            servers: vec![
                "0.0.0.0".parse().unwrap(),
                "10.9.0.1".parse().unwrap(),
                "10.9.0.1".parse().unwrap(),
                "ff02::1".parse().unwrap(),
            ],
            domains: vec![
                "Corp.Example.".into(),
                "corp.example".into(),
                "bad domain".into(),
            ],
        };
        let clean = sanitize(&settings);
        assert_eq!(clean.servers, vec!["10.9.0.1".parse::<IpAddr>().unwrap()]);
        assert_eq!(clean.domains, vec!["corp.example".to_string()]);
        let many = DnsSettings {
            servers: (1..=20).map(|n| IpAddr::from([10, 0, 0, n])).collect(),
            domains: (0..100).map(|n| format!("d{n}.example")).collect(),
        };
        let capped = sanitize(&many);
        assert_eq!(capped.servers.len(), MAX_SERVERS);
        assert_eq!(capped.domains.len(), MAX_DOMAINS);
    }

    #[test]
    fn resolved_arguments() {
        let servers = ["10.9.0.1".parse().unwrap(), "fd00::1".parse().unwrap()];
        let arg = link_dns_arg(&servers);
        assert_eq!(arg[0], (nix::libc::AF_INET, vec![10, 9, 0, 1]));
        assert_eq!(arg[1].0, nix::libc::AF_INET6);
        assert_eq!(arg[1].1.len(), 16);
        let domains = vec!["corp.example".to_string()];
        assert_eq!(
            link_domains_arg(&domains, true),
            vec![("corp.example".into(), false), (".".into(), true)]
        );
        assert_eq!(
            link_domains_arg(&domains, false),
            vec![("corp.example".into(), false)]
        );
    }
}

//! Shared harness of the privileged Linux tests: privilege checks, one network namespace per
//! test, a fake "host" inside it, and netlink snapshots to compare before and after.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::TryStreamExt;
use ipsec_types::IpPrefix;
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags};
use rtnetlink::packet_route::route::{RouteAttribute, RouteMessage, RouteType};
use rtnetlink::packet_route::rule::{RuleAttribute, RuleMessage};
use rtnetlink::{Handle, IpVersion, LinkBridge, LinkUnspec, RouteMessageBuilder};
use ternd::platform::linux::{DnsBackend, LinuxConfig, LinuxTun};
use ternd::platform::{
    DnsSettings, InterfaceAddress, RoutingMode, TunConfig, TunDevice, TunnelNetworkPlan,
};

pub const UPLINK: &str = "uplink0";
pub const UPLINK_GW4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const GATEWAY: &str = "198.51.100.7";
pub const ORIGINAL_RESOLV: &str = "nameserver 192.0.2.53\nsearch lan.example\noptions edns0\n";

// ---------------------------------------------------------------------------------------------
// Harness: privilege check, one namespace per test.

/// Whether privileged tests can run here; prints SKIPPED or panics (TERN_E2E=require) if not.
pub fn privileged(test: &str) -> bool {
    let reason = if !nix::unistd::geteuid().is_root() {
        Some("not root".to_string())
    } else if !Path::new("/dev/net/tun").exists() {
        Some("/dev/net/tun is missing".to_string())
    } else {
        std::thread::spawn(|| nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET))
            .join()
            .unwrap()
            .err()
            .map(|e| format!("cannot create a network namespace: {e}"))
    };
    match reason {
        None => true,
        Some(reason) if std::env::var("TERN_E2E").as_deref() == Ok("require") => {
            panic!("{test}: TERN_E2E=require but {reason}")
        }
        Some(reason) => {
            eprintln!("SKIPPED: {test}: {reason}");
            false
        }
    }
}

/// Runs `body` on a new thread inside a new network namespace, on a single-threaded runtime (so
/// every socket and the TUN are created in that namespace). The namespace disappears with the
/// thread and everything opened in it.
pub fn in_netns<F, Fut>(body: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let result = std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async { tokio::time::timeout(Duration::from_secs(60), body()).await })
    })
    .join();
    match result {
        Ok(Ok(())) => {}
        Ok(Err(_)) => panic!("test body timed out"),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

pub fn netlink() -> Handle {
    let (connection, handle, _) = rtnetlink::new_connection().unwrap();
    tokio::spawn(connection);
    handle
}

pub async fn link_index(handle: &Handle, name: &str) -> u32 {
    let links: Vec<_> = handle
        .link()
        .get()
        .match_name(name.to_string())
        .execute()
        .try_collect()
        .await
        .unwrap();
    links[0].header.index
}

/// Loopback up, plus an "uplink" with addresses and default routes, like a real host. It is a
/// port-less bridge: some test kernels have neither the dummy nor the veth driver.
pub async fn set_up_host(handle: &Handle) -> u32 {
    handle
        .link()
        .set(LinkUnspec::new_with_index(1).up().build())
        .execute()
        .await
        .unwrap();
    handle
        .link()
        .add(LinkBridge::new(UPLINK).up().build())
        .execute()
        .await
        .unwrap();
    let uplink = link_index(handle, UPLINK).await;
    handle
        .address()
        .add(uplink, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)), 24)
        .execute()
        .await
        .unwrap();
    let mut v6 = handle
        .address()
        .add(uplink, "2001:db8:1::10".parse().unwrap(), 64);
    v6.message_mut()
        .attributes
        .push(AddressAttribute::Flags(AddressFlags::Nodad));
    v6.execute().await.unwrap();
    handle
        .route()
        .add(
            RouteMessageBuilder::<Ipv4Addr>::new()
                .gateway(UPLINK_GW4)
                .output_interface(uplink)
                .build(),
        )
        .execute()
        .await
        .unwrap();
    handle
        .route()
        .add(
            RouteMessageBuilder::<Ipv6Addr>::new()
                .gateway("2001:db8:1::1".parse().unwrap())
                .output_interface(uplink)
                .build(),
        )
        .execute()
        .await
        .unwrap();
    uplink
}

// ---------------------------------------------------------------------------------------------
// Snapshots: addresses, routes (all tables) and rules, rendered to comparable text.

pub fn route_line(route: &RouteMessage) -> String {
    let mut table = u32::from(route.header.table);
    let mut parts = Vec::new();
    for attribute in &route.attributes {
        match attribute {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(d) => parts.push(format!("to {d:?}")),
            RouteAttribute::Gateway(g) => parts.push(format!("via {g:?}")),
            RouteAttribute::Oif(o) => parts.push(format!("dev {o}")),
            RouteAttribute::PrefSource(s) => parts.push(format!("src {s:?}")),
            RouteAttribute::Priority(p) => parts.push(format!("metric {p}")),
            _ => {}
        }
    }
    format!(
        "{:?} table {table} {:?}/{} {:?} {:?} {}",
        route.header.address_family,
        route.header.kind,
        route.header.destination_prefix_length,
        route.header.protocol,
        route.header.scope,
        parts.join(" ")
    )
}

pub fn rule_line(rule: &RuleMessage) -> String {
    let attributes: Vec<String> = rule
        .attributes
        .iter()
        .filter(|a| !matches!(a, RuleAttribute::Protocol(_)))
        .map(|a| format!("{a:?}"))
        .collect();
    format!(
        "{:?} table {} flags {:?} dst_len {} {}",
        rule.header.family,
        rule.header.table,
        rule.header.flags,
        rule.header.dst_len,
        attributes.join(" ")
    )
}

pub async fn snapshot(handle: &Handle) -> BTreeSet<String> {
    // Let asynchronous kernel bookkeeping (IPv6 address state, route notifications) settle.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut out = BTreeSet::new();
    let addresses: Vec<_> = handle
        .address()
        .get()
        .execute()
        .try_collect()
        .await
        .unwrap();
    for address in addresses {
        for attribute in &address.attributes {
            if let AddressAttribute::Address(addr) = attribute {
                out.insert(format!(
                    "addr if{} {addr}/{}",
                    address.header.index, address.header.prefix_len
                ));
            }
        }
    }
    for message in [
        RouteMessageBuilder::<Ipv4Addr>::new().build(),
        RouteMessageBuilder::<Ipv6Addr>::new().build(),
    ] {
        let routes: Vec<_> = handle
            .route()
            .get(message)
            .execute()
            .try_collect()
            .await
            .unwrap();
        for route in &routes {
            out.insert(format!("route {}", route_line(route)));
        }
    }
    for version in [IpVersion::V4, IpVersion::V6] {
        let rules: Vec<_> = handle
            .rule()
            .get(version)
            .execute()
            .try_collect()
            .await
            .unwrap();
        for rule in &rules {
            out.insert(format!("rule {}", rule_line(rule)));
        }
    }
    out
}

pub fn assert_same(before: &BTreeSet<String>, after: &BTreeSet<String>) {
    let gone: Vec<_> = before.difference(after).collect();
    let added: Vec<_> = after.difference(before).collect();
    assert!(
        gone.is_empty() && added.is_empty(),
        "network state differs from the snapshot\n  missing: {gone:#?}\n  left over: {added:#?}"
    );
}

/// Which interface a packet to `destination` (with firewall mark `mark`) would leave by, as
/// `ip route get` would say; `None` when it is unreachable.
pub async fn route_get(handle: &Handle, destination: IpAddr, mark: u32) -> Option<u32> {
    let message = match destination {
        IpAddr::V4(v4) => RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(v4, 32)
            .mark(mark)
            .build(),
        IpAddr::V6(v6) => RouteMessageBuilder::<Ipv6Addr>::new()
            .destination_prefix(v6, 128)
            .mark(mark)
            .build(),
    };
    let routes: Result<Vec<_>, _> = handle.route().get(message).execute().try_collect().await;
    let routes = routes.ok()?;
    let route = routes.first()?;
    if matches!(
        route.header.kind,
        RouteType::Unreachable | RouteType::BlackHole | RouteType::Prohibit
    ) {
        return None;
    }
    route.attributes.iter().find_map(|a| match a {
        RouteAttribute::Oif(oif) => Some(*oif),
        _ => None,
    })
}

// ---------------------------------------------------------------------------------------------
// Plans and configurators.

pub struct TestDirs {
    _dir: tempfile::TempDir,
    pub state: PathBuf,
    pub resolv: PathBuf,
}

pub fn test_dirs() -> TestDirs {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(&resolv, ORIGINAL_RESOLV).unwrap();
    TestDirs {
        state,
        resolv,
        _dir: dir,
    }
}

pub fn config(dirs: &TestDirs) -> LinuxConfig {
    LinuxConfig {
        state_dir: dirs.state.clone(),
        resolv_conf: dirs.resolv.clone(),
        // Never Auto in tests: the host's systemd-resolved must not be told about our links.
        dns_backend: DnsBackend::ResolvConf,
        ..LinuxConfig::default()
    }
}

pub fn plan(
    tun: &LinuxTun,
    routing: RoutingMode,
    addresses: &[InterfaceAddress],
) -> TunnelNetworkPlan {
    TunnelNetworkPlan {
        interface: tun.interface(),
        addresses: addresses.to_vec(),
        gateway: GATEWAY.parse().unwrap(),
        routing,
        dns: Some(DnsSettings {
            servers: vec!["10.9.0.1".parse().unwrap()],
            domains: vec!["corp.example".into()],
        }),
    }
}

pub fn addr(text: &str) -> InterfaceAddress {
    let (a, len) = text.split_once('/').unwrap();
    InterfaceAddress::new(a.parse().unwrap(), len.parse().unwrap()).unwrap()
}

pub fn prefix(text: &str) -> IpPrefix {
    let (a, len) = text.split_once('/').unwrap();
    IpPrefix::new(a.parse().unwrap(), len.parse().unwrap()).unwrap()
}

pub fn tun(name: &str) -> LinuxTun {
    LinuxTun::create(&TunConfig {
        name: Some(name.into()),
        mtu: 1400,
    })
    .unwrap()
}

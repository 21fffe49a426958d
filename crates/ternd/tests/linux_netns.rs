//! Privileged tests of the Linux platform layer. Each test runs on a thread of its own that has
//! unshared into a fresh, empty network namespace, so the host's addresses, routes, rules and DNS
//! are never touched; resolv.conf is always a temporary file and the DNS backend is forced to
//! resolv.conf (systemd-resolved on the host bus must never see our namespace's links).
//!
//! Needs root (CAP_NET_ADMIN + CAP_SYS_ADMIN) and /dev/net/tun. Without them each test prints
//! `SKIPPED: …` and passes, unless `TERN_E2E=require` is set, in which case it fails.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{IpAddr, UdpSocket};
use std::time::Duration;

use common::*;
use rtnetlink::packet_route::rule::RuleAttribute;
use ternd::platform::linux::{Change, DnsBackend, LinuxConfig, LinuxConfigurator};
use ternd::platform::{
    DnsMethod, NetworkConfigurator, PlatformError, RoutingMode, SocketBypass, TunDevice,
};

// ---------------------------------------------------------------------------------------------
// Tests.

#[test]
fn full_tunnel_ipv4_routes_everything_but_the_tunnel_and_blocks_ipv6() {
    if !privileged("full_tunnel_ipv4_routes_everything_but_the_tunnel_and_blocks_ipv6") {
        return;
    }
    in_netns(|| async {
        let handle = netlink();
        let uplink = set_up_host(&handle).await;
        let tun = tun("ternfull0");
        let tun_index = tun.interface().index;
        assert_eq!(tun.mtu().unwrap(), 1400);
        let dirs = test_dirs();
        let before = snapshot(&handle).await;

        let mut net = LinuxConfigurator::new(config(&dirs));
        assert_eq!(net.recover().await.unwrap().undone, 0);
        let applied = net
            .apply(&plan(&tun, RoutingMode::Full, &[addr("10.9.0.2/32")]))
            .await
            .unwrap();
        let SocketBypass::Fwmark(mark) = applied.socket_bypass else {
            panic!("Linux bypasses with a firewall mark");
        };
        assert_eq!(applied.dns, DnsMethod::ResolvConf(dirs.resolv.clone()));

        // Unmarked traffic enters the tunnel; marked (the tunnel's own) keeps the uplink.
        let internet: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(route_get(&handle, internet, 0).await, Some(tun_index));
        assert_eq!(route_get(&handle, internet, mark).await, Some(uplink));
        // The gateway is never routed into the tunnel, marked or not.
        let gateway: IpAddr = GATEWAY.parse().unwrap();
        assert_eq!(route_get(&handle, gateway, 0).await, Some(uplink));
        // The LAN stays reachable (suppress_prefixlength 0 keeps main's specific routes).
        assert_eq!(
            route_get(&handle, "192.0.2.77".parse().unwrap(), 0).await,
            Some(uplink)
        );
        // IPv6 has no tunnel address: blocked, not leaked; the marked tunnel sockets still work.
        let internet6: IpAddr = "2001:db8:ffff::1".parse().unwrap();
        assert_eq!(route_get(&handle, internet6, 0).await, None);
        assert_eq!(route_get(&handle, internet6, mark).await, Some(uplink));

        // The socket helper really sets SO_MARK.
        let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
        ternd::platform::linux::mark_socket(&socket, mark).unwrap();
        let got = nix::sys::socket::getsockopt(&socket, nix::sys::socket::sockopt::Mark).unwrap();
        assert_eq!(got, mark);

        // DNS: only the tunnel's server, our domain, original options kept.
        let resolv = std::fs::read_to_string(&dirs.resolv).unwrap();
        assert!(resolv.contains("nameserver 10.9.0.1\nsearch corp.example\noptions edns0\n"));
        assert!(!resolv.contains("192.0.2.53"));

        // A second plan on top is refused.
        assert!(matches!(
            net.apply(&plan(&tun, RoutingMode::Full, &[addr("10.9.0.2/32")]))
                .await,
            Err(PlatformError::AlreadyApplied)
        ));

        net.restore().await.unwrap();
        assert_same(&before, &snapshot(&handle).await);
        assert_eq!(
            std::fs::read_to_string(&dirs.resolv).unwrap(),
            ORIGINAL_RESOLV
        );
        assert!(net.journaled().unwrap().is_empty());
        // Restoring again is harmless.
        net.restore().await.unwrap();
        assert_same(&before, &snapshot(&handle).await);
    });
}

#[test]
fn full_tunnel_dual_stack_routes_ipv6_into_the_tunnel() {
    if !privileged("full_tunnel_dual_stack_routes_ipv6_into_the_tunnel") {
        return;
    }
    in_netns(|| async {
        let handle = netlink();
        let uplink = set_up_host(&handle).await;
        let tun = tun("terndual0");
        let tun_index = tun.interface().index;
        let dirs = test_dirs();
        let before = snapshot(&handle).await;

        let mut net = LinuxConfigurator::new(config(&dirs));
        let applied = net
            .apply(&plan(
                &tun,
                RoutingMode::Full,
                &[addr("10.9.0.2/24"), addr("fd00:9::2/64")],
            ))
            .await
            .unwrap();
        let SocketBypass::Fwmark(mark) = applied.socket_bypass else {
            panic!("Linux bypasses with a firewall mark");
        };
        let internet6: IpAddr = "2001:db8:ffff::1".parse().unwrap();
        assert_eq!(route_get(&handle, internet6, 0).await, Some(tun_index));
        assert_eq!(route_get(&handle, internet6, mark).await, Some(uplink));
        let after_apply = snapshot(&handle).await;
        assert!(
            after_apply
                .iter()
                .any(|l| l.contains("addr") && l.contains("fd00:9::2/64"))
        );

        net.restore().await.unwrap();
        assert_same(&before, &snapshot(&handle).await);
    });
}

#[test]
fn split_tunnel_routes_selectors_and_moves_packets_through_the_tun() {
    if !privileged("split_tunnel_routes_selectors_and_moves_packets_through_the_tun") {
        return;
    }
    in_netns(|| async {
        let handle = netlink();
        let uplink = set_up_host(&handle).await;
        let tun = tun("ternsplit0");
        let tun_index = tun.interface().index;
        let dirs = test_dirs();
        let before = snapshot(&handle).await;

        let mut net = LinuxConfigurator::new(config(&dirs));
        // The second prefix contains the gateway: the tunnel's packets must still not loop.
        let routing = RoutingMode::Split {
            prefixes: vec![prefix("10.1.0.0/16"), prefix("198.51.100.0/24")],
        };
        let applied = net
            .apply(&plan(&tun, routing, &[addr("10.9.0.2/32")]))
            .await
            .unwrap();
        let SocketBypass::Fwmark(mark) = applied.socket_bypass else {
            panic!("Linux bypasses with a firewall mark");
        };
        assert_eq!(
            route_get(&handle, "10.1.2.3".parse().unwrap(), 0).await,
            Some(tun_index)
        );
        assert_eq!(
            route_get(&handle, "198.51.100.8".parse().unwrap(), 0).await,
            Some(tun_index)
        );
        assert_eq!(
            route_get(&handle, GATEWAY.parse().unwrap(), 0).await,
            Some(uplink)
        );
        assert_eq!(
            route_get(&handle, "10.1.2.3".parse().unwrap(), mark).await,
            Some(uplink)
        );
        assert_eq!(
            route_get(&handle, "203.0.113.9".parse().unwrap(), 0).await,
            Some(uplink)
        );
        // IPv6 is not part of this split tunnel and keeps its route.
        assert_eq!(
            route_get(&handle, "2001:db8:ffff::1".parse().unwrap(), 0).await,
            Some(uplink)
        );
        // Split DNS through resolv.conf: tunnel server first, the original one kept.
        let resolv = std::fs::read_to_string(&dirs.resolv).unwrap();
        assert!(resolv.contains("nameserver 10.9.0.1\nnameserver 192.0.2.53\n"));

        // Packets: a datagram to a selector address comes out of the TUN ...
        let socket = tokio::net::UdpSocket::bind("0.0.0.0:0").await.unwrap();
        let port = socket.local_addr().unwrap().port();
        socket.send_to(b"ping", "10.1.2.3:9999").await.unwrap();
        let mut buf = vec![0u8; 2048];
        // The kernel may send its own IPv6 chatter (MLD, router solicitations) first.
        let mut n = 0;
        for _ in 0..20 {
            n = tokio::time::timeout(Duration::from_secs(5), tun.recv(&mut buf))
                .await
                .unwrap()
                .unwrap();
            if buf[0] >> 4 == 4 {
                break;
            }
        }
        let packet = &buf[..n];
        assert_eq!(packet[0] >> 4, 4, "IPv4");
        assert_eq!(packet[9], 17, "UDP");
        assert_eq!(&packet[12..16], &[10, 9, 0, 2], "source is the virtual IP");
        assert_eq!(&packet[16..20], &[10, 1, 2, 3]);
        assert_eq!(&packet[n - 4..], b"ping");
        // ... and a reply written into the TUN reaches the socket.
        let reply = udp_packet([10, 1, 2, 3], 9999, [10, 9, 0, 2], port, b"pong");
        assert_eq!(tun.send(&reply).await.unwrap(), reply.len());
        let (n, from) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf[..n], b"pong");
        assert_eq!(from, "10.1.2.3:9999".parse().unwrap());

        tun.set_mtu(1300).unwrap();
        assert_eq!(tun.mtu().unwrap(), 1300);

        net.restore().await.unwrap();
        assert_same(&before, &snapshot(&handle).await);
        assert_eq!(
            std::fs::read_to_string(&dirs.resolv).unwrap(),
            ORIGINAL_RESOLV
        );
    });
}

#[test]
fn failed_apply_rolls_back_and_spares_what_was_there_before() {
    if !privileged("failed_apply_rolls_back_and_spares_what_was_there_before") {
        return;
    }
    in_netns(|| async {
        let handle = netlink();
        set_up_host(&handle).await;
        let tun = tun("ternfail0");
        let dirs = test_dirs();
        let cfg = config(&dirs);
        // Someone else already has the exact rule we are about to add.
        let mut rule = handle
            .rule()
            .add()
            .v4()
            .table_id(cfg.table)
            .priority(cfg.rule_priority + 2);
        rule.message_mut().header.flags |= rtnetlink::packet_route::rule::RuleFlags::Invert;
        rule.message_mut()
            .attributes
            .push(RuleAttribute::FwMark(cfg.fwmark));
        rule.message_mut()
            .attributes
            .push(RuleAttribute::FwMask(u32::MAX));
        rule.message_mut().header.action = rtnetlink::packet_route::rule::RuleAction::ToTable;
        rule.execute().await.unwrap();
        let before = snapshot(&handle).await;

        let mut net = LinuxConfigurator::new(cfg);
        let error = net
            .apply(&plan(&tun, RoutingMode::Full, &[addr("10.9.0.2/32")]))
            .await
            .unwrap_err();
        assert!(matches!(error, PlatformError::Network { .. }), "{error}");
        assert!(error.to_string().contains("not fwmark"), "{error}");
        // Everything we added is gone again, and the pre-existing rule is still there.
        assert_same(&before, &snapshot(&handle).await);
        assert!(net.journaled().unwrap().is_empty());
        assert_eq!(
            std::fs::read_to_string(&dirs.resolv).unwrap(),
            ORIGINAL_RESOLV
        );
    });
}

/// The crash test's victim: applies a plan, says so, and waits to be SIGKILLed. Runs only when
/// `crash_recovery_restores_the_snapshot` starts it (in its namespace) with the variables set.
#[test]
#[ignore = "helper process of crash_recovery_restores_the_snapshot"]
fn crash_child() {
    let (Ok(state), Ok(resolv)) = (
        std::env::var("TERN_TD_CRASH_STATE"),
        std::env::var("TERN_TD_CRASH_RESOLV"),
    ) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let tun = tun("terncrash0");
        let mut net = LinuxConfigurator::new(LinuxConfig {
            state_dir: state.into(),
            resolv_conf: resolv.into(),
            dns_backend: DnsBackend::ResolvConf,
            ..LinuxConfig::default()
        });
        net.apply(&plan(&tun, RoutingMode::Full, &[addr("10.9.0.2/32")]))
            .await
            .unwrap();
        println!("TERN-CRASH-CHILD-APPLIED");
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
}

#[test]
fn crash_recovery_restores_the_snapshot() {
    if !privileged("crash_recovery_restores_the_snapshot") {
        return;
    }
    in_netns(|| async {
        use tokio::io::AsyncBufReadExt;

        let handle = netlink();
        set_up_host(&handle).await;
        let dirs = test_dirs();
        let before = snapshot(&handle).await;

        // The child inherits this thread's network namespace.
        let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "crash_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("TERN_TD_CRASH_STATE", &dirs.state)
            .env("TERN_TD_CRASH_RESOLV", &dirs.resolv)
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let applied = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.contains("TERN-CRASH-CHILD-APPLIED") {
                    return true;
                }
            }
            false
        })
        .await
        .unwrap();
        assert!(applied, "the child did not apply its plan");
        let during = snapshot(&handle).await;
        assert_ne!(before, during);
        assert_ne!(
            std::fs::read_to_string(&dirs.resolv).unwrap(),
            ORIGINAL_RESOLV
        );

        child.start_kill().unwrap(); // SIGKILL: no destructor, no restore.
        child.wait().await.unwrap();

        // The TUN died with the child (taking its address and routes); the rules, the
        // unreachable IPv6 route and resolv.conf are still there until recovery.
        let mut net = LinuxConfigurator::new(config(&dirs));
        let journaled = net.journaled().unwrap();
        assert!(journaled.iter().any(|c| matches!(c, Change::Rule(_))));
        assert!(
            journaled
                .iter()
                .any(|c| matches!(c, Change::ResolvConf { .. }))
        );
        let report = net.recover().await.unwrap();
        assert_eq!(report.undone, journaled.len());
        assert_same(&before, &snapshot(&handle).await);
        assert_eq!(
            std::fs::read_to_string(&dirs.resolv).unwrap(),
            ORIGINAL_RESOLV
        );
        assert!(net.journaled().unwrap().is_empty());
        // Recovering again finds nothing to do.
        assert_eq!(net.recover().await.unwrap().undone, 0);
    });
}

#[test]
fn dns_failure_undoes_the_routes_already_made() {
    if !privileged("dns_failure_undoes_the_routes_already_made") {
        return;
    }
    in_netns(|| async {
        let handle = netlink();
        set_up_host(&handle).await;
        let tun = tun("terndns0");
        let dirs = test_dirs();
        let before = snapshot(&handle).await;
        let mut net = LinuxConfigurator::new(LinuxConfig {
            // Its directory does not exist: the rewrite fails after the routes are in place.
            resolv_conf: dirs.state.join("no-such-dir/resolv.conf"),
            ..config(&dirs)
        });
        let error = net
            .apply(&plan(&tun, RoutingMode::Full, &[addr("10.9.0.2/32")]))
            .await
            .unwrap_err();
        assert!(matches!(error, PlatformError::ResolvConf { .. }), "{error}");
        assert_same(&before, &snapshot(&handle).await);
        assert!(net.journaled().unwrap().is_empty());
    });
}

#[test]
fn recovery_never_touches_an_interface_that_reused_the_index() {
    if !privileged("recovery_never_touches_an_interface_that_reused_the_index") {
        return;
    }
    in_netns(|| async {
        let handle = netlink();
        let uplink = set_up_host(&handle).await;
        let dirs = test_dirs();
        let before = snapshot(&handle).await;
        // As after a reboot: the journal names "tern0", but its index now belongs to the uplink,
        // which has exactly the journaled address.
        let journal =
            ternd::platform::journal::Journal::<Change>::new(config(&dirs).journal_path());
        journal
            .record(&Change::Address {
                interface: "tern0".into(),
                index: uplink,
                address: addr("192.0.2.10/24"),
            })
            .unwrap();
        journal
            .record(&Change::ResolvedLink {
                interface: "tern0".into(),
                index: uplink,
            })
            .unwrap();
        let mut net = LinuxConfigurator::new(LinuxConfig {
            // Would fail loudly if recovery tried to reach resolved for this entry.
            system_bus: Some("unix:path=/nonexistent/tern-test-bus".into()),
            ..config(&dirs)
        });
        assert_eq!(net.recover().await.unwrap().undone, 2);
        assert_same(&before, &snapshot(&handle).await);
    });
}

/// An IPv4/UDP packet with a valid header checksum and no UDP checksum (allowed for IPv4).
fn udp_packet(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, payload: &[u8]) -> Vec<u8> {
    let total = u16::try_from(20 + 8 + payload.len()).unwrap();
    let mut p = Vec::with_capacity(usize::from(total));
    p.extend_from_slice(&[0x45, 0]);
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    let mut sum: u32 = p
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let checksum = !u16::try_from(sum).unwrap();
    p[10..12].copy_from_slice(&checksum.to_be_bytes());
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&u16::try_from(8 + payload.len()).unwrap().to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

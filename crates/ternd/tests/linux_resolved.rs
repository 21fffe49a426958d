//! DNS through systemd-resolved, against a fake `org.freedesktop.resolve1` served on a private
//! `dbus-daemon` (never the host's system bus). The client test needs only `dbus-daemon`; the
//! configurator test also needs root for its network namespace (see `common`).
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use common::*;
use ternd::platform::linux::dns::Resolved;
use ternd::platform::linux::{DnsBackend, LinuxConfig, LinuxConfigurator};
use ternd::platform::{DnsMethod, DnsSettings, NetworkConfigurator, RoutingMode, TunDevice};

/// A private bus; the daemon is killed on drop.
struct PrivateBus {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `dbus-daemon`, or says SKIPPED (fails under TERN_E2E=require) when it is missing.
fn private_bus(test: &str) -> Option<PrivateBus> {
    let dir = tempfile::tempdir().unwrap();
    let spawned = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--print-address"])
        .arg(format!(
            "--address=unix:path={}",
            dir.path().join("bus").display()
        ))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(error) => {
            assert!(
                std::env::var("TERN_E2E").as_deref() != Ok("require"),
                "{test}: TERN_E2E=require but dbus-daemon cannot start: {error}"
            );
            eprintln!("SKIPPED: {test}: dbus-daemon cannot start: {error}");
            return None;
        }
    };
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    Some(PrivateBus {
        child,
        address: line.trim().to_owned(),
        _dir: dir,
    })
}

/// Records every call, as text.
#[derive(Clone, Default)]
struct FakeResolved {
    calls: Arc<Mutex<Vec<String>>>,
}

#[zbus::interface(name = "org.freedesktop.resolve1.Manager")]
impl FakeResolved {
    #[zbus(name = "SetLinkDNS")]
    fn set_link_dns(&self, ifindex: i32, addresses: Vec<(i32, Vec<u8>)>) {
        self.calls
            .lock()
            .unwrap()
            .push(format!("SetLinkDNS {ifindex} {addresses:?}"));
    }

    fn set_link_domains(&self, ifindex: i32, domains: Vec<(String, bool)>) {
        self.calls
            .lock()
            .unwrap()
            .push(format!("SetLinkDomains {ifindex} {domains:?}"));
    }

    fn set_link_default_route(&self, ifindex: i32, enable: bool) {
        self.calls
            .lock()
            .unwrap()
            .push(format!("SetLinkDefaultRoute {ifindex} {enable}"));
    }

    fn revert_link(&self, ifindex: i32) {
        self.calls
            .lock()
            .unwrap()
            .push(format!("RevertLink {ifindex}"));
    }
}

/// Serves the fake on the bus under resolved's name; keep the connection alive while in use.
async fn serve(bus: &PrivateBus, fake: FakeResolved) -> zbus::Connection {
    zbus::connection::Builder::address(bus.address.as_str())
        .name("org.freedesktop.resolve1")
        .serve_at("/org/freedesktop/resolve1", fake)
        .build()
        .await
        .unwrap()
}

fn take(calls: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
    std::mem::take(&mut *calls.lock().unwrap())
}

#[test]
fn resolved_client_speaks_the_manager_api() {
    let Some(bus) = private_bus("resolved_client_speaks_the_manager_api") else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // Nobody owns the name yet: not present.
        assert!(
            Resolved::connect(Some(&bus.address))
                .await
                .unwrap()
                .is_none()
        );

        let fake = FakeResolved::default();
        let calls = Arc::clone(&fake.calls);
        let _service = serve(&bus, fake).await;
        let resolved = Resolved::connect(Some(&bus.address))
            .await
            .unwrap()
            .unwrap();
        let settings = DnsSettings {
            servers: vec!["10.9.0.1".parse().unwrap()],
            domains: vec!["corp.example".into()],
        };
        resolved.set_link(7, &settings, true).await.unwrap();
        assert_eq!(
            take(&calls),
            [
                "SetLinkDNS 7 [(2, [10, 9, 0, 1])]",
                r#"SetLinkDomains 7 [("corp.example", false), (".", true)]"#,
                "SetLinkDefaultRoute 7 true",
            ]
        );
        resolved.set_link(7, &settings, false).await.unwrap();
        assert_eq!(
            take(&calls),
            [
                "SetLinkDNS 7 [(2, [10, 9, 0, 1])]",
                r#"SetLinkDomains 7 [("corp.example", false)]"#,
                "SetLinkDefaultRoute 7 false",
            ]
        );
        resolved.revert_link(7).await.unwrap();
        assert_eq!(take(&calls), ["RevertLink 7"]);
    });
}

#[test]
fn configurator_uses_resolved_when_resolv_conf_points_at_it() {
    if !privileged("configurator_uses_resolved_when_resolv_conf_points_at_it") {
        return;
    }
    let Some(bus) = private_bus("configurator_uses_resolved_when_resolv_conf_points_at_it") else {
        return;
    };
    let address = bus.address.clone();
    in_netns(move || async move {
        let handle = netlink();
        set_up_host(&handle).await;
        let tun = tun("ternres0");
        let index = tun.interface().index;
        let dirs = test_dirs();
        // glibc goes through resolved's stub: Auto must pick resolved and leave the file alone.
        std::fs::write(&dirs.resolv, "nameserver 127.0.0.53\noptions edns0\n").unwrap();
        let fake = FakeResolved::default();
        let calls = Arc::clone(&fake.calls);
        let _service = serve(&bus, fake).await;
        let before = snapshot(&handle).await;

        let config = LinuxConfig {
            dns_backend: DnsBackend::Auto,
            system_bus: Some(address.clone()),
            ..config(&dirs)
        };
        let mut net = LinuxConfigurator::new(config.clone());
        let applied = net
            .apply(&plan(&tun, RoutingMode::Full, &[addr("10.9.0.2/32")]))
            .await
            .unwrap();
        assert_eq!(applied.dns, DnsMethod::SystemdResolved);
        assert_eq!(
            take(&calls),
            [
                format!("SetLinkDNS {index} [(2, [10, 9, 0, 1])]"),
                format!(r#"SetLinkDomains {index} [("corp.example", false), (".", true)]"#),
                format!("SetLinkDefaultRoute {index} true"),
            ]
        );
        assert_eq!(
            std::fs::read_to_string(&dirs.resolv).unwrap(),
            "nameserver 127.0.0.53\noptions edns0\n"
        );
        net.restore().await.unwrap();
        assert_eq!(take(&calls), [format!("RevertLink {index}")]);
        assert_same(&before, &snapshot(&handle).await);

        // Split tunnel: the link is not the default DNS route; only its domains go there.
        let routing = RoutingMode::Split {
            prefixes: vec![prefix("10.1.0.0/16")],
        };
        net.apply(&plan(&tun, routing, &[addr("10.9.0.2/32")]))
            .await
            .unwrap();
        let split_calls = take(&calls);
        assert!(split_calls.contains(&format!("SetLinkDefaultRoute {index} false")));
        assert!(!split_calls.iter().any(|c| c.contains("(\".\", true)")));
        // A fresh configurator (as after a crash) reverts the link through the journal.
        let mut after_crash = LinuxConfigurator::new(config);
        after_crash.recover().await.unwrap();
        assert_eq!(take(&calls), [format!("RevertLink {index}")]);
        assert_same(&before, &snapshot(&handle).await);
    });
}

//! End to end: the `ternd` binary in the lab's client namespace against a strongSwan gateway,
//! driven through the IPC client like the CLI and GUI drive it.
//!
//! ternd runs as `ip netns exec <client ns> ternd …` (so also in the private mount namespace
//! `ip netns exec` makes), with its socket, state directory and resolv.conf in the lab
//! directory: nothing outside the lab's namespaces and directory is touched. Every test checks
//! that disconnecting (or recovering after a crash) leaves addresses, routes, rules and the
//! resolv.conf exactly as they were.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ipc::{Client, ConnectRequest, Status, TunnelState};
use tern_e2e::{Gateway, Lab, LabConfig, NetworkSnapshot, Ns, Ternd, addr, templates};

mod lab_client;

use lab_client::{psk_request_to, runtime, wait_for_state};

const PSK: &str = "a-long-test-secret-for-ternd";
const PUSHED_DNS: &str = "10.99.0.53";
const ORIGINAL_RESOLV: &str = tern_e2e::LAB_RESOLV_CONF;

/// The gateway of `templates::gateway_psk`, also pushing a DNS server.
fn gateway_config() -> tern_e2e::GatewayConfig {
    templates::with_pushed_dns(templates::gateway_psk(PSK), PUSHED_DNS.parse().unwrap())
}

/// Disconnects, waits until the helper reports Disconnected, and checks that addresses, routes,
/// rules and resolv.conf are exactly as in `before`.
fn disconnect_and_check_restored(
    rt: &tokio::runtime::Runtime,
    client: &mut Client,
    lab: &Lab,
    resolv_conf: &Path,
    before: &NetworkSnapshot,
) {
    rt.block_on(client.disconnect()).unwrap();
    rt.block_on(wait_for_state(
        client,
        Duration::from_secs(10),
        "Disconnected",
        |s| *s == TunnelState::Disconnected,
    ));
    assert_eq!(&NetworkSnapshot::take(lab, resolv_conf).unwrap(), before);
}

/// The lab's ternd runner with this crate's binary.
fn start_ternd(lab: &Lab, run: &Path) -> Ternd {
    Ternd::start(lab, Path::new(env!("CARGO_BIN_EXE_ternd")), run).unwrap()
}

fn psk_request() -> ConnectRequest {
    psk_request_to(&addr::GATEWAY_V4.to_string(), PSK)
}

fn ping_lan(lab: &Lab) -> bool {
    let out = lab
        .exec_output(
            Ns::Client,
            &["ping", "-c1", "-W2", &addr::LAN_HOST_V4.to_string()],
        )
        .unwrap();
    out.status.success()
}

/// A lab, a gateway, the pre-connect snapshot, and a running ternd.
struct Setup<'lab> {
    gateway: Gateway<'lab>,
    run: PathBuf,
    resolv_conf: PathBuf,
    before: NetworkSnapshot,
}

fn setup(lab: &Lab) -> Setup<'_> {
    setup_with(lab, gateway_config())
}

/// [`setup`] with this gateway configuration.
fn setup_with(lab: &Lab, config: tern_e2e::GatewayConfig) -> Setup<'_> {
    let gateway = Gateway::start(lab, config).unwrap();
    let run = lab.dir().join("ternd");
    std::fs::create_dir_all(&run).unwrap();
    let resolv_conf = run.join("resolv.conf");
    std::fs::write(&resolv_conf, ORIGINAL_RESOLV).unwrap();
    let before = NetworkSnapshot::take(lab, &resolv_conf).unwrap();
    Setup {
        gateway,
        run,
        resolv_conf,
        before,
    }
}

/// Connects and waits until Connected; returns the status and how long it took.
async fn connect(client: &mut Client) -> (Status, Duration) {
    connect_with(client, psk_request()).await
}

async fn connect_with(client: &mut Client, request: ConnectRequest) -> (Status, Duration) {
    let started = Instant::now();
    client.connect_tunnel(request).await.unwrap();
    let status = wait_for_state(client, Duration::from_secs(30), "Connected", |s| {
        matches!(s, TunnelState::Connected | TunnelState::Failed { .. })
    })
    .await;
    assert_eq!(status.state, TunnelState::Connected, "{status:?}");
    (status, started.elapsed())
}

fn assert_tunnel_configured(lab: &Lab, resolv_conf: &Path, status: &Status) {
    let connection = status.connection.as_ref().unwrap();
    assert_eq!(connection.virtual_ips.len(), 1, "{connection:?}");
    let vip = connection.virtual_ips[0].to_string();
    assert!(vip.starts_with("10.99.100."), "{vip}");
    assert_eq!(
        connection.routes,
        [addr::LAN_PREFIX_V4],
        "split tunnel to the LAN"
    );
    assert_eq!(
        connection.dns_servers,
        [PUSHED_DNS.parse::<std::net::IpAddr>().unwrap()]
    );
    let addresses = lab
        .exec(Ns::Client, &["ip", "-brief", "address", "show", "tern0"])
        .unwrap();
    assert!(addresses.contains(&format!("{vip}/32")), "{addresses}");
    let routes = lab
        .exec(Ns::Client, &["ip", "-4", "route", "show", "table", "all"])
        .unwrap();
    assert!(
        routes.contains(&format!("{} dev tern0 table", addr::LAN_PREFIX_V4)),
        "{routes}"
    );
    let rules = lab.exec(Ns::Client, &["ip", "-4", "rule"]).unwrap();
    assert!(
        rules.contains("not from all fwmark 0x7465726e lookup"),
        "{rules}"
    );
    assert!(
        rules.contains(&format!("from all to {} lookup main", addr::GATEWAY_V4)),
        "{rules}"
    );
    let resolv = std::fs::read_to_string(resolv_conf).unwrap();
    assert!(
        resolv.contains(&format!("nameserver {PUSHED_DNS}")),
        "{resolv}"
    );
}

#[test]
fn connect_ping_disconnect_restores_everything() {
    if !tern_e2e::should_run("connect_ping_disconnect_restores_everything") {
        return;
    }
    let lab = Lab::new(LabConfig::default()).unwrap();
    let setup = setup(&lab);
    let mut ternd = start_ternd(&lab, &setup.run);
    let rt = runtime();
    let mut client = rt.block_on(Client::connect(ternd.socket())).unwrap();
    rt.block_on(client.subscribe()).unwrap();
    let (status, took) = rt.block_on(connect(&mut client));
    eprintln!(
        "ternd connected in {took:?} (handshake {} ms)",
        status.connection.as_ref().unwrap().handshake_ms
    );
    let sa = setup
        .gateway
        .wait_for_child_sa(Duration::from_secs(5))
        .unwrap();
    assert!(sa.encap, "ESP is UDP-encapsulated");
    assert_tunnel_configured(&lab, &setup.resolv_conf, &status);

    // Both tunnel sockets carry the bypass mark.
    let sockets = lab
        .exec(Ns::Client, &["ss", "-u", "-a", "-n", "-e", "-p"])
        .unwrap();
    let marked = sockets
        .lines()
        .filter(|l| l.contains("ternd") && l.contains("fwmark:0x7465726e"))
        .count();
    assert_eq!(marked, 2, "{sockets}");

    let started = Instant::now();
    assert!(ping_lan(&lab), "ping through the tunnel:\n{}", ternd.log());
    eprintln!("first ping through the tunnel took {:?}", started.elapsed());
    let traffic = rt.block_on(client.status()).unwrap().traffic;
    assert!(
        traffic.packets_out >= 1 && traffic.packets_in >= 1,
        "{traffic:?}"
    );
    // Events reached the subscriber.
    let event = rt.block_on(client.next_event()).unwrap();
    assert!(event.is_some());
    // The log ring is served, and the level can change at run time.
    rt.block_on(client.set_log_level(ipc::LogLevel::Trace))
        .unwrap();
    let lines = rt.block_on(client.logs(None, false)).unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.message.contains("IKE SA and CHILD_SA established")),
        "{lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.message.contains(PSK)),
        "the PSK never reaches the log"
    );
    assert!(!ternd.log().contains(PSK), "the PSK never reaches the log");

    let started = Instant::now();
    rt.block_on(client.disconnect()).unwrap();
    rt.block_on(wait_for_state(
        &mut client,
        Duration::from_secs(10),
        "Disconnected",
        |s| *s == TunnelState::Disconnected,
    ));
    eprintln!("disconnect took {:?}", started.elapsed());
    assert_eq!(
        NetworkSnapshot::take(&lab, &setup.resolv_conf).unwrap(),
        setup.before
    );
    setup
        .gateway
        .wait_until(Duration::from_secs(5), "the SA deleted", |sas| {
            sas.is_empty()
        })
        .unwrap();
    assert!(!ping_lan(&lab), "no tunnel, no LAN");

    drop(client);
    let status = ternd.terminate().expect("ternd stops on SIGTERM");
    assert!(status.success(), "ternd exit status {status}");
    assert!(!ternd.socket().exists(), "socket removed on exit");
}

#[test]
fn sigterm_while_connected_restores_the_system() {
    if !tern_e2e::should_run("sigterm_while_connected_restores_the_system") {
        return;
    }
    let lab = Lab::new(LabConfig::default()).unwrap();
    let setup = setup(&lab);
    let mut ternd = start_ternd(&lab, &setup.run);
    let rt = runtime();
    let mut client = rt.block_on(Client::connect(ternd.socket())).unwrap();
    rt.block_on(connect(&mut client));
    assert!(ping_lan(&lab));
    drop(client);
    let status = ternd.terminate().expect("ternd stops on SIGTERM");
    assert!(status.success(), "ternd exit status {status}");
    assert_eq!(
        NetworkSnapshot::take(&lab, &setup.resolv_conf).unwrap(),
        setup.before
    );
}

#[test]
fn crash_while_connected_is_recovered_at_next_start() {
    if !tern_e2e::should_run("crash_while_connected_is_recovered_at_next_start") {
        return;
    }
    let lab = Lab::new(LabConfig::default()).unwrap();
    let setup = setup(&lab);
    let mut ternd = start_ternd(&lab, &setup.run);
    let rt = runtime();
    let mut client = rt.block_on(Client::connect(ternd.socket())).unwrap();
    rt.block_on(connect(&mut client));
    drop(client);
    ternd.kill();
    // The crash left the rules and resolv.conf behind (the TUN and its routes died with it).
    let rules = lab.exec(Ns::Client, &["ip", "-4", "rule"]).unwrap();
    assert!(rules.contains("fwmark 0x7465726e"), "{rules}");
    assert_ne!(
        NetworkSnapshot::take(&lab, &setup.resolv_conf).unwrap(),
        setup.before
    );

    let started = Instant::now();
    let mut ternd = start_ternd(&lab, &setup.run);
    eprintln!("restart with recovery took {:?}", started.elapsed());
    assert_eq!(
        NetworkSnapshot::take(&lab, &setup.resolv_conf).unwrap(),
        setup.before
    );
    assert!(ternd.log().contains("previous run"), "{}", ternd.log());
    // And it connects again.
    let mut client = rt.block_on(Client::connect(ternd.socket())).unwrap();
    rt.block_on(connect(&mut client));
    assert!(ping_lan(&lab));
    drop(client);
    assert!(ternd.terminate().expect("ternd stops on SIGTERM").success());
    assert_eq!(
        NetworkSnapshot::take(&lab, &setup.resolv_conf).unwrap(),
        setup.before
    );
}

#[test]
fn hostile_ipc_frames_do_not_disturb_a_running_tunnel() {
    use tokio::io::AsyncWriteExt;
    if !tern_e2e::should_run("hostile_ipc_frames_do_not_disturb_a_running_tunnel") {
        return;
    }
    let lab = Lab::new(LabConfig::default()).unwrap();
    let setup = setup(&lab);
    let mut ternd = start_ternd(&lab, &setup.run);
    let rt = runtime();
    let mut client = rt.block_on(Client::connect(ternd.socket())).unwrap();
    rt.block_on(connect(&mut client));
    rt.block_on(async {
        // Oversized length prefix.
        let mut huge = tokio::net::UnixStream::connect(ternd.socket())
            .await
            .unwrap();
        huge.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
        // Malformed JSON.
        let mut garbage = tokio::net::UnixStream::connect(ternd.socket())
            .await
            .unwrap();
        garbage.write_all(&7u32.to_be_bytes()).await.unwrap();
        garbage.write_all(b"{\"id\":}").await.unwrap();
        // A truncated frame, then the client vanishes.
        let mut short = tokio::net::UnixStream::connect(ternd.socket())
            .await
            .unwrap();
        short.write_all(&100u32.to_be_bytes()).await.unwrap();
        short.write_all(b"{\"id\":1").await.unwrap();
        drop(short);
        // A connect with an invalid profile from a well-formed client.
        let mut other = Client::connect(ternd.socket()).await.unwrap();
        let mut bad = psk_request();
        bad.profile.gateway.host = "no such host!".into();
        let err = other.connect_tunnel(bad).await.unwrap_err();
        assert!(err.to_string().contains("not valid"), "{err}");
        let err = other.connect_tunnel(psk_request()).await.unwrap_err();
        assert!(err.to_string().contains("already"), "{err}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    });
    assert_eq!(
        rt.block_on(client.status()).unwrap().state,
        TunnelState::Connected
    );
    assert!(ping_lan(&lab), "the tunnel still carries traffic");
    drop(client);
    assert!(ternd.terminate().expect("ternd stops on SIGTERM").success());
    assert_eq!(
        NetworkSnapshot::take(&lab, &setup.resolv_conf).unwrap(),
        setup.before
    );
}

#[test]
fn an_unauthorized_local_user_is_refused() {
    if !tern_e2e::should_run("an_unauthorized_local_user_is_refused") {
        return;
    }
    let python = Path::new("/usr/bin/python3");
    if !python.exists() {
        assert!(
            std::env::var("TERN_E2E").as_deref() != Ok("require"),
            "TERN_E2E=require but /usr/bin/python3 is missing"
        );
        eprintln!("SKIPPED: an_unauthorized_local_user_is_refused: /usr/bin/python3 is missing");
        return;
    }
    let lab = Lab::new(LabConfig::default()).unwrap();
    let run = lab.dir().join("ternd");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("resolv.conf"), ORIGINAL_RESOLV).unwrap();
    let ternd = start_ternd(&lab, &run);
    // Once root is served, ternd has finished setting the socket's permissions.
    runtime().block_on(Client::connect(ternd.socket())).unwrap();
    // Let anyone reach the socket file, so the helper's own check (SO_PEERCRED) must refuse.
    use std::os::unix::fs::PermissionsExt;
    for dir in [lab.dir(), run.as_path()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(ternd.socket(), std::fs::Permissions::from_mode(0o666)).unwrap();
    let script = r#"
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
body = json.dumps({"id": 1, "request": {"type": "hello", "version": 1, "client": "intruder"}}).encode()
try:
    s.sendall(struct.pack(">I", len(body)) + body)
except OSError:
    pass  # the helper may refuse (and close) before our hello arrives
head = s.recv(4)
n = struct.unpack(">I", head)[0]
data = b""
while len(data) < n:
    chunk = s.recv(n - len(data))
    if not chunk:
        break
    data += chunk
print(data.decode())
"#;
    // (Errors of the script, e.g. a refused `connect`, show in its stderr below.)
    let output = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(python)
        .args(["-c", script])
        .arg(ternd.socket())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("permission_denied"),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(ternd.log().contains("refused a client"), "{}", ternd.log());
}

#[test]
fn reconnects_after_the_gateway_deletes_the_sa() {
    if !tern_e2e::should_run("reconnects_after_the_gateway_deletes_the_sa") {
        return;
    }
    let lab = Lab::new(LabConfig::default()).unwrap();
    let setup = setup(&lab);
    let mut ternd = start_ternd(&lab, &setup.run);
    let rt = runtime();
    let mut client = rt.block_on(Client::connect(ternd.socket())).unwrap();
    let (first, _) = rt.block_on(connect(&mut client));
    let first_at = first.connection.unwrap().connected_at_unix_ms;
    assert!(ping_lan(&lab));

    let started = Instant::now();
    setup
        .gateway
        .swanctl(&[
            "--terminate",
            "--ike",
            templates::CONNECTION,
            "--timeout",
            "5",
        ])
        .unwrap();
    // Reconnecting (with the network still pointed at the keyless tunnel: no leak), then
    // Connected again with a new connection.
    rt.block_on(wait_for_state(
        &mut client,
        Duration::from_secs(10),
        "Reconnecting",
        |s| matches!(s, TunnelState::Reconnecting { .. }),
    ));
    let rules = lab.exec(Ns::Client, &["ip", "-4", "rule"]).unwrap();
    assert!(
        rules.contains("fwmark 0x7465726e"),
        "rules kept while reconnecting: {rules}"
    );
    let resolv = std::fs::read_to_string(&setup.resolv_conf).unwrap();
    assert!(
        resolv.contains(PUSHED_DNS),
        "DNS kept while reconnecting: {resolv}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let again = loop {
        let status = rt.block_on(client.status()).unwrap();
        if status.state == TunnelState::Connected
            && status
                .connection
                .as_ref()
                .is_some_and(|c| c.connected_at_unix_ms != first_at)
        {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "no reconnect: {status:?}\n{}",
            ternd.log()
        );
        std::thread::sleep(Duration::from_millis(25));
    };
    eprintln!(
        "reconnected {:?} after the gateway's delete",
        started.elapsed()
    );
    assert!(ternd.log().contains("reconnecting"), "{}", ternd.log());
    assert_tunnel_configured(&lab, &setup.resolv_conf, &again);
    assert!(ping_lan(&lab), "ping after the reconnect");

    disconnect_and_check_restored(&rt, &mut client, &lab, &setup.resolv_conf, &setup.before);
    drop(client);
    assert!(ternd.terminate().expect("ternd stops on SIGTERM").success());
}

#[test]
fn full_tunnel_through_nat_with_a_small_outer_mtu() {
    if !tern_e2e::should_run("full_tunnel_through_nat_with_a_small_outer_mtu") {
        return;
    }
    let lab = Lab::new(LabConfig {
        nat: true,
        outer_mtu: 1280,
    })
    .unwrap();
    let mut config = gateway_config();
    let lan_ts = format!("local_ts = {}", addr::LAN_PREFIX_V4);
    assert!(config.swanctl_conf.contains(&lan_ts));
    config.swanctl_conf = config.swanctl_conf.replace(&lan_ts, "local_ts = 0.0.0.0/0");
    let gateway = Gateway::start(&lab, config).unwrap();
    let run = lab.dir().join("ternd");
    std::fs::create_dir_all(&run).unwrap();
    let resolv_conf = run.join("resolv.conf");
    std::fs::write(&resolv_conf, ORIGINAL_RESOLV).unwrap();
    let before = NetworkSnapshot::take(&lab, &resolv_conf).unwrap();
    let mut ternd = start_ternd(&lab, &run);
    let rt = runtime();
    let mut client = rt.block_on(Client::connect(ternd.socket())).unwrap();
    let (status, took) = rt.block_on(connect(&mut client));
    eprintln!("full tunnel through NAT connected in {took:?}");
    let connection = status.connection.unwrap();
    assert_eq!(connection.routes, ["0.0.0.0/0", "::/0"]);
    assert!(connection.local_behind_nat, "{connection:?}");
    let rules = lab.exec(Ns::Client, &["ip", "-4", "rule"]).unwrap();
    assert!(rules.contains("suppress_prefixlength 0"), "{rules}");
    // IPv6 has no tunnel address: blocked, not leaked around the tunnel.
    let routes6 = lab
        .exec(Ns::Client, &["ip", "-6", "route", "show", "table", "all"])
        .unwrap();
    assert!(routes6.contains("unreachable default"), "{routes6}");
    let ping6 = lab
        .exec_output(
            Ns::Client,
            &["ping", "-6", "-c1", "-W1", &addr::LAN_HOST_V6.to_string()],
        )
        .unwrap();
    assert!(
        !ping6.status.success(),
        "IPv6 must not leave outside the tunnel"
    );

    // Larger than the outer link's MTU: the ESP-in-UDP datagrams are fragmented on the way.
    let big = lab
        .exec_output(
            Ns::Client,
            &[
                "ping",
                "-c2",
                "-W2",
                "-s",
                "1300",
                &addr::LAN_HOST_V4.to_string(),
            ],
        )
        .unwrap();
    assert!(
        big.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&big.stdout),
        ternd.log()
    );
    // The tunnel's own packets still reach the gateway (the marked sockets bypass the tunnel).
    let sa = gateway.wait_for_child_sa(Duration::from_secs(5)).unwrap();
    assert_eq!(sa.remote_host, addr::CLIENT_SEEN_BY_GATEWAY_V4.to_string());

    disconnect_and_check_restored(&rt, &mut client, &lab, &resolv_conf, &before);
    drop(client);
    assert!(ternd.terminate().expect("ternd stops on SIGTERM").success());
}

#[test]
fn connects_over_ipv6_transport() {
    if !tern_e2e::should_run("connects_over_ipv6_transport") {
        return;
    }
    let lab = Lab::new(LabConfig::default()).unwrap();
    let setup = setup(&lab);
    let mut ternd = start_ternd(&lab, &setup.run);
    let rt = runtime();
    let mut client = rt.block_on(Client::connect(ternd.socket())).unwrap();
    let (status, took) = rt.block_on(connect_with(
        &mut client,
        psk_request_to(&addr::GATEWAY_V6.to_string(), PSK),
    ));
    eprintln!("connected over IPv6 in {took:?}");
    assert_eq!(status.gateway, Some(addr::GATEWAY_V6.to_string()));
    assert_tunnel_configured_v6_gateway(&lab, &status);
    assert!(
        ping_lan(&lab),
        "IPv4 inside IPv6 ESP-in-UDP:\n{}",
        ternd.log()
    );
    let sa = setup
        .gateway
        .wait_for_child_sa(Duration::from_secs(5))
        .unwrap();
    assert_eq!(sa.remote_host, addr::CLIENT_DIRECT_V6.to_string());
    disconnect_and_check_restored(&rt, &mut client, &lab, &setup.resolv_conf, &setup.before);
    drop(client);
    assert!(ternd.terminate().expect("ternd stops on SIGTERM").success());
}

fn assert_tunnel_configured_v6_gateway(lab: &Lab, status: &Status) {
    let connection = status.connection.as_ref().unwrap();
    assert_eq!(connection.routes, [addr::LAN_PREFIX_V4]);
    let rules = lab.exec(Ns::Client, &["ip", "-4", "rule"]).unwrap();
    assert!(
        rules.contains("not from all fwmark 0x7465726e lookup"),
        "{rules}"
    );
}

#[test]
fn a_dead_gateway_is_noticed_and_the_tunnel_comes_back_with_it() {
    if !tern_e2e::should_run("a_dead_gateway_is_noticed_and_the_tunnel_comes_back_with_it") {
        return;
    }
    let lab = Lab::new(LabConfig::default()).unwrap();
    let setup = setup(&lab);
    let mut ternd = start_ternd(&lab, &setup.run);
    let rt = runtime();
    let mut client = rt.block_on(Client::connect(ternd.socket())).unwrap();
    let mut request = psk_request();
    request.profile.dpd.interval_secs = Some(10);
    rt.block_on(connect_with(&mut client, request));
    assert!(ping_lan(&lab));

    // The gateway dies without a word (SIGKILL: no Delete).
    let started = Instant::now();
    let pid = setup.gateway.pid().unwrap();
    let killed = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    drop(setup.gateway);
    rt.block_on(wait_for_state(
        &mut client,
        Duration::from_secs(60),
        "Reconnecting after liveness checks went unanswered",
        |s| matches!(s, TunnelState::Reconnecting { .. }),
    ));
    eprintln!("dead gateway noticed after {:?}", started.elapsed());
    // Still no leak: the tunnel's configuration stays while reconnecting.
    let rules = lab.exec(Ns::Client, &["ip", "-4", "rule"]).unwrap();
    assert!(rules.contains("fwmark 0x7465726e"), "{rules}");

    let _gateway = Gateway::start(&lab, gateway_config()).unwrap();
    let started = Instant::now();
    rt.block_on(wait_for_state(
        &mut client,
        Duration::from_secs(60),
        "Connected again",
        |s| *s == TunnelState::Connected,
    ));
    eprintln!("back {:?} after the gateway restarted", started.elapsed());
    assert!(ping_lan(&lab), "{}", ternd.log());

    disconnect_and_check_restored(&rt, &mut client, &lab, &setup.resolv_conf, &setup.before);
    drop(client);
    assert!(ternd.terminate().expect("ternd stops on SIGTERM").success());
}

#[test]
fn traffic_keeps_flowing_across_gateway_rekeys() {
    if !tern_e2e::should_run("traffic_keeps_flowing_across_gateway_rekeys") {
        return;
    }
    let lab = Lab::new(LabConfig::default()).unwrap();
    let mut config = gateway_config();
    // The gateway rekeys the CHILD_SA every 4 s and the IKE SA every 6 s.
    let esp = "esp_proposals = aes256gcm16, aes128gcm16, default\n";
    assert!(config.swanctl_conf.contains(esp));
    config.swanctl_conf = config
        .swanctl_conf
        .replace(
            esp,
            &format!("{esp}        rekey_time = 4s\n        life_time = 60s\n        rand_time = 0\n"),
        )
        .replace(
            "proposals = aes256-sha256-x25519, default\n",
            "proposals = aes256-sha256-x25519, default\n    rekey_time = 6s\n    over_time = 60s\n    rand_time = 0\n",
        );
    let gateway = Gateway::start(&lab, config).unwrap();
    let run = lab.dir().join("ternd");
    std::fs::create_dir_all(&run).unwrap();
    let resolv_conf = run.join("resolv.conf");
    std::fs::write(&resolv_conf, ORIGINAL_RESOLV).unwrap();
    let before = NetworkSnapshot::take(&lab, &resolv_conf).unwrap();
    let mut ternd = start_ternd(&lab, &run);
    let rt = runtime();
    let mut client = rt.block_on(Client::connect(ternd.socket())).unwrap();
    rt.block_on(connect(&mut client));

    let started = Instant::now();
    let mut pings = 0;
    let rekeys = loop {
        assert!(ping_lan(&lab), "ping {pings} failed:\n{}", ternd.log());
        pings += 1;
        let status = rt.block_on(client.status()).unwrap();
        assert_eq!(status.state, TunnelState::Connected, "{status:?}");
        let rekeys = status.connection.unwrap().rekeys;
        if rekeys >= 3 {
            break rekeys;
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "only {rekeys} rekeys:\n{}",
            ternd.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!(
        "{rekeys} rekeys in {:?}, {pings} pings all answered",
        started.elapsed()
    );
    assert!(ternd.log().contains("CHILD_SA rekeyed"), "{}", ternd.log());
    assert!(ternd.log().contains("IKE SA rekeyed"), "{}", ternd.log());
    assert!(gateway.log().contains("rekeying"), "the gateway rekeyed");

    disconnect_and_check_restored(&rt, &mut client, &lab, &resolv_conf, &before);
    drop(client);
    assert!(ternd.terminate().expect("ternd stops on SIGTERM").success());
}

/// Not a pass/fail test: how much UDP goes through ternd and the strongSwan (libipsec) gateway
/// in one direction in five seconds. Run with `--ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn throughput_probe() {
    if !tern_e2e::should_run("throughput_probe") {
        return;
    }
    let lab = Lab::new(LabConfig::default()).unwrap();
    let setup = setup(&lab);
    let ternd = start_ternd(&lab, &setup.run);
    let rt = runtime();
    let mut client = rt.block_on(Client::connect(ternd.socket())).unwrap();
    rt.block_on(connect(&mut client));
    let server = lab
        .run_in(Ns::Lan, || {
            std::net::UdpSocket::bind((addr::LAN_HOST_V4, 9000))
        })
        .unwrap()
        .unwrap();
    server
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let sender = lab
        .run_in(Ns::Client, || std::net::UdpSocket::bind("0.0.0.0:0"))
        .unwrap()
        .unwrap();
    sender.connect((addr::LAN_HOST_V4, 9000)).unwrap();
    let counter = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let (mut bytes, mut packets) = (0u64, 0u64);
        while let Ok(n) = server.recv(&mut buf) {
            bytes += n as u64;
            packets += 1;
        }
        (bytes, packets)
    });
    let payload = [0x5au8; 1380];
    let started = Instant::now();
    let mut sent = 0u64;
    while started.elapsed() < Duration::from_secs(5) {
        if sender.send(&payload).is_ok() {
            sent += 1;
        }
        // Pace a little so the gateway's userspace ESP is not simply flooded.
        if sent.is_multiple_of(64) {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let (bytes, packets) = counter.join().unwrap();
    let traffic = rt.block_on(client.status()).unwrap().traffic;
    eprintln!(
        "sent {sent} datagrams, {packets} arrived ({:.1} Mbit/s of payload); ternd counted {} out",
        bytes as f64 * 8.0 / seconds / 1e6,
        traffic.packets_out
    );
}

#[test]
fn dual_stack_inside_the_tunnel() {
    if !tern_e2e::should_run("dual_stack_inside_the_tunnel") {
        return;
    }
    let lab = Lab::new(LabConfig::default()).unwrap();
    let mut config = gateway_config();
    let lan_ts = format!("local_ts = {}", addr::LAN_PREFIX_V4);
    config.swanctl_conf = config
        .swanctl_conf
        .replace(&lan_ts, &format!("{lan_ts}, {}", addr::LAN_PREFIX_V6))
        .replace("pools = pool4", "pools = pool4, pool6")
        .replace(
            "pools {\n",
            &format!(
                "pools {{\n  pool6 {{\n    addrs = {}\n  }}\n",
                addr::VIRTUAL_IP_POOL_V6
            ),
        );
    let Setup {
        gateway: _gateway,
        run,
        resolv_conf,
        before,
    } = setup_with(&lab, config);
    let mut ternd = start_ternd(&lab, &run);
    let rt = runtime();
    let mut client = rt.block_on(Client::connect(ternd.socket())).unwrap();
    let (status, _) = rt.block_on(connect(&mut client));
    let connection = status.connection.unwrap();
    assert_eq!(connection.virtual_ips.len(), 2, "{connection:?}");
    assert_eq!(
        connection.routes,
        [addr::LAN_PREFIX_V4, addr::LAN_PREFIX_V6],
        "{connection:?}"
    );
    assert!(ping_lan(&lab));
    let addresses = lab
        .exec(Ns::Client, &["ip", "-6", "address", "show", "dev", "tern0"])
        .unwrap();
    assert!(
        !addresses.contains("tentative"),
        "no duplicate address detection on the tunnel: {addresses}"
    );
    // The first IPv6 echo right after connecting is sometimes not answered (seen on the
    // gateway side: it arrives there, the reply never comes back); later ones are.
    let target = addr::LAN_HOST_V6.to_string();
    let answered = (0..5).any(|_| {
        lab.exec_output(Ns::Client, &["ping", "-6", "-c1", "-W1", &target])
            .unwrap()
            .status
            .success()
    });
    assert!(answered, "IPv6 through the tunnel:\n{}", ternd.log());
    let traffic = rt.block_on(client.status()).unwrap().traffic;
    assert!(traffic.packets_in >= 2, "{traffic:?}");
    disconnect_and_check_restored(&rt, &mut client, &lab, &resolv_conf, &before);
    drop(client);
    assert!(ternd.terminate().expect("ternd stops on SIGTERM").success());
}

/// Issue #11: a gateway that only takes a key-exchange group our first guess is not asks for it
/// with INVALID_KE_PAYLOAD once; the next connect proposes that group first (no extra round).
#[test]
fn the_key_exchange_group_the_gateway_chose_goes_first_next_time() {
    if !tern_e2e::should_run("the_key_exchange_group_the_gateway_chose_goes_first_next_time") {
        return;
    }
    let lab = Lab::new(LabConfig::default()).unwrap();
    let mut config = gateway_config();
    // ECP-384 only: in our first default proposal, but not its first group (X25519).
    let ike = "proposals = aes256-sha256-x25519, default\n";
    assert!(config.swanctl_conf.contains(ike));
    config.swanctl_conf = config
        .swanctl_conf
        .replace(ike, "proposals = aes256gcm16-prfsha256-ecp384\n");
    let Setup {
        gateway: _gateway,
        run,
        resolv_conf,
        before,
    } = setup_with(&lab, config);
    let mut ternd = start_ternd(&lab, &run);
    let rt = runtime();
    let mut client = rt.block_on(Client::connect(ternd.socket())).unwrap();
    let retries = |log: &str| log.matches("RetryingWithGroup").count();
    // The same profile both times (the helper remembers the group per profile and gateway).
    let first = psk_request();
    let again = || ConnectRequest {
        profile: first.profile.clone(),
        secrets: first.secrets.clone(),
    };

    let (status, _) = rt.block_on(connect_with(&mut client, again()));
    let suite = &status.connection.as_ref().unwrap().ike_suite;
    assert!(suite.ends_with("-ecp384"), "{suite}");
    assert_eq!(retries(&ternd.log()), 1, "{}", ternd.log());
    disconnect_and_check_restored(&rt, &mut client, &lab, &resolv_conf, &before);

    let (status, _) = rt.block_on(connect_with(&mut client, again()));
    let suite = &status.connection.as_ref().unwrap().ike_suite;
    assert!(suite.ends_with("-ecp384"), "{suite}");
    assert_eq!(
        retries(&ternd.log()),
        1,
        "the second connect needed no INVALID_KE round:\n{}",
        ternd.log()
    );
    disconnect_and_check_restored(&rt, &mut client, &lab, &resolv_conf, &before);
    drop(client);
    assert!(ternd.terminate().expect("ternd stops on SIGTERM").success());
}

//! Staying connected, end to end: the real `ternd` in the lab's client namespace against a
//! strongSwan gateway, with traffic through the tunnel.
//!
//! - Short lifetimes on both sides (CHILD_SA 10 s, IKE SA 30 s, so both ends start rekeys and
//!   sometimes collide) for two minutes of ping at 100 packets/s: no packet may be lost.
//! - The gateway is killed and restarted: dead-peer detection notices within the configured
//!   time, ternd reconnects and traffic flows again.
//!
//! Measured figures are printed (`cargo test … -- --nocapture` shows them).
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ipc::{Client, Status, TunnelState};
use tern_e2e::{Gateway, GatewayConfig, Lab, LabConfig, Ns, addr, templates};

mod lab_client;

use lab_client::{psk_request_to, runtime, wait_for_state};

const PSK: &str = "a-long-test-secret-for-lifecycle";

/// The PSK gateway of the templates, rekeying its IKE SA every `ike` and its CHILD_SA every
/// `child`.
fn gateway_config(ike: &str, child: &str) -> GatewayConfig {
    let mut config = templates::gateway_psk(PSK);
    let proposals = "proposals = aes256-sha256-x25519, default\n";
    let esp = "esp_proposals = aes256gcm16, aes128gcm16, default\n";
    assert!(config.swanctl_conf.contains(proposals) && config.swanctl_conf.contains(esp));
    config.swanctl_conf = config
        .swanctl_conf
        .replace(proposals, &format!("{proposals}    rekey_time = {ike}\n"))
        .replace(esp, &format!("{esp}        rekey_time = {child}\n"));
    config
}

/// A running ternd with extra arguments; SIGKILLed on drop, its log printed on failure.
struct Ternd {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
}

impl Ternd {
    fn start(lab: &Lab, run: &Path, extra: &[&str]) -> Ternd {
        std::fs::create_dir_all(run).unwrap();
        let socket = run.join("ternd.sock");
        let log = run.join("ternd.log");
        let resolv = run.join("resolv.conf");
        std::fs::write(&resolv, "nameserver 198.51.100.53\n").unwrap();
        let out = std::fs::File::create(&log).unwrap();
        let mut args = vec![
            "--foreground",
            "--socket",
            socket.to_str().unwrap(),
            "--state-dir",
            run.to_str().unwrap(),
            "--runtime-dir",
            run.to_str().unwrap(),
            "--resolv-conf",
            resolv.to_str().unwrap(),
            "--dns-backend",
            "resolv-conf",
            "--log-level",
            "debug",
        ];
        args.extend_from_slice(extra);
        let child = lab
            .command(Ns::Client, env!("CARGO_BIN_EXE_ternd"), &args)
            .unwrap()
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "ternd did not open its socket");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ternd { child, socket, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Ternd {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- ternd log ----\n{}", self.log());
        }
    }
}

async fn connect(client: &mut Client) -> Status {
    client
        .connect_tunnel(psk_request_to(&addr::GATEWAY_V4.to_string(), PSK))
        .await
        .unwrap();
    let status = wait_for_state(client, Duration::from_secs(30), "Connected", |s| {
        matches!(s, TunnelState::Connected | TunnelState::Failed { .. })
    })
    .await;
    assert_eq!(status.state, TunnelState::Connected, "{status:?}");
    status
}

/// Pings the LAN host through the tunnel 100 times a second for `seconds`: `(transmitted,
/// received, ping's output)`.
fn ping_at_100_per_second(lab: &Lab, seconds: u64) -> (u64, u64, String) {
    let count = (seconds * 100).to_string();
    let output = lab
        .exec_within(
            Ns::Client,
            &[
                "ping",
                "-q",
                "-i",
                "0.01",
                "-W",
                "2",
                "-c",
                &count,
                &addr::LAN_HOST_V4.to_string(),
            ],
            Duration::from_secs(seconds * 2 + 30),
        )
        // Lost packets make ping fail; its summary is in the error.
        .unwrap_or_else(|e| format!("{e}"));
    let (sent, received) = ping_counts(&output);
    (sent, received, output)
}

/// `(transmitted, received)` from ping's summary line.
fn ping_counts(output: &str) -> (u64, u64) {
    let line = output
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or_else(|| panic!("no ping summary in {output}"));
    let number = |word: &str| -> u64 {
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = words.iter().position(|w| w.starts_with(word)).unwrap();
        words[at - 1].parse().unwrap()
    };
    (number("packets"), number("received"))
}

#[test]
fn rekeys_both_ways_for_two_minutes_lose_no_packet() {
    if !tern_e2e::should_run("rekeys_both_ways_for_two_minutes_lose_no_packet") {
        return;
    }
    let seconds: u64 = std::env::var("TERN_LIFECYCLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    let lab = Lab::new(LabConfig::default()).unwrap();
    let gateway = Gateway::start(&lab, gateway_config("30s", "10s")).unwrap();
    let run = lab.dir().join("ternd");
    let ternd = Ternd::start(
        &lab,
        &run,
        &[
            // The gateway rekeys its CHILD_SA 8 to 9 s after creating it, we 8.1 to 9 s: both
            // start rekeys, and they sometimes collide. The IKE SA we rekey first.
            "--test-child-rekey-secs",
            "9",
            "--test-ike-rekey-secs",
            "20",
        ],
    );
    let rt = runtime();
    let mut client = rt.block_on(Client::connect(&ternd.socket)).unwrap();
    rt.block_on(connect(&mut client));
    gateway.wait_for_child_sa(Duration::from_secs(5)).unwrap();

    let sanity = lab
        .exec_output(
            Ns::Client,
            &["ping", "-c3", "-W2", &addr::LAN_HOST_V4.to_string()],
        )
        .unwrap();
    assert!(
        sanity.status.success(),
        "{}",
        String::from_utf8_lossy(&sanity.stdout)
    );
    let started = Instant::now();
    let (sent, received, output) = ping_at_100_per_second(&lab, seconds);
    let took = started.elapsed();
    let status = rt.block_on(client.status()).unwrap();
    let connection = status.connection.as_ref().unwrap();
    let log = ternd.log();
    let ours = log.matches("sending with the rekeyed CHILD_SA").count();
    let ike = log.matches("IKE SA rekeyed").count();
    let gateway_log = gateway.log();
    let gateway_child = gateway_log.matches("CHILD_SA net{").count();
    let collisions = gateway_log.matches("collision").count();
    eprintln!(
        "rekey soak: {sent} pings in {took:?}, {} lost; {} rekeys reported (CHILD_SA switches {ours}, \
         IKE SA {ike}); gateway log: {gateway_child} CHILD_SA lines, {collisions} collision lines",
        sent - received,
        connection.rekeys,
    );
    assert_eq!(status.state, TunnelState::Connected, "{status:?}");
    assert!(
        ours >= usize::try_from(seconds / 12).unwrap(),
        "too few CHILD_SA rekeys: {ours}\n{log}"
    );
    assert!(
        ike >= usize::try_from(seconds / 40).unwrap(),
        "too few IKE SA rekeys: {ike}"
    );
    assert_eq!(
        sent, received,
        "packets lost during rekeys:\n{output}\n{gateway_log}"
    );
    // Still one IKE SA and one CHILD_SA on the gateway: every replaced SA was deleted.
    let sas = gateway.list_ike_sas().unwrap();
    assert_eq!(sas.len(), 1, "{sas:?}");
    rt.block_on(client.disconnect()).unwrap();
}

#[test]
fn rekeys_with_pfs_lose_no_packet() {
    if !tern_e2e::should_run("rekeys_with_pfs_lose_no_packet") {
        return;
    }
    // The gateway wants a new key exchange (x25519) in every CHILD_SA rekey.
    let mut config = gateway_config("30s", "10s");
    config.swanctl_conf = config.swanctl_conf.replace(
        "esp_proposals = aes256gcm16, aes128gcm16, default",
        "esp_proposals = aes256gcm16-x25519",
    );
    let lab = Lab::new(LabConfig::default()).unwrap();
    let gateway = Gateway::start(&lab, config).unwrap();
    let ternd = Ternd::start(
        &lab,
        &lab.dir().join("ternd"),
        &[
            "--test-child-rekey-secs",
            "9",
            "--test-ike-rekey-secs",
            "20",
        ],
    );
    let rt = runtime();
    let mut client = rt.block_on(Client::connect(&ternd.socket)).unwrap();
    rt.block_on(connect(&mut client));
    gateway.wait_for_child_sa(Duration::from_secs(5)).unwrap();
    let (sent, received, output) = ping_at_100_per_second(&lab, 30);
    let log = ternd.log();
    let switches = log.matches("sending with the rekeyed CHILD_SA").count();
    eprintln!(
        "PFS rekeys: {sent} pings, {} lost, {switches} CHILD_SA switches",
        sent - received
    );
    let sa = gateway.wait_for_child_sa(Duration::from_secs(5)).unwrap();
    assert!(sa.dh_group.is_some(), "{sa:?}");
    assert!(switches >= 2, "{log}");
    assert_eq!(sent, received, "{output}\n{}", gateway.log());
    rt.block_on(client.disconnect()).unwrap();
}

#[test]
fn a_dead_gateway_is_detected_within_the_dpd_time_and_the_tunnel_comes_back() {
    if !tern_e2e::should_run(
        "a_dead_gateway_is_detected_within_the_dpd_time_and_the_tunnel_comes_back",
    ) {
        return;
    }
    let (dpd_interval, dpd_timeout) = (3, 5);
    let lab = Lab::new(LabConfig::default()).unwrap();
    let mut gateway = Gateway::start(&lab, templates::gateway_psk(PSK)).unwrap();
    let run = lab.dir().join("ternd");
    let ternd = Ternd::start(
        &lab,
        &run,
        &[
            "--test-dpd-secs",
            &dpd_interval.to_string(),
            "--dpd-timeout-secs",
            &dpd_timeout.to_string(),
        ],
    );
    let rt = runtime();
    let mut client = rt.block_on(Client::connect(&ternd.socket)).unwrap();
    rt.block_on(connect(&mut client));
    gateway.wait_for_child_sa(Duration::from_secs(5)).unwrap();
    // Idle for longer than the interval: liveness checks are answered, nothing happens.
    std::thread::sleep(Duration::from_secs(dpd_interval * 2 + 1));
    assert_eq!(
        rt.block_on(client.status()).unwrap().state,
        TunnelState::Connected
    );

    // The gateway dies without a word (SIGKILL: no Delete).
    let pid = gateway.pid().unwrap();
    let killed = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .status()
        .unwrap();
    assert!(killed.success());
    let died = Instant::now();
    gateway.stop();
    rt.block_on(wait_for_state(
        &mut client,
        Duration::from_secs(dpd_interval + dpd_timeout + 5),
        "Reconnecting",
        |s| matches!(s, TunnelState::Reconnecting { .. }),
    ));
    let detected = died.elapsed();
    eprintln!(
        "dead gateway detected after {detected:?} (DPD interval {dpd_interval} s, timeout {dpd_timeout} s)"
    );
    assert!(
        detected <= Duration::from_secs(dpd_interval + dpd_timeout + 1),
        "{detected:?}"
    );
    assert!(
        ternd.log().contains("dead-peer detection"),
        "{}",
        ternd.log()
    );

    // It comes back; ternd reconnects by itself and traffic flows.
    let gateway = Gateway::start(&lab, templates::gateway_psk(PSK)).unwrap();
    let back = Instant::now();
    rt.block_on(wait_for_state(
        &mut client,
        Duration::from_secs(70),
        "Connected again",
        |s| *s == TunnelState::Connected,
    ));
    eprintln!(
        "reconnected {:?} after the gateway restarted",
        back.elapsed()
    );
    gateway.wait_for_child_sa(Duration::from_secs(5)).unwrap();
    let ping = lab
        .exec_output(
            Ns::Client,
            &["ping", "-c1", "-W2", &addr::LAN_HOST_V4.to_string()],
        )
        .unwrap();
    assert!(ping.status.success(), "{}", ternd.log());
    rt.block_on(client.disconnect()).unwrap();
}

#[test]
fn the_tunnel_follows_a_new_client_address_with_mobike() {
    if !tern_e2e::should_run("the_tunnel_follows_a_new_client_address_with_mobike") {
        return;
    }
    let lab = Lab::new(LabConfig::default()).unwrap();
    let gateway = Gateway::start(&lab, templates::gateway_psk(PSK)).unwrap();
    let run = lab.dir().join("ternd");
    let ternd = Ternd::start(&lab, &run, &[]);
    let rt = runtime();
    let mut client = rt.block_on(Client::connect(&ternd.socket)).unwrap();
    rt.block_on(connect(&mut client));
    gateway.wait_for_child_sa(Duration::from_secs(5)).unwrap();
    let before = gateway.list_ike_sas().unwrap();
    assert_eq!(before.len(), 1);
    assert_eq!(before[0].remote_host, addr::CLIENT_DIRECT_V4.to_string());
    let ping = |lab: &Lab| {
        lab.exec_output(
            Ns::Client,
            &["ping", "-c1", "-W2", &addr::LAN_HOST_V4.to_string()],
        )
        .unwrap()
        .status
        .success()
    };
    assert!(ping(&lab));

    // The client's address moves: a new one on the link, the old one gone (the new one takes
    // over the subnet route).
    let moved_to = "198.51.100.3";
    lab.exec(
        Ns::Client,
        &["sysctl", "-qw", "net.ipv4.conf.out0.promote_secondaries=1"],
    )
    .unwrap();
    lab.exec(
        Ns::Client,
        &[
            "ip",
            "address",
            "add",
            &format!("{moved_to}/24"),
            "dev",
            "out0",
        ],
    )
    .unwrap();
    let moved = Instant::now();
    lab.exec(
        Ns::Client,
        &[
            "ip",
            "address",
            "del",
            &format!("{}/24", addr::CLIENT_DIRECT_V4),
            "dev",
            "out0",
        ],
    )
    .unwrap();
    gateway
        .wait_until(
            Duration::from_secs(10),
            "the SA at the new address",
            |sas| sas.iter().any(|s| s.remote_host == moved_to),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", ternd.log()));
    let after = gateway.list_ike_sas().unwrap();
    eprintln!(
        "MOBIKE: the gateway follows the new address after {:?}",
        moved.elapsed()
    );
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(
        after[0].unique_id, before[0].unique_id,
        "the same IKE SA, not a new connection"
    );
    // When the gateway notices the move on its own side too, its own address-list update to our
    // old address holds its SA update back by one retransmission (about 4 s): allow for that.
    let deadline = Instant::now() + Duration::from_secs(15);
    let flows = loop {
        if ping(&lab) {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
    };
    assert!(flows, "traffic flows from the new address\n{}", ternd.log());
    let status = rt.block_on(client.status()).unwrap();
    assert_eq!(status.state, TunnelState::Connected);
    assert!(!ternd.log().contains("reconnecting"), "{}", ternd.log());
    rt.block_on(client.disconnect()).unwrap();
}

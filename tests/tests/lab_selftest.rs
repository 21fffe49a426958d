//! Proves the lab works with strongSwan on both ends: a strongSwan client charon in the client
//! namespace connects to the gateway (PSK; EAP-MSCHAPv2 with a certificate from `pki`; PSK
//! through the NAT router with a small MTU), traffic from its virtual IP reaches the LAN host
//! through the tunnel, and nothing is left once the lab is dropped.

// Shared helpers below are test code too; clippy only exempts `#[test]` functions themselves.
#![allow(clippy::unwrap_used)]
#![cfg(target_os = "linux")]

use std::time::{Duration, Instant};

use tern_e2e::pki::{Ca, KeyKind};
use tern_e2e::{
    Charon, CharonConfig, ChildSaInfo, Gateway, GatewayConfig, Lab, LabConfig, LabError, Ns, addr,
    templates,
};

const PSK: &str = "tern-lab-selftest-pre-shared-key-0123456789";
const EAP_USER: &str = "alice";
const EAP_PASSWORD: &str = "correct horse battery staple";
const TIMEOUT: Duration = Duration::from_secs(10);

fn gateway_psk() -> GatewayConfig {
    templates::gateway_psk(PSK)
}

fn client_psk() -> CharonConfig {
    templates::strongswan_client_psk(addr::GATEWAY_V4.into(), PSK)
}

/// Initiates from the strongSwan client, checks both ends list an INSTALLED CHILD_SA, pings the
/// LAN host from the client's virtual IP and checks the gateway counted the traffic.
fn connect_and_ping(lab: &Lab, gateway: &Gateway<'_>, client: &Charon<'_>) -> ChildSaInfo {
    connect_and_ping_from(
        lab,
        gateway,
        client,
        &addr::CLIENT_SEEN_BY_GATEWAY_V4.to_string(),
    )
}

fn connect_and_ping_from(
    lab: &Lab,
    gateway: &Gateway<'_>,
    client: &Charon<'_>,
    client_seen_as: &str,
) -> ChildSaInfo {
    let started = Instant::now();
    client
        .swanctl(&["--initiate", "--child", templates::CHILD, "--timeout", "10"])
        .unwrap();
    let at_gateway = gateway.wait_for_child_sa(TIMEOUT).unwrap();
    eprintln!("connected in {:?}: {at_gateway:?}", started.elapsed());
    assert_eq!(at_gateway.state, "INSTALLED");
    assert_eq!(at_gateway.ike_state, "ESTABLISHED");
    assert_eq!(at_gateway.protocol, "ESP");
    assert!(at_gateway.encap, "kernel-libipsec always UDP-encapsulates");
    assert_ne!(at_gateway.spi_in, 0);
    assert_ne!(at_gateway.spi_out, 0);
    assert_eq!(at_gateway.local_ts, vec![addr::LAN_PREFIX_V4.to_owned()]);
    assert_eq!(at_gateway.remote_host, client_seen_as);
    assert_eq!(at_gateway.remote_port, Some(4500));
    let [vip] = at_gateway.remote_vips.as_slice() else {
        panic!("expected one virtual IP, got {:?}", at_gateway.remote_vips)
    };
    assert!(
        vip.starts_with("10.99.100."),
        "virtual IP {vip} from the pool"
    );
    assert_eq!(at_gateway.remote_ts, vec![format!("{vip}/32")]);

    let ike = gateway.list_ike_sas().unwrap();
    assert_eq!(ike.len(), 1, "{ike:?}");
    assert!(!ike[0].initiator);
    assert_ne!(ike[0].initiator_spi, 0);
    assert_ne!(ike[0].responder_spi, 0);
    assert!(ike[0].nat_remote, "kernel-libipsec fakes NAT detection");
    let at_client = client.wait_for_child_sa(TIMEOUT).unwrap();
    assert_eq!(at_client.local_vips, vec![vip.clone()]);
    assert_eq!(at_client.spi_in, at_gateway.spi_out);
    assert_eq!(at_client.spi_out, at_gateway.spi_in);

    let lan_host = addr::LAN_HOST_V4.to_string();
    lab.exec(
        Ns::Client,
        &[
            "ping", "-c", "3", "-i", "0.2", "-W", "2", "-I", vip, &lan_host,
        ],
    )
    .unwrap();
    let after = gateway.list_child_sas().unwrap();
    let counted = after
        .iter()
        .find(|sa| sa.spi_in == at_gateway.spi_in)
        .unwrap();
    assert!(
        counted.bytes_in >= 3 * 84,
        "gateway decrypted the pings: {counted:?}"
    );
    assert!(
        counted.bytes_out >= 3 * 84,
        "gateway encrypted the replies: {counted:?}"
    );
    at_gateway
}

#[test]
fn strongswan_client_psk() {
    if !tern_e2e::should_run("strongswan_client_psk") {
        return;
    }
    let started = Instant::now();
    let lab = Lab::new(LabConfig::default()).unwrap();
    let gateway = Gateway::start(&lab, gateway_psk()).unwrap();
    let client = Charon::start_in(&lab, Ns::Client, client_psk()).unwrap();
    let sa = connect_and_ping(&lab, &gateway, &client);
    assert_eq!(sa.encr_alg, "AES_GCM_16");
    assert_eq!(sa.encr_keysize, Some(256));
    assert!(
        gateway.log().contains("created TUN device: ipsec0"),
        "gateway uses kernel-libipsec"
    );
    // Two charons at once: each has its own pid file (its private /run) and vici socket.
    for charon in [&gateway, &client] {
        let pid_file = charon.dir().join("run/charon.pid");
        let recorded = std::fs::read_to_string(&pid_file).unwrap();
        assert_eq!(
            recorded.trim(),
            charon.pid().unwrap().to_string(),
            "{pid_file:?}"
        );
        assert!(charon.vici_socket().exists());
    }
    assert_ne!(gateway.vici_socket(), client.vici_socket());
    eprintln!("strongswan_client_psk took {:?}", started.elapsed());
}

#[test]
fn strongswan_client_eap_mschapv2_with_gateway_certificate() {
    if !tern_e2e::should_run("strongswan_client_eap_mschapv2_with_gateway_certificate") {
        return;
    }
    let started = Instant::now();
    // RSA-3072 makes IKE_AUTH big enough for strongSwan to fragment it (RFC 7383).
    let ca = Ca::new("Tern Lab CA", KeyKind::EcdsaP256).unwrap();
    let gw_cert = ca
        .issue(
            "gw.tern.test",
            &["gw.tern.test", &addr::GATEWAY_V4.to_string()],
            KeyKind::Rsa3072,
        )
        .unwrap();
    let lab = Lab::new(LabConfig::default()).unwrap();
    let gateway = Gateway::start(
        &lab,
        templates::gateway_eap_mschapv2(&ca, &gw_cert, &[(EAP_USER, EAP_PASSWORD)]),
    )
    .unwrap();
    let client = Charon::start_in(
        &lab,
        Ns::Client,
        templates::strongswan_client_eap_mschapv2(
            addr::GATEWAY_V4.into(),
            &ca,
            EAP_USER,
            EAP_PASSWORD,
        ),
    )
    .unwrap();
    let sa = connect_and_ping(&lab, &gateway, &client);
    assert_eq!(sa.remote_eap_id.as_deref(), Some(EAP_USER));
    assert!(
        gateway.log().contains("splitting IKE message"),
        "the RSA certificate made the gateway fragment IKE_AUTH"
    );
    eprintln!(
        "strongswan_client_eap_mschapv2_with_gateway_certificate took {:?}",
        started.elapsed()
    );
}

#[test]
fn strongswan_client_psk_through_nat_with_small_mtu() {
    if !tern_e2e::should_run("strongswan_client_psk_through_nat_with_small_mtu") {
        return;
    }
    let started = Instant::now();
    let lab = Lab::new(LabConfig {
        nat: true,
        outer_mtu: 1280,
    })
    .unwrap();
    let link = lab
        .exec(Ns::Client, &["ip", "link", "show", "out0"])
        .unwrap();
    assert!(link.contains("mtu 1280"), "{link}");
    let gateway = Gateway::start(&lab, gateway_psk()).unwrap();
    let client = Charon::start_in(&lab, Ns::Client, client_psk()).unwrap();
    connect_and_ping(&lab, &gateway, &client);
    // The gateway saw the router's address, so a real NAT sat in between.
    assert!(
        gateway.log().contains("remote host is behind NAT"),
        "gateway detected the NAT"
    );
    eprintln!(
        "strongswan_client_psk_through_nat_with_small_mtu took {:?}",
        started.elapsed()
    );
}

#[test]
fn udp_socket_inside_the_client_namespace() {
    if !tern_e2e::should_run("udp_socket_inside_the_client_namespace") {
        return;
    }
    let lab = Lab::new(LabConfig::default()).unwrap();
    let server = lab
        .run_in(Ns::Gateway, || {
            std::net::UdpSocket::bind((addr::GATEWAY_V4, 5000))
        })
        .unwrap()
        .unwrap();
    let client = lab
        .run_in(Ns::Client, || std::net::UdpSocket::bind("0.0.0.0:0"))
        .unwrap()
        .unwrap();
    client
        .send_to(b"hello gateway", (addr::GATEWAY_V4, 5000))
        .unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = server.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello gateway");
    assert_eq!(from.ip(), std::net::IpAddr::V4(addr::CLIENT_DIRECT_V4));
    // A panic inside the closure reaches the caller.
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        lab.run_in(Ns::Client, || panic!("inside the namespace"))
            .ok();
    }));
    assert!(caught.is_err());
}

fn namespaces_with(prefix: &str) -> Vec<String> {
    let out = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(prefix))
        .map(str::to_owned)
        .collect()
}

fn processes_with(prefix: &str) -> String {
    let out = std::process::Command::new("pgrep")
        .args(["-a", "-f", prefix])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn nothing_left_after_drop() {
    if !tern_e2e::should_run("nothing_left_after_drop") {
        return;
    }
    let lab = Lab::new(LabConfig {
        nat: true,
        ..LabConfig::default()
    })
    .unwrap();
    let id = lab.id().to_owned();
    let dir = lab.dir().to_owned();
    let gateway = Gateway::start(&lab, gateway_psk()).unwrap();
    let client = Charon::start_in(&lab, Ns::Client, client_psk()).unwrap();
    // A stray process the test forgets about: the lab must end it too.
    let mut stray = lab
        .command(Ns::Lan, "sleep", &["600"])
        .unwrap()
        .spawn()
        .unwrap();
    assert_eq!(namespaces_with(&id).len(), 4);
    assert!(
        processes_with(&id).contains("charon-gateway"),
        "{}",
        processes_with(&id)
    );
    let pids = [gateway.pid().unwrap(), client.pid().unwrap()];
    drop(client);
    drop(gateway);
    drop(lab);
    let _ = stray.wait();
    assert!(
        namespaces_with(&id).is_empty(),
        "left: {:?}",
        namespaces_with(&id)
    );
    assert_eq!(processes_with(&id), "");
    for pid in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "charon {pid} still there"
        );
    }
    assert!(!dir.exists(), "{} still there", dir.display());
}

/// Set for the child process of `ctrl_c_removes_every_lab_of_the_process`.
const SIGNAL_CHILD_ENV: &str = "TERN_E2E_SIGNAL_CHILD";

/// Run only as the child of `ctrl_c_removes_every_lab_of_the_process`: builds a lab with a
/// gateway, says so, and waits for the signal.
#[test]
#[ignore = "the child of ctrl_c_removes_every_lab_of_the_process, run by it"]
fn lab_waiting_for_a_signal() {
    if std::env::var_os(SIGNAL_CHILD_ENV).is_none() {
        return;
    }
    let lab = Lab::new(LabConfig::default()).unwrap();
    let _gateway = Gateway::start(&lab, gateway_psk()).unwrap();
    println!("READY {}", lab.id());
    std::thread::sleep(Duration::from_secs(60));
    panic!("no signal came");
}

#[test]
fn ctrl_c_removes_every_lab_of_the_process() {
    use std::io::BufRead as _;

    if !tern_e2e::should_run("ctrl_c_removes_every_lab_of_the_process") {
        return;
    }
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "lab_waiting_for_a_signal",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(SIGNAL_CHILD_ENV, "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let id = lines
        .find_map(|line| line.unwrap().strip_prefix("READY ").map(str::to_owned))
        .expect("the child builds its lab");
    assert_eq!(namespaces_with(&id).len(), 3);
    assert!(processes_with(&id).contains("charon-gateway"));
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status}");
    assert!(
        namespaces_with(&id).is_empty(),
        "{:?}",
        namespaces_with(&id)
    );
    assert!(processes_with(&id).is_empty(), "{}", processes_with(&id));
    assert!(!std::env::temp_dir().join(&id).exists());
}

#[test]
fn swanctl_listing_parses() {
    let sample = "\
list-sa event {
  rw {
    uniqueid = 1
    version = 2
    state = ESTABLISHED
    remote-host = 198.51.100.2
    remote-port = 4500
    remote-id = client@tern.test
    remote-vips = [
      10.99.100.1
    ]
    child-sas {
      net-1 {
        name = net
        state = INSTALLED
        protocol = ESP
        encap = yes
        spi-in = c1a2b3c4
        spi-out = 0d0e0f10
        encr-alg = AES_GCM_16
        encr-keysize = 256
        bytes-in = 252
        local-ts = [
          10.99.0.0/24
        ]
        remote-ts = [
          10.99.100.1/32
        ]
      }
    }
  }
}
list-sas reply {
}
";
    let sas = tern_e2e::parse_list_sas(sample);
    assert_eq!(sas.len(), 1);
    let sa = &sas[0];
    assert_eq!(
        (sa.ike_name.as_str(), sa.name.as_str(), sa.state.as_str()),
        ("rw", "net", "INSTALLED")
    );
    assert_eq!((sa.spi_in, sa.spi_out), (0xc1a2_b3c4, 0x0d0e_0f10));
    assert_eq!(sa.remote_vips, ["10.99.100.1"]);
    assert_eq!(sa.local_ts, ["10.99.0.0/24"]);
    assert_eq!(sa.remote_ts, ["10.99.100.1/32"]);
    assert_eq!(sa.remote_port, Some(4500));
    assert!(sa.encap);
    assert_eq!(sa.bytes_in, 252);
    assert!(tern_e2e::parse_list_sas("list-sas reply {\n}\n").is_empty());
    assert!(tern_e2e::parse_list_sas("garbage {{{ ] = [ }").is_empty());
}

#[test]
fn charon_that_cannot_start_reports_its_log() {
    if !tern_e2e::should_run("charon_that_cannot_start_reports_its_log") {
        return;
    }
    let lab = Lab::new(LabConfig::default()).unwrap();
    // A `!` marks a plugin critical: charon refuses to start without it.
    let error = Gateway::start(
        &lab,
        GatewayConfig {
            extra_plugins: vec!["no-such-plugin!".into()],
            ..Default::default()
        },
    )
    .unwrap_err();
    let LabError::CharonExited { log, .. } = &error else {
        panic!("unexpected error: {error}")
    };
    assert!(log.contains("no-such-plugin"), "{error}");
}

#[test]
fn sweeper_removes_leftovers_of_dead_runs() {
    if !tern_e2e::should_run("sweeper_removes_leftovers_of_dead_runs") {
        return;
    }
    let mut finished = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = finished.id();
    finished.wait().unwrap();
    let id = format!("tern-{dead_pid}-e2e0");
    let ns = format!("{id}-client");
    let dir = std::env::temp_dir().join(&id);
    std::fs::create_dir_all(dir.join("charon-gateway")).unwrap();
    let status = std::process::Command::new("ip")
        .args(["netns", "add", &ns])
        .status()
        .unwrap();
    assert!(status.success());
    // One leftover process found by its command line, one by its namespace.
    let mut by_name = std::process::Command::new("bash")
        .args(["-c", &format!("exec -a {id}-charon-gateway sleep 600")])
        .spawn()
        .unwrap();
    let mut by_namespace = std::process::Command::new("ip")
        .args(["netns", "exec", &ns, "sleep", "600"])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while processes_with(&id).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    tern_e2e::sweep_stale();
    assert!(
        namespaces_with(&id).is_empty(),
        "left: {:?}",
        namespaces_with(&id)
    );
    assert!(!dir.exists());
    // Both leftovers end (killed by this sweep, or by the sweep of a test running alongside).
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut ended = [false, false];
    while ended.contains(&false) && Instant::now() < deadline {
        ended[0] |= by_name.try_wait().unwrap().is_some();
        ended[1] |= by_namespace.try_wait().unwrap().is_some();
        std::thread::sleep(Duration::from_millis(20));
    }
    for (mut child, done) in [(by_name, ended[0]), (by_namespace, ended[1])] {
        if !done {
            child.kill().ok();
            child.wait().ok();
        }
    }
    assert_eq!(ended, [true, true], "leftover processes ended");
}

#[test]
fn strongswan_client_psk_over_ipv6() {
    if !tern_e2e::should_run("strongswan_client_psk_over_ipv6") {
        return;
    }
    let started = Instant::now();
    let lab = Lab::new(LabConfig::default()).unwrap();
    let gateway = Gateway::start(&lab, gateway_psk()).unwrap();
    let client = Charon::start_in(
        &lab,
        Ns::Client,
        templates::strongswan_client_psk(addr::GATEWAY_V6.into(), PSK),
    )
    .unwrap();
    connect_and_ping_from(&lab, &gateway, &client, &addr::CLIENT_DIRECT_V6.to_string());
    eprintln!(
        "strongswan_client_psk_over_ipv6 took {:?}",
        started.elapsed()
    );
}

#[test]
fn exec_times_out_and_kills_the_command() {
    if !tern_e2e::should_run("exec_times_out_and_kills_the_command") {
        return;
    }
    let lab = Lab::new(LabConfig::default()).unwrap();
    let started = Instant::now();
    let error = lab
        .exec_within(Ns::Lan, &["sleep", "30"], Duration::from_millis(300))
        .unwrap_err();
    assert!(matches!(error, LabError::Timeout { .. }), "{error}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let pids = lab.exec(
        Ns::Lan,
        &["ip", "netns", "pids", lab.ns_name(Ns::Lan).unwrap()],
    );
    // `ip netns pids` inside the namespace lists itself at most.
    assert!(pids.unwrap().split_whitespace().count() <= 1);
    let failed = lab
        .exec(Ns::Lan, &["ping", "-c1", "-W1", "10.99.0.99"])
        .unwrap_err();
    assert!(
        failed.to_string().contains("ping -c1 -W1 10.99.0.99"),
        "{failed}"
    );
}

#[test]
fn gateway_restarts_in_the_same_lab() {
    if !tern_e2e::should_run("gateway_restarts_in_the_same_lab") {
        return;
    }
    let lab = Lab::new(LabConfig::default()).unwrap();
    let config = gateway_psk();
    let first = Gateway::start(&lab, config.clone()).unwrap();
    let first_dir = first.dir().to_owned();
    drop(first);
    let second = Gateway::start(&lab, config).unwrap();
    assert_ne!(second.dir(), first_dir);
    assert!(
        second
            .swanctl(&["--list-conns"])
            .unwrap()
            .contains(&format!("{}:", templates::CONNECTION))
    );
}

/// A hand-built IKE_SA_INIT request (AES-GCM-16-256, PRF-HMAC-SHA2-256, Curve25519) from
/// initiator SPI `spi_i`: enough for charon to answer.
fn minimal_ike_sa_init(spi_i: [u8; 8]) -> Vec<u8> {
    let mut transforms = Vec::new();
    // ENCR (1) AES-GCM-16 (20) with a key-length attribute (TV, type 14) of 256 bits.
    transforms.extend([3, 0, 0, 12, 1, 0, 0, 20, 0x80, 14, 1, 0]);
    transforms.extend([3, 0, 0, 8, 2, 0, 0, 5]); // PRF (2) HMAC-SHA2-256 (5)
    transforms.extend([0, 0, 0, 8, 4, 0, 0, 31]); // DH (4) Curve25519 (31), last
    let proposal_len = u16::try_from(8 + transforms.len()).unwrap();
    let mut sa = vec![34, 0];
    sa.extend((4 + proposal_len).to_be_bytes());
    sa.extend([0, 0]); // last proposal, reserved
    sa.extend(proposal_len.to_be_bytes());
    sa.extend([1, 1, 0, 3]); // proposal 1, protocol IKE, no SPI, 3 transforms
    sa.extend(transforms);
    let mut ke = vec![40, 0, 0, 40, 0, 31, 0, 0];
    ke.push(9); // the Curve25519 base point: a valid public value
    ke.extend([0u8; 31]);
    let mut nonce = vec![0, 0, 0, 36];
    nonce.extend([0x5a; 32]);
    let mut message = Vec::new();
    message.extend(spi_i);
    message.extend([0u8; 8]); // responder SPI
    message.extend([33, 0x20, 34, 0x08]); // next: SA, version 2.0, IKE_SA_INIT, initiator
    message.extend([0u8; 4]); // message ID
    let length = u32::try_from(28 + sa.len() + ke.len() + nonce.len()).unwrap();
    message.extend(length.to_be_bytes());
    message.extend(sa);
    message.extend(ke);
    message.extend(nonce);
    message
}

#[test]
fn raw_ike_from_a_socket_in_the_client_namespace() {
    if !tern_e2e::should_run("raw_ike_from_a_socket_in_the_client_namespace") {
        return;
    }
    let lab = Lab::new(LabConfig {
        nat: true,
        ..LabConfig::default()
    })
    .unwrap();
    let gateway = Gateway::start(&lab, gateway_psk()).unwrap();
    // Bound inside the client namespace, used from this thread.
    let socket = lab
        .run_in(Ns::Client, || std::net::UdpSocket::bind("0.0.0.0:500"))
        .unwrap()
        .unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let spi_i = *b"tern-e2e";
    socket
        .send_to(&minimal_ike_sa_init(spi_i), (addr::GATEWAY_V4, 500))
        .unwrap();
    let mut reply = [0u8; 2048];
    let (n, from) = socket.recv_from(&mut reply).unwrap();
    assert_eq!(from, (addr::GATEWAY_V4, 500).into());
    assert!(n >= 28, "{n} bytes");
    assert_eq!(reply[..8], spi_i, "our SPI echoed");
    assert_ne!(reply[8..16], [0u8; 8], "responder chose an SPI");
    assert_eq!(reply[18], 34, "IKE_SA_INIT");
    assert_eq!(reply[19] & 0x20, 0x20, "a response");
    let log = gateway.log();
    assert!(
        log.contains("selected proposal: IKE:AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519"),
        "gateway chose our proposal"
    );
    // The router's NAT changed the source the gateway saw.
    assert!(log.contains(&format!(
        "{} is initiating an IKE_SA",
        addr::CLIENT_SEEN_BY_GATEWAY_V4
    )));
}

//! The interop matrix: Tern, driven through its CLI the way a user drives it, against a real
//! strongSwan gateway — the project's acceptance test (issue 8).
//!
//! Every row builds a fresh lab (client ↔ [NAT router] ↔ gateway ↔ LAN host), starts a gateway
//! with its own `swanctl.conf` and `ternd` in the client namespace, imports the profile file a
//! provider would send (`.mobileconfig` for PSK, `.sswan` for EAP-MSCHAPv2), and runs
//! `tern connect --wait`. A row that connects then checks the virtual IP, routes and DNS, pings
//! the LAN host, moves 20 MB with iperf3 through the tunnel, disconnects and checks that the
//! client's addresses, routes, rules, links and resolv.conf are exactly as before. A row that
//! must fail checks the exit code, the error, the time it took, and the same restoration.
//!
//! Each row records its result, connect time and throughput (see `tern_e2e::summary`);
//! `cargo xtask test` merges them into `target/interop/summary.json` and prints a table.
//! Rows whose feature has not landed are `#[ignore]`d with the reason, never deleted.
//!
//! Adding a row: one line in `matrix!` below, built from [`Row`]'s constructors and modifiers.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tern_e2e::pki::{Ca, IssuedCert, KeyKind};
use tern_e2e::summary::{RowRecord, RowRecorder, RowResult};
use tern_e2e::{
    Binaries, Gateway, GatewayConfig, Lab, LabConfig, NetworkSnapshot, Ns, Ternd, addr, templates,
    traffic,
};

/// The pre-shared key of the PSK rows.
const PSK: &str = "a-long-test-secret-for-the-matrix";
/// The EAP user and password of the EAP rows.
const EAP_USER: &str = "alice";
const EAP_PASSWORD: &str = "alice-matrix-password";
/// The DNS server every gateway pushes.
const PUSHED_DNS: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 53);
/// The profile's name, as the user sees it.
const PROFILE: &str = "Interop";
const PROFILE_UUID: &str = "3f6c2d1e-8a4b-4c5d-9e0f-1a2b3c4d5e6f";
/// What each connecting row sends through the tunnel.
const TRANSFER_BYTES: u64 = 20 * 1024 * 1024;
/// An address no traffic selector of any row covers (TEST-NET-3).
const OUTSIDE_EVERY_TS: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);
/// The gateway's address in the second subnet of the split-tunnel row.
const SECOND_SUBNET_HOST: Ipv4Addr = Ipv4Addr::new(172, 16, 99, 1);

/// How the client authenticates, which decides the gateway and the file the user imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    /// Pre-shared key; the user imports a `.mobileconfig`.
    Psk,
    /// EAP-MSCHAPv2, the gateway proves itself with a certificate; the user imports a `.sswan`
    /// (with the provider's CA), which leaves the proposals to Tern's defaults.
    EapMschapv2,
    /// Certificates on both sides; the user imports a `.sswan` carrying a PKCS#12 bundle.
    Certificates,
    /// EAP-TLS with a client certificate from a `.sswan` PKCS#12 bundle.
    EapTls,
}

/// What the gateway must have negotiated (as `swanctl --list-sas` names it).
#[derive(Debug, Clone, Copy)]
struct Suite {
    ike_dh: &'static str,
    child_encr: &'static str,
    child_keysize: Option<u32>,
    child_integ: Option<&'static str>,
}

/// How the row must end.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Connected, carrying traffic, and restored after the disconnect.
    Connects,
    /// `tern connect --wait` fails with exit code `exit`, saying `says`, within `within`; the
    /// helper then reports the first of `kinds` (a later one is accepted and noted in the
    /// summary; empty: it is disconnected again, the attempt cancelled).
    Fails {
        exit: i32,
        kinds: &'static [&'static str],
        says: &'static str,
        within: Duration,
    },
}

/// One row of the matrix: a gateway setup, a profile, and what must happen.
#[derive(Debug, Clone)]
struct Row {
    auth: Auth,
    /// A NAT router between client and gateway.
    nat: bool,
    /// IKE and ESP travel over IPv6 (the profile names the gateway's IPv6 address).
    ipv6_transport: bool,
    /// The outer links' MTU.
    outer_mtu: u32,
    /// The key of the certificates issued (gateway, client): large keys make IKE_AUTH fragment.
    cert_key: KeyKind,
    /// Restricts the gateway to these (IKE, ESP) proposals.
    gateway_proposals: Option<(&'static str, &'static str)>,
    /// The (IKE, ESP) proposals the profile names; `None`: Tern's defaults.
    profile_proposals: Option<(&'static str, &'static str)>,
    /// Addresses added to the gateway's LAN side (a gateway needs one in each of its traffic
    /// selectors).
    gateway_addresses: &'static [&'static str],
    /// The gateway's traffic selectors (`local_ts`), when not the LAN.
    gateway_ts: Option<&'static str>,
    /// What `tern status` must list as routes, each with an address that must route into the
    /// tunnel.
    routes: Vec<(&'static str, Ipv4Addr)>,
    /// What the gateway must have negotiated.
    suite: Option<Suite>,
    /// Tern offers ESN and the gateway (kernel-libipsec cannot do ESN) picks 32-bit.
    esn_fallback: bool,
    /// NAT keepalive interval the profile asks for; the row counts keepalives at the router.
    nat_keepalive_secs: Option<u16>,
    /// Extra `charon { }` settings of the gateway.
    charon_settings: &'static str,
    /// The gateway must have split its IKE_AUTH messages into fragments (RFC 7383).
    gateway_fragments: bool,
    /// The password the user types, when not the right one.
    wrong_password: bool,
    /// The profile trusts a CA other than the gateway's.
    untrusted_ca: bool,
    /// No gateway runs at the profile's address.
    gateway_down: bool,
    /// `tern connect --timeout`.
    connect_timeout_secs: u64,
    expect: Expect,
}

impl Row {
    fn new(auth: Auth) -> Row {
        Row {
            auth,
            nat: false,
            ipv6_transport: false,
            outer_mtu: 1500,
            cert_key: KeyKind::EcdsaP256,
            gateway_proposals: None,
            profile_proposals: None,
            gateway_addresses: &[],
            gateway_ts: None,
            routes: vec![(addr::LAN_PREFIX_V4, addr::LAN_HOST_V4)],
            suite: None,
            esn_fallback: false,
            nat_keepalive_secs: None,
            charon_settings: "",
            gateway_fragments: false,
            wrong_password: false,
            untrusted_ca: false,
            gateway_down: false,
            connect_timeout_secs: 30,
            expect: Expect::Connects,
        }
    }

    /// PSK from a `.mobileconfig`.
    fn psk() -> Row {
        Row::new(Auth::Psk)
    }

    /// EAP-MSCHAPv2 with a gateway certificate, from a `.sswan`.
    fn eap() -> Row {
        Row::new(Auth::EapMschapv2)
    }

    /// The gateway accepts exactly `ike`/`esp`; Tern (defaults, ESN offered) must agree on
    /// `suite` and fall back to 32-bit sequence numbers.
    fn proposals(mut self, ike: &'static str, esp: &'static str, suite: Suite) -> Row {
        self = self.gateway_accepts(ike, esp);
        self.suite = Some(suite);
        self.esn_fallback = true;
        self
    }

    /// The gateway accepts exactly `ike`/`esp` (strongSwan syntax).
    fn gateway_accepts(mut self, ike: &'static str, esp: &'static str) -> Row {
        self.gateway_proposals = Some((ike, esp));
        self
    }

    /// The profile names `ike`/`esp` itself (strongSwan syntax, as in a `.sswan`), for sets
    /// Tern's defaults do not cover.
    fn profile_proposals(mut self, ike: &'static str, esp: &'static str) -> Row {
        self.profile_proposals = Some((ike, esp));
        self
    }

    fn behind_nat(mut self, keepalive_secs: u16) -> Row {
        self.nat = true;
        self.nat_keepalive_secs = Some(keepalive_secs);
        self
    }

    /// The gateway offers `ts`; `routes` are what Tern must route (with a probe address each).
    fn gateway_ts(mut self, ts: &'static str, routes: &[(&'static str, Ipv4Addr)]) -> Row {
        self.gateway_ts = Some(ts);
        self.routes = routes.to_vec();
        self
    }

    fn fails(
        mut self,
        exit: i32,
        kinds: &'static [&'static str],
        says: &'static str,
        secs: u64,
    ) -> Row {
        self.expect = Expect::Fails {
            exit,
            kinds,
            says,
            within: Duration::from_secs(secs),
        };
        self
    }
}

fn aead(ike_dh: &'static str, child_encr: &'static str, child_keysize: Option<u32>) -> Suite {
    Suite {
        ike_dh,
        child_encr,
        child_keysize,
        child_integ: None,
    }
}

fn cbc(ike_dh: &'static str, child_keysize: u32, child_integ: &'static str) -> Suite {
    Suite {
        ike_dh,
        child_encr: "AES_CBC",
        child_keysize: Some(child_keysize),
        child_integ: Some(child_integ),
    }
}

/// Declares the rows: each becomes a `#[test]` of its own (so rows run on parallel test threads),
/// and `ROWS` lists them all in order, with the reason of those ignored.
macro_rules! matrix {
    ($($(#[ignore = $why:literal])? $name:ident => $row:expr;)*) => {
        const ROWS: &[(&str, Option<&str>)] = &[$((stringify!($name), matrix!(@why $($why)?))),*];
        $(
            #[test]
            $(#[ignore = $why])?
            fn $name() {
                run(stringify!($name), $row);
            }
        )*
    };
    (@why) => { None };
    (@why $why:literal) => { Some($why) };
}

matrix! {
    psk_mobileconfig => Row::psk();
    eap_mschapv2_sswan => Row { cert_key: KeyKind::Rsa3072, ..Row::eap() };
    proposal_aes256gcm_x25519 => Row::eap().proposals(
        "aes256gcm16-prfsha256-x25519", "aes256gcm16", aead("CURVE_25519", "AES_GCM_16", Some(256)));
    proposal_chacha20poly1305_ecp256 => Row::eap().proposals(
        "chacha20poly1305-prfsha256-ecp256", "chacha20poly1305",
        aead("ECP_256", "CHACHA20_POLY1305", None));
    proposal_aes128cbc_sha256_modp2048 => Row::eap().proposals(
        "aes128-sha256-modp2048", "aes128-sha256", cbc("MODP_2048", 128, "HMAC_SHA2_256_128"));
    // Tern's default AES-CBC proposal has no ECP-384: the provider's profile names the set.
    proposal_aes256cbc_sha384_ecp384 => Row::eap()
        .proposals("aes256-sha384-ecp384", "aes256-sha384", cbc("ECP_384", 256, "HMAC_SHA2_384_192"))
        .profile_proposals("aes256-sha384-ecp384", "aes256-sha384-esn-noesn");
    nat_udp_encapsulation_keepalives => Row::psk().behind_nat(10);
    ipv6_transport => Row { ipv6_transport: true, ..Row::psk() };
    split_tunnel_gateway_selectors => Row { gateway_addresses: &["172.16.99.1/24"], ..Row::psk() }
        .gateway_ts(
            "10.99.0.0/24, 172.16.99.0/24",
            &[(addr::LAN_PREFIX_V4, addr::LAN_HOST_V4), ("172.16.99.0/24", SECOND_SUBNET_HOST)]);
    full_tunnel => Row::psk().gateway_ts(
        "0.0.0.0/0", &[("0.0.0.0/0", OUTSIDE_EVERY_TS), ("::/0", OUTSIDE_EVERY_TS)]);
    wrong_password => Row { wrong_password: true, ..Row::eap() }
        .fails(4, &["authentication_failed"], "password", 15);
    untrusted_server_certificate => Row { untrusted_ca: true, ..Row::eap() }
        .fails(4, &["server_certificate_rejected", "authentication_failed"], "certificate", 15);
    // The .mobileconfig offers AES-256-GCM with Curve25519 only.
    no_common_proposal => Row::psk()
        .gateway_accepts("aes256-sha256-modp3072", "aes256-sha256")
        .fails(4, &["no_common_proposal"], "algorithms", 15);
    unreachable_gateway => Row { gateway_down: true, connect_timeout_secs: 8, ..Row::psk() }
        .fails(5, &[], "did not connect within 8 s", 15);
    certificates_both_sides => Row::new(Auth::Certificates);
    eap_tls => Row::new(Auth::EapTls);
    // The gateway's RSA-3072 certificate does not fit a 1000-byte link: it fragments IKE_AUTH.
    ike_fragmentation_low_mtu => Row {
        outer_mtu: 1000,
        cert_key: KeyKind::Rsa3072,
        charon_settings: "fragment_size = 900\n",
        gateway_fragments: true,
        ..Row::eap()
    };
    // Tern's own IKE_AUTH carries the client's certificate chain: Tern must fragment.
    ike_fragmentation_large_client_chain => Row {
        outer_mtu: 1000,
        cert_key: KeyKind::Rsa3072,
        charon_settings: "fragment_size = 900\n",
        gateway_fragments: true,
        ..Row::new(Auth::Certificates)
    };
}

/// The ignored rows cannot record themselves; this one records them, so the summary lists every
/// row of the matrix.
#[test]
fn ignored_rows_are_in_the_summary() {
    for (order, (row, why)) in ROWS.iter().enumerate() {
        if let Some(why) = why {
            RowRecord {
                order,
                row: (*row).to_owned(),
                result: RowResult::Ignored,
                connect_ms: None,
                throughput_mbit_s: None,
                detail: (*why).to_owned(),
            }
            .write()
            .unwrap();
        }
    }
}

/// Certificates a row needs: the gateway's CA and certificate, a CA the gateway does not use,
/// and a client certificate.
struct Pki {
    ca: Ca,
    gateway: IssuedCert,
    other_ca: Option<Ca>,
    client: Option<IssuedCert>,
}

impl Pki {
    fn for_row(row: &Row) -> Pki {
        let ca = Ca::new("Tern Interop CA", KeyKind::EcdsaP256).unwrap();
        let gateway = ca
            .issue(
                templates::GATEWAY_ID,
                &[templates::GATEWAY_ID],
                row.cert_key,
            )
            .unwrap();
        let other_ca = row
            .untrusted_ca
            .then(|| Ca::new("Somebody Else's CA", KeyKind::EcdsaP256).unwrap());
        let client = matches!(row.auth, Auth::Certificates | Auth::EapTls).then(|| {
            ca.issue(
                "client.tern.test",
                &["client.tern.test"],
                KeyKind::EcdsaP256,
            )
            .unwrap()
        });
        Pki {
            ca,
            gateway,
            other_ca,
            client,
        }
    }
}

fn gateway_config(row: &Row, pki: &Pki) -> GatewayConfig {
    let eap =
        || templates::gateway_eap_mschapv2(&pki.ca, &pki.gateway, &[(EAP_USER, EAP_PASSWORD)]);
    let mut config = match row.auth {
        Auth::Psk => templates::gateway_psk(PSK),
        Auth::EapMschapv2 => eap(),
        Auth::Certificates => {
            let mut config = eap();
            config.swanctl_conf = config.swanctl_conf.replace(
                "auth = eap-mschapv2\n      eap_id = %any",
                "auth = pubkey\n      cacerts = ca.pem",
            );
            assert!(
                config.swanctl_conf.contains("cacerts"),
                "template changed shape"
            );
            config
        }
        Auth::EapTls => {
            let mut config = eap();
            config.swanctl_conf = config
                .swanctl_conf
                .replace("auth = eap-mschapv2", "auth = eap-tls");
            config
        }
    };
    config = templates::with_pushed_dns(config, PUSHED_DNS.into());
    if let Some((ike, esp)) = row.gateway_proposals {
        config = templates::with_proposals(config, ike, esp);
    }
    if let Some(ts) = row.gateway_ts {
        config = templates::with_local_ts(config, ts);
    }
    config.charon_settings.push_str(row.charon_settings);
    config
}

/// Writes the file the user imports; returns its path.
fn profile_file(row: &Row, pki: &Pki, lab: &Lab) -> PathBuf {
    let trusted = pki.other_ca.as_ref().unwrap_or(&pki.ca);
    let (file, text) = match row.auth {
        Auth::Psk => (
            "interop.mobileconfig",
            templates::psk_mobileconfig(
                PROFILE,
                PROFILE_UUID,
                PSK,
                gateway_address(row),
                row.nat_keepalive_secs,
            ),
        ),
        Auth::EapMschapv2 => {
            let mut sswan = templates::eap_sswan(PROFILE, PROFILE_UUID, trusted, EAP_USER);
            if let Some((ike, esp)) = row.profile_proposals {
                sswan = sswan.replace(
                    "\"type\": \"ikev2-eap\",",
                    &format!(
                        "\"type\": \"ikev2-eap\",\n  \"ike-proposal\": \"{ike}\",\n  \
                         \"esp-proposal\": \"{esp}\","
                    ),
                );
                assert!(sswan.contains(ike), "the .sswan template changed shape");
            }
            ("interop.sswan", sswan)
        }
        Auth::Certificates | Auth::EapTls => {
            let client = pki.client.as_ref().unwrap();
            let p12 = pkcs12(lab, client);
            let sswan_type = if row.auth == Auth::EapTls {
                "ikev2-eap-tls"
            } else {
                "ikev2-cert"
            };
            let sswan = templates::eap_sswan(PROFILE, PROFILE_UUID, trusted, EAP_USER)
                .replace("\"ikev2-eap\"", &format!("\"{sswan_type}\""))
                .replace(
                    &format!("\"eap_id\": \"{EAP_USER}\""),
                    &format!("\"id\": \"client.tern.test\", \"p12\": \"{p12}\""),
                );
            ("interop.sswan", sswan)
        }
    };
    let path = lab.dir().join(file);
    std::fs::write(&path, text).unwrap();
    path
}

/// The client certificate and key as a base64 PKCS#12 bundle with the password
/// [`EAP_PASSWORD`] (made with the `openssl` command).
fn pkcs12(lab: &Lab, client: &IssuedCert) -> String {
    let cert = lab.dir().join("client.pem");
    let key = lab.dir().join("client.key");
    std::fs::write(&cert, &client.cert_pem).unwrap();
    std::fs::write(&key, client.key_pem.as_bytes()).unwrap();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"openssl pkcs12 -export -in "$1" -inkey "$2" -passout "pass:$3" | base64 -w0"#)
        .arg("sh")
        .arg(&cert)
        .arg(&key)
        .arg(EAP_PASSWORD)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The address the profile names for the gateway.
fn gateway_address(row: &Row) -> IpAddr {
    if row.ipv6_transport {
        addr::GATEWAY_V6.into()
    } else {
        addr::GATEWAY_V4.into()
    }
}

/// Adds counters to the router: NAT keepalives (1-byte UDP payloads to port 4500), all of
/// NAT-T (UDP 4500) and bare ESP (which must not appear: behind NAT, ESP travels in UDP).
fn count_at_router(lab: &Lab) {
    let rules = "table inet tern_probe {\n\
                 \tchain forward {\n\
                 \t\ttype filter hook forward priority 0; policy accept;\n\
                 \t\tudp dport 4500 udp length 9 counter comment \"keepalive\"\n\
                 \t\tudp dport 4500 counter comment \"nat-t\"\n\
                 \t\tmeta l4proto esp counter comment \"esp\"\n\
                 \t}\n\
                 }\n";
    let path = lab.dir().join("router-probe.nft");
    std::fs::write(&path, rules).unwrap();
    lab.exec(Ns::Router, &["nft", "-f", path.to_str().unwrap()])
        .unwrap();
}

/// The packets counted by the router rule with `comment`.
fn counted_at_router(lab: &Lab, comment: &str) -> u64 {
    counter_at_router(lab, comment).0
}

/// The router's counter `comment`: (packets, bytes). With UDP GSO on the veth links one counted
/// packet may carry dozens of datagrams, so volume is judged by bytes.
fn counter_at_router(lab: &Lab, comment: &str) -> (u64, u64) {
    let listing = lab
        .exec(
            Ns::Router,
            &["nft", "list", "chain", "inet", "tern_probe", "forward"],
        )
        .unwrap();
    let number_after = |line: &str, key: &str| -> Option<u64> {
        line.split_once(key)
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
    };
    listing
        .lines()
        .find(|l| l.contains(&format!("comment \"{comment}\"")))
        .and_then(|l| Some((number_after(l, "packets ")?, number_after(l, "bytes ")?)))
        .unwrap_or_else(|| panic!("no counter {comment:?} in:\n{listing}"))
}

fn ip_route_get(lab: &Lab, target: IpAddr) -> String {
    let out = lab
        .exec_output(Ns::Client, &["ip", "route", "get", &target.to_string()])
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run(name: &str, row: Row) {
    let order = ROWS.iter().position(|(n, _)| *n == name).unwrap();
    let mut record = RowRecorder::start(order, name);
    let Some(bin) = Binaries::for_test(name) else {
        record.skip("the lab cannot run here (see SKIPPED above)");
        return;
    };
    let lab = Lab::new(LabConfig {
        nat: row.nat,
        outer_mtu: row.outer_mtu,
    })
    .unwrap();
    let pki = Pki::for_row(&row);
    for address in row.gateway_addresses {
        lab.exec(
            Ns::Gateway,
            &["ip", "address", "add", address, "dev", "lan0"],
        )
        .unwrap();
    }
    let gateway =
        (!row.gateway_down).then(|| Gateway::start(&lab, gateway_config(&row, &pki)).unwrap());
    let ternd = Ternd::start(&lab, &bin.ternd, &lab.dir().join("ternd")).unwrap();
    let cli = ternd.cli(&bin.tern, &lab.dir().join("config"));
    let before = NetworkSnapshot::take(&lab, &ternd.resolv_conf()).unwrap();
    if row.nat {
        count_at_router(&lab);
    }

    let file = profile_file(&row, &pki, &lab);
    // A bundle in the file is opened at import with its passphrase (there is no terminal here).
    let preview = if matches!(row.auth, Auth::Certificates | Auth::EapTls) {
        cli.ok(
            &[
                "import",
                file.to_str().unwrap(),
                "--yes",
                "--passphrase-stdin",
            ],
            Some(EAP_PASSWORD),
        )
    } else {
        cli.ok(&["import", file.to_str().unwrap(), "--yes"], None)
    }
    .unwrap();
    assert!(preview.contains(PROFILE), "{preview}");
    let list: serde_json::Value =
        serde_json::from_str(&cli.ok(&["list", "--json"], None).unwrap()).unwrap();
    assert_eq!(list[0]["name"], PROFILE, "{list}");

    let password = match row.auth {
        Auth::Psk => PSK,
        _ if row.wrong_password => "not-the-password",
        _ => EAP_PASSWORD,
    };
    let timeout = row.connect_timeout_secs.to_string();
    let started = Instant::now();
    let out = cli
        .run(
            &[
                "connect",
                PROFILE,
                "--password-stdin",
                "--wait",
                "--timeout",
                &timeout,
            ],
            Some(password),
        )
        .unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();

    match row.expect {
        Expect::Fails {
            exit,
            kinds,
            says,
            within,
        } => {
            assert_eq!(out.status.code(), Some(exit), "{out:?}");
            assert!(
                stderr.to_lowercase().contains(&says.to_lowercase()),
                "the error should say {says:?}: {stderr}"
            );
            assert!(
                took < within,
                "failed only after {took:?} (limit {within:?})"
            );
            let status = if let Some(preferred) = kinds.first() {
                let status = cli
                    .wait_for_state("failed", Duration::from_secs(5))
                    .unwrap();
                let kind = status["state"]["failure"]["kind"]
                    .as_str()
                    .unwrap_or_default();
                assert!(
                    kinds.contains(&kind),
                    "kind {kind}, expected {kinds:?}: {status}"
                );
                if kind != *preferred {
                    record.note(&format!("reported as {kind}, should be {preferred}"));
                }
                status
            } else {
                cli.wait_for_state("disconnected", Duration::from_secs(10))
                    .unwrap()
            };
            assert!(status["connection"].is_null(), "{status}");
            assert_restored(&lab, &ternd, &before);
            record.note(&format!(
                "failed as expected in {} ms: {}",
                took.as_millis(),
                stderr.trim()
            ));
        }
        Expect::Connects => {
            assert!(
                out.status.success(),
                "`tern connect` failed ({}): {stderr}",
                out.status
            );
            record.connect_ms(u64::try_from(took.as_millis()).unwrap_or(u64::MAX));
            let status = cli.status().unwrap();
            check_connected(&lab, &ternd, &row, &status);
            if let Some(ms) = status["connection"]["handshake_ms"].as_u64() {
                record.note(&format!("IKE handshake {ms} ms"));
            }
            assert!(
                traffic::ping(&lab, addr::LAN_HOST_V4.into(), 3).unwrap(),
                "no ping through the tunnel"
            );
            let transfer =
                traffic::iperf3_transfer(&lab, TRANSFER_BYTES, Duration::from_secs(60)).unwrap();
            assert!(transfer.bytes >= TRANSFER_BYTES, "{transfer:?}");
            record.throughput(transfer.mbit_per_s);
            if let Some(gateway) = &gateway {
                check_gateway(&lab, gateway, &row, &mut record);
            }
            if let Some(secs) = row.nat_keepalive_secs {
                let deadline = Instant::now() + Duration::from_secs(u64::from(secs) + 5);
                while counted_at_router(&lab, "keepalive") == 0 {
                    assert!(
                        Instant::now() < deadline,
                        "no NAT keepalive crossed the router within {secs} s"
                    );
                    std::thread::sleep(Duration::from_millis(200));
                }
                record.note(&format!(
                    "{} NAT keepalive(s) seen",
                    counted_at_router(&lab, "keepalive")
                ));
            }
            if row.nat {
                let (packets, bytes) = counter_at_router(&lab, "nat-t");
                assert!(
                    // Offloaded packets are counted with one set of headers each (measured
                    // 97% of the transfer): half of it proves the data went through UDP 4500.
                    bytes >= TRANSFER_BYTES / 2,
                    "the transfer did not cross the router in UDP 4500: {packets} packets, \
                     {bytes} bytes"
                );
                assert_eq!(counted_at_router(&lab, "esp"), 0, "no bare ESP behind NAT");
            }

            cli.ok(&["disconnect"], None).unwrap();
            cli.wait_for_state("disconnected", Duration::from_secs(10))
                .unwrap();
            assert_restored(&lab, &ternd, &before);
            if let Some(gateway) = &gateway {
                gateway
                    .wait_until(
                        Duration::from_secs(10),
                        "the SA to be deleted",
                        <[_]>::is_empty,
                    )
                    .unwrap();
            }
        }
    }
    record.pass();
}

/// The status, addresses, routes and DNS of a connected row.
fn check_connected(lab: &Lab, ternd: &Ternd, row: &Row, status: &serde_json::Value) {
    assert_eq!(status["state"]["state"], "connected", "{status}");
    assert_eq!(status["profile"]["name"], PROFILE, "{status}");
    let connection = &status["connection"];
    let vips = connection["virtual_ips"].as_array().unwrap();
    assert_eq!(vips.len(), 1, "{status}");
    let vip = vips[0].as_str().unwrap();
    assert!(vip.starts_with("10.99.100."), "{vip}");
    let mut routes: Vec<&str> = connection["routes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(serde_json::Value::as_str)
        .collect();
    routes.sort_unstable();
    let mut expected: Vec<&str> = row.routes.iter().map(|(prefix, _)| *prefix).collect();
    expected.sort_unstable();
    assert_eq!(routes, expected, "routes: {status}");
    assert_eq!(
        connection["dns_servers"],
        serde_json::json!([PUSHED_DNS.to_string()]),
        "{status}"
    );

    let address = lab
        .exec(Ns::Client, &["ip", "-brief", "address", "show", "tern0"])
        .unwrap();
    assert!(address.contains(&format!("{vip}/32")), "{address}");
    for (prefix, probe) in &row.routes {
        let route = ip_route_get(lab, (*probe).into());
        assert!(
            route.contains("dev tern0"),
            "{probe} ({prefix}) must use the tunnel: {route}"
        );
    }
    // The gateway itself is always reached outside the tunnel.
    let to_gateway = ip_route_get(lab, gateway_address(row));
    assert!(!to_gateway.contains("dev tern0"), "{to_gateway}");
    if !row.routes.iter().any(|(prefix, _)| *prefix == "0.0.0.0/0") {
        let outside = ip_route_get(lab, OUTSIDE_EVERY_TS.into());
        assert!(
            !outside.contains("dev tern0"),
            "split tunnel, yet: {outside}"
        );
    }
    let resolv = std::fs::read_to_string(ternd.resolv_conf()).unwrap();
    assert!(
        resolv.contains(&format!("nameserver {PUSHED_DNS}")),
        "{resolv}"
    );
    if row.nat {
        assert_eq!(connection["local_behind_nat"], true, "{status}");
    }
}

/// What the gateway saw: where the client came from, the algorithms, ESN.
fn check_gateway(lab: &Lab, gateway: &Gateway<'_>, row: &Row, record: &mut RowRecorder) {
    let ike_sas = gateway.list_ike_sas().unwrap();
    assert_eq!(ike_sas.len(), 1, "{ike_sas:?}");
    let ike = &ike_sas[0];
    assert_eq!(ike.state, "ESTABLISHED", "{ike:?}");
    let client_seen: IpAddr = if row.ipv6_transport {
        addr::CLIENT_DIRECT_V6.into()
    } else {
        addr::CLIENT_SEEN_BY_GATEWAY_V4.into()
    };
    assert_eq!(ike.remote_host, client_seen.to_string(), "{ike:?}");
    if row.nat {
        // The gateway sees the router's address, not the client's own one.
        assert_ne!(ike.remote_host, lab.client_v4().to_string());
    }
    let child = ike.children.first().unwrap();
    assert!(child.encap, "ESP must be UDP-encapsulated: {child:?}");
    if let Some(suite) = row.suite {
        assert_eq!(ike.dh_group, suite.ike_dh, "{ike:?}");
        assert_eq!(child.encr_alg, suite.child_encr, "{child:?}");
        assert_eq!(child.encr_keysize, suite.child_keysize, "{child:?}");
        assert_eq!(child.integ_alg.as_deref(), suite.child_integ, "{child:?}");
        record.note(&format!(
            "IKE {}/{}, ESP {}{}",
            ike.encr_alg,
            ike.dh_group,
            child.encr_alg,
            suite
                .child_keysize
                .map_or_else(String::new, |bits| format!("-{bits}"))
        ));
    }
    if row.gateway_fragments || row.esn_fallback {
        let log = gateway.log();
        if row.gateway_fragments {
            let split = log_line(&log, "splitting IKE message");
            record.note(
                split
                    .split_once("splitting ")
                    .map_or(split, |(_, rest)| rest),
            );
        }
        if row.esn_fallback {
            let received = log_line(&log, "received proposals: ESP:");
            assert!(
                received.contains("/EXT_SEQ"),
                "Tern must offer ESN: {received}"
            );
            let selected = log_line(&log, "selected proposal: ESP:");
            assert!(
                selected.contains("NO_EXT_SEQ") && !selected.contains("/EXT_SEQ"),
                "kernel-libipsec picks 32-bit sequence numbers: {selected}"
            );
            record.note("ESN offered, 32-bit taken");
        }
    }
}

/// The first line of the gateway's log that contains `needle`.
fn log_line<'a>(log: &'a str, needle: &str) -> &'a str {
    log.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no {needle:?} in the gateway log:\n{log}"))
}

/// No tunnel device, no ping to the LAN, and the client's network exactly as before.
fn assert_restored(lab: &Lab, ternd: &Ternd, before: &NetworkSnapshot) {
    assert_eq!(
        &NetworkSnapshot::take(lab, &ternd.resolv_conf()).unwrap(),
        before
    );
    assert!(
        !traffic::ping(lab, IpAddr::V4(addr::LAN_HOST_V4), 1).unwrap(),
        "the LAN host must be unreachable without the tunnel"
    );
}

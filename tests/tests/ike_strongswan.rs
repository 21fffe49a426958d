//! Tern's sans-IO IKEv2 initiator against a real strongSwan gateway (issue 4's acceptance test).
//!
//! Each case starts a gateway restricted to exactly one proposal set, drives `ike::Initiator`
//! over real UDP sockets (ports 500 and 4500) from the lab's client namespace until the CHILD_SA
//! is established, checks that strongSwan lists it as INSTALLED with the expected algorithms,
//! and then proves the derived keys are right by sending an ICMP echo request through the
//! tunnel with `esp::OutboundSa` and decrypting the LAN host's reply with `esp::InboundSa`.
#![cfg(target_os = "linux")]

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use ike::crypto::SystemRandom;
use ike::{
    AuthConfig, ChildSaEstablished, EspProposal, Event, Identity, IkeProposal, Initiator,
    InitiatorConfig,
};
use ipsec_types::{DhGroup, EncrAlgorithm, IntegAlgorithm, PrfAlgorithm};
use tern_e2e::esp_probe::ping_through_tunnel;
use tern_e2e::{Gateway, Lab, LabConfig, Ns, addr, templates};
use zeroize::Zeroizing;

const PSK: &str = "a-long-test-secret-for-interop";

/// One proposal set, written both ways: for strongSwan and for Tern.
struct Case {
    name: &'static str,
    gateway_ike: &'static str,
    gateway_esp: &'static str,
    ike: IkeProposal,
    esp: EspProposal,
    /// What `swanctl --list-sas` must show for the CHILD_SA's cipher.
    expect_child_encr: &'static str,
    /// What it must show for the IKE SA's key exchange.
    expect_ike_dh: &'static str,
    nat: bool,
}

fn gcm_x25519() -> Case {
    Case {
        name: "aes256gcm16-prfsha256-x25519",
        gateway_ike: "aes256gcm16-prfsha256-x25519",
        gateway_esp: "aes256gcm16",
        ike: IkeProposal {
            encr: vec![EncrAlgorithm::AesGcm16_256],
            integ: vec![],
            prf: vec![PrfAlgorithm::HmacSha2_256],
            dh: vec![DhGroup::Curve25519],
        },
        esp: EspProposal {
            encr: vec![EncrAlgorithm::AesGcm16_256],
            integ: vec![],
            esn: false,
        },
        expect_child_encr: "AES_GCM_16",
        expect_ike_dh: "CURVE_25519",
        nat: false,
    }
}

fn cbc_modp2048() -> Case {
    Case {
        name: "aes256-sha256-modp2048",
        gateway_ike: "aes256-sha256-modp2048",
        gateway_esp: "aes256-sha256",
        ike: IkeProposal {
            encr: vec![EncrAlgorithm::AesCbc256],
            integ: vec![IntegAlgorithm::HmacSha2_256_128],
            prf: vec![PrfAlgorithm::HmacSha2_256],
            dh: vec![DhGroup::Modp2048],
        },
        esp: EspProposal {
            encr: vec![EncrAlgorithm::AesCbc256],
            integ: vec![IntegAlgorithm::HmacSha2_256_128],
            esn: false,
        },
        expect_child_encr: "AES_CBC",
        expect_ike_dh: "MODP_2048",
        nat: false,
    }
}

fn chacha_ecp256() -> Case {
    Case {
        name: "chacha20poly1305-prfsha256-ecp256",
        gateway_ike: "chacha20poly1305-prfsha256-ecp256",
        gateway_esp: "chacha20poly1305",
        ike: IkeProposal {
            encr: vec![EncrAlgorithm::ChaCha20Poly1305],
            integ: vec![],
            prf: vec![PrfAlgorithm::HmacSha2_256],
            dh: vec![DhGroup::Ecp256],
        },
        esp: EspProposal {
            encr: vec![EncrAlgorithm::ChaCha20Poly1305],
            integ: vec![],
            esn: false,
        },
        expect_child_encr: "CHACHA20_POLY1305",
        expect_ike_dh: "ECP_256",
        nat: false,
    }
}

fn cbc128_sha256_modp2048() -> Case {
    Case {
        name: "aes128-sha256-modp2048",
        gateway_ike: "aes128-sha256-modp2048",
        gateway_esp: "aes128-sha256",
        ike: IkeProposal {
            encr: vec![EncrAlgorithm::AesCbc128],
            integ: vec![IntegAlgorithm::HmacSha2_256_128],
            prf: vec![PrfAlgorithm::HmacSha2_256],
            dh: vec![DhGroup::Modp2048],
        },
        esp: EspProposal {
            encr: vec![EncrAlgorithm::AesCbc128],
            integ: vec![IntegAlgorithm::HmacSha2_256_128],
            esn: false,
        },
        expect_child_encr: "AES_CBC",
        expect_ike_dh: "MODP_2048",
        nat: false,
    }
}

fn cbc256_sha384_ecp384() -> Case {
    Case {
        name: "aes256-sha384-ecp384",
        gateway_ike: "aes256-sha384-ecp384",
        gateway_esp: "aes256-sha384",
        ike: IkeProposal {
            encr: vec![EncrAlgorithm::AesCbc256],
            integ: vec![IntegAlgorithm::HmacSha2_384_192],
            prf: vec![PrfAlgorithm::HmacSha2_384],
            dh: vec![DhGroup::Ecp384],
        },
        esp: EspProposal {
            encr: vec![EncrAlgorithm::AesCbc256],
            integ: vec![IntegAlgorithm::HmacSha2_384_192],
            esn: false,
        },
        expect_child_encr: "AES_CBC",
        expect_ike_dh: "ECP_384",
        nat: false,
    }
}

fn run(case: &Case, use_tern_defaults: bool) {
    if !tern_e2e::should_run(case.name) {
        return;
    }
    let lab = Lab::new(LabConfig {
        nat: case.nat,
        ..LabConfig::default()
    })
    .expect("lab");
    let mut conf = templates::gateway_psk(PSK);
    conf.swanctl_conf = conf
        .swanctl_conf
        .replace("aes256-sha256-x25519, default", case.gateway_ike)
        .replace("aes256gcm16, aes128gcm16, default", case.gateway_esp);
    assert!(
        conf.swanctl_conf.contains(case.gateway_ike),
        "template changed shape"
    );
    let gateway = Gateway::start(&lab, conf).expect("gateway");

    let remote = SocketAddr::new(IpAddr::V4(addr::GATEWAY_V4), 500);
    let (ike, esp) = if use_tern_defaults {
        (IkeProposal::defaults(), EspProposal::defaults())
    } else {
        (vec![case.ike.clone()], vec![case.esp.clone()])
    };
    let outcome = lab
        .run_in(Ns::Client, move || connect_and_ping(remote, ike, esp))
        .expect("run in client namespace");
    let (child, ping) = match outcome {
        Ok(done) => done,
        Err(log) => panic!("Tern did not establish the CHILD_SA:\n{log}"),
    };

    let sa = gateway
        .wait_for_child_sa(Duration::from_secs(5))
        .expect("gateway CHILD_SA");
    assert_eq!(sa.state, "INSTALLED");
    assert_eq!(sa.encr_alg, case.expect_child_encr, "{sa:?}");
    assert_eq!(
        sa.spi_in,
        child.keys.outbound.spi.get(),
        "gateway inbound SPI is our outbound"
    );
    assert_eq!(
        sa.spi_out,
        child.keys.inbound.spi.get(),
        "gateway outbound SPI is our inbound"
    );
    let ike_sas = gateway.list_ike_sas().expect("list IKE SAs");
    assert_eq!(ike_sas.len(), 1, "{ike_sas:?}");
    assert_eq!(ike_sas[0].dh_group, case.expect_ike_dh, "{:?}", ike_sas[0]);
    assert!(ping, "no ICMP echo reply came back through the tunnel");
}

/// Runs the initiator over real sockets until the CHILD_SA is up, then pings the LAN host
/// through ESP. Returns the CHILD_SA and whether the echo reply arrived, or a log on failure.
fn connect_and_ping(
    remote: SocketAddr,
    ike_proposals: Vec<IkeProposal>,
    esp_proposals: Vec<EspProposal>,
) -> Result<(ChildSaEstablished, bool), String> {
    let ike_socket = UdpSocket::bind("0.0.0.0:500").map_err(|e| e.to_string())?;
    ike_socket.connect(remote).map_err(|e| e.to_string())?;
    let nat_t_socket = UdpSocket::bind("0.0.0.0:4500").map_err(|e| e.to_string())?;
    nat_t_socket
        .connect(SocketAddr::new(remote.ip(), 4500))
        .map_err(|e| e.to_string())?;
    for s in [&ike_socket, &nat_t_socket] {
        s.set_read_timeout(Some(Duration::from_millis(10)))
            .map_err(|e| e.to_string())?;
    }
    let mut config = InitiatorConfig::new(
        remote,
        Identity::Email("alice@tern.test".into()),
        AuthConfig::Psk(Zeroizing::new(PSK.as_bytes().to_vec())),
    );
    config.remote_id = Some(Identity::Fqdn(templates::GATEWAY_ID.into()));
    config.ike_proposals = ike_proposals;
    config.esp_proposals = esp_proposals;
    config.local_addr = ike_socket.local_addr().ok();
    let mut initiator = Initiator::new(config, Instant::now(), Box::new(SystemRandom))
        .map_err(|e| e.to_string())?;

    let mut log = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = vec![0u8; 65536];
    let child = loop {
        if Instant::now() > deadline {
            return Err(format!("{log}\ntimed out"));
        }
        while let Some(t) = initiator.poll_transmit() {
            let socket = if t.nat_t { &nat_t_socket } else { &ike_socket };
            socket.send(&t.payload).map_err(|e| e.to_string())?;
            log += &format!("sent {} bytes (nat_t={})\n", t.payload.len(), t.nat_t);
        }
        let mut established = None;
        while let Some(event) = initiator.poll_event() {
            log += &format!("event {event:?}\n");
            match event {
                Event::ChildSaEstablished(child) => established = Some(child),
                Event::Closed { reason } => return Err(format!("{log}\nclosed: {reason:?}")),
                _ => {}
            }
        }
        if let Some(child) = established {
            break child;
        }
        for socket in [&ike_socket, &nat_t_socket] {
            if let Ok(n) = socket.recv(&mut buf) {
                let local = socket.local_addr().map_err(|e| e.to_string())?;
                initiator.handle_datagram(
                    Instant::now(),
                    remote_of(socket, remote),
                    local,
                    &buf[..n],
                );
            }
        }
        if initiator
            .poll_timeout()
            .is_some_and(|t| Instant::now() >= t)
        {
            initiator.handle_timeout(Instant::now());
        }
    };

    let virtual_ip = *child
        .config
        .ipv4_addresses
        .first()
        .ok_or_else(|| format!("{log}\nno virtual IPv4 address assigned"))?;
    assert!(
        child.nat.udp_encapsulation,
        "ESP must always be UDP-encapsulated"
    );
    let ping = ping_through_tunnel(&child, &nat_t_socket, virtual_ip, &mut initiator)?;
    Ok((*child, ping))
}

fn remote_of(socket: &UdpSocket, fallback: SocketAddr) -> SocketAddr {
    socket.peer_addr().unwrap_or(fallback)
}

#[test]
fn psk_aes_gcm_x25519() {
    run(&gcm_x25519(), false);
}

#[test]
fn psk_aes_cbc_hmac_sha256_modp2048() {
    run(&cbc_modp2048(), false);
}

/// Tern's default proposals lead with x25519, so a MODP-only gateway makes Tern retry with
/// the group it asks for (INVALID_KE_PAYLOAD).
#[test]
fn psk_defaults_against_a_modp_only_gateway() {
    let case = Case {
        name: "defaults-vs-modp2048",
        ..cbc_modp2048()
    };
    run(&case, true);
}

#[test]
fn psk_behind_nat() {
    let case = Case {
        name: "aes256gcm16-behind-nat",
        nat: true,
        ..gcm_x25519()
    };
    run(&case, false);
}

#[test]
fn psk_chacha20poly1305_ecp256() {
    run(&chacha_ecp256(), false);
}

#[test]
fn psk_aes128_cbc_hmac_sha256_modp2048() {
    run(&cbc128_sha256_modp2048(), false);
}

#[test]
fn psk_aes256_cbc_hmac_sha384_ecp384() {
    run(&cbc256_sha384_ecp384(), false);
}

/// A gateway that accepts nothing Tern offers: the initiator must fail with "no common
/// proposal", promptly, and never reach IKE_AUTH.
#[test]
fn no_common_proposal_fails_with_the_right_error() {
    if !tern_e2e::should_run("no_common_proposal_fails_with_the_right_error") {
        return;
    }
    let lab = Lab::new(LabConfig::default()).expect("lab");
    let mut conf = templates::gateway_psk(PSK);
    conf.swanctl_conf = conf
        .swanctl_conf
        .replace("aes256-sha256-x25519, default", "aes256-sha256-modp3072");
    let _gateway = Gateway::start(&lab, conf).expect("gateway");
    let remote = SocketAddr::new(IpAddr::V4(addr::GATEWAY_V4), 500);
    // Tern offers only x25519 here; the gateway wants MODP-3072 and cannot agree.
    let ike = vec![IkeProposal {
        encr: vec![EncrAlgorithm::AesGcm16_256],
        integ: vec![],
        prf: vec![PrfAlgorithm::HmacSha2_256],
        dh: vec![DhGroup::Curve25519],
    }];
    let started = Instant::now();
    let outcome = lab
        .run_in(Ns::Client, move || {
            connect_and_ping(remote, ike, EspProposal::defaults())
        })
        .expect("run in client namespace");
    let Err(log) = outcome else {
        panic!("connected although no proposal is common")
    };
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        log.contains("closed: Failed(PeerIncompatible(NoIkeProposalChosen))"),
        "unexpected failure:\n{log}"
    );
}

//! Tern's sans-IO IKE initiator (`ike::Initiator`) driven over real UDP sockets (ports 500 and
//! 4500) until its CHILD_SA is up, then proven with an ICMP echo through ESP
//! ([`crate::esp_probe`]). Call [`connect_and_ping`] inside the client namespace:
//!
//! ```no_run
//! use std::net::SocketAddr;
//! use ike::{AuthConfig, Identity, InitiatorConfig};
//! use tern_e2e::{Lab, LabConfig, Ns, addr, ike_client};
//!
//! let lab = Lab::new(LabConfig::default()).unwrap();
//! // … start a gateway …
//! let remote = SocketAddr::new(addr::GATEWAY_V4.into(), 500);
//! let psk = AuthConfig::Psk(b"a-long-test-secret".to_vec().into());
//! let config = InitiatorConfig::new(remote, Identity::Email("alice@tern.test".into()), psk);
//! let outcome = lab.run_in(Ns::Client, move || ike_client::connect_and_ping(config)).unwrap();
//! assert!(outcome.result.is_ok(), "{}", outcome.log);
//! ```

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ike::cert::{GatewayIdentity, TrustStore};
use ike::{
    AuthConfig, ChildSaEstablished, CloseReason, Error, Event, Identity, Initiator,
    InitiatorConfig, ServerAuth,
};

use crate::esp_probe::ping_through_tunnel;
use crate::pki::Ca;
use crate::{CharonConfig, Gateway, Lab, Ns, addr, templates};

/// IKE_AUTH's exchange type (RFC 7296 §3.1).
const IKE_AUTH: u8 = 35;
/// The SKF payload type (RFC 7383 §2.5).
const SKF: u8 = 53;
/// How long a connection attempt may take before the test gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// What one connection attempt came to.
#[derive(Debug)]
pub struct IkeOutcome {
    /// The CHILD_SA and whether an ICMP echo reply came back through it, or the error.
    pub result: Result<(Box<ChildSaEstablished>, bool), Error>,
    /// Highest message ID of any IKE_AUTH request we sent (1 = only the first; credentials
    /// such as EAP answers go out from 2 on).
    pub last_ike_auth_message_id: Option<u32>,
    /// IKE datagrams we sent that carried an SKF payload (RFC 7383 fragments), counting
    /// retransmissions.
    pub skf_datagrams_sent: usize,
    /// The largest IKE datagram (UDP payload) we sent.
    pub largest_datagram: usize,
    /// The initiator's own count of fragments sent and received ([`Initiator::fragment_counts`]).
    pub fragment_counts: (u64, u64),
    /// Datagrams and events, for failure messages.
    pub log: String,
}

/// Starts a gateway with `gateway_config` and connects to its IPv4 address on port 500 from
/// the client namespace as `local_id` with `auth` (after `adjust` changed the configuration).
/// When that succeeds, checks that the gateway lists the CHILD_SA as INSTALLED and that the
/// ping came back. Returns the outcome and the gateway's log.
///
/// # Panics
/// When the gateway cannot start, the client namespace cannot be entered, or a successful
/// connection is not confirmed by the gateway and the ping.
pub fn run_against_gateway(
    lab: &Lab,
    gateway_config: CharonConfig,
    (local_id, auth): (Identity, AuthConfig),
    adjust: impl FnOnce(&mut InitiatorConfig),
) -> (IkeOutcome, String) {
    let gateway = Gateway::start(lab, gateway_config).expect("gateway");
    let remote = SocketAddr::new(IpAddr::V4(addr::GATEWAY_V4), 500);
    let mut config = InitiatorConfig::new(remote, local_id, auth);
    adjust(&mut config);
    let outcome = lab
        .run_in(Ns::Client, move || connect_and_ping(config))
        .expect("run in client namespace");
    if let Ok((_, ping)) = &outcome.result {
        let sa = gateway
            .wait_for_child_sa(Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{}\ngateway CHILD_SA: {e}", outcome.log));
        assert_eq!(sa.state, "INSTALLED");
        assert!(ping, "no ICMP echo reply came back through the tunnel");
    }
    (outcome, gateway.log())
}

/// How the profile checks the gateway: `profile_ca` as the only trust anchor, `expected` as
/// its name, CERTREQ sent.
///
/// # Panics
/// When the CA certificate cannot be read.
#[must_use]
pub fn server_auth(profile_ca: &Ca, expected: GatewayIdentity) -> ServerAuth {
    ServerAuth {
        trust: Arc::new(
            TrustStore::from_ca_certificates(&[profile_ca.cert_pem.as_bytes()])
                .expect("trust store"),
        ),
        expected_identity: expected,
        request_certificates: true,
        wall_clock: SystemTime::now(),
    }
}

/// The gateway's name as the lab's certificates carry it ([`templates::GATEWAY_ID`]).
#[must_use]
pub fn gateway_name() -> GatewayIdentity {
    GatewayIdentity::Fqdn(templates::GATEWAY_ID.into())
}

/// Connects with `config` from the current network namespace (sockets on ports 500 and 4500;
/// `config.local_addr` is filled in), and once the CHILD_SA is up pings the LAN host through
/// it from the first virtual IPv4 address.
///
/// # Panics
/// When sockets cannot be opened, the attempt takes longer than 30 s, the SA closes without an
/// error, or the ping cannot be attempted.
#[must_use]
pub fn connect_and_ping(config: InitiatorConfig) -> IkeOutcome {
    let mut outcome = IkeOutcome {
        result: Err(Error::Internal("not run")),
        last_ike_auth_message_id: None,
        skf_datagrams_sent: 0,
        largest_datagram: 0,
        fragment_counts: (0, 0),
        log: String::new(),
    };
    outcome.result = drive(config, &mut outcome);
    outcome
}

fn drive(
    mut config: InitiatorConfig,
    outcome: &mut IkeOutcome,
) -> Result<(Box<ChildSaEstablished>, bool), Error> {
    let remote = config.remote;
    let ike_socket = UdpSocket::bind("0.0.0.0:500").expect("socket");
    ike_socket.connect(remote).expect("socket");
    let nat_t_socket = UdpSocket::bind("0.0.0.0:4500").expect("socket");
    nat_t_socket
        .connect(SocketAddr::new(remote.ip(), 4500))
        .expect("socket");
    for s in [&ike_socket, &nat_t_socket] {
        s.set_read_timeout(Some(Duration::from_millis(10)))
            .expect("socket");
    }
    config.local_addr = ike_socket.local_addr().ok();
    let mut initiator =
        Initiator::new(config, Instant::now(), Box::new(ike::crypto::SystemRandom))?;

    let deadline = Instant::now() + CONNECT_TIMEOUT;
    let mut buf = vec![0u8; 65536];
    let child = loop {
        assert!(Instant::now() < deadline, "{}\ntimed out", outcome.log);
        while let Some(t) = initiator.poll_transmit() {
            let socket = if t.nat_t { &nat_t_socket } else { &ike_socket };
            socket.send(&t.payload).expect("socket");
            note_sent(outcome, &t.payload, t.nat_t);
        }
        let mut established = None;
        while let Some(event) = initiator.poll_event() {
            outcome.log += &format!("event {event:?}\n");
            match event {
                Event::ChildSaEstablished(child) => established = Some(child),
                Event::Closed {
                    reason: CloseReason::Failed(e),
                } => {
                    outcome.fragment_counts = initiator.fragment_counts();
                    return Err(e);
                }
                Event::Closed { reason } => panic!("{}\nclosed: {reason:?}", outcome.log),
                _ => {}
            }
        }
        if let Some(child) = established {
            break child;
        }
        for socket in [&ike_socket, &nat_t_socket] {
            if let Ok(n) = socket.recv(&mut buf) {
                let local = socket.local_addr().expect("socket");
                let from = socket.peer_addr().unwrap_or(remote);
                outcome.log += &format!("received {n} bytes\n");
                initiator.handle_datagram(Instant::now(), from, local, &buf[..n]);
            }
        }
        if initiator
            .poll_timeout()
            .is_some_and(|t| Instant::now() >= t)
        {
            initiator.handle_timeout(Instant::now());
        }
    };
    outcome.fragment_counts = initiator.fragment_counts();
    let virtual_ip = *child
        .config
        .ipv4_addresses
        .first()
        .expect("no virtual IPv4 address assigned");
    let ping = ping_through_tunnel(&child, &nat_t_socket, virtual_ip, &mut initiator)
        .unwrap_or_else(|e| panic!("{}\nping: {e}", outcome.log));
    Ok((child, ping))
}

/// Records one IKE datagram we sent: its size, whether it is an SKF fragment, and the message
/// ID of IKE_AUTH requests.
fn note_sent(outcome: &mut IkeOutcome, payload: &[u8], nat_t: bool) {
    let message = payload.strip_prefix(&[0u8; 4]).unwrap_or(payload);
    outcome.largest_datagram = outcome.largest_datagram.max(payload.len());
    if message.len() >= 28 {
        if message[16] == SKF {
            outcome.skf_datagrams_sent += 1;
        }
        if message[18] == IKE_AUTH {
            let id = u32::from_be_bytes([message[20], message[21], message[22], message[23]]);
            outcome.last_ike_auth_message_id =
                Some(outcome.last_ike_auth_message_id.map_or(id, |m| m.max(id)));
        }
    }
    outcome.log += &format!("sent {} bytes (nat_t={nat_t})\n", payload.len());
}

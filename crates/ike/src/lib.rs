//! Sans-IO IKEv2 (RFC 7296) initiator: wire codec, crypto suites and the state machine.
//!
//! Room and rules:
//! - Bytes and time in; bytes, timers and events out. No sockets, no clock, no threads, no
//!   randomness of its own: the caller passes `now` and a random source.
//! - Depends on `ipsec-types`, crypto crates and certificate/TLS parsers (`rustls-webpki`,
//!   `x509-parser`, `rustls` driven without sockets for EAP-TLS); never on `esp`, tokio or OS
//!   APIs.
//! - Untrusted bytes never panic and never cause unbounded allocation.
//!
//! Layout: [`wire`] is the codec, [`crypto`] the primitives and key schedule, [`Initiator`] the
//! state machine (with [`config`] for its inputs and [`Error`] for its failures).
//!
//! Driving an [`Initiator`] from two connected UDP sockets (a real client would use async I/O and
//! sleep until [`Initiator::poll_timeout`] instead of polling):
//!
//! ```no_run
//! use std::net::{SocketAddr, UdpSocket};
//! use std::time::{Duration, Instant};
//!
//! use ike::{AuthConfig, Event, Identity, Initiator, InitiatorConfig, crypto::SystemRandom};
//!
//! let gateway: SocketAddr = "198.51.100.1:500".parse().unwrap();
//! let ike = UdpSocket::bind("0.0.0.0:500").unwrap();
//! ike.connect(gateway).unwrap();
//! let nat_t = UdpSocket::bind("0.0.0.0:4500").unwrap(); // also carries ESP-in-UDP
//! nat_t.connect((gateway.ip(), 4500)).unwrap();
//! for s in [&ike, &nat_t] {
//!     s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
//! }
//! let psk = AuthConfig::Psk(b"a-long-secret".to_vec().into());
//! let config = InitiatorConfig::new(gateway, Identity::Email("alice@example.com".into()), psk);
//! let mut initiator = Initiator::new(config, Instant::now(), Box::new(SystemRandom)).unwrap();
//! let mut buf = vec![0u8; 65536];
//! loop {
//!     while let Some(t) = initiator.poll_transmit() {
//!         let socket = if t.nat_t { &nat_t } else { &ike };
//!         socket.send(&t.payload).unwrap();
//!     }
//!     while let Some(event) = initiator.poll_event() {
//!         match event {
//!             Event::ChildSaEstablished(child) => { /* install child.keys in ESP */ }
//!             Event::ChildSaRekeyed { replaces, child } => { /* add its inbound SA */ }
//!             Event::ChildSaActive { inbound_spi } => { /* send with that CHILD_SA now */ }
//!             Event::ChildSaDeleted { inbound_spi } => { /* remove that ESP SA */ }
//!             Event::Closed { reason } => return println!("closed: {reason:?}"),
//!             Event::Stage(_) | Event::IkeSaRekeyed { .. } | Event::PathUpdated { .. } => {}
//!         }
//!     }
//!     for socket in [&ike, &nat_t] {
//!         if let Ok(n) = socket.recv(&mut buf) {
//!             // `local_addr()` of a connected socket is the real local address (NAT detection).
//!             let (local, remote) = (socket.local_addr().unwrap(), socket.peer_addr().unwrap());
//!             initiator.handle_datagram(Instant::now(), remote, local, &buf[..n]);
//!         }
//!     }
//!     if initiator.poll_timeout().is_some_and(|t| t <= Instant::now()) {
//!         initiator.handle_timeout(Instant::now());
//!     }
//! }
//! ```

mod auth;
pub mod cert;
pub mod config;
pub mod crypto;
pub mod eap;
mod error;
mod exchange;
pub mod fragment;
mod initiator;
mod nat;
mod proposal;
mod reassembly;
pub mod wire;

pub use config::{
    AuthConfig, ConfigRequest, DEFAULT_FRAGMENT_SIZE, EspProposal, IkeProposal, InitiatorConfig,
    LifecycleConfig, RetransmitConfig, ServerAuth,
};
pub use error::{AuthFailure, Error, PeerIncompatible, PeerMisbehaved};
pub use exchange::{NON_ESP_MARKER, Transmit};
pub use initiator::{ChildSaEstablished, CloseReason, Event, Initiator, NegotiatedConfig, Stage};
pub use nat::NatState;
pub use wire::Identity;

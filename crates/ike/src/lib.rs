//! Sans-IO IKEv2 (RFC 7296) initiator: wire codec, crypto suites and the state machine.
//!
//! Room and rules:
//! - Bytes and time in; bytes, timers and events out. No sockets, no clock, no threads, no
//!   randomness of its own: the caller passes `now` and a random source.
//! - Depends on `ipsec-types` and crypto crates only; never on `esp`, tokio or OS APIs.
//! - Untrusted bytes never panic and never cause unbounded allocation.
//!
//! Layout: [`wire`] is the codec, [`crypto`] the primitives and key schedule, [`Initiator`] the
//! state machine (with [`config`] for its inputs and [`Error`] for its failures).

mod auth;
pub mod config;
pub mod crypto;
mod error;
mod exchange;
mod fragment;
mod initiator;
mod nat;
mod proposal;
pub mod wire;

pub use config::{
    AuthConfig, ConfigRequest, EspProposal, IkeProposal, InitiatorConfig, RetransmitConfig,
};
pub use error::{AuthFailure, Error, PeerIncompatible, PeerMisbehaved};
pub use exchange::{NON_ESP_MARKER, Transmit};
pub use initiator::{ChildSaEstablished, CloseReason, Event, Initiator, NegotiatedConfig, Stage};
pub use nat::{NAT_DETECTION_HASH_LEN, NatState, nat_detection_hash};
pub use wire::Identity;

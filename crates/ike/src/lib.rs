//! Sans-IO IKEv2 (RFC 7296) initiator: wire codec, crypto suites and the state machine.
//!
//! Room and rules:
//! - Bytes and time in; bytes, timers and events out. No sockets, no clock, no threads, no
//!   randomness of its own: the caller passes `now` and a random source.
//! - Depends on `ipsec-types` and crypto crates only; never on `esp`, tokio or OS APIs.
//! - Untrusted bytes never panic and never cause unbounded allocation.

pub mod cert;
pub mod crypto;
pub mod eap;
pub mod fragment;

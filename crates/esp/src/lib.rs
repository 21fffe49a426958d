//! Sans-IO ESP (RFC 4303) in tunnel mode, with UDP encapsulation (RFC 3948).
//!
//! Room and rules:
//! - Turns inner IP packets into ESP packets and back, in caller-owned buffers, without
//!   allocating per packet. No sockets, no clock, no threads: `ternd` calls it.
//! - Depends on `ipsec-types` and crypto crates only; never on `ike`, tokio or OS APIs.
//! - Untrusted bytes never panic: every failure is a typed error.

//! The local protocol between `ternd` and its unprivileged clients (the `tern` CLI and the GUI),
//! and the client library both use.
//!
//! Room and rules:
//! - Versioned, typed requests, responses and events (serde), framed with a bounded size.
//! - Depends on `profile` and `ipsec-types` for shared values; never on the protocol cores.

//! End-to-end tests: Tern against a real strongSwan gateway, in network namespaces this crate
//! creates and always removes.
//!
//! Room and rules:
//! - Traffic only inside namespaces the tests create, or on loopback.
//! - Tests that need root or strongSwan skip loudly, never silently pass, when run without them
//!   outside `cargo xtask test`.

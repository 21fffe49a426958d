//! Tern VPN profiles: the model, its validation, and import of `.sswan`, `.mobileconfig` and
//! Tern's own format.
//!
//! Room and rules:
//! - Pure data and parsing; the only I/O is the profile store in the user's config directory.
//! - Never holds secrets in files: those live in the OS keyring.
//! - Depends on `ipsec-types` at most among our crates; never on the protocol cores.

//! `ternd` as a library: the pieces of Tern's privileged helper that the daemon binary and its
//! tests drive.
//!
//! Room and rules:
//! - [`platform`] is the OS layer: the TUN device, addresses, routes, policy rules and DNS. It
//!   journals every system change before making it, so a crash never leaves the machine
//!   misconfigured for longer than the next start-up's [`platform::NetworkConfigurator::recover`].
//! - Per-OS code lives only under `src/platform/{linux,windows,macos}/`; everything above it talks
//!   to the traits in [`platform`].

pub mod platform;

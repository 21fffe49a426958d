//! `ternd`, Tern's privileged helper, as a library: the binary in `main.rs` wires these parts
//! together, and tests drive them one by one.
//!
//! Room and rules:
//! - The only crate that does I/O for the tunnel; per-OS code lives only under
//!   `src/platform/{linux,windows,macos}/`, behind the traits in [`platform`].
//! - Trusts nothing from its IPC clients ([`ipc_server`]): validates every request and profile.
//! - [`platform`] journals every system change before making it, so a crash never leaves the
//!   machine misconfigured for longer than the next start-up's
//!   [`platform::NetworkConfigurator::recover`]; disconnect and shutdown undo it too.

#[cfg(unix)]
pub mod controller;
#[cfg(unix)]
pub mod ipc_server;
#[cfg(target_os = "linux")]
pub mod lab;
pub mod logbuf;
pub mod platform;
#[cfg(unix)]
pub mod tunnel;

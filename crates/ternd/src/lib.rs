//! `ternd`, Tern's privileged helper, as a library: the binary in `main.rs` wires these parts
//! together, and tests drive them one by one.
//!
//! Room and rules:
//! - The only crate that does I/O for the tunnel; per-OS code lives only under
//!   `src/platform/{linux,windows,macos}/`.
//! - Trusts nothing from its IPC clients: validates every request and profile.
//! - Journals every system change before making it, and undoes it on disconnect, shutdown and
//!   start-up after a crash.

#[cfg(unix)]
pub mod ipc_server;
pub mod logbuf;

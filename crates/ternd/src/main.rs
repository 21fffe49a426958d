//! `ternd`, Tern's privileged helper: owns the TUN device, the UDP sockets, the IKE session, the
//! ESP datapath, and the routes and DNS changes it always restores.
//!
//! Room and rules:
//! - The only crate that does I/O for the tunnel; per-OS code lives only under
//!   `src/platform/{linux,windows,macos}/`.
//! - Trusts nothing from its IPC clients: validates every request and profile.
//! - Journals every system change before making it, and undoes it on disconnect, shutdown and
//!   start-up after a crash.

fn main() {
    eprintln!("ternd: the helper is not built yet (see issue 5); nothing was started.");
    std::process::exit(2);
}

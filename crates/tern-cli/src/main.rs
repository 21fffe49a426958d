//! `tern`, the command-line client: imports profiles, keeps secrets in the OS keyring, and
//! drives `ternd` over IPC.
//!
//! Room and rules:
//! - Unprivileged; talks to the helper only through `ipc`.
//! - Never links the protocol cores (`ike`, `esp`).

fn main() {
    eprintln!("tern: the command-line client is not built yet (see issue 6).");
    std::process::exit(2);
}

//! The Tern desktop app: a Tauri shell around the web UI in `ui/`, with the system tray, profile
//! import by click, and credentials in the OS keyring.
//!
//! Room and rules:
//! - Unprivileged; talks to the helper only through `ipc`.
//! - Never links the protocol cores (`ike`, `esp`).

fn main() {
    eprintln!("tern-gui: the desktop app is not built yet (see issue 9).");
    std::process::exit(2);
}

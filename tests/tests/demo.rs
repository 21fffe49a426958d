//! The README's first command, `cargo xtask demo`, end to end: the demo program builds its lab,
//! imports the demo profile with the `tern` CLI, connects through `ternd`, pings and transfers
//! through the tunnel, and removes everything (`--once`).
//!
//! `cargo xtask test` builds `ternd` and `tern` first and names their directory in
//! `TERN_BIN_DIR`.
#![cfg(target_os = "linux")]

use std::process::Command;

#[test]
fn the_demo_connects_pings_transfers_and_cleans_up() {
    let Some(bin) = tern_e2e::Binaries::for_test("the_demo_connects_pings_transfers_and_cleans_up")
    else {
        return;
    };
    let out = Command::new(env!("CARGO_BIN_EXE_tern-demo"))
        .arg("--ternd")
        .arg(&bin.ternd)
        .arg("--tern")
        .arg(&bin.tern)
        .arg("--once")
        // No desktop app in the test: the demo must say how to open it instead.
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("State:      connected"), "{stdout}");
    assert!(stdout.contains("3 received, 0% packet loss"), "{stdout}");
    assert!(stdout.contains("Mbit/s"), "the transfer: {stdout}");
    assert!(
        stdout.contains("TERN_SOCKET="),
        "how to open the app: {stdout}"
    );
    assert!(stdout.contains("the lab is gone"), "{stdout}");
}

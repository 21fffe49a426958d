//! The README's first command, `cargo xtask demo`, end to end: the demo program builds its lab,
//! imports the demo profile with the `tern` CLI, connects through `ternd`, pings and transfers
//! through the tunnel, and removes everything (`--once`).
//!
//! `cargo xtask test` builds `ternd` and `tern` first and names their directory in
//! `TERN_BIN_DIR`.
#![cfg(target_os = "linux")]

use std::path::PathBuf;
use std::process::Command;

#[test]
fn the_demo_connects_pings_transfers_and_cleans_up() {
    if !tern_e2e::should_run("the_demo_connects_pings_transfers_and_cleans_up") {
        return;
    }
    let Some(bin_dir) = std::env::var_os("TERN_BIN_DIR").map(PathBuf::from) else {
        assert!(
            std::env::var("TERN_E2E").as_deref() != Ok("require"),
            "TERN_BIN_DIR must name the directory with the built ternd and tern"
        );
        eprintln!("!!! SKIPPED: TERN_BIN_DIR is not set (cargo xtask test sets it)");
        return;
    };
    let out = Command::new(env!("CARGO_BIN_EXE_tern-demo"))
        .arg("--ternd")
        .arg(bin_dir.join("ternd"))
        .arg("--tern")
        .arg(bin_dir.join("tern"))
        .arg("--once")
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("State:      connected"), "{stdout}");
    assert!(stdout.contains("3 received, 0% packet loss"), "{stdout}");
    assert!(stdout.contains("the lab is gone"), "{stdout}");
}

//! The `tern` CLI against the real `ternd` beyond what the interop matrix (`interop.rs`) checks
//! for every row: the text status, a connect without `--wait`, a second connect while connected,
//! the helper's log, a disconnect while idle, and an unreachable helper.
//!
//! `cargo xtask test` builds `ternd` and `tern` first and names their directory in
//! `TERN_BIN_DIR`.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tern_e2e::{
    Binaries, Gateway, Lab, LabConfig, NetworkSnapshot, Ternd, addr, templates, traffic,
};

const PSK: &str = "a-long-test-secret-for-the-cli";
const PROFILE: &str = "Lab PSK";

#[test]
fn cli_against_the_real_helper() {
    let Some(bin) = Binaries::for_test("cli_against_the_real_helper") else {
        return;
    };
    let lab = Lab::new(LabConfig::default()).unwrap();
    let _gateway = Gateway::start(&lab, templates::gateway_psk(PSK)).unwrap();
    let mut ternd = Ternd::start(&lab, &bin.ternd, &lab.dir().join("ternd")).unwrap();
    let cli = ternd.cli(&bin.tern, &lab.dir().join("config"));
    let before = NetworkSnapshot::take(&lab, &ternd.resolv_conf()).unwrap();

    // Idle: the text status says so, and a disconnect has nothing to do.
    let idle = cli.ok(&["status"], None).unwrap();
    assert!(idle.contains("disconnected"), "{idle}");
    let nothing = cli.run(&["disconnect"], None).unwrap();
    assert_eq!(nothing.status.code(), Some(1), "{nothing:?}");
    let said = String::from_utf8_lossy(&nothing.stderr);
    assert!(said.contains("no tunnel is up"), "{said}");

    let file = lab.dir().join("lab.mobileconfig");
    let uuid = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
    std::fs::write(
        &file,
        templates::psk_mobileconfig(PROFILE, uuid, PSK, addr::GATEWAY_V4.into(), None),
    )
    .unwrap();
    cli.ok(&["import", file.to_str().unwrap(), "--yes"], None)
        .unwrap();

    // Without --wait the command returns at once; the status then follows the attempt.
    let started = cli
        .ok(&["connect", PROFILE, "--password-stdin"], Some(PSK))
        .unwrap();
    assert!(started.contains("Connecting"), "{started}");
    cli.wait_for_state("connected", Duration::from_secs(30))
        .unwrap();
    let text = cli.ok(&["status"], None).unwrap();
    assert!(text.contains("connected"), "{text}");
    assert!(text.contains("10.99.100."), "the virtual IP: {text}");
    assert!(traffic::ping(&lab, addr::LAN_HOST_V4.into(), 1).unwrap());

    // A second connect while connected is refused (exit 4) and leaves the tunnel up.
    let again = cli
        .run(
            &["connect", PROFILE, "--password-stdin", "--wait"],
            Some(PSK),
        )
        .unwrap();
    assert_eq!(again.status.code(), Some(4), "{again:?}");
    assert_eq!(cli.status().unwrap()["state"]["state"], "connected");

    // The helper's log reaches the CLI.
    let logs = cli.ok(&["logs"], None).unwrap();
    assert!(!logs.trim().is_empty(), "tern logs printed nothing");

    // SIGTERM while connected: ternd restores the system on its way out, and the CLI then
    // reports an unreachable helper (exit 3).
    let status = ternd.terminate().expect("ternd stops on SIGTERM");
    assert!(status.success(), "{status}");
    assert_eq!(
        NetworkSnapshot::take(&lab, &ternd.resolv_conf()).unwrap(),
        before
    );
    let gone = cli.run(&["status"], None).unwrap();
    assert_eq!(gone.status.code(), Some(3), "{gone:?}");
}

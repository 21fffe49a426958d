//! The `tern` CLI end to end: a user imports the profile file their IT team sent, connects with
//! `tern connect --wait`, reads `tern status --json`, and disconnects — against the real `ternd`
//! in the lab's client namespace and a strongSwan gateway.
//!
//! `cargo xtask test` builds `ternd` and `tern` first and names their directory in
//! `TERN_BIN_DIR`.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Output;

use tern_e2e::pki::{Ca, KeyKind};
use tern_e2e::{Gateway, Lab, LabConfig, Ns, Ternd, addr, templates};

fn bin_dir(test: &str) -> Option<PathBuf> {
    if !tern_e2e::should_run(test) {
        return None;
    }
    match std::env::var_os("TERN_BIN_DIR") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            assert!(
                std::env::var("TERN_E2E").as_deref() != Ok("require"),
                "TERN_BIN_DIR must name the directory with the built ternd and tern"
            );
            eprintln!("!!! SKIPPED: TERN_BIN_DIR is not set (cargo xtask test sets it)");
            None
        }
    }
}

struct Cli<'a> {
    tern: PathBuf,
    socket: PathBuf,
    config: PathBuf,
    lab: &'a Lab,
}

impl Cli<'_> {
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        tern_e2e::tern(&self.tern, &self.socket, &self.config, args, stdin).unwrap()
    }

    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "`tern {}` failed ({}):\n{stdout}\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    fn status(&self) -> serde_json::Value {
        serde_json::from_str(self.ok(&["status", "--json"], None).trim()).unwrap()
    }

    fn ping_lan(&self) -> bool {
        let lan = addr::LAN_HOST_V4.to_string();
        let out = self
            .lab
            .exec_output(Ns::Client, &["ping", "-c", "2", "-W", "2", &lan])
            .unwrap();
        out.status.success()
    }
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

#[test]
fn sswan_eap_import_connect_status_disconnect() {
    let Some(bin) = bin_dir("sswan_eap_import_connect_status_disconnect") else {
        return;
    };
    let lab = Lab::new(LabConfig::default()).unwrap();
    let ca = Ca::new("Tern Lab CA", KeyKind::EcdsaP256).unwrap();
    let cert = ca
        .issue(
            templates::GATEWAY_ID,
            &[templates::GATEWAY_ID],
            KeyKind::Rsa3072,
        )
        .unwrap();
    let _gateway = Gateway::start(
        &lab,
        templates::gateway_eap_mschapv2(&ca, &cert, &[("alice", "alice-pw")]),
    )
    .unwrap();
    let ternd = Ternd::start(&lab, &bin.join("ternd"), &lab.dir().join("ternd")).unwrap();
    let cli = Cli {
        tern: bin.join("tern"),
        socket: ternd.socket().to_path_buf(),
        config: lab.dir().join("config"),
        lab: &lab,
    };

    let sswan = templates::eap_sswan(
        "Lab EAP",
        "4c9d7a1e-3f2b-4e8a-9b6c-1d2e3f4a5b6c",
        &ca,
        "alice",
    );
    let file = write(lab.dir(), "provider.sswan", &sswan);
    let preview = cli.ok(&["import", file.to_str().unwrap(), "--yes"], None);
    assert!(preview.contains("Lab EAP"), "{preview}");
    let list: serde_json::Value = serde_json::from_str(&cli.ok(&["list", "--json"], None)).unwrap();
    assert_eq!(list[0]["name"], "Lab EAP");

    // A wrong password fails with the reason, exit code 4, and leaves no tunnel.
    let wrong = cli.run(
        &["connect", "Lab EAP", "--password-stdin", "--wait"],
        Some("not-it"),
    );
    assert_eq!(wrong.status.code(), Some(4), "{wrong:?}");
    let reason = String::from_utf8_lossy(&wrong.stderr).to_lowercase();
    assert!(reason.contains("password"), "{reason}");
    assert!(!cli.ping_lan());

    cli.ok(
        &["connect", "Lab EAP", "--password-stdin", "--wait"],
        Some("alice-pw"),
    );
    let status = cli.status();
    assert_eq!(status["state"]["state"], "connected", "{status}");
    assert_eq!(status["profile"]["name"], "Lab EAP");
    assert!(
        !status["connection"]["virtual_ips"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{status}"
    );
    assert!(
        cli.ping_lan(),
        "no ping through the tunnel; ternd log:\n{}",
        ternd.log()
    );

    cli.ok(&["disconnect"], None);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while cli.status()["state"]["state"] != "disconnected" {
        assert!(
            std::time::Instant::now() < deadline,
            "did not disconnect: {}",
            cli.status()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!cli.ping_lan());
}

//! The desktop app in a real window, against the real helper and a strongSwan gateway.
//!
//! The lab (client ↔ gateway ↔ lan namespaces), an EAP-MSCHAPv2 gateway with a certificate, and
//! `ternd` in the client namespace come from this crate, as in the demo. The window side is the
//! WebDriver script `ui/tests/real-app.ts`: under Xvfb, with a tray host and a throwaway GNOME
//! Keyring on a private D-Bus session, it starts `tern-gui` through `tauri-driver` and
//! `WebKitWebDriver`, opens the provider's `.sswan` the way a double-click does (`gio open`
//! through the installed `.desktop` file and MIME type, which hands the file to the running
//! instance), checks the preview, types the password, connects, sees "Connected" with the
//! virtual IP, disconnects, then connects and disconnects from the tray menu, and opens a
//! `tern://import` link the same way. Last, a second provider's `.sswan` carries a client
//! certificate (a PKCS#12 bundle whose passphrase the file does not carry): the preview asks for
//! the passphrase, a wrong one is refused with the import still open, the right one imports it,
//! and the app connects with the certificate (the gateway takes both: EAP-MSCHAPv2 and
//! certificates, one connection each) and disconnects.
//!
//! The script asks this test for what only the lab can do by printing `LAB <request>` lines
//! (hold back or let through the gateway's IKE traffic, ping through the tunnel, check the
//! gateway's SAs and how the client authenticated); the answer goes to its standard input.
//!
//! Everything on the window side runs in its own PID, network and mount namespace
//! (`unshare --pid --fork --kill-child --net --mount`): Xvfb, the tray host, D-Bus, the keyring,
//! the drivers and the app end with it, also when this test fails or is killed, and its X
//! display and WebDriver port cannot meet another run's.
//!
//! Needs the built app, `ternd`, `tauri-driver`, Node with `ui/node_modules`, and the Debian
//! packages `xvfb webkit2gtk-driver gnome-keyring dbus trayer xdotool imagemagick
//! libglib2.0-bin shared-mime-info xdg-utils`; `cargo xtask test` provides them and runs it with
//! `--ignored` (it is ignored in plain `cargo test -p tern-e2e`, which builds no app).
//! Screenshots go to `TERN_GUI_ARTIFACTS` (xtask: `$CARGO_TARGET_DIR/gui-artifacts`).
#![cfg(target_os = "linux")]

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tern_e2e::pki::{Ca, KeyKind};
use tern_e2e::{Gateway, Lab, LabConfig, Ns, Ternd, addr, templates};

const USER: &str = "alice";
const PASSWORD: &str = "correct horse battery";
const PROFILE_NAME: &str = "Example Office";
const PROFILE_UUID: &str = "2f0d8f3c-5b1e-4c36-9d0a-7c1e2b9f4a61";
/// The second profile: a client certificate for this identity (a DNS SAN of the certificate).
const CERT_PROFILE_NAME: &str = "Example Office (certificate)";
const CERT_PROFILE_UUID: &str = "7a4e1c2b-93d8-4f05-8b6e-2d1f0c9a8e37";
const CLIENT_ID: &str = "client.tern.test";
/// The bundle's passphrase, given to the user apart from the file.
const CERT_PASSPHRASE: &str = "bundle passphrase 7";
const PUSHED_DNS: std::net::Ipv4Addr = std::net::Ipv4Addr::new(10, 99, 0, 53);
/// The whole window run, generously: a WebKit start under Xvfb takes a few seconds.
const DRIVER_TIMEOUT: Duration = Duration::from_secs(240);
/// An nftables table in the gateway namespace that holds back IKE while the app shows
/// "connecting".
const BLOCK_TABLE: &str = "tern_gui_hold";

struct Paths {
    ternd: PathBuf,
    tern: PathBuf,
    gui: PathBuf,
    tauri_driver: PathBuf,
    ui_dir: PathBuf,
    artifacts: PathBuf,
}

/// What the test needs besides the lab, or why it cannot run.
fn paths() -> Result<Paths, String> {
    let bin_dir = std::env::var_os("TERN_BIN_DIR")
        .map(PathBuf::from)
        .ok_or("TERN_BIN_DIR is not set (cargo xtask test sets it)")?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("no workspace root")?
        .to_owned();
    let tauri_driver = std::env::var_os("TAURI_DRIVER").map_or_else(
        || {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default()
                .join(".cargo/bin/tauri-driver")
        },
        PathBuf::from,
    );
    let paths = Paths {
        ternd: bin_dir.join("ternd"),
        tern: bin_dir.join("tern"),
        gui: bin_dir.join("tern-gui"),
        tauri_driver,
        ui_dir: root.join("ui"),
        artifacts: std::env::var_os("TERN_GUI_ARTIFACTS")
            .map_or_else(|| bin_dir.join("gui-artifacts"), PathBuf::from),
    };
    for (what, path) in [
        ("ternd (cargo build -p ternd)", paths.ternd.clone()),
        ("tern (cargo build -p tern-cli)", paths.tern.clone()),
        ("the app (cargo build -p tern-gui)", paths.gui.clone()),
        (
            "tauri-driver (cargo install --locked tauri-driver)",
            paths.tauri_driver.clone(),
        ),
        (
            "the UI's node modules (npm ci in ui/)",
            paths.ui_dir.join("node_modules/.bin/vite-node"),
        ),
    ] {
        if !path.exists() {
            return Err(format!("no {what} at {}", path.display()));
        }
    }
    for program in ["node", "Xvfb", "WebKitWebDriver", "unshare", "setpriv"] {
        if !on_path(program) {
            return Err(format!("`{program}` is not installed"));
        }
    }
    Ok(paths)
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

#[test]
#[ignore = "needs the built desktop app; `cargo xtask test` runs it (step: desktop app in a real window)"]
fn a_sswan_opened_from_the_desktop_connects_through_ternd_in_a_real_window() {
    let name = "a_sswan_opened_from_the_desktop_connects_through_ternd_in_a_real_window";
    if !tern_e2e::should_run(name) {
        return;
    }
    let paths = match paths() {
        Ok(p) => p,
        Err(why) => {
            assert!(
                std::env::var("TERN_E2E").as_deref() != Ok("require"),
                "TERN_E2E=require but {name} cannot run: {why}"
            );
            let _ = writeln!(std::io::stderr(), "\n!!!!!!!! SKIPPED: {name}: {why}\n");
            return;
        }
    };
    let started = Instant::now();

    let lab = Lab::new(LabConfig::default()).unwrap();
    let ca = Ca::new("Example VPN CA", KeyKind::EcdsaP256).unwrap();
    let cert = ca
        .issue(
            templates::GATEWAY_ID,
            &[templates::GATEWAY_ID],
            KeyKind::EcdsaP256,
        )
        .unwrap();
    let client_cert = ca
        .issue(CLIENT_ID, &[CLIENT_ID], KeyKind::EcdsaP256)
        .unwrap();
    let gateway = Gateway::start(
        &lab,
        templates::with_pushed_dns(
            templates::gateway_eap_mschapv2_or_pubkey(&ca, &cert, &[(USER, PASSWORD)], CLIENT_ID),
            PUSHED_DNS.into(),
        ),
    )
    .unwrap();
    let gui_dir = lab.dir().join("gui");
    let ternd = Ternd::start(&lab, &paths.ternd, &gui_dir.join("ternd")).unwrap();
    let sswan = gui_dir.join("example-office.sswan");
    std::fs::write(
        &sswan,
        templates::eap_sswan(PROFILE_NAME, PROFILE_UUID, &ca, USER),
    )
    .unwrap();
    // The certificate's passphrase stays out of the file, as providers hand it out separately.
    let cert_sswan = gui_dir.join("example-office-cert.sswan");
    let bundle = templates::client_pkcs12(&client_cert, &ca, CERT_PASSPHRASE).unwrap();
    std::fs::write(
        &cert_sswan,
        templates::cert_sswan(
            CERT_PROFILE_NAME,
            CERT_PROFILE_UUID,
            "ikev2-cert",
            &ca,
            &bundle,
            Some(CLIENT_ID),
        ),
    )
    .unwrap();
    std::fs::create_dir_all(&paths.artifacts).unwrap();

    let mut driver = Driver::start(&paths, ternd.socket(), [&sswan, &cert_sswan], &lab).unwrap();
    let outcome = driver.serve(&lab, &gateway);
    // What the helper itself says, to tell a helper problem from a window problem.
    let helper_status = tern_e2e::tern(
        &paths.tern,
        ternd.socket(),
        &gui_dir.join("cli-config"),
        &["status"],
        None,
    )
    .map_or_else(
        |e| e.to_string(),
        |out| String::from_utf8_lossy(&out.stdout).into_owned(),
    );
    let log = ternd.log();
    drop(driver);
    // Leave nothing behind: the hold on the gateway (if the script failed while it was on).
    let _ = lab.exec(
        Ns::Gateway,
        &["nft", "delete", "table", "inet", BLOCK_TABLE],
    );
    if let Err(e) = outcome {
        panic!(
            "{e}\n--- tern status ---\n{helper_status}\n--- ternd log (end) ---\n{}",
            tail(&log, 60)
        );
    }
    println!(
        "the real-window run took {:.0} s; screenshots in {}",
        started.elapsed().as_secs_f64(),
        paths.artifacts.display()
    );
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The WebDriver script in its namespaces. Dropping it kills the namespace's first process,
/// which takes every other process in it along.
struct Driver {
    child: Child,
}

impl Driver {
    fn start(
        paths: &Paths,
        socket: &Path,
        [sswan, cert_sswan]: [&Path; 2],
        lab: &Lab,
    ) -> std::io::Result<Self> {
        // Inside: loopback up, a private X socket directory (the display number cannot meet
        // another run's), then the script.
        let inner = "set -e; ip link set lo up; mkdir -p /tmp/.X11-unix; \
                     mount -t tmpfs -o mode=1777 tmpfs /tmp/.X11-unix; exec \"$@\"";
        let child = Command::new("setpriv")
            // Killed with this test's thread, even when the test process itself is killed.
            .args(["--pdeathsig", "KILL", "--"])
            .args(["unshare", "--pid", "--fork", "--kill-child", "--mount-proc"])
            .args(["--net", "--", "sh", "-c", inner, "sh", "node"])
            .arg(paths.ui_dir.join("node_modules/.bin/vite-node"))
            .arg(paths.ui_dir.join("tests/real-app.ts"))
            .current_dir(&paths.ui_dir)
            .env("TERN_SOCKET", socket)
            .env("TERN_GUI_BIN", &paths.gui)
            .env("TAURI_DRIVER", &paths.tauri_driver)
            .env("TERN_GUI_SSWAN", sswan)
            .env("TERN_GUI_PROFILE", PROFILE_NAME)
            .env("TERN_GUI_PASSWORD", PASSWORD)
            .env("TERN_GUI_CERT_SSWAN", cert_sswan)
            .env("TERN_GUI_CERT_PROFILE", CERT_PROFILE_NAME)
            .env("TERN_GUI_CERT_PASSPHRASE", CERT_PASSPHRASE)
            .env("TERN_GUI_CERT_ID", CLIENT_ID)
            .env("TERN_GUI_VIP_POOL", addr::VIRTUAL_IP_POOL_V4)
            .env("TERN_GUI_DNS", PUSHED_DNS.to_string())
            .env("TERN_GUI_GATEWAY", addr::GATEWAY_V4.to_string())
            .env("TERN_SCREENSHOTS", &paths.artifacts)
            .env("TERN_GUI_LAB", lab.id())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        Ok(Self { child })
    }

    /// Answers the script's `LAB` requests until it ends; its other output is passed on.
    fn serve(&mut self, lab: &Lab, gateway: &Gateway<'_>) -> Result<(), String> {
        let stdout = self.child.stdout.take().ok_or("no script output")?;
        let mut stdin = self.child.stdin.take().ok_or("no script input")?;
        let (lines_tx, lines_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + DRIVER_TIMEOUT;
        let mut transcript = String::new();
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            match lines_rx.recv_timeout(wait) {
                Ok(line) => {
                    if let Some(request) = line.strip_prefix("LAB ") {
                        let answer = match answer(lab, gateway, request) {
                            Ok(text) => format!("ok {text}"),
                            Err(e) => format!("err {}", e.replace('\n', " | ")),
                        };
                        println!("    lab: {request} -> {answer}");
                        writeln!(stdin, "{answer}")
                            .map_err(|e| format!("cannot answer the script: {e}"))?;
                    } else {
                        println!("{line}");
                        transcript.push_str(&line);
                        transcript.push('\n');
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "the window script did not finish in {} s:\n{transcript}",
                        DRIVER_TIMEOUT.as_secs()
                    ));
                }
            }
        }
        let status = self
            .child
            .wait()
            .map_err(|e| format!("waiting for the window script: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "the window script failed ({status}):\n{transcript}"
            ))
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request from the script.
fn answer(lab: &Lab, gateway: &Gateway<'_>, request: &str) -> Result<String, String> {
    let err = |e: tern_e2e::LabError| e.to_string();
    match request {
        // Holds back the gateway's IKE so "connecting" stays on screen; the app's retransmission
        // gets through once it is let go.
        "hold-gateway" => {
            lab.exec(Ns::Gateway, &["nft", "add", "table", "inet", BLOCK_TABLE])
                .map_err(err)?;
            lab.exec(
                Ns::Gateway,
                &[
                    "nft",
                    "add",
                    "chain",
                    "inet",
                    BLOCK_TABLE,
                    "input",
                    "{ type filter hook input priority -10 ; }",
                ],
            )
            .map_err(err)?;
            lab.exec(
                Ns::Gateway,
                &[
                    "nft",
                    "add",
                    "rule",
                    "inet",
                    BLOCK_TABLE,
                    "input",
                    "udp",
                    "dport",
                    "{ 500, 4500 }",
                    "drop",
                ],
            )
            .map_err(err)?;
            Ok("held".into())
        }
        "release-gateway" => {
            lab.exec(
                Ns::Gateway,
                &["nft", "delete", "table", "inet", BLOCK_TABLE],
            )
            .map_err(err)?;
            Ok("released".into())
        }
        "child-sa" => {
            let sa = gateway
                .wait_for_child_sa(Duration::from_secs(10))
                .map_err(err)?;
            Ok(format!(
                "{} for {} ({})",
                sa.state,
                sa.remote_vips.join(","),
                sa.remote_eap_id.unwrap_or_default()
            ))
        }
        // The certificate client's SA: on the certificate connection, under the certificate's
        // identity, with no EAP identity, and the gateway's log names the signature it checked.
        "cert-sa" => {
            let sa = gateway
                .wait_for_child_sa(Duration::from_secs(10))
                .map_err(err)?;
            if sa.ike_name != templates::CERT_CONNECTION
                || sa.remote_id != CLIENT_ID
                || sa.remote_eap_id.is_some()
            {
                return Err(format!("not a certificate SA: {sa:?}"));
            }
            let log = gateway.log();
            let verified = log
                .lines()
                .rev()
                .find(|l| {
                    l.contains(&format!("authentication of '{CLIENT_ID}' with"))
                        && l.contains("successful")
                })
                .ok_or_else(|| format!("the gateway did not verify {CLIENT_ID}'s signature"))?;
            Ok(format!(
                "{} for {} on {} as {}: {}",
                sa.state,
                sa.remote_vips.join(","),
                sa.ike_name,
                sa.remote_id,
                verified.trim()
            ))
        }
        "no-sa" => {
            gateway
                .wait_until(Duration::from_secs(10), "no SAs left", <[_]>::is_empty)
                .map_err(err)?;
            Ok("none".into())
        }
        "ping" => {
            let out = lab
                .exec_within(
                    Ns::Client,
                    &[
                        "ping",
                        "-c",
                        "3",
                        "-i",
                        "0.3",
                        "-W",
                        "2",
                        &addr::LAN_HOST_V4.to_string(),
                    ],
                    Duration::from_secs(15),
                )
                .map_err(err)?;
            out.lines()
                .find(|l| l.contains("packet loss"))
                .map(str::to_owned)
                .ok_or_else(|| format!("no ping summary in {out}"))
        }
        other => Err(format!("unknown request `{other}`")),
    }
}

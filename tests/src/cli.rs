//! Driving the `tern` CLI in end-to-end tests: where the built binaries are, and a small
//! wrapper that runs commands against one `ternd` with its own profile directory.

use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use crate::{Lab, Ns, Ternd, addr};

/// The directory with the built `ternd` and `tern` (`TERN_BIN_DIR`, set by `cargo xtask
/// test`), or `None` (after saying why) when `test` must not run.
///
/// # Panics
/// Under `TERN_E2E=require` when `TERN_BIN_DIR` is not set.
#[must_use]
pub fn bin_dir(test: &str) -> Option<PathBuf> {
    if !crate::should_run(test) {
        return None;
    }
    if let Some(dir) = std::env::var_os("TERN_BIN_DIR") {
        return Some(PathBuf::from(dir));
    }
    assert!(
        std::env::var("TERN_E2E").as_deref() != Ok("require"),
        "TERN_BIN_DIR must name the directory with the built ternd and tern"
    );
    eprintln!("!!! SKIPPED: TERN_BIN_DIR is not set (cargo xtask test sets it)");
    None
}

/// The `tern` CLI of one test with the lab at hand (pings from the client namespace): one
/// `ternd`, its own profile directory, no keyring. [`crate::TernCli`] is the plain runner.
pub struct LabTernCli<'a> {
    /// The `tern` binary.
    pub tern: PathBuf,
    /// The profile directory (`TERN_CONFIG_DIR`).
    pub config: PathBuf,
    /// The lab (for pings from the client namespace).
    pub lab: &'a Lab,
    /// The helper (its socket, and its log for failure messages).
    pub ternd: &'a Ternd,
}

impl LabTernCli<'_> {
    /// Runs `tern ARGS` with `stdin`.
    ///
    /// # Panics
    /// When `tern` cannot be started.
    #[must_use]
    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        match crate::tern(&self.tern, self.ternd.socket(), &self.config, args, stdin) {
            Ok(out) => out,
            Err(e) => panic!("cannot run tern: {e}"),
        }
    }

    /// Runs `tern ARGS` and returns its stdout.
    ///
    /// # Panics
    /// When the command fails (with its output and ternd's log).
    pub fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "`tern {}` failed ({}):\n{stdout}\n{}\nternd log:\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.ternd.log()
        );
        stdout
    }

    /// `tern status --json`, parsed.
    ///
    /// # Panics
    /// When the command fails or prints no JSON.
    #[must_use]
    pub fn status(&self) -> serde_json::Value {
        match serde_json::from_str(self.ok(&["status", "--json"], None).trim()) {
            Ok(status) => status,
            Err(e) => panic!("tern status --json printed no JSON: {e}"),
        }
    }

    /// Whether the LAN host answers pings from the client namespace.
    ///
    /// # Panics
    /// When `ping` cannot be run.
    #[must_use]
    pub fn ping_lan(&self) -> bool {
        let lan = addr::LAN_HOST_V4.to_string();
        match self
            .lab
            .exec_output(Ns::Client, &["ping", "-c", "2", "-W", "2", &lan])
        {
            Ok(out) => out.status.success(),
            Err(e) => panic!("cannot run ping: {e}"),
        }
    }

    /// `tern disconnect`, then waits (10 s at most) for the state `disconnected`.
    ///
    /// # Panics
    /// When the tunnel does not go down in time.
    pub fn disconnect_and_wait(&self) {
        self.ok(&["disconnect"], None);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.status()["state"]["state"] != "disconnected" {
            assert!(
                Instant::now() < deadline,
                "did not disconnect: {}",
                self.status()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

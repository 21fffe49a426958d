//! Running the real `ternd` in the lab's client namespace and the real `tern` CLI against it,
//! the way the demo, the interop matrix and the CLI end-to-end tests do.
//!
//! `ternd` runs as `ip netns exec <client ns> ternd …`, with its socket, state directory and
//! resolv.conf inside the lab directory, so nothing outside the lab is touched.

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use crate::{Lab, LabError, Ns, Result, cmd};

/// What the client namespace's resolv.conf says before any tunnel (written by [`Ternd::start`]
/// when the run directory has none yet).
pub const LAB_RESOLV_CONF: &str = "# the lab client's resolv.conf\nnameserver 198.51.100.53\n";

/// The environment variable `cargo xtask test` sets to the directory holding the built `ternd`
/// and `tern`.
pub const BIN_DIR_ENV: &str = "TERN_BIN_DIR";

/// The built `ternd` and `tern` binaries the end-to-end tests run.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// The helper.
    pub ternd: PathBuf,
    /// The command-line client.
    pub tern: PathBuf,
}

impl Binaries {
    /// The binaries for test `test`, or `None` (after a loud `SKIPPED` line) when the lab cannot
    /// run here ([`crate::should_run`]) or [`BIN_DIR_ENV`] is not set.
    ///
    /// # Panics
    /// With `TERN_E2E=require` when the test cannot run.
    #[must_use]
    pub fn for_test(test: &str) -> Option<Binaries> {
        if !crate::should_run(test) {
            return None;
        }
        let Some(dir) = std::env::var_os(BIN_DIR_ENV).map(PathBuf::from) else {
            assert!(
                std::env::var("TERN_E2E").as_deref() != Ok("require"),
                "{BIN_DIR_ENV} must name the directory with the built ternd and tern"
            );
            crate::prereq::announce_skip(
                test,
                &format!("{BIN_DIR_ENV} is not set (cargo xtask test sets it)"),
            );
            return None;
        };
        Some(Binaries {
            ternd: dir.join("ternd"),
            tern: dir.join("tern"),
        })
    }
}

/// A running `ternd`; stopped with SIGTERM (then SIGKILL) on drop. If the thread is panicking
/// at that moment (a failed test), its log is printed first.
pub struct Ternd {
    child: Option<Child>,
    run: PathBuf,
    socket: PathBuf,
    log: PathBuf,
}

impl Ternd {
    /// Starts `binary` in the client namespace with everything it writes under `run` (created),
    /// and waits until its socket exists. The resolv.conf it manages is `run/resolv.conf`
    /// ([`LAB_RESOLV_CONF`] unless one is there already, as after a crash); its log is appended
    /// to `run/ternd.log`, so a restarted ternd's log follows its predecessor's.
    ///
    /// # Errors
    /// When files cannot be written, or ternd exits or opens no socket within 10 s (the error
    /// carries its log).
    pub fn start(lab: &Lab, binary: &Path, run: &Path) -> Result<Self> {
        let mkdir = crate::io_err("creating directory", run);
        std::fs::create_dir_all(run).map_err(mkdir)?;
        let socket = run.join("ternd.sock");
        let log = run.join("ternd.log");
        let resolv = run.join("resolv.conf");
        if !resolv.exists() {
            std::fs::write(&resolv, LAB_RESOLV_CONF).map_err(crate::io_err("writing", &resolv))?;
        }
        // A socket file left by a killed predecessor must not pass for the new one's.
        let _ = std::fs::remove_file(&socket);
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(crate::io_err("opening", &log))?;
        let err = out.try_clone().map_err(crate::io_err("opening", &log))?;
        let args = [
            "--foreground".to_owned(),
            "--socket".to_owned(),
            text(&socket)?,
            "--state-dir".to_owned(),
            text(&run.join("state"))?,
            "--runtime-dir".to_owned(),
            text(run)?,
            "--resolv-conf".to_owned(),
            text(&resolv)?,
            "--dns-backend".to_owned(),
            "resolv-conf".to_owned(),
            "--log-level".to_owned(),
            "debug".to_owned(),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let child = lab
            .command(Ns::Client, &text(binary)?, &args)?
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // Its own process group: a Ctrl-C in the terminal reaches our process, which then
            // disconnects in order, instead of killing ternd mid-tunnel.
            .process_group(0)
            .spawn()
            .map_err(|source| LabError::Spawn {
                command: binary.display().to_string(),
                source,
            })?;
        let mut ternd = Self {
            child: Some(child),
            run: run.to_path_buf(),
            socket,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ternd.socket.exists() {
            if let Some(status) = ternd.exited() {
                return Err(LabError::Invalid(format!(
                    "ternd exited ({status}):\n{}",
                    ternd.log()
                )));
            }
            if Instant::now() > deadline {
                return Err(LabError::Timeout {
                    what: "ternd's socket".into(),
                    seconds: 10.0,
                    details: format!("\n{}", ternd.log()),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(ternd)
    }

    /// The IPC socket.
    #[must_use]
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The resolv.conf this ternd manages (`run/resolv.conf`).
    #[must_use]
    pub fn resolv_conf(&self) -> PathBuf {
        self.run.join("resolv.conf")
    }

    /// The directory everything of this ternd lives in.
    #[must_use]
    pub fn run_dir(&self) -> &Path {
        &self.run
    }

    /// Everything ternd logged so far.
    #[must_use]
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its exit status, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// SIGKILL, as a crash would end it (nothing is restored), and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM (ternd restores the system and exits) and its exit status; SIGKILL after 10 s,
    /// then `None` (also when it was not running).
    pub fn terminate(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        if let Ok(pid) = i32::try_from(child.id()) {
            // `ip netns exec` execs the program, so the pid is ternd's own.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// A `tern` CLI (`binary`) that talks to this ternd, with its profiles in `config_dir`.
    #[must_use]
    pub fn cli(&self, binary: &Path, config_dir: &Path) -> TernCli {
        TernCli {
            binary: binary.to_path_buf(),
            socket: self.socket.clone(),
            config_dir: config_dir.to_path_buf(),
        }
    }
}

impl Drop for Ternd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "\n===== ternd log ({}) =====\n{}\n===== end of ternd log =====\n",
                self.log.display(),
                self.log()
            );
        }
        self.terminate();
    }
}

fn text(path: &Path) -> Result<String> {
    path.to_str()
        .map(str::to_owned)
        .ok_or_else(|| LabError::Invalid(format!("{} is not UTF-8", path.display())))
}

/// How long one `tern` command may take: `connect --wait` has its own `--timeout` below this.
const CLI_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs the `tern` CLI against `socket`, with its profiles in `config_dir` and no OS keyring (a
/// root test shell has none); `stdin` is written to its standard input. Killed after 120 s.
///
/// # Errors
/// When it cannot be started or does not finish in time; a non-zero exit is in the output.
pub fn tern(
    binary: &Path,
    socket: &Path,
    config_dir: &Path,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<Output> {
    let mut command = Command::new(binary);
    command
        .args(args)
        .env("TERN_SOCKET", socket)
        .env("TERN_CONFIG_DIR", config_dir)
        .env("TERN_KEYRING", "off");
    let input = stdin.map(|text| format!("{text}\n"));
    cmd::output_with_input(
        &mut command,
        input.as_deref().map(str::as_bytes),
        CLI_TIMEOUT,
    )
}

/// The `tern` CLI bound to one ternd and one profile directory (see [`Ternd::cli`]).
#[derive(Debug, Clone)]
pub struct TernCli {
    binary: PathBuf,
    socket: PathBuf,
    config_dir: PathBuf,
}

impl TernCli {
    /// Runs `tern <args>` and returns its output whatever the exit status.
    ///
    /// # Errors
    /// When it cannot be started or does not finish within 120 s.
    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<Output> {
        tern(&self.binary, &self.socket, &self.config_dir, args, stdin)
    }

    /// Runs `tern <args>`; fails unless it exits 0. Returns its standard output.
    ///
    /// # Errors
    /// [`LabError::CommandFailed`] with both outputs.
    pub fn ok(&self, args: &[&str], stdin: Option<&str>) -> Result<String> {
        let out = self.run(args, stdin)?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(stdout)
        } else {
            Err(LabError::CommandFailed {
                command: format!("tern {}", args.join(" ")),
                status: out.status.to_string(),
                stdout,
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            })
        }
    }

    /// `tern status --json`, parsed.
    ///
    /// # Errors
    /// When the command fails or prints no JSON.
    pub fn status(&self) -> Result<serde_json::Value> {
        let text = self.ok(&["status", "--json"], None)?;
        serde_json::from_str(text.trim())
            .map_err(|e| LabError::Invalid(format!("`tern status --json` printed {text:?}: {e}")))
    }

    /// Polls `tern status --json` until its `state.state` is `state` (`disconnected`,
    /// `connected` …), and returns that status.
    ///
    /// # Errors
    /// [`LabError::Timeout`] with the last status.
    pub fn wait_for_state(&self, state: &str, timeout: Duration) -> Result<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.status()?;
            if status["state"]["state"] == state {
                return Ok(status);
            }
            if Instant::now() > deadline {
                return Err(LabError::Timeout {
                    what: format!("tern status to say {state}"),
                    seconds: timeout.as_secs_f64(),
                    details: format!("\nlast status: {status}"),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

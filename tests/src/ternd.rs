//! Running the real `ternd` in the lab's client namespace and the real `tern` CLI against it,
//! the way the demo and the CLI end-to-end tests do.
//!
//! `ternd` runs as `ip netns exec <client ns> ternd …`, with its socket, state directory and
//! resolv.conf inside the lab directory, so nothing outside the lab is touched.

use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use crate::{Lab, LabError, Ns, Result};

/// A running `ternd`; stopped with SIGTERM (then SIGKILL) on drop.
pub struct Ternd {
    child: Option<Child>,
    socket: PathBuf,
    log: PathBuf,
}

impl Ternd {
    /// Starts `binary` in the client namespace with everything it writes under `run` (created),
    /// and waits until its socket exists.
    pub fn start(lab: &Lab, binary: &Path, run: &Path) -> Result<Self> {
        let mkdir = crate::io_err("creating directory", run);
        std::fs::create_dir_all(run).map_err(mkdir)?;
        let socket = run.join("ternd.sock");
        let log = run.join("ternd.log");
        let resolv = run.join("resolv.conf");
        std::fs::write(
            &resolv,
            "# the lab client's resolv.conf\nnameserver 198.51.100.53\n",
        )
        .map_err(crate::io_err("writing", &resolv))?;
        let out = std::fs::File::create(&log).map_err(crate::io_err("creating", &log))?;
        let err = out.try_clone().map_err(crate::io_err("opening", &log))?;
        let text = |p: &Path| {
            p.to_str()
                .map(str::to_owned)
                .ok_or_else(|| LabError::Invalid(format!("{} is not UTF-8", p.display())))
        };
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

    /// SIGTERM (ternd restores the system and exits), SIGKILL after 10 s.
    pub fn terminate(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(pid) = i32::try_from(child.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Ternd {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Runs the `tern` CLI against `socket`, with its profiles in `config_dir` and no OS keyring (a
/// root test shell has none); `stdin` is written to its standard input.
pub fn tern(
    binary: &Path,
    socket: &Path,
    config_dir: &Path,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<Output> {
    let spawn_err = |source| LabError::Spawn {
        command: binary.display().to_string(),
        source,
    };
    let mut child = Command::new(binary)
        .args(args)
        .env("TERN_SOCKET", socket)
        .env("TERN_CONFIG_DIR", config_dir)
        .env("TERN_KEYRING", "off")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_err)?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let _ = writeln!(pipe, "{text}");
    }
    child.wait_with_output().map_err(spawn_err)
}

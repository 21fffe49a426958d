//! Running the system tools the lab is built from (`ip`, `nft`, `swanctl`, `ping` …).
//!
//! Every failure names the full command line, its exit status and its standard error, so a
//! broken lab explains itself in the test output.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::{Read, Write as _};
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::LabError;

/// The command line of `cmd` as one printable string (for error messages).
pub(crate) fn describe(cmd: &Command) -> String {
    let mut line = String::new();
    for (key, value) in cmd.get_envs() {
        if let Some(value) = value {
            let _ = write!(
                line,
                "{}={} ",
                key.to_string_lossy(),
                value.to_string_lossy()
            );
        }
    }
    line.push_str(&cmd.get_program().to_string_lossy());
    for arg in cmd.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

/// How long any lab command may run unless the caller says otherwise: a hung command must fail
/// the test, not hang the suite.
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `cmd` to completion and returns its output whatever the exit status.
pub(crate) fn output(cmd: &mut Command) -> Result<Output, LabError> {
    output_within(cmd, COMMAND_TIMEOUT)
}

/// Runs `cmd` and returns its output whatever the exit status; kills its process group and fails
/// with [`LabError::Timeout`] if it runs longer than `timeout`.
pub(crate) fn output_within(cmd: &mut Command, timeout: Duration) -> Result<Output, LabError> {
    output_with_input(cmd, None, timeout)
}

/// Like [`output_within`], writing `input` (then end of file) to the command's standard input.
pub(crate) fn output_with_input(
    cmd: &mut Command,
    input: Option<&[u8]>,
    timeout: Duration,
) -> Result<Output, LabError> {
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    // Its own process group, so a timeout also ends whatever it started.
    cmd.process_group(0);
    let mut child = cmd.spawn().map_err(|source| LabError::Spawn {
        command: describe(cmd),
        source,
    })?;
    if let (Some(bytes), Some(mut pipe)) = (input, child.stdin.take()) {
        // A command that exits without reading its input is not an error here.
        let _ = pipe.write_all(bytes);
    }
    // Drain both pipes on threads so a chatty command cannot block on a full pipe.
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(source) => {
                return Err(LabError::Spawn {
                    command: describe(cmd),
                    source,
                });
            }
        }
        if started.elapsed() > timeout {
            if let Ok(raw) = i32::try_from(child.id()) {
                let _ = killpg(Pid::from_raw(raw), Signal::SIGKILL);
            }
            let _ = child.wait();
            let partial = stdout.map(collect).unwrap_or_default();
            return Err(LabError::Timeout {
                what: format!("`{}` to finish", describe(cmd)),
                seconds: timeout.as_secs_f64(),
                details: format!("\noutput so far: {}", String::from_utf8_lossy(&partial)),
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    };
    Ok(Output {
        status,
        stdout: stdout.map(collect).unwrap_or_default(),
        stderr: stderr.map(collect).unwrap_or_default(),
    })
}

fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

fn collect(reader: JoinHandle<Vec<u8>>) -> Vec<u8> {
    reader.join().unwrap_or_default()
}

/// Runs `cmd`; fails unless it exits with status 0. Returns its standard output.
pub(crate) fn run(cmd: &mut Command) -> Result<String, LabError> {
    run_within(cmd, COMMAND_TIMEOUT)
}

/// Like [`run`] with an explicit time limit.
pub(crate) fn run_within(cmd: &mut Command, timeout: Duration) -> Result<String, LabError> {
    let out = output_within(cmd, timeout)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(LabError::CommandFailed {
            command: describe(cmd),
            status: out.status.to_string(),
            stdout: String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// Builds a command from a program and arguments.
pub(crate) fn command<S: AsRef<OsStr>>(program: &str, args: &[S]) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args);
    cmd
}

/// `ip <args>` in the current (root) network namespace, used only for namespace management.
pub(crate) fn ip(args: &[&str]) -> Result<String, LabError> {
    run(&mut command("ip", args))
}

/// `ip -n <ns> <args>`: configures a link/address/route inside namespace `ns`.
pub(crate) fn ip_in(ns: &str, args: &[&str]) -> Result<String, LabError> {
    let mut full = vec!["-n", ns];
    full.extend_from_slice(args);
    run(&mut command("ip", &full))
}

/// `ip netns exec <ns> <program> <args>`: a command inside namespace `ns`.
pub(crate) fn in_ns<S: AsRef<OsStr>>(ns: &str, program: &str, args: &[S]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, program]);
    cmd.args(args);
    cmd
}

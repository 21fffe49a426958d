//! Running the system tools the lab is built from (`ip`, `nft`, `swanctl`, `ping` …).
//!
//! Every failure names the full command line, its exit status and its standard error, so a
//! broken lab explains itself in the test output.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::process::{Command, Output, Stdio};

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

/// Runs `cmd` to completion and returns its output whatever the exit status.
pub(crate) fn output(cmd: &mut Command) -> Result<Output, LabError> {
    cmd.stdin(Stdio::null())
        .output()
        .map_err(|source| LabError::Spawn {
            command: describe(cmd),
            source,
        })
}

/// Runs `cmd`; fails unless it exits with status 0. Returns its standard output.
pub(crate) fn run(cmd: &mut Command) -> Result<String, LabError> {
    let out = output(cmd)?;
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

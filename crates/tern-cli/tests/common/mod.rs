//! Running the built `tern` binary in a private configuration directory, away from the user's
//! keyring and helper.

#![allow(dead_code)] // each test file uses a different part

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A private configuration directory and the commands that use it.
pub struct Tern {
    /// The temporary configuration directory (`TERN_CONFIG_DIR`).
    pub config: tempfile::TempDir,
    /// Extra environment for every command.
    pub env: Vec<(String, String)>,
}

/// What a command did.
pub struct Ran {
    /// The exit code.
    pub code: i32,
    /// stdout, as text.
    pub stdout: String,
    /// stderr, as text.
    pub stderr: String,
}

impl std::fmt::Debug for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Tern {
    /// A fresh configuration directory; the keyring is switched off (`TERN_KEYRING=off`) so no
    /// test touches the user's.
    pub fn new() -> Self {
        Self {
            config: tempfile::tempdir().unwrap(),
            env: vec![("TERN_KEYRING".into(), "off".into())],
        }
    }

    /// The command with this test's environment; stdin is empty (not a terminal).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tern"));
        cmd.args(args)
            .env("TERN_CONFIG_DIR", self.config.path())
            .env_remove("TERN_SOCKET")
            // Even if TERN_KEYRING is lifted by a test, never the user's session bus.
            .env(
                "DBUS_SESSION_BUS_ADDRESS",
                "unix:path=/nonexistent/tern-test-bus",
            )
            .stdin(Stdio::null());
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        cmd
    }

    /// Runs `tern ARGS` with empty stdin.
    pub fn run(&self, args: &[&str]) -> Ran {
        ran(self.command(args).output().unwrap())
    }

    /// Runs `tern ARGS` with `input` on stdin.
    pub fn run_with_stdin(&self, args: &[&str], input: &[u8]) -> Ran {
        use std::io::Write as _;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A command that fails before reading its input closes the pipe; its output says why.
        if let Err(e) = child.stdin.take().unwrap().write_all(input) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
        }
        ran(child.wait_with_output().unwrap())
    }

    /// The files in the profile store, sorted (to check that nothing changed).
    pub fn store_files(&self) -> Vec<(String, Vec<u8>)> {
        let dir = self.config.path().join("profiles");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut files: Vec<_> = entries
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    }
}

fn ran(output: Output) -> Ran {
    Ran {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A fixture of the profile crate's tests.
pub fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../profile/tests/fixtures")
        .join(relative)
}

/// A fixture's path as text.
pub fn fixture_arg(relative: &str) -> String {
    fixture(relative).display().to_string()
}

/// Whether a program is on PATH.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program} >/dev/null")])
        .status()
        .is_ok_and(|s| s.success())
}

/// Skips a test (loudly) when `what` is missing, or fails it under `TERN_E2E=require`.
pub fn skip_unless(programs: &[&str], test: &str) -> bool {
    let missing: Vec<&str> = programs.iter().copied().filter(|p| !have(p)).collect();
    if missing.is_empty() {
        return false;
    }
    let reason = format!("{} not installed", missing.join(" and "));
    assert!(
        std::env::var("TERN_E2E").as_deref() != Ok("require"),
        "TERN_E2E=require: {test}: {reason}"
    );
    eprintln!("SKIPPED: {test}: {reason}");
    true
}

impl Tern {
    /// Runs `tern ARGS` on a pseudo-terminal (util-linux `script`), typing `input` after a
    /// moment (so it arrives after the prompt, with echo already off for secrets).
    pub fn run_in_terminal(&self, args: &[&str], input: &'static [u8]) -> Ran {
        use std::io::Write as _;
        let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
        let mut line = quote(env!("CARGO_BIN_EXE_tern"));
        for arg in args {
            line.push(' ');
            line.push_str(&quote(arg));
        }
        let mut cmd = Command::new("script");
        cmd.args(["-q", "-e", "-c", &line, "/dev/null"])
            .env("TERN_CONFIG_DIR", self.config.path())
            .env_remove("TERN_SOCKET")
            .env(
                "DBUS_SESSION_BUS_ADDRESS",
                "unix:path=/nonexistent/tern-test-bus",
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        let mut child = cmd.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        // Keeps stdin open past the answer: `script` may end the session at EOF on stdin.
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(700));
            let _ = stdin.write_all(input);
            let _ = stdin.flush();
            std::thread::sleep(std::time::Duration::from_secs(20));
        });
        ran(child.wait_with_output().unwrap())
    }
}

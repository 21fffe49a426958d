//! How a command ends: the exit codes scripts can rely on, and the one sentence printed as
//! `tern: <sentence>` on stderr.

use std::process::ExitCode;

/// The exit codes, documented in `docs/cli.md`. Stable: scripts branch on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Success.
    Ok = 0,
    /// Any error not covered below.
    Error = 1,
    /// The command line is wrong, or the command needs `--yes` or a terminal it does not have.
    Usage = 2,
    /// The helper (`ternd`) cannot be reached.
    HelperUnreachable = 3,
    /// The connect attempt failed (the helper refused it, or the tunnel ended in `failed`).
    ConnectFailed = 4,
    /// `connect --wait` gave up after `--timeout`.
    Timeout = 5,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        Self::from(exit as u8)
    }
}

/// A command's failure: the exit code and the sentence for the user.
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub exit: Exit,
    /// One sentence a user can act on (no `tern:` prefix).
    pub message: String,
}

impl Failure {
    /// A general error (exit 1).
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Error,
            message: message.into(),
        }
    }

    /// A usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Usage,
            message: message.into(),
        }
    }

    /// A failure with an explicit exit code.
    pub fn with_exit(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
        }
    }
}

impl From<ipc::IpcError> for Failure {
    fn from(error: ipc::IpcError) -> Self {
        let exit = match error {
            ipc::IpcError::Connect { .. } => Exit::HelperUnreachable,
            _ => Exit::Error,
        };
        Self::with_exit(exit, error.to_string())
    }
}

impl From<profile::StoreError> for Failure {
    fn from(error: profile::StoreError) -> Self {
        Self::error(error.to_string())
    }
}

/// The result of a command.
pub type CmdResult<T = ()> = Result<T, Failure>;

//! The one error type every command returns to the UI: a machine-readable kind (and code) the
//! UI turns into a sentence and a fix, plus the technical detail shown one click away.

use profile::{ImportError, SecretKind, StoreError};
use serde::Serialize;

/// What failed, for the UI to word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The helper's socket does not exist or nobody listens on it: `ternd` is not running.
    HelperNotRunning,
    /// The socket exists but this user may not open it (not in the `tern` group).
    HelperPermission,
    /// The socket could not be opened for another reason.
    HelperUnreachable,
    /// The connection to the helper broke or was closed.
    HelperConnectionLost,
    /// The helper speaks another protocol version.
    HelperVersion,
    /// The helper did not answer in time.
    HelperTimeout,
    /// The helper sent something this app does not understand.
    HelperProtocol,
    /// The helper refused the request; `code` is the `ipc::ErrorCode`.
    Refused,
    /// A file could not be imported; `code` names the `ImportError` variant.
    Import,
    /// The profile store failed; `code` says how.
    Store,
    /// The OS keyring failed; `code` says how.
    Keyring,
    /// Secrets the profile needs are not in the keyring; `secrets` lists them.
    MissingSecret,
    /// The import to confirm is no longer pending, or a profile is gone.
    NotFound,
    /// The request from the UI was not valid (a bad id, a bad value).
    Invalid,
    /// Reading or writing a file failed.
    Io,
}

/// An error as the UI receives it.
#[derive(Clone, Debug, Serialize, thiserror::Error)]
#[error("{detail}")]
pub struct UiError {
    /// What failed.
    pub kind: ErrorKind,
    /// A finer code within the kind (snake case), when there is one.
    pub code: Option<String>,
    /// The technical detail, for the "details" disclosure and bug reports.
    pub detail: String,
    /// For [`ErrorKind::MissingSecret`]: which secrets to ask for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretKind>,
}

impl UiError {
    /// An error without a code.
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            code: None,
            detail: detail.into(),
            secrets: Vec::new(),
        }
    }

    /// An error with a code.
    pub fn with_code(kind: ErrorKind, code: &str, detail: impl Into<String>) -> Self {
        Self {
            code: Some(code.to_owned()),
            ..Self::new(kind, detail)
        }
    }

    /// Secrets the keyring does not hold.
    pub fn missing_secrets(secrets: Vec<SecretKind>) -> Self {
        Self {
            secrets,
            ..Self::new(
                ErrorKind::MissingSecret,
                "the keyring holds no value for a secret this profile needs",
            )
        }
    }
}

impl From<ipc::IpcError> for UiError {
    fn from(error: ipc::IpcError) -> Self {
        use ipc::IpcError as E;
        use std::io::ErrorKind as Io;
        let detail = error.to_string();
        match &error {
            E::Connect { source, .. } => match source.kind() {
                Io::NotFound | Io::ConnectionRefused => {
                    Self::new(ErrorKind::HelperNotRunning, detail)
                }
                Io::PermissionDenied => Self::new(ErrorKind::HelperPermission, detail),
                _ => Self::new(ErrorKind::HelperUnreachable, detail),
            },
            E::Io(_) | E::Closed => Self::new(ErrorKind::HelperConnectionLost, detail),
            E::VersionMismatch { .. } => Self::new(ErrorKind::HelperVersion, detail),
            E::Timeout => Self::new(ErrorKind::HelperTimeout, detail),
            E::FrameTooLarge { .. } | E::Malformed(_) | E::Encode(_) | E::Unexpected(_) => {
                Self::new(ErrorKind::HelperProtocol, detail)
            }
            E::Refused(reply) => Self::with_code(ErrorKind::Refused, &snake(&reply.code), detail),
        }
    }
}

impl From<ImportError> for UiError {
    fn from(error: ImportError) -> Self {
        let code = match &error {
            ImportError::TooLarge { .. } => "too_large",
            ImportError::NotUtf8 => "not_utf8",
            ImportError::Malformed { .. } => "malformed",
            ImportError::TooDeep { .. } => "too_deep",
            ImportError::UnknownFormat => "unknown_format",
            ImportError::MissingField { .. } => "missing_field",
            ImportError::WrongType { .. } => "wrong_type",
            ImportError::InvalidValue { .. } => "invalid_value",
            ImportError::Unsupported { .. } => "unsupported",
            ImportError::TooMany { .. } => "too_many",
            ImportError::Proposal { .. } => "proposal",
            ImportError::UnsupportedVersion { .. } => "unsupported_version",
            ImportError::Invalid(_) => "invalid",
        };
        Self::with_code(ErrorKind::Import, code, error.to_string())
    }
}

impl From<StoreError> for UiError {
    fn from(error: StoreError) -> Self {
        let code = match &error {
            StoreError::NoConfigDir => "no_config_dir",
            StoreError::Io { .. } => "io",
            StoreError::NotFound(_) => "not_found",
            StoreError::Invalid(_) => "invalid",
            StoreError::Corrupt { .. } => "corrupt",
            StoreError::Credential(profile::CredentialError::WrongPassphrase) => "wrong_passphrase",
            StoreError::Credential(_) => "client_certificate",
        };
        Self::with_code(ErrorKind::Store, code, error.to_string())
    }
}

impl From<keyring_core::Error> for UiError {
    fn from(error: keyring_core::Error) -> Self {
        use keyring_core::Error as K;
        let code = match &error {
            K::NoEntry => "no_entry",
            K::NoStorageAccess(_) => "no_storage_access",
            K::NoDefaultStore => "no_store",
            K::PlatformFailure(_) => "platform_failure",
            _ => "other",
        };
        Self::with_code(ErrorKind::Keyring, code, error.to_string())
    }
}

/// The snake-case serde name of a unit enum value (`ErrorCode::NotConnected` → `not_connected`).
pub fn snake<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_errors_say_why_the_helper_is_unreachable() {
        let refused = |kind| ipc::IpcError::Connect {
            path: "/run/tern/ternd.sock".into(),
            source: std::io::Error::from(kind),
        };
        let not_running: UiError = refused(std::io::ErrorKind::NotFound).into();
        assert_eq!(not_running.kind, ErrorKind::HelperNotRunning);
        let denied: UiError = refused(std::io::ErrorKind::PermissionDenied).into();
        assert_eq!(denied.kind, ErrorKind::HelperPermission);
        assert!(denied.detail.contains("/run/tern/ternd.sock"));
    }

    #[test]
    fn refusals_carry_the_helper_code() {
        let error: UiError = ipc::IpcError::Refused(ipc::ErrorReply {
            code: ipc::ErrorCode::AlreadyConnected,
            message: "a tunnel is already up".into(),
        })
        .into();
        assert_eq!(error.kind, ErrorKind::Refused);
        assert_eq!(error.code.as_deref(), Some("already_connected"));
        let json = serde_json::to_value(&error).unwrap();
        assert_eq!(json["kind"], "refused");
        assert!(json.get("secrets").is_none());
    }

    #[test]
    fn import_errors_have_codes() {
        let error: UiError = ImportError::UnknownFormat.into();
        assert_eq!(error.code.as_deref(), Some("unknown_format"));
    }
}

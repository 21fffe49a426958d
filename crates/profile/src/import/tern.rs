//! Tern's own profile file: versioned JSON, the same document the profile store writes.
//!
//! ```json
//! { "format": "tern-profile", "version": 1, "profile": { "id": "…", "name": "…", … } }
//! ```
//!
//! Secrets are never part of it, so a file can be backed up and shared as is. Unknown fields are
//! errors: this format is ours, and a misspelt field must not be ignored.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ImportError, ImportPreview, check_json_depth, check_size, routing_warnings};
use crate::model::Profile;
use crate::secrets::ImportedSecrets;

/// The value of the `format` field.
pub const TERN_FORMAT_NAME: &str = "tern-profile";
/// The newest format version this build writes and reads.
pub const TERN_FORMAT_VERSION: u32 = 1;

#[derive(Serialize)]
struct DocumentRef<'a> {
    format: &'static str,
    version: u32,
    profile: &'a Profile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[allow(dead_code)] // checked before deserializing
    format: String,
    #[allow(dead_code)] // checked before deserializing
    version: u32,
    profile: Profile,
}

/// Writes a profile as a Tern profile file (pretty JSON, no secrets).
pub fn export_tern(profile: &Profile) -> Result<String, serde_json::Error> {
    let mut text = serde_json::to_string_pretty(&DocumentRef {
        format: TERN_FORMAT_NAME,
        version: TERN_FORMAT_VERSION,
        profile,
    })?;
    text.push('\n');
    Ok(text)
}

/// Reads a Tern profile file.
pub fn import_tern(bytes: &[u8]) -> Result<ImportPreview, ImportError> {
    let profile = parse_tern(bytes)?;
    profile.validate().map_err(ImportError::Invalid)?;
    let warnings = routing_warnings(
        &profile,
        [
            "profile.routing.include",
            "profile.routing.exclude",
            "profile.dns.servers",
        ],
    );
    Ok(ImportPreview {
        profile,
        secrets: ImportedSecrets::default(),
        warnings,
    })
}

/// Parses a Tern profile file without validating the profile.
pub(crate) fn parse_tern(bytes: &[u8]) -> Result<Profile, ImportError> {
    check_size(bytes)?;
    let text = core::str::from_utf8(bytes).map_err(|_| ImportError::NotUtf8)?;
    check_json_depth(text)?;
    let malformed = |e: serde_json::Error| ImportError::Malformed {
        format: "JSON",
        detail: e.to_string(),
    };
    let value: Value = serde_json::from_str(text).map_err(malformed)?;
    match value.get("format") {
        Some(Value::String(name)) if name == TERN_FORMAT_NAME => {}
        Some(_) => {
            return Err(ImportError::InvalidValue {
                field: "format".into(),
                reason: format!("must be \"{TERN_FORMAT_NAME}\""),
            });
        }
        None => {
            return Err(ImportError::MissingField {
                field: "format".into(),
            });
        }
    }
    match value.get("version").map(Value::as_u64) {
        Some(Some(version)) if version > u64::from(TERN_FORMAT_VERSION) => {
            return Err(ImportError::UnsupportedVersion {
                found: version,
                supported: TERN_FORMAT_VERSION,
            });
        }
        Some(Some(version)) if version >= 1 => {}
        Some(_) => {
            return Err(ImportError::WrongType {
                field: "version".into(),
                expected: "a positive whole number",
            });
        }
        None => {
            return Err(ImportError::MissingField {
                field: "version".into(),
            });
        }
    }
    let document: Document = serde_json::from_value(value).map_err(malformed)?;
    Ok(document.profile)
}

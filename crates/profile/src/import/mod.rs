//! Importing profiles from files: strongSwan's `.sswan`, Apple's `.mobileconfig` and Tern's own
//! format.
//!
//! Every importer is a pure function from bytes to an [`ImportPreview`] and never panics. What a
//! file asks for that Tern cannot honour is reported as an [`ImportWarning`], never dropped
//! silently; what cannot be imported safely is an [`ImportError`]. Judgement calls on hostile or
//! surprising content:
//! - A split-tunnel list that covers a whole address family (`0.0.0.0/0`, or `0.0.0.0/1` plus
//!   `128.0.0.0/1`) is a warning: it is really a full tunnel, which some providers mean, but
//!   the user should see that every destination goes to the gateway.
//! - Exclusions that cover a whole family are a warning: that family never uses the VPN.
//! - DNS servers that the routing sends outside the tunnel are a warning: queries would leave
//!   the tunnel in the clear.
//! - Names with control or invisible characters, or path-like names, are errors.
//! - Oversized files, deep nesting, wrong types and unknown algorithm names are errors.

mod cms;
mod mobileconfig;
mod sswan;
mod tern;

use core::fmt;
use std::net::IpAddr;

use ipsec_types::IpPrefix;

use crate::model::Profile;
use crate::proposal::ProposalError;
use crate::secrets::ImportedSecrets;
use crate::validate::ValidationError;

pub use mobileconfig::import_mobileconfig;
pub use sswan::import_sswan;
pub(crate) use tern::parse_tern as parse_tern_document;
pub use tern::{TERN_FORMAT_NAME, TERN_FORMAT_VERSION, export_tern, import_tern};

/// Largest file any importer accepts.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;
/// Deepest nesting of objects/arrays (JSON) or dictionaries/arrays (plist) accepted. Real
/// profiles nest four or five levels.
pub const MAX_NESTING: usize = 16;

/// What an import would create, for the user to confirm before it is saved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportPreview {
    /// The profile, already validated.
    pub profile: Profile,
    /// Secrets the file carried, for the keyring (never written with the profile).
    pub secrets: ImportedSecrets,
    /// What the file asks for that Tern will not do exactly as asked.
    pub warnings: Vec<ImportWarning>,
}

/// Something in the file that Tern imports differently, or not at all. Serializable, so the
/// helper and the GUI can pass it on as structured data.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ImportWarning {
    /// The field in the file's own terms (`split-tunneling.subnets`, `IKEv2.DisableRedirect`).
    pub field: String,
    /// What happens to it.
    pub kind: WarningKind,
}

/// The kinds of [`ImportWarning`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum WarningKind {
    /// The field is not part of the format as documented; it was ignored.
    UnknownField,
    /// The field is understood, but Tern cannot honour it; it was ignored.
    Unsupported {
        /// Why, and what Tern does instead.
        reason: String,
    },
    /// The value is outside what Tern accepts; Tern's default is used instead.
    OutOfRange {
        /// The value in the file.
        value: String,
        /// What is accepted.
        allowed: String,
    },
    /// An algorithm Tern does not implement was removed from a proposal.
    AlgorithmDropped {
        /// The algorithm's name.
        algorithm: String,
    },
    /// A whole proposal was removed because none of its algorithms for a required transform
    /// type is implemented.
    ProposalDropped {
        /// The proposal as written.
        proposal: String,
        /// What was missing.
        reason: String,
    },
    /// A "split" tunnel whose include list covers every address of a family: all traffic of
    /// that family goes to the gateway.
    SplitTunnelCoversEverything {
        /// `IPv4` or `IPv6`.
        family: &'static str,
    },
    /// The exclusions cover every address of a family: none of it uses the VPN.
    ExclusionsCoverEverything {
        /// `IPv4` or `IPv6`.
        family: &'static str,
    },
    /// A DNS server the routing sends outside the tunnel: queries to it are not protected.
    DnsServerOutsideTunnel {
        /// The server.
        server: IpAddr,
    },
    /// The file was signed, and Tern imported its content without verifying the signature.
    SignatureNotVerified,
}

impl fmt::Display for ImportWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = &self.field;
        match &self.kind {
            WarningKind::UnknownField => {
                write!(f, "{field}: not a known field of this format; ignored")
            }
            WarningKind::Unsupported { reason } => write!(f, "{field}: not supported: {reason}"),
            WarningKind::OutOfRange { value, allowed } => write!(
                f,
                "{field}: {value} is outside {allowed}; Tern's default is used"
            ),
            WarningKind::AlgorithmDropped { algorithm } => write!(
                f,
                "{field}: `{algorithm}` is not implemented by Tern and was removed"
            ),
            WarningKind::ProposalDropped { proposal, reason } => {
                write!(f, "{field}: proposal `{proposal}` was removed: {reason}")
            }
            WarningKind::SplitTunnelCoversEverything { family } => write!(
                f,
                "{field}: the split-tunnel list covers every {family} address, so all {family} \
                 traffic goes through the VPN"
            ),
            WarningKind::ExclusionsCoverEverything { family } => write!(
                f,
                "{field}: the exclusions cover every {family} address, so no {family} traffic \
                 uses the VPN"
            ),
            WarningKind::DnsServerOutsideTunnel { server } => write!(
                f,
                "{field}: DNS server {server} is routed outside the tunnel; queries to it are \
                 not protected by the VPN"
            ),
            WarningKind::SignatureNotVerified => write!(
                f,
                "{field}: the profile is signed; Tern imported it without verifying the \
                 signature"
            ),
        }
    }
}

/// Why a file cannot be imported.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error("the file is {size} bytes; profile files are at most {limit} bytes")]
    TooLarge {
        /// The file's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The file is not UTF-8 text.
    #[error("the file is not UTF-8 text")]
    NotUtf8,
    /// The file is not well-formed in its syntax.
    #[error("the file is not valid {format}: {detail}")]
    Malformed {
        /// `JSON`, `XML property list`, `CMS`.
        format: &'static str,
        /// The parser's description.
        detail: String,
    },
    /// Nesting deeper than [`MAX_NESTING`].
    #[error("the file nests deeper than {limit} levels")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// The file is none of the formats Tern imports.
    #[error("the file is not a .sswan, .mobileconfig or Tern profile")]
    UnknownFormat,
    /// A required field is absent.
    #[error("{field} is missing")]
    MissingField {
        /// The field.
        field: String,
    },
    /// A field has the wrong type.
    #[error("{field} must be {expected}")]
    WrongType {
        /// The field.
        field: String,
        /// What it must be.
        expected: &'static str,
    },
    /// A field has a value that cannot be used.
    #[error("{field}: {reason}")]
    InvalidValue {
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A field asks for something Tern cannot do, and importing without it would be unsafe or
    /// pointless.
    #[error("{field}: {reason}")]
    Unsupported {
        /// The field.
        field: String,
        /// What Tern cannot do.
        reason: String,
    },
    /// More entries than allowed.
    #[error("{field} has more than {limit} entries")]
    TooMany {
        /// The field.
        field: String,
        /// The limit.
        limit: usize,
    },
    /// A proposal string cannot be used.
    #[error("{field}: {source}")]
    Proposal {
        /// The field.
        field: String,
        /// Why.
        source: ProposalError,
    },
    /// A Tern profile file from a newer Tern.
    #[error("the profile file has format version {found}; this Tern reads up to {supported}")]
    UnsupportedVersion {
        /// The version in the file.
        found: u64,
        /// The newest version this build reads.
        supported: u32,
    },
    /// The imported profile breaks a validation rule (the field is named in the file's
    /// terms where it maps to one).
    #[error("{0}")]
    Invalid(ValidationError),
}

/// The formats [`import_any`] recognises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ImportFormat {
    /// strongSwan Android's JSON profile.
    Sswan,
    /// Apple's configuration profile (XML plist, possibly CMS-signed).
    MobileConfig,
    /// Tern's own profile file.
    Tern,
}

/// Guesses the format from the content (never from a file name).
#[must_use]
pub fn detect_format(bytes: &[u8]) -> Option<ImportFormat> {
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = text.trim_ascii_start();
    match text.first()? {
        b'{' => {
            // Tern files say so in a top-level `format` field; anything else in JSON is taken
            // for `.sswan` (whose importer then reports what is wrong with it).
            let text = core::str::from_utf8(text).ok();
            let is_tern = text
                .filter(|t| t.len() <= MAX_FILE_BYTES && check_json_depth(t).is_ok())
                .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
                .is_some_and(|v| v.get("format").is_some());
            Some(if is_tern {
                ImportFormat::Tern
            } else {
                ImportFormat::Sswan
            })
        }
        b'<' => Some(ImportFormat::MobileConfig),
        0x30 if cms::looks_signed(bytes) => Some(ImportFormat::MobileConfig),
        _ => None,
    }
}

/// Imports a file of any supported format, detected from its content.
pub fn import_any(bytes: &[u8]) -> Result<(ImportFormat, ImportPreview), ImportError> {
    check_size(bytes)?;
    let format = detect_format(bytes).ok_or(ImportError::UnknownFormat)?;
    let preview = match format {
        ImportFormat::Sswan => import_sswan(bytes)?,
        ImportFormat::MobileConfig => import_mobileconfig(bytes)?,
        ImportFormat::Tern => import_tern(bytes)?,
    };
    Ok((format, preview))
}

pub(crate) fn check_size(bytes: &[u8]) -> Result<(), ImportError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(ImportError::TooLarge {
            size: bytes.len(),
            limit: MAX_FILE_BYTES,
        });
    }
    Ok(())
}

/// Checks JSON nesting depth before handing the text to a recursive parser.
pub(crate) fn check_json_depth(text: &str) -> Result<(), ImportError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for byte in text.bytes() {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(ImportError::TooDeep { limit: MAX_NESTING });
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Validates an imported profile, renaming model fields to the file's fields where they map.
pub(crate) fn validate_imported(
    profile: &Profile,
    field_names: &[(&str, &str)],
) -> Result<(), ImportError> {
    profile.validate().map_err(|mut error| {
        let renamed = field_names.iter().find_map(|(ours, theirs)| {
            let rest = error.field.strip_prefix(ours)?;
            (rest.is_empty() || rest.starts_with(['[', '.'])).then(|| format!("{theirs}{rest}"))
        });
        if let Some(renamed) = renamed {
            error.field = renamed;
        }
        ImportError::Invalid(error)
    })
}

/// Warnings about where traffic goes that the user might not expect.
pub(crate) fn routing_warnings(
    profile: &Profile,
    [include_field, exclude_field, dns_field]: [&str; 3],
) -> Vec<ImportWarning> {
    let mut warnings = Vec::new();
    let routing = &profile.routing;
    for (ipv4, family) in [(true, "IPv4"), (false, "IPv6")] {
        if covers_family(&routing.include, ipv4) {
            warnings.push(ImportWarning {
                field: include_field.to_owned(),
                kind: WarningKind::SplitTunnelCoversEverything { family },
            });
        }
        if covers_family(&routing.exclude, ipv4) {
            warnings.push(ImportWarning {
                field: exclude_field.to_owned(),
                kind: WarningKind::ExclusionsCoverEverything { family },
            });
        }
    }
    for server in &profile.dns.servers {
        let ipv6_outside = server.is_ipv6() && profile.ipv6 != crate::model::Ipv6Policy::Tunnel;
        if ipv6_outside || !routing.routes_through_tunnel(*server) {
            warnings.push(ImportWarning {
                field: dns_field.to_owned(),
                kind: WarningKind::DnsServerOutsideTunnel { server: *server },
            });
        }
    }
    warnings
}

fn to_u128(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// Whether the union of the prefixes of one family covers that family's whole address space.
pub(crate) fn covers_family(prefixes: &[IpPrefix], ipv4: bool) -> bool {
    let mut ranges: Vec<(u128, u128)> = prefixes
        .iter()
        .filter(|p| p.addr().is_ipv4() == ipv4)
        .map(|p| (to_u128(p.first()), to_u128(p.last())))
        .collect();
    if ranges.is_empty() {
        return false;
    }
    ranges.sort_unstable();
    let max = if ipv4 {
        u128::from(u32::MAX)
    } else {
        u128::MAX
    };
    let mut next_uncovered: u128 = 0;
    for (start, end) in ranges {
        if start > next_uncovered {
            return false;
        }
        if end >= next_uncovered {
            if end == max {
                return true;
            }
            next_uncovered = end + 1;
        }
    }
    false
}

/// Builds a warning.
pub(crate) fn warn(field: impl Into<String>, kind: WarningKind) -> ImportWarning {
    ImportWarning {
        field: field.into(),
        kind,
    }
}

/// Builds an "unsupported" warning.
pub(crate) fn unsupported(field: impl Into<String>, reason: impl Into<String>) -> ImportWarning {
    warn(
        field,
        WarningKind::Unsupported {
            reason: reason.into(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serde_helpers::parse_prefix;

    fn prefixes(list: &[&str]) -> Vec<IpPrefix> {
        list.iter().map(|p| parse_prefix(p).unwrap()).collect()
    }

    #[test]
    fn coverage() {
        assert!(covers_family(&prefixes(&["0.0.0.0/0"]), true));
        assert!(covers_family(
            &prefixes(&["128.0.0.0/1", "0.0.0.0/1"]),
            true
        ));
        assert!(!covers_family(
            &prefixes(&["0.0.0.0/1", "128.0.0.0/2"]),
            true
        ));
        assert!(!covers_family(&prefixes(&["0.0.0.0/0"]), false));
        assert!(covers_family(
            &prefixes(&["::/1", "8000::/1", "10.0.0.0/8"]),
            false
        ));
        assert!(!covers_family(&prefixes(&["10.0.0.0/8"]), true));
    }

    #[test]
    fn json_depth() {
        assert!(check_json_depth(&"[".repeat(17)).is_err());
        assert!(check_json_depth(&format!("{}{}", "[".repeat(16), "]".repeat(16))).is_ok());
        assert!(check_json_depth(&format!("\"{}\"", "[".repeat(100))).is_ok());
    }

    #[test]
    fn detection() {
        assert_eq!(detect_format(b"  {\"uuid\":1}"), Some(ImportFormat::Sswan));
        assert_eq!(
            detect_format(b"{\"format\":\"tern-profile\"}"),
            Some(ImportFormat::Tern)
        );
        // A .sswan whose name mentions the Tern format is still a .sswan.
        assert_eq!(
            detect_format(b"{\"name\":\"tern-profile\"}"),
            Some(ImportFormat::Sswan)
        );
        assert_eq!(detect_format(b"<?xml"), Some(ImportFormat::MobileConfig));
        assert_eq!(detect_format(b"garbage"), None);
    }
}

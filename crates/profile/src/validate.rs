//! Validation of a [`Profile`]: every rule names the field it checks and says what is wrong.

use core::fmt;
use std::net::IpAddr;

use crate::model::{AuthMethod, Certificate, Identity, IdentityKind, Profile};

/// Longest profile name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest DNS name (RFC 1035 §2.3.4, without the trailing dot).
pub const MAX_HOST_LEN: usize = 253;
/// Longest identity or EAP username, in bytes.
pub const MAX_IDENTITY_LEN: usize = 255;
/// Most CA certificates per profile.
pub const MAX_CA_CERTIFICATES: usize = 16;
/// Largest single certificate, in bytes.
pub const MAX_CERTIFICATE_BYTES: usize = 64 * 1024;
/// Most prefixes in each of the include and exclude lists.
pub const MAX_PREFIXES: usize = 256;
/// Most DNS servers.
pub const MAX_DNS_SERVERS: usize = 8;
/// Most DNS search domains.
pub const MAX_SEARCH_DOMAINS: usize = 16;
/// Allowed tunnel MTUs (IPv6 needs at least 1280 on every link, RFC 8200 §5).
pub const MTU_RANGE: core::ops::RangeInclusive<u16> = 1280..=9000;
/// Allowed NAT keepalive intervals, in seconds.
pub const NAT_KEEPALIVE_RANGE: core::ops::RangeInclusive<u16> = 10..=3600;
/// Allowed DPD intervals, in seconds.
pub const DPD_RANGE: core::ops::RangeInclusive<u32> = 10..=86_400;
/// Allowed SA lifetimes, in seconds (5 minutes to 7 days).
pub const LIFETIME_RANGE: core::ops::RangeInclusive<u32> = 300..=604_800;

/// One thing wrong with a profile.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ValidationError {
    /// The field, as a path into the profile (`gateway.host`, `routing.include[2]`).
    pub field: String,
    /// What is wrong with it.
    pub problem: Problem,
}

/// What is wrong with a field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Empty where a value is required.
    Empty,
    /// Longer than allowed.
    TooLong {
        /// The maximum (characters for names, bytes otherwise).
        max: usize,
    },
    /// More entries than allowed.
    TooMany {
        /// The maximum.
        max: usize,
    },
    /// Contains a control or invisible formatting character (which can hide or reorder text).
    ControlCharacter,
    /// Looks like a file path; names are labels, never paths.
    PathLike,
    /// Starts or ends with whitespace.
    SurroundingWhitespace,
    /// A number outside its range.
    OutOfRange {
        /// The value found.
        value: u64,
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
    /// Malformed, with a description.
    Invalid(String),
    /// Contradicts another field, with a description.
    Conflict(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("must not be empty"),
            Self::TooLong { max } => write!(f, "is longer than {max}"),
            Self::TooMany { max } => write!(f, "has more than {max} entries"),
            Self::ControlCharacter => {
                f.write_str("contains a control or invisible formatting character")
            }
            Self::PathLike => f.write_str("looks like a file path (`/`, `\\`, `.` or `..`)"),
            Self::SurroundingWhitespace => f.write_str("starts or ends with whitespace"),
            Self::OutOfRange { value, min, max } => {
                write!(f, "{value} is outside the allowed range {min}..={max}")
            }
            Self::Invalid(why) | Self::Conflict(why) => f.write_str(why),
        }
    }
}

/// Whether `c` could hide or reorder what a user sees: C0/C1 controls, bidi overrides and
/// isolates, zero-width characters, the BOM.
pub(crate) fn is_hostile_char(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}'
            | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// Checks a profile name.
pub fn check_name(name: &str) -> Result<(), Problem> {
    if name.trim().is_empty() {
        return Err(Problem::Empty);
    }
    if name.chars().any(is_hostile_char) {
        return Err(Problem::ControlCharacter);
    }
    if name.trim() != name {
        return Err(Problem::SurroundingWhitespace);
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Problem::TooLong {
            max: MAX_NAME_CHARS,
        });
    }
    if name.contains(['/', '\\']) || name == "." || name == ".." {
        return Err(Problem::PathLike);
    }
    Ok(())
}

/// Checks a DNS host name (LDH labels of 1–63 bytes, 253 bytes in all).
pub fn check_hostname(host: &str) -> Result<(), Problem> {
    if host.is_empty() {
        return Err(Problem::Empty);
    }
    if host.chars().any(is_hostile_char) {
        return Err(Problem::ControlCharacter);
    }
    if host.len() > MAX_HOST_LEN {
        return Err(Problem::TooLong { max: MAX_HOST_LEN });
    }
    for label in host.split('.') {
        let valid = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !valid {
            return Err(Problem::Invalid(format!(
                "`{host}` is neither an IP address nor a valid DNS name"
            )));
        }
    }
    Ok(())
}

fn check_text(value: &str, max: usize) -> Result<(), Problem> {
    if value.is_empty() {
        return Err(Problem::Empty);
    }
    if value.chars().any(is_hostile_char) {
        return Err(Problem::ControlCharacter);
    }
    if value.len() > max {
        return Err(Problem::TooLong { max });
    }
    Ok(())
}

fn check_identity(identity: &Identity) -> Result<(), Problem> {
    check_text(&identity.value, MAX_IDENTITY_LEN)?;
    let value = &identity.value;
    let ok = match identity.kind {
        IdentityKind::IpAddr => value.parse::<IpAddr>().is_ok(),
        IdentityKind::Email => value
            .split_once('@')
            .is_some_and(|(user, domain)| !user.is_empty() && !domain.is_empty()),
        IdentityKind::KeyId => {
            value.len().is_multiple_of(2) && value.bytes().all(|b| b.is_ascii_hexdigit())
        }
        IdentityKind::Fqdn | IdentityKind::DistinguishedName => true,
    };
    if ok {
        Ok(())
    } else {
        Err(Problem::Invalid(format!(
            "`{value}` is not a valid {:?} identity",
            identity.kind
        )))
    }
}

fn check_certificate(cert: &Certificate) -> Result<(), Problem> {
    if cert.0.is_empty() {
        return Err(Problem::Empty);
    }
    if cert.0.len() > MAX_CERTIFICATE_BYTES {
        return Err(Problem::TooLong {
            max: MAX_CERTIFICATE_BYTES,
        });
    }
    if !cert.looks_valid() {
        return Err(Problem::Invalid(
            "is neither a DER certificate nor a PEM `CERTIFICATE` block".into(),
        ));
    }
    Ok(())
}

fn range<T: Into<u64> + Copy + PartialOrd>(
    value: T,
    allowed: &core::ops::RangeInclusive<T>,
) -> Result<(), Problem> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(Problem::OutOfRange {
            value: value.into(),
            min: (*allowed.start()).into(),
            max: (*allowed.end()).into(),
        })
    }
}

fn count(len: usize, max: usize) -> Result<(), Problem> {
    if len > max {
        Err(Problem::TooMany { max })
    } else {
        Ok(())
    }
}

impl Profile {
    /// Every problem with this profile, in field order. Empty when the profile is valid.
    #[must_use]
    pub fn problems(&self) -> Vec<ValidationError> {
        let mut out = Vec::new();
        let mut check = |field: String, result: Result<(), Problem>| {
            if let Err(problem) = result {
                out.push(ValidationError { field, problem });
            }
        };
        check("name".into(), check_name(&self.name));
        let host = &self.gateway.host;
        check(
            "gateway.host".into(),
            if host.parse::<IpAddr>().is_ok() {
                Ok(())
            } else {
                check_hostname(host)
            },
        );
        check(
            "gateway.port".into(),
            range(self.gateway.port, &(1..=u16::MAX)),
        );
        if let Some(id) = &self.remote_identity {
            check("remote_identity".into(), check_identity(id));
        }
        if let Some(id) = &self.local_identity {
            check("local_identity".into(), check_identity(id));
        }
        if let Some(username) = self.auth.eap_username() {
            check(
                "auth.username".into(),
                check_text(username, MAX_IDENTITY_LEN),
            );
        }
        let trust = &self.server_trust;
        check(
            "server_trust.ca_certificates".into(),
            count(trust.ca_certificates.len(), MAX_CA_CERTIFICATES),
        );
        for (i, cert) in trust.ca_certificates.iter().enumerate() {
            check(
                format!("server_trust.ca_certificates[{i}]"),
                check_certificate(cert),
            );
        }
        if let Some(pin) = &trust.pinned_certificate {
            check(
                "server_trust.pinned_certificate".into(),
                check_certificate(pin),
            );
            if !trust.ca_certificates.is_empty() {
                check(
                    "server_trust.pinned_certificate".into(),
                    Err(Problem::Conflict(
                        "a pinned certificate excludes CA certificates; keep one".into(),
                    )),
                );
            }
        }
        for (field, name) in [
            ("server_trust.server_common_name", &trust.server_common_name),
            ("server_trust.issuer_common_name", &trust.issuer_common_name),
        ] {
            if let Some(name) = name {
                check(field.into(), check_text(name, MAX_IDENTITY_LEN));
            }
        }
        if matches!(self.auth, AuthMethod::Psk) && trust.pinned_certificate.is_some() {
            check(
                "server_trust.pinned_certificate".into(),
                Err(Problem::Conflict(
                    "with PSK authentication the gateway presents no certificate".into(),
                )),
            );
        }
        check(
            "ike_proposals".into(),
            count(self.ike_proposals.len(), crate::proposal::MAX_PROPOSALS),
        );
        for (i, p) in self.ike_proposals.iter().enumerate() {
            if let Some(problem) = p.problem() {
                check(
                    format!("ike_proposals[{i}]"),
                    Err(Problem::Invalid(problem.into())),
                );
            }
        }
        check(
            "esp_proposals".into(),
            count(self.esp_proposals.len(), crate::proposal::MAX_PROPOSALS),
        );
        for (i, p) in self.esp_proposals.iter().enumerate() {
            if let Some(problem) = p.problem() {
                check(
                    format!("esp_proposals[{i}]"),
                    Err(Problem::Invalid(problem.into())),
                );
            }
        }
        check(
            "routing.include".into(),
            count(self.routing.include.len(), MAX_PREFIXES),
        );
        check(
            "routing.exclude".into(),
            count(self.routing.exclude.len(), MAX_PREFIXES),
        );
        check(
            "dns.servers".into(),
            count(self.dns.servers.len(), MAX_DNS_SERVERS),
        );
        for (i, server) in self.dns.servers.iter().enumerate() {
            if server.is_unspecified() || server.is_multicast() {
                check(
                    format!("dns.servers[{i}]"),
                    Err(Problem::Invalid(format!("{server} cannot be a DNS server"))),
                );
            }
        }
        check(
            "dns.search_domains".into(),
            count(self.dns.search_domains.len(), MAX_SEARCH_DOMAINS),
        );
        for (i, domain) in self.dns.search_domains.iter().enumerate() {
            check(format!("dns.search_domains[{i}]"), check_hostname(domain));
        }
        if let Some(mtu) = self.mtu {
            check("mtu".into(), range(mtu, &MTU_RANGE));
        }
        if let Some(secs) = self.nat_keepalive_secs {
            check(
                "nat_keepalive_secs".into(),
                range(secs, &NAT_KEEPALIVE_RANGE),
            );
        }
        if let Some(secs) = self.dpd.interval_secs {
            check("dpd.interval_secs".into(), range(secs, &DPD_RANGE));
        }
        if let Some(secs) = self.lifetimes.ike_secs {
            check("lifetimes.ike_secs".into(), range(secs, &LIFETIME_RANGE));
        }
        if let Some(secs) = self.lifetimes.child_secs {
            check("lifetimes.child_secs".into(), range(secs, &LIFETIME_RANGE));
        }
        out
    }

    /// `Ok` when the profile is valid, else its first problem.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self.problems().into_iter().next() {
            Some(problem) => Err(problem),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Gateway, ProfileId};

    fn sample() -> Profile {
        Profile::new(
            ProfileId::new_random(),
            "Office",
            Gateway::new("vpn.example.com"),
            AuthMethod::EapMschapv2 {
                username: Some("alice".into()),
            },
        )
    }

    #[test]
    fn names() {
        assert_eq!(check_name(""), Err(Problem::Empty));
        assert_eq!(check_name("a\u{202E}b"), Err(Problem::ControlCharacter));
        assert_eq!(check_name("a\nb"), Err(Problem::ControlCharacter));
        assert_eq!(check_name("../../etc/passwd"), Err(Problem::PathLike));
        assert_eq!(check_name(".."), Err(Problem::PathLike));
        assert_eq!(check_name(" x"), Err(Problem::SurroundingWhitespace));
        assert!(check_name("Büro – Zürich (IKEv2)").is_ok());
        assert!(check_name(&"x".repeat(65)).is_err());
    }

    #[test]
    fn errors_name_the_field() {
        let mut p = sample();
        assert_eq!(p.validate(), Ok(()));
        p.gateway.host = "bad host".into();
        p.mtu = Some(100);
        let problems = p.problems();
        let fields: Vec<&str> = problems.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["gateway.host", "mtu"]);
        assert_eq!(
            problems[1].to_string(),
            "mtu: 100 is outside the allowed range 1280..=9000"
        );
    }

    #[test]
    fn pinned_and_ca_conflict() {
        let mut p = sample();
        let cert = Certificate(vec![0x30, 0x82, 0x01, 0x00]);
        p.server_trust.ca_certificates.push(cert.clone());
        p.server_trust.pinned_certificate = Some(cert);
        assert_eq!(
            p.validate().unwrap_err().field,
            "server_trust.pinned_certificate"
        );
    }
}

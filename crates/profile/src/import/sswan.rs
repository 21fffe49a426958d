//! strongSwan Android's `.sswan` profiles (JSON; the format of the strongSwan VPN Client's
//! "VPN Profile Import", documented at docs.strongswan.org, `os/androidVpnClientProfiles`).
//!
//! Field by field:
//!
//! | `.sswan` field                 | Tern                                                   |
//! |--------------------------------|--------------------------------------------------------|
//! | `uuid` (required)              | `id` (same UUID replaces the stored profile)           |
//! | `name` (required)              | `name` (trimmed; control characters refused)           |
//! | `type` (required)              | `auth`: `ikev2-eap` → EAP-MSCHAPv2, `ikev2-cert` → certificate, `ikev2-cert-eap` → certificate+EAP, `ikev2-eap-tls` → EAP-TLS, `ikev2-byod-eap` → EAP-MSCHAPv2 with a warning (no BYOD/TNC posture) |
//! | `remote.addr` (required)       | `gateway.host`                                         |
//! | `remote.port`                  | `gateway.port` (out of range: warning, default 500)    |
//! | `remote.id`                    | `remote_identity`                                      |
//! | `remote.cert`                  | `server_trust.ca_certificates` (base64 PEM/DER; strongSwan treats it as a trust anchor whether CA or self-signed server certificate) |
//! | `remote.certreq`               | `server_trust.checks.send_certificate_requests`        |
//! | `remote.revocation.{crl,ocsp,strict}` | `server_trust.checks.{crl,ocsp,strict}`         |
//! | `local.id`                     | `local_identity`                                       |
//! | `local.eap_id`                 | EAP username (types with a password only, else warning)|
//! | `local.p12`                    | secret: PKCS#12 bundle (certificate types only, else warning) |
//! | `local.rsa-pss`                | `auth.rsa_pss`                                         |
//! | `ike-proposal`, `esp-proposal` | `ike_proposals`, `esp_proposals` (unimplemented algorithms dropped with warnings; unknown names are errors) |
//! | `dns-servers`                  | `dns.servers` (array or space-separated string)        |
//! | `mtu`, `nat-keepalive`         | `mtu`, `nat_keepalive_secs` (out of range: warning)    |
//! | `split-tunneling.subnets`, `.excluded` | `routing.include`, `routing.exclude` (array or string; ranges `a-b` split into prefixes) |
//! | `split-tunneling.block-ipv4`, `.block-ipv6` | `routing.block_ipv4_outside`, `routing.block_ipv6_outside` |
//! | `ipv6-transport`               | `prefer_ipv6_transport`                                |
//! | `apps`, `excluded-apps`        | warning: per-app routing is Android-only               |
//! | `proxy.*`                      | warning: HTTP proxy not supported                      |
//!
//! The format has no pre-shared key (the gateway always authenticates with a certificate) and no
//! password field; such keys in a file are reported as unknown and never imported.

use std::net::IpAddr;

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::{
    ImportError, ImportPreview, ImportWarning, WarningKind, check_json_depth, check_size,
    routing_warnings, unsupported, validate_imported, warn,
};
use crate::credential::MAX_PKCS12_BYTES;
use crate::model::{AuthMethod, Certificate, Gateway, Identity, Profile, ProfileId};
use crate::proposal::{parse_esp_proposals, parse_ike_proposals};
use crate::secrets::ImportedSecrets;
use crate::serde_helpers::{decode_base64_lenient, parse_prefixes};
use crate::validate::{
    MAX_CERTIFICATE_BYTES, MAX_DNS_SERVERS, MAX_PREFIXES, MTU_RANGE, NAT_KEEPALIVE_RANGE,
};

/// Imports a strongSwan Android `.sswan` profile.
pub fn import_sswan(bytes: &[u8]) -> Result<ImportPreview, ImportError> {
    check_size(bytes)?;
    let text = core::str::from_utf8(bytes).map_err(|_| ImportError::NotUtf8)?;
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    check_json_depth(text)?;
    let value: Value = serde_json::from_str(text).map_err(|e| ImportError::Malformed {
        format: "JSON",
        detail: e.to_string(),
    })?;
    let Value::Object(root) = &value else {
        return Err(ImportError::WrongType {
            field: "(top level)".into(),
            expected: "a JSON object",
        });
    };
    Importer::default().run(root)
}

#[derive(Default)]
struct Importer {
    warnings: Vec<ImportWarning>,
    secrets: ImportedSecrets,
}

/// An object whose fields are read one by one, so the unread ones can be reported.
struct Fields<'a> {
    path: String,
    map: &'a Map<String, Value>,
    read: Vec<&'static str>,
}

impl<'a> Fields<'a> {
    fn new(path: &str, map: &'a Map<String, Value>) -> Self {
        Self {
            path: path.to_owned(),
            map,
            read: Vec::new(),
        }
    }

    fn name(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The value, with JSON `null` read as absent.
    fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.read.push(key);
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn string(&mut self, key: &'static str) -> Result<Option<&'a str>, ImportError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim())),
            Some(_) => Err(self.wrong(key, "a string")),
        }
    }

    fn required_string(&mut self, key: &'static str) -> Result<&'a str, ImportError> {
        self.string(key)?.ok_or_else(|| ImportError::MissingField {
            field: self.name(key),
        })
    }

    fn bool(&mut self, key: &'static str) -> Result<Option<bool>, ImportError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            // strongSwan's JSON reader also accepts the strings "true" and "false".
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(_) => Err(self.wrong(key, "true or false")),
        }
    }

    fn integer(&mut self, key: &'static str) -> Result<Option<i64>, ImportError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.wrong(key, "a whole number")),
            // strongSwan's JSON reader also accepts numbers written as strings.
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| self.wrong(key, "a whole number")),
            Some(_) => Err(self.wrong(key, "a whole number")),
        }
    }

    fn object(&mut self, key: &'static str) -> Result<Option<Fields<'a>>, ImportError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Fields::new(&self.name(key), map))),
            Some(_) => Err(self.wrong(key, "a JSON object")),
        }
    }

    /// A list written either as an array of strings or as one space-separated string.
    fn list(&mut self, key: &'static str) -> Result<Vec<String>, ImportError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    // Spaces inside an entry are not separators: "10.0.0.1 - 10.0.0.9".
                    Value::String(s) => {
                        Ok(s.chars().filter(|c| !c.is_whitespace()).collect::<String>())
                    }
                    _ => Err(self.wrong(key, "a list of strings")),
                })
                .filter(|entry| !matches!(entry, Ok(s) if s.is_empty()))
                .collect(),
            Some(Value::String(s)) => Ok(s
                .replace(" - ", "-")
                .split([' ', '\t', '\n', '\r', ','])
                .filter(|entry| !entry.is_empty())
                .map(str::to_owned)
                .collect()),
            Some(_) => Err(self.wrong(key, "a list of strings or a space-separated string")),
        }
    }

    fn wrong(&self, key: &str, expected: &'static str) -> ImportError {
        ImportError::WrongType {
            field: self.name(key),
            expected,
        }
    }

    fn report_unread(&self, warnings: &mut Vec<ImportWarning>) {
        for key in self.map.keys() {
            if !self.read.contains(&key.as_str()) {
                warnings.push(warn(self.name(key), WarningKind::UnknownField));
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SswanType {
    Eap,
    Cert,
    CertEap,
    EapTls,
    ByodEap,
}

impl SswanType {
    fn has_password(self) -> bool {
        matches!(self, Self::Eap | Self::CertEap | Self::ByodEap)
    }
    fn has_certificate(self) -> bool {
        matches!(self, Self::Cert | Self::CertEap | Self::EapTls)
    }
}

impl Importer {
    fn run(mut self, root: &Map<String, Value>) -> Result<ImportPreview, ImportError> {
        let mut top = Fields::new("", root);
        let uuid_text = top.required_string("uuid")?;
        let id: ProfileId = uuid_text.parse().map_err(|_| ImportError::InvalidValue {
            field: "uuid".into(),
            reason: format!("`{uuid_text}` is not a UUID"),
        })?;
        let name = top.required_string("name")?;
        let type_text = top.required_string("type")?;
        let kind = match type_text {
            "ikev2-eap" => SswanType::Eap,
            "ikev2-cert" => SswanType::Cert,
            "ikev2-cert-eap" => SswanType::CertEap,
            "ikev2-eap-tls" => SswanType::EapTls,
            "ikev2-byod-eap" => SswanType::ByodEap,
            other => {
                // strongSwan silently falls back to ikev2-eap; guessing the wrong
                // authentication method is worse than refusing.
                return Err(ImportError::Unsupported {
                    field: "type".into(),
                    reason: format!("unknown profile type `{other}`"),
                });
            }
        };
        if kind == SswanType::ByodEap {
            self.warnings.push(unsupported(
                "type",
                "ikev2-byod-eap: BYOD posture assessment (TNC) is not supported; imported as \
                 EAP username/password",
            ));
        }

        let mut remote = top
            .object("remote")?
            .ok_or_else(|| ImportError::MissingField {
                field: "remote".into(),
            })?;
        let mut gateway = Gateway::new(remote.required_string("addr")?);
        if let Some(port) = remote.integer("port")? {
            match u16::try_from(port) {
                Ok(port) if port != 0 => gateway.port = port,
                _ => self.warnings.push(warn(
                    "remote.port",
                    WarningKind::OutOfRange {
                        value: port.to_string(),
                        allowed: "1..=65535".into(),
                    },
                )),
            }
        }
        let remote_identity = remote.string("id")?.map(Identity::parse);
        let remote_cert = remote
            .string("cert")?
            .map(|text| decode_certificate(text, "remote.cert"))
            .transpose()?;
        let send_certreq = remote.bool("certreq")?;
        let revocation = remote.object("revocation")?;
        let mut checks = crate::model::CertificateChecks::default();
        if let Some(send) = send_certreq {
            checks.send_certificate_requests = send;
        }
        if let Some(mut revocation) = revocation {
            if let Some(crl) = revocation.bool("crl")? {
                checks.crl = crl;
            }
            if let Some(ocsp) = revocation.bool("ocsp")? {
                checks.ocsp = ocsp;
            }
            if let Some(strict) = revocation.bool("strict")? {
                checks.strict = strict;
            }
            revocation.report_unread(&mut self.warnings);
        }
        remote.report_unread(&mut self.warnings);

        let mut local_identity = None;
        let mut username = None;
        let mut rsa_pss = false;
        if let Some(mut local) = top.object("local")? {
            local_identity = local.string("id")?.map(Identity::parse);
            if let Some(eap_id) = local.string("eap_id")? {
                if kind.has_password() {
                    username = Some(eap_id.to_owned());
                } else {
                    self.warnings.push(unsupported(
                        "local.eap_id",
                        format!("type {type_text} has no EAP username; ignored"),
                    ));
                }
            }
            if let Some(p12) = local.string("p12")? {
                if kind.has_certificate() {
                    let bytes =
                        decode_base64_lenient(p12).map_err(|reason| ImportError::InvalidValue {
                            field: "local.p12".into(),
                            reason,
                        })?;
                    if bytes.len() > MAX_PKCS12_BYTES {
                        return Err(ImportError::InvalidValue {
                            field: "local.p12".into(),
                            reason: format!("larger than {MAX_PKCS12_BYTES} bytes"),
                        });
                    }
                    self.secrets.pkcs12 = Some(Zeroizing::new(bytes));
                } else {
                    self.warnings.push(unsupported(
                        "local.p12",
                        format!("type {type_text} uses no client certificate; not imported"),
                    ));
                }
            }
            if let Some(pss) = local.bool("rsa-pss")? {
                if kind.has_certificate() {
                    rsa_pss = pss;
                } else if pss {
                    self.warnings.push(unsupported(
                        "local.rsa-pss",
                        format!("type {type_text} signs nothing with a client key; ignored"),
                    ));
                }
            }
            local.report_unread(&mut self.warnings);
        }

        let auth = match kind {
            SswanType::Eap | SswanType::ByodEap => AuthMethod::EapMschapv2 { username },
            SswanType::Cert => AuthMethod::Certificate { rsa_pss },
            SswanType::CertEap => AuthMethod::CertificateEap { username, rsa_pss },
            SswanType::EapTls => AuthMethod::EapTls,
        };
        let mut profile = Profile::new(id, name, gateway, auth);
        profile.remote_identity = remote_identity;
        profile.local_identity = local_identity;
        profile.server_trust.ca_certificates.extend(remote_cert);
        profile.server_trust.checks = checks;

        if let Some(text) = top.string("ike-proposal")? {
            let parsed = parse_ike_proposals(text).map_err(|source| ImportError::Proposal {
                field: "ike-proposal".into(),
                source,
            })?;
            self.proposal_warnings(
                "ike-proposal",
                &parsed.dropped_algorithms,
                &parsed.dropped_proposals,
            );
            profile.ike_proposals = parsed.proposals;
        }
        if let Some(text) = top.string("esp-proposal")? {
            let parsed = parse_esp_proposals(text).map_err(|source| ImportError::Proposal {
                field: "esp-proposal".into(),
                source,
            })?;
            self.proposal_warnings(
                "esp-proposal",
                &parsed.dropped_algorithms,
                &parsed.dropped_proposals,
            );
            profile.esp_proposals = parsed.proposals;
        }

        let dns = top.list("dns-servers")?;
        if dns.len() > MAX_DNS_SERVERS {
            return Err(ImportError::TooMany {
                field: "dns-servers".into(),
                limit: MAX_DNS_SERVERS,
            });
        }
        for entry in dns {
            let server: IpAddr = entry.parse().map_err(|_| ImportError::InvalidValue {
                field: "dns-servers".into(),
                reason: format!("`{entry}` is not an IP address"),
            })?;
            profile.dns.servers.push(server);
        }

        if let Some(mtu) = top.integer("mtu")? {
            match u16::try_from(mtu).ok().filter(|m| MTU_RANGE.contains(m)) {
                Some(mtu) => profile.mtu = Some(mtu),
                None => self.out_of_range("mtu", mtu, &MTU_RANGE),
            }
        }
        if let Some(secs) = top.integer("nat-keepalive")? {
            match u16::try_from(secs)
                .ok()
                .filter(|s| NAT_KEEPALIVE_RANGE.contains(s))
            {
                Some(secs) => profile.nat_keepalive_secs = Some(secs),
                None => self.out_of_range("nat-keepalive", secs, &NAT_KEEPALIVE_RANGE),
            }
        }

        if let Some(mut split) = top.object("split-tunneling")? {
            profile.routing.include = prefixes(split.list("subnets")?, "split-tunneling.subnets")?;
            profile.routing.exclude =
                prefixes(split.list("excluded")?, "split-tunneling.excluded")?;
            profile.routing.block_ipv4_outside = split.bool("block-ipv4")?.unwrap_or(false);
            profile.routing.block_ipv6_outside = split.bool("block-ipv6")?.unwrap_or(false);
            split.report_unread(&mut self.warnings);
        }
        if let Some(ipv6_transport) = top.bool("ipv6-transport")? {
            profile.prefer_ipv6_transport = ipv6_transport;
        }

        for key in ["apps", "excluded-apps"] {
            if top.get(key).is_some() {
                self.warnings.push(unsupported(
                    key,
                    "per-app routing is an Android feature; Tern routes all applications \
                     according to the profile's routing",
                ));
            }
        }
        if top.get("proxy").is_some() {
            self.warnings.push(unsupported(
                "proxy",
                "the HTTP proxy setting is not applied by Tern",
            ));
        }
        top.report_unread(&mut self.warnings);

        validate_imported(
            &profile,
            &[
                ("gateway.host", "remote.addr"),
                ("gateway.port", "remote.port"),
                ("remote_identity", "remote.id"),
                ("local_identity", "local.id"),
                ("auth.username", "local.eap_id"),
                ("server_trust.ca_certificates", "remote.cert"),
                ("routing.include", "split-tunneling.subnets"),
                ("routing.exclude", "split-tunneling.excluded"),
                ("dns.servers", "dns-servers"),
            ],
        )?;
        self.warnings.extend(routing_warnings(
            &profile,
            [
                "split-tunneling.subnets",
                "split-tunneling.excluded",
                "dns-servers",
            ],
        ));
        Ok(ImportPreview {
            profile,
            secrets: self.secrets,
            warnings: self.warnings,
        })
    }

    fn proposal_warnings(
        &mut self,
        field: &str,
        algorithms: &[String],
        proposals: &[(String, String)],
    ) {
        for algorithm in algorithms {
            self.warnings.push(warn(
                field,
                WarningKind::AlgorithmDropped {
                    algorithm: algorithm.clone(),
                },
            ));
        }
        for (proposal, reason) in proposals {
            self.warnings.push(warn(
                field,
                WarningKind::ProposalDropped {
                    proposal: proposal.clone(),
                    reason: reason.clone(),
                },
            ));
        }
    }

    fn out_of_range<T: core::fmt::Display>(
        &mut self,
        field: &str,
        value: i64,
        allowed: &core::ops::RangeInclusive<T>,
    ) {
        self.warnings.push(warn(
            field,
            WarningKind::OutOfRange {
                value: value.to_string(),
                allowed: format!("{}..={}", allowed.start(), allowed.end()),
            },
        ));
    }
}

fn decode_certificate(text: &str, field: &str) -> Result<Certificate, ImportError> {
    let invalid = |reason: String| ImportError::InvalidValue {
        field: field.to_owned(),
        reason,
    };
    // Some generators put the PEM text itself in the field rather than base64 of it.
    let bytes = if text.starts_with("-----BEGIN") {
        text.as_bytes().to_vec()
    } else {
        decode_base64_lenient(text).map_err(invalid)?
    };
    if bytes.len() > MAX_CERTIFICATE_BYTES {
        return Err(invalid(format!(
            "larger than {MAX_CERTIFICATE_BYTES} bytes"
        )));
    }
    let cert = Certificate(bytes);
    if !cert.looks_valid() {
        return Err(invalid(
            "is neither a DER certificate nor a PEM `CERTIFICATE` block".into(),
        ));
    }
    Ok(cert)
}

fn prefixes(entries: Vec<String>, field: &str) -> Result<Vec<ipsec_types::IpPrefix>, ImportError> {
    let mut out = Vec::new();
    for entry in entries {
        let parsed = parse_prefixes(&entry).map_err(|reason| ImportError::InvalidValue {
            field: field.to_owned(),
            reason,
        })?;
        out.extend(parsed);
        if out.len() > MAX_PREFIXES {
            return Err(ImportError::TooMany {
                field: field.to_owned(),
                limit: MAX_PREFIXES,
            });
        }
    }
    Ok(out)
}

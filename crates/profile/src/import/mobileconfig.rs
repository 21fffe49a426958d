//! Apple configuration profiles (`.mobileconfig`): the IKEv2 `com.apple.vpn.managed` payload and
//! the certificate payloads it uses.
//!
//! Field by field (keys of the `IKEv2` dictionary unless noted):
//!
//! | `.mobileconfig` key                     | Tern                                          |
//! |-----------------------------------------|-----------------------------------------------|
//! | VPN payload `PayloadUUID`               | `id` (same UUID replaces the stored profile)  |
//! | `UserDefinedName` / `PayloadDisplayName`| `name`                                        |
//! | `VPNType` (must be `IKEv2`)             | other types are refused                       |
//! | `RemoteAddress`                         | `gateway.host` (port 500)                     |
//! | `RemoteIdentifier`, `LocalIdentifier`   | `remote_identity`, `local_identity`           |
//! | `AuthenticationMethod` + `ExtendedAuthEnabled` | `auth`: `SharedSecret` → PSK; `Certificate` → certificate, or certificate+EAP with extended auth; `None` + extended auth → EAP-MSCHAPv2, or EAP-TLS when a `PayloadCertificateUUID` and no `AuthName` are given. PSK+EAP is refused. |
//! | `AuthName`                              | EAP username                                  |
//! | `AuthPassword`, `SharedSecret`          | secrets: EAP password, pre-shared key         |
//! | `PayloadCertificateUUID`                | the referenced `com.apple.security.pkcs12` payload: secrets (bundle and its `Password`) |
//! | `com.apple.security.root`/`pkcs1`/`pem` payloads | `server_trust.ca_certificates`       |
//! | `ServerCertificateCommonName`, `ServerCertificateIssuerCommonName` | `server_trust.server_common_name`, `issuer_common_name` |
//! | `EnableCertificateRevocationCheck`, `EnableStrictRevocationCheck` | `server_trust.checks` |
//! | `IKESecurityAssociationParameters`      | one IKE proposal (Apple's defaults fill gaps: AES-256, SHA2-256, group 14); `LifeTimeInMinutes` → `lifetimes.ike_secs` |
//! | `ChildSecurityAssociationParameters`    | one ESP proposal, with its group only if `EnablePFS`; `LifeTimeInMinutes` → `lifetimes.child_secs` |
//! | `DeadPeerDetectionRate`                 | `dpd` (None: off, Low: 30 min, Medium: 10 min, High: 1 min) |
//! | `DisableMOBIKE`                         | `mobike`                                      |
//! | `NATKeepAliveInterval`, `MTU`           | `nat_keepalive_secs`, `mtu`                   |
//! | `IncludeAllNetworks`                    | `routing.block_ipv4_outside` and `block_ipv6_outside` |
//! | VPN payload `DNS.ServerAddresses`, `SearchDomains`, `DomainName` | `dns`               |
//! | On-demand, per-app, proxy, split-DNS match domains, DoH/DoT, `DisableRedirect`, `ExcludeLocalNetworks` and other iOS options | warnings when they ask for something |
//!
//! Signed profiles (CMS) are unwrapped and imported with a warning that the signature was not
//! verified. Only XML property lists are read; the XML reader does not resolve entities, and
//! nesting is checked before parsing.

use std::collections::HashMap;
use std::io::Cursor;
use std::net::IpAddr;

use ipsec_types::{DhGroup, EncrAlgorithm, IntegAlgorithm, PrfAlgorithm};
use plist::{Dictionary, Value};
use zeroize::Zeroizing;

use super::{
    ImportError, ImportPreview, ImportWarning, MAX_NESTING, WarningKind, check_size, cms,
    routing_warnings, unsupported, validate_imported, warn,
};
use crate::credential::MAX_PKCS12_BYTES;
use crate::model::{AuthMethod, Certificate, Gateway, Identity, Profile, ProfileId};
use crate::proposal::{EsnMode, EspProposal, IkeProposal};
use crate::secrets::ImportedSecrets;
use crate::validate::{
    MAX_CA_CERTIFICATES, MAX_CERTIFICATE_BYTES, MAX_DNS_SERVERS, MAX_SEARCH_DOMAINS, MTU_RANGE,
    NAT_KEEPALIVE_RANGE,
};

/// Most payloads in one profile.
const MAX_PAYLOADS: usize = 64;

const VPN_PAYLOAD: &str = "com.apple.vpn.managed";
const PER_APP_VPN_PAYLOAD: &str = "com.apple.vpn.managed.applayer";
const PKCS12_PAYLOAD: &str = "com.apple.security.pkcs12";
const CERT_PAYLOADS: [&str; 3] = [
    "com.apple.security.root",
    "com.apple.security.pkcs1",
    "com.apple.security.pem",
];

/// Keys every payload may carry that describe it rather than configure anything.
const METADATA_KEYS: [&str; 10] = [
    "PayloadType",
    "PayloadUUID",
    "PayloadIdentifier",
    "PayloadVersion",
    "PayloadDisplayName",
    "PayloadDescription",
    "PayloadOrganization",
    "PayloadRemovalDisallowed",
    "PayloadScope",
    "PayloadCertificateFileName",
];

/// Imports an Apple `.mobileconfig` profile holding one IKEv2 VPN payload.
pub fn import_mobileconfig(bytes: &[u8]) -> Result<ImportPreview, ImportError> {
    check_size(bytes)?;
    let mut warnings = Vec::new();
    let unwrapped;
    let xml = if cms::looks_signed(bytes) {
        unwrapped = cms::signed_content(bytes)?;
        warnings.push(warn("(signature)", WarningKind::SignatureNotVerified));
        unwrapped.as_slice()
    } else {
        bytes
    };
    let root = parse_plist(xml)?;
    let Value::Dictionary(root) = root else {
        return Err(ImportError::WrongType {
            field: "(top level)".into(),
            expected: "a dictionary",
        });
    };
    Importer {
        warnings,
        secrets: ImportedSecrets::default(),
    }
    .run(&root)
}

fn parse_plist(xml: &[u8]) -> Result<Value, ImportError> {
    let text = xml.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(xml);
    if text.trim_ascii_start().first() != Some(&b'<') {
        return Err(ImportError::Malformed {
            format: "XML property list",
            detail: "only XML configuration profiles are read (binary plists are not)".into(),
        });
    }
    check_xml_depth(text)?;
    Value::from_reader_xml(Cursor::new(text)).map_err(|e| ImportError::Malformed {
        format: "XML property list",
        detail: e.to_string(),
    })
}

/// Counts `<dict>`/`<array>` nesting before the recursive plist builder sees the document.
/// Comments, CDATA sections, processing instructions and declarations are skipped the way an
/// XML parser skips them, so they can neither hide nor fake nesting.
fn check_xml_depth(xml: &[u8]) -> Result<(), ImportError> {
    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack.windows(needle.len()).position(|w| w == needle)
    }
    let too_deep = ImportError::TooDeep { limit: MAX_NESTING };
    let unterminated = |what: &str| ImportError::Malformed {
        format: "XML property list",
        detail: format!("unterminated {what}"),
    };
    let mut depth = 0usize;
    let mut rest = xml;
    while let Some(start) = rest.iter().position(|b| *b == b'<') {
        check_entity_references(&rest[..start])?;
        let tag = &rest[start + 1..];
        let (skip_to, terminator): (&[u8], &str) = if tag.starts_with(b"!--") {
            (b"-->", "comment")
        } else if tag.starts_with(b"![CDATA[") {
            (b"]]>", "CDATA section")
        } else if tag.starts_with(b"?") {
            (b"?>", "processing instruction")
        } else if tag.starts_with(b"!") {
            // A declaration; a DOCTYPE's internal subset ends with `]>`.
            let bracket = tag.iter().position(|b| *b == b'[');
            let close = tag.iter().position(|b| *b == b'>');
            if matches!((bracket, close), (Some(b), Some(c)) if b < c) {
                // Entity declarations: no real profile has them, and the XML reader would
                // silently turn references to them into nothing.
                return Err(ImportError::Malformed {
                    format: "XML property list",
                    detail: "DTD internal subsets (entity declarations) are not allowed".into(),
                });
            }
            (b">", "declaration")
        } else {
            (b">", "tag")
        };
        let end = find(tag, skip_to).ok_or_else(|| unterminated(terminator))?;
        let element = &tag[..end];
        if terminator == "tag" {
            check_entity_references(element)?;
            let (closing, body) = match element.strip_prefix(b"/") {
                Some(body) => (true, body),
                None => (false, element),
            };
            let name_end = body
                .iter()
                .position(|b| matches!(b, b'/' | b' ' | b'\t' | b'\r' | b'\n'))
                .unwrap_or(body.len());
            let is_container = matches!(&body[..name_end], b"dict" | b"array");
            if is_container && closing {
                depth = depth.saturating_sub(1);
            } else if is_container && !element.ends_with(b"/") {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(too_deep);
                }
            }
        }
        rest = &tag[end + skip_to.len()..];
    }
    Ok(())
}

/// Refuses entity references other than XML's five and character references: the XML reader
/// would replace an undefined one with nothing, silently changing a value.
fn check_entity_references(text: &[u8]) -> Result<(), ImportError> {
    let mut rest = text;
    while let Some(amp) = rest.iter().position(|b| *b == b'&') {
        let after = &rest[amp + 1..];
        let end = after.iter().position(|b| *b == b';').unwrap_or(after.len());
        let name = &after[..end];
        let predefined = matches!(name, b"lt" | b"gt" | b"amp" | b"quot" | b"apos");
        let character = name.first() == Some(&b'#');
        if !predefined && !character {
            return Err(ImportError::Malformed {
                format: "XML property list",
                detail: format!(
                    "entity reference `&{};` is not allowed",
                    String::from_utf8_lossy(&name[..name.len().min(32)])
                ),
            });
        }
        rest = &after[end..];
    }
    Ok(())
}

/// A dictionary whose keys are read one by one, so unread ones can be reported.
struct Fields<'a> {
    path: String,
    dict: &'a Dictionary,
    read: Vec<&'static str>,
}

impl<'a> Fields<'a> {
    fn new(path: &str, dict: &'a Dictionary) -> Self {
        Self {
            path: path.to_owned(),
            dict,
            read: METADATA_KEYS.to_vec(),
        }
    }

    fn name(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.read.push(key);
        self.dict.get(key)
    }

    fn string(&mut self, key: &'static str) -> Result<Option<&'a str>, ImportError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim())),
            Some(_) => Err(self.wrong(key, "a string")),
        }
    }

    /// Apple writes flags as `<true/>`/`<false/>` or as `<integer>` 0/1.
    fn flag(&mut self, key: &'static str) -> Result<Option<bool>, ImportError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Boolean(b)) => Ok(Some(*b)),
            Some(Value::Integer(i)) => match i.as_signed() {
                Some(0) => Ok(Some(false)),
                Some(1) => Ok(Some(true)),
                _ => Err(self.wrong(key, "a boolean or the integer 0 or 1")),
            },
            Some(_) => Err(self.wrong(key, "a boolean or the integer 0 or 1")),
        }
    }

    fn integer(&mut self, key: &'static str) -> Result<Option<i64>, ImportError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Integer(i)) => i
                .as_signed()
                .map(Some)
                .ok_or_else(|| self.wrong(key, "an integer")),
            Some(_) => Err(self.wrong(key, "an integer")),
        }
    }

    fn dict(&mut self, key: &'static str) -> Result<Option<Fields<'a>>, ImportError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Dictionary(d)) => Ok(Some(Fields::new(&self.name(key), d))),
            Some(_) => Err(self.wrong(key, "a dictionary")),
        }
    }

    fn strings(&mut self, key: &'static str, limit: usize) -> Result<Vec<&'a str>, ImportError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => {
                if items.len() > limit {
                    return Err(ImportError::TooMany {
                        field: self.name(key),
                        limit,
                    });
                }
                items
                    .iter()
                    .map(|item| match item {
                        Value::String(s) => Ok(s.trim()),
                        _ => Err(self.wrong(key, "an array of strings")),
                    })
                    .collect()
            }
            Some(_) => Err(self.wrong(key, "an array of strings")),
        }
    }

    fn data(&mut self, key: &'static str) -> Result<Option<&'a [u8]>, ImportError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Data(d)) => Ok(Some(d)),
            Some(_) => Err(self.wrong(key, "data")),
        }
    }

    fn wrong(&self, key: &str, expected: &'static str) -> ImportError {
        ImportError::WrongType {
            field: self.name(key),
            expected,
        }
    }

    fn report_unread(&self, warnings: &mut Vec<ImportWarning>) {
        for key in self.dict.keys() {
            if !self.read.contains(&key.as_str()) {
                warnings.push(warn(self.name(key), WarningKind::UnknownField));
            }
        }
    }
}

struct Importer {
    warnings: Vec<ImportWarning>,
    secrets: ImportedSecrets,
}

struct Pkcs12<'a> {
    bundle: &'a [u8],
    password: Option<&'a str>,
}

impl Importer {
    #[allow(clippy::too_many_lines)] // one linear walk over the payload, in the table's order
    fn run(mut self, root: &Dictionary) -> Result<ImportPreview, ImportError> {
        let mut top = Fields::new("", root);
        let top_name = top.string("PayloadDisplayName")?;
        let payloads = match top.get("PayloadContent") {
            Some(Value::Array(items)) => items,
            Some(_) => return Err(top.wrong("PayloadContent", "an array of payloads")),
            None => {
                return Err(ImportError::MissingField {
                    field: "PayloadContent".into(),
                });
            }
        };
        if payloads.len() > MAX_PAYLOADS {
            return Err(ImportError::TooMany {
                field: "PayloadContent".into(),
                limit: MAX_PAYLOADS,
            });
        }
        // Top-level keys describe the profile as a whole (and its removal password): nothing
        // there configures the VPN, so they are not reported.

        let mut vpn_payloads = Vec::new();
        let mut pkcs12_by_uuid: HashMap<String, Pkcs12<'_>> = HashMap::new();
        let mut ca_certificates = Vec::new();
        for (index, payload) in payloads.iter().enumerate() {
            let field = format!("PayloadContent[{index}]");
            let Value::Dictionary(payload) = payload else {
                return Err(ImportError::WrongType {
                    field,
                    expected: "a dictionary",
                });
            };
            let mut fields = Fields::new(&field, payload);
            let payload_type = fields.string("PayloadType")?.unwrap_or_default();
            let uuid = fields.string("PayloadUUID")?.unwrap_or_default().to_owned();
            match payload_type {
                VPN_PAYLOAD => vpn_payloads.push((field, payload)),
                PER_APP_VPN_PAYLOAD => {
                    return Err(ImportError::Unsupported {
                        field,
                        reason: "per-app VPN payloads are not supported: Tern cannot limit the \
                                 VPN to the applications the profile names"
                            .into(),
                    });
                }
                PKCS12_PAYLOAD => {
                    let bundle = fields.data("PayloadContent")?.ok_or_else(|| {
                        ImportError::MissingField {
                            field: fields.name("PayloadContent"),
                        }
                    })?;
                    if bundle.len() > MAX_PKCS12_BYTES {
                        return Err(ImportError::InvalidValue {
                            field: fields.name("PayloadContent"),
                            reason: format!("larger than {MAX_PKCS12_BYTES} bytes"),
                        });
                    }
                    let password = fields.string("Password")?;
                    fields.report_unread(&mut self.warnings);
                    pkcs12_by_uuid.insert(uuid.to_ascii_uppercase(), Pkcs12 { bundle, password });
                }
                t if CERT_PAYLOADS.contains(&t) => {
                    let der = fields.data("PayloadContent")?.ok_or_else(|| {
                        ImportError::MissingField {
                            field: fields.name("PayloadContent"),
                        }
                    })?;
                    if der.len() > MAX_CERTIFICATE_BYTES {
                        return Err(ImportError::InvalidValue {
                            field: fields.name("PayloadContent"),
                            reason: format!("larger than {MAX_CERTIFICATE_BYTES} bytes"),
                        });
                    }
                    let cert = Certificate(der.to_vec());
                    if !cert.looks_valid() {
                        return Err(ImportError::InvalidValue {
                            field: fields.name("PayloadContent"),
                            reason: "is not a DER or PEM certificate".into(),
                        });
                    }
                    if ca_certificates.len() == MAX_CA_CERTIFICATES {
                        return Err(ImportError::TooMany {
                            field: "certificate payloads".into(),
                            limit: MAX_CA_CERTIFICATES,
                        });
                    }
                    fields.report_unread(&mut self.warnings);
                    ca_certificates.push(cert);
                }
                other => self.warnings.push(unsupported(
                    field,
                    format!("payload type `{other}` does not configure the VPN; not imported"),
                )),
            }
        }
        let (vpn_field, vpn) = match vpn_payloads.as_slice() {
            [one] => one.clone(),
            [] => {
                return Err(ImportError::MissingField {
                    field: format!("a {VPN_PAYLOAD} payload"),
                });
            }
            more => {
                return Err(ImportError::Unsupported {
                    field: "PayloadContent".into(),
                    reason: format!(
                        "the profile holds {} VPN payloads; Tern imports one VPN per file",
                        more.len()
                    ),
                });
            }
        };

        let mut vpn = Fields::new(&vpn_field, vpn);
        let vpn_type = vpn.string("VPNType")?.unwrap_or_default();
        if vpn_type != "IKEv2" {
            return Err(ImportError::Unsupported {
                field: vpn.name("VPNType"),
                reason: format!("VPN type `{vpn_type}` is not supported; Tern imports IKEv2"),
            });
        }
        let uuid_field = vpn.name("PayloadUUID");
        let uuid_text = vpn
            .string("PayloadUUID")?
            .ok_or(ImportError::MissingField {
                field: uuid_field.clone(),
            })?;
        let id: ProfileId = uuid_text.parse().map_err(|_| ImportError::InvalidValue {
            field: uuid_field,
            reason: format!("`{uuid_text}` is not a UUID"),
        })?;
        let name = vpn
            .string("UserDefinedName")?
            .or(vpn.string("PayloadDisplayName")?)
            .or(top_name)
            .unwrap_or("Imported VPN");

        let mut ike = vpn
            .dict("IKEv2")?
            .ok_or_else(|| ImportError::MissingField {
                field: format!("{vpn_field}.IKEv2"),
            })?;
        let remote_address_field = ike.name("RemoteAddress");
        let gateway = Gateway::new(ike.string("RemoteAddress")?.ok_or(
            ImportError::MissingField {
                field: remote_address_field,
            },
        )?);
        let remote_identity = ike.string("RemoteIdentifier")?.map(Identity::parse);
        let local_identity = ike.string("LocalIdentifier")?.map(Identity::parse);

        let method = ike.string("AuthenticationMethod")?.unwrap_or("None");
        let extended = ike.flag("ExtendedAuthEnabled")?.unwrap_or(false);
        let username = ike.string("AuthName")?.map(str::to_owned);
        let password = ike.string("AuthPassword")?;
        let shared_secret = match ike.get("SharedSecret") {
            None => None,
            Some(Value::String(s)) => Some(s.as_bytes().to_vec()),
            Some(Value::Data(d)) => Some(d.clone()),
            Some(_) => return Err(ike.wrong("SharedSecret", "a string or data")),
        };
        let cert_uuid = ike.string("PayloadCertificateUUID")?;
        let auth = match (method, extended) {
            ("SharedSecret", false) => AuthMethod::Psk,
            ("SharedSecret", true) => {
                return Err(ImportError::Unsupported {
                    field: ike.name("ExtendedAuthEnabled"),
                    reason: "a pre-shared key followed by EAP is not supported".into(),
                });
            }
            ("Certificate", false) => AuthMethod::Certificate { rsa_pss: false },
            ("Certificate", true) => AuthMethod::CertificateEap {
                username: username.clone(),
                rsa_pss: false,
            },
            ("None", true) if cert_uuid.is_some() && username.is_none() => AuthMethod::EapTls,
            ("None", true) => AuthMethod::EapMschapv2 {
                username: username.clone(),
            },
            ("None", false) => {
                return Err(ImportError::InvalidValue {
                    field: ike.name("AuthenticationMethod"),
                    reason: "`None` without ExtendedAuthEnabled leaves the client no way to \
                             authenticate"
                        .into(),
                });
            }
            (other, _) => {
                return Err(ImportError::Unsupported {
                    field: ike.name("AuthenticationMethod"),
                    reason: format!("unknown authentication method `{other}`"),
                });
            }
        };
        if auth.eap_username().is_none()
            && username.is_some()
            && !matches!(auth, AuthMethod::EapTls)
        {
            self.warnings.push(unsupported(
                ike.name("AuthName"),
                "the authentication method uses no EAP username; ignored",
            ));
        }
        match (&auth, password) {
            (AuthMethod::EapMschapv2 { .. } | AuthMethod::CertificateEap { .. }, Some(p)) => {
                self.secrets.eap_password = Some(Zeroizing::new(p.to_owned()));
            }
            (_, Some(_)) => self.warnings.push(unsupported(
                ike.name("AuthPassword"),
                "the authentication method uses no EAP password; not imported",
            )),
            (_, None) => {}
        }
        match (&auth, shared_secret) {
            (AuthMethod::Psk, Some(psk)) => {
                self.secrets.pre_shared_key = Some(Zeroizing::new(psk));
            }
            (_, Some(mut psk)) => {
                zeroize::Zeroize::zeroize(&mut psk);
                self.warnings.push(unsupported(
                    ike.name("SharedSecret"),
                    "the authentication method uses no pre-shared key; not imported",
                ));
            }
            (_, None) => {}
        }
        if let Some(cert_uuid) = cert_uuid {
            if auth.uses_client_certificate() {
                match pkcs12_by_uuid.get(&cert_uuid.to_ascii_uppercase()) {
                    Some(p12) => {
                        self.secrets.pkcs12 = Some(Zeroizing::new(p12.bundle.to_vec()));
                        self.secrets.pkcs12_passphrase =
                            p12.password.map(|p| Zeroizing::new(p.to_owned()));
                    }
                    None => self.warnings.push(unsupported(
                        ike.name("PayloadCertificateUUID"),
                        "no PKCS#12 payload with this UUID is in the file; the client \
                         certificate must be added separately",
                    )),
                }
            } else {
                self.warnings.push(unsupported(
                    ike.name("PayloadCertificateUUID"),
                    "the authentication method uses no client certificate; ignored",
                ));
            }
        }

        let mut profile = Profile::new(id, name, gateway, auth);
        profile.remote_identity = remote_identity;
        profile.local_identity = local_identity;
        profile.server_trust.ca_certificates = ca_certificates;
        profile.server_trust.server_common_name = ike
            .string("ServerCertificateCommonName")?
            .map(str::to_owned);
        profile.server_trust.issuer_common_name = ike
            .string("ServerCertificateIssuerCommonName")?
            .map(str::to_owned);
        if let Some(check) = ike.flag("EnableCertificateRevocationCheck")? {
            profile.server_trust.checks.crl = check;
            profile.server_trust.checks.ocsp = check;
        }
        if let Some(strict) = ike.flag("EnableStrictRevocationCheck")? {
            profile.server_trust.checks.strict = strict;
        }
        // Apple's CertificateType names the key type (RSA, ECDSA*, Ed25519); Tern takes the key
        // type from the key itself, so reading it is enough.
        let _ = ike.string("CertificateType")?;

        let pfs = ike.flag("EnablePFS")?.unwrap_or(false);
        let ike_params = ike.dict("IKESecurityAssociationParameters")?;
        let child_params = ike.dict("ChildSecurityAssociationParameters")?;
        let (ike_proposal, ike_lifetime) = self.ike_proposal(ike_params)?;
        let (esp_proposal, child_lifetime) = self.esp_proposal(child_params, pfs)?;
        profile.ike_proposals = vec![ike_proposal];
        profile.esp_proposals = vec![esp_proposal];
        profile.lifetimes.ike_secs = ike_lifetime;
        profile.lifetimes.child_secs = child_lifetime;

        if let Some(rate) = ike.string("DeadPeerDetectionRate")? {
            profile.dpd.interval_secs = match rate {
                "None" => None,
                "Low" => Some(30 * 60),
                "Medium" => Some(10 * 60),
                "High" => Some(60),
                other => {
                    return Err(ImportError::InvalidValue {
                        field: ike.name("DeadPeerDetectionRate"),
                        reason: format!("`{other}` is not None, Low, Medium or High"),
                    });
                }
            };
        } else {
            profile.dpd.interval_secs = Some(10 * 60); // Apple's default, Medium
        }
        if let Some(disable) = ike.flag("DisableMOBIKE")? {
            profile.mobike = !disable;
        }
        if let Some(secs) = ike.integer("NATKeepAliveInterval")? {
            match u16::try_from(secs)
                .ok()
                .filter(|s| NAT_KEEPALIVE_RANGE.contains(s))
            {
                Some(secs) => profile.nat_keepalive_secs = Some(secs),
                None => {
                    self.out_of_range(ike.name("NATKeepAliveInterval"), secs, &NAT_KEEPALIVE_RANGE);
                }
            }
        }
        if let Some(mtu) = ike.integer("MTU")? {
            match u16::try_from(mtu).ok().filter(|m| MTU_RANGE.contains(m)) {
                Some(mtu) => profile.mtu = Some(mtu),
                None => self.out_of_range(ike.name("MTU"), mtu, &MTU_RANGE),
            }
        }
        if ike.flag("IncludeAllNetworks")? == Some(true) {
            profile.routing.block_ipv4_outside = true;
            profile.routing.block_ipv6_outside = true;
        }

        self.ios_options(&mut ike)?;
        ike.report_unread(&mut self.warnings);

        if let Some(mut dns) = vpn.dict("DNS")? {
            self.dns(&mut dns, &mut profile)?;
            dns.report_unread(&mut self.warnings);
        }
        if let Some(Value::Dictionary(proxies)) = vpn.get("Proxies") {
            let asks_for_proxy = proxies.iter().any(|(key, value)| {
                !matches!(value, Value::Integer(i) if i.as_signed() == Some(0))
                    && key != "ProxyAutoDiscoveryEnable"
            });
            if asks_for_proxy {
                self.warnings.push(unsupported(
                    vpn.name("Proxies"),
                    "proxy settings are not applied by Tern",
                ));
            }
        }
        if vpn.get("IPv4").is_some() {
            // `OverridePrimary` sends all traffic to the VPN, which is what Tern asks the
            // gateway for anyway.
        }
        for key in ["VendorConfig", "VPN", "AlwaysOn", "VPNSubType"] {
            if vpn.get(key).is_some() {
                self.warnings.push(unsupported(
                    vpn.name(key),
                    "not applicable to Tern's IKEv2 client; ignored",
                ));
            }
        }
        vpn.report_unread(&mut self.warnings);

        let ike_path = format!("{vpn_field}.IKEv2");
        validate_imported(
            &profile,
            &[
                ("gateway.host", &format!("{ike_path}.RemoteAddress")),
                ("remote_identity", &format!("{ike_path}.RemoteIdentifier")),
                ("local_identity", &format!("{ike_path}.LocalIdentifier")),
                ("auth.username", &format!("{ike_path}.AuthName")),
                ("dns.servers", &format!("{vpn_field}.DNS.ServerAddresses")),
                (
                    "dns.search_domains",
                    &format!("{vpn_field}.DNS.SearchDomains"),
                ),
                ("name", &format!("{vpn_field}.UserDefinedName")),
            ],
        )?;
        self.warnings.extend(routing_warnings(
            &profile,
            [
                &format!("{ike_path}.IncludeAllNetworks"),
                &format!("{ike_path}.IncludeAllNetworks"),
                &format!("{vpn_field}.DNS.ServerAddresses"),
            ],
        ));
        Ok(ImportPreview {
            profile,
            secrets: self.secrets,
            warnings: self.warnings,
        })
    }

    fn out_of_range<T: core::fmt::Display>(
        &mut self,
        field: String,
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

    fn ike_proposal(
        &mut self,
        params: Option<Fields<'_>>,
    ) -> Result<(IkeProposal, Option<u32>), ImportError> {
        let mut params = params;
        let (encr, integ, dh, lifetime) = match params.as_mut() {
            Some(p) => {
                let algorithms = sa_parameters(p, true)?;
                p.report_unread(&mut self.warnings);
                algorithms
            }
            None => (
                EncrAlgorithm::AesCbc256,
                IntegAlgorithm::HmacSha2_256_128,
                Some(DhGroup::Modp2048),
                None,
            ),
        };
        let prf = match integ {
            IntegAlgorithm::HmacSha2_256_128 => PrfAlgorithm::HmacSha2_256,
            IntegAlgorithm::HmacSha2_384_192 => PrfAlgorithm::HmacSha2_384,
            IntegAlgorithm::HmacSha2_512_256 => PrfAlgorithm::HmacSha2_512,
        };
        let proposal = IkeProposal {
            encryption: vec![encr],
            // With AEAD ciphers Apple uses the integrity algorithm only to pick the PRF.
            integrity: if encr.is_aead() {
                Vec::new()
            } else {
                vec![integ]
            },
            prf: vec![prf],
            dh_groups: dh.into_iter().collect(),
        };
        if proposal.dh_groups.is_empty() {
            return Err(ImportError::InvalidValue {
                field: "IKESecurityAssociationParameters.DiffieHellmanGroup".into(),
                reason: "the IKE SA needs a Diffie-Hellman group".into(),
            });
        }
        Ok((proposal, lifetime))
    }

    fn esp_proposal(
        &mut self,
        params: Option<Fields<'_>>,
        pfs: bool,
    ) -> Result<(EspProposal, Option<u32>), ImportError> {
        let mut params = params;
        let (encr, integ, dh, lifetime) = match params.as_mut() {
            Some(p) => {
                let algorithms = sa_parameters(p, false)?;
                p.report_unread(&mut self.warnings);
                algorithms
            }
            None => (
                EncrAlgorithm::AesCbc256,
                IntegAlgorithm::HmacSha2_256_128,
                Some(DhGroup::Modp2048),
                None,
            ),
        };
        let proposal = EspProposal {
            encryption: vec![encr],
            integrity: if encr.is_aead() {
                Vec::new()
            } else {
                vec![integ]
            },
            dh_groups: if pfs {
                dh.into_iter().collect()
            } else {
                Vec::new()
            },
            esn: EsnMode::Off,
        };
        Ok((proposal, lifetime))
    }

    fn ios_options(&mut self, ike: &mut Fields<'_>) -> Result<(), ImportError> {
        // Options that only matter when switched on.
        let flags: [(&'static str, &str); 12] = [
            (
                "OnDemandEnabled",
                "connect-on-demand is not supported; connect manually",
            ),
            (
                "ExcludeLocalNetworks",
                "local networks are not exempted from the tunnel",
            ),
            (
                "ExcludeCellularServices",
                "iOS cellular services exemption does not apply",
            ),
            (
                "ExcludeAPNs",
                "iOS push notification exemption does not apply",
            ),
            (
                "ExcludeDeviceCommunication",
                "iOS device communication exemption does not apply",
            ),
            (
                "EnforceRoutes",
                "route enforcement over local routes is not configurable",
            ),
            (
                "UseConfigurationAttributeInternalIPSubnet",
                "INTERNAL_IP4_SUBNET routes are not used",
            ),
            (
                "DisconnectOnIdle",
                "disconnecting when idle is not supported",
            ),
            ("EnableFallback", "Wi-Fi assist fallback does not apply"),
            (
                "DisableRedirect",
                "disabling IKEv2 redirect is not configurable",
            ),
            (
                "NATKeepAliveOffloadEnable",
                "keepalive offload is an iOS power feature; Tern sends keepalives itself",
            ),
            ("PerformIKEInitiatorAuthentication", "not configurable"),
        ];
        for (key, reason) in flags {
            if ike.flag(key)? == Some(true) {
                self.warnings.push(unsupported(ike.name(key), reason));
            }
        }
        for (key, reason) in [
            ("OnDemandRules", "connect-on-demand rules are not supported"),
            (
                "DisconnectOnIdleTimer",
                "disconnecting when idle is not supported",
            ),
            (
                "TLSMinimumVersion",
                "EAP-TLS version bounds are not configurable",
            ),
            (
                "TLSMaximumVersion",
                "EAP-TLS version bounds are not configurable",
            ),
            (
                "ProviderBundleIdentifier",
                "VPN app extensions do not apply",
            ),
            ("ProviderType", "VPN app extensions do not apply"),
            (
                "PasswordReference",
                "keychain references cannot be read; enter the password in Tern",
            ),
            (
                "SharedSecretReference",
                "keychain references cannot be read; enter the key in Tern",
            ),
            (
                "IdentityReference",
                "keychain references cannot be read; add the certificate in Tern",
            ),
        ] {
            if ike.get(key).is_some() {
                self.warnings.push(unsupported(ike.name(key), reason));
            }
        }
        Ok(())
    }

    fn dns(&mut self, dns: &mut Fields<'_>, profile: &mut Profile) -> Result<(), ImportError> {
        for server in dns.strings("ServerAddresses", MAX_DNS_SERVERS)? {
            let addr: IpAddr = server.parse().map_err(|_| ImportError::InvalidValue {
                field: dns.name("ServerAddresses"),
                reason: format!("`{server}` is not an IP address"),
            })?;
            profile.dns.servers.push(addr);
        }
        let mut domains: Vec<String> = dns
            .strings("SearchDomains", MAX_SEARCH_DOMAINS)?
            .into_iter()
            .map(str::to_owned)
            .collect();
        if let Some(domain) = dns.string("DomainName")?
            && !domains.iter().any(|d| d == domain)
        {
            domains.push(domain.to_owned());
        }
        profile.dns.search_domains = domains;
        if !dns.strings("SupplementalMatchDomains", 256)?.is_empty() {
            self.warnings.push(unsupported(
                dns.name("SupplementalMatchDomains"),
                "split DNS is not supported: the VPN's DNS servers answer all queries",
            ));
        }
        if dns.flag("SupplementalMatchDomainsNoSearch")? == Some(true) {
            self.warnings.push(unsupported(
                dns.name("SupplementalMatchDomainsNoSearch"),
                "split DNS is not supported",
            ));
        }
        match dns.string("DNSProtocol")? {
            None | Some("Cleartext") => {}
            Some(other) => self.warnings.push(unsupported(
                dns.name("DNSProtocol"),
                format!(
                    "DNS over {other} is not supported; the servers are queried with plain DNS \
                     inside the tunnel"
                ),
            )),
        }
        for key in ["ServerURL", "ServerName"] {
            if dns.get(key).is_some() {
                self.warnings.push(unsupported(
                    dns.name(key),
                    "encrypted DNS settings are not supported",
                ));
            }
        }
        Ok(())
    }
}

type SaAlgorithms = (EncrAlgorithm, IntegAlgorithm, Option<DhGroup>, Option<u32>);

/// Reads an `IKESecurityAssociationParameters` or `ChildSecurityAssociationParameters`
/// dictionary, with Apple's defaults for absent keys.
fn sa_parameters(params: &mut Fields<'_>, ike: bool) -> Result<SaAlgorithms, ImportError> {
    let encr = match params.string("EncryptionAlgorithm")?.unwrap_or("AES-256") {
        "AES-128" => EncrAlgorithm::AesCbc128,
        "AES-256" => EncrAlgorithm::AesCbc256,
        "AES-128-GCM" => EncrAlgorithm::AesGcm16_128,
        "AES-256-GCM" => EncrAlgorithm::AesGcm16_256,
        "ChaCha20Poly1305" => EncrAlgorithm::ChaCha20Poly1305,
        other => {
            return Err(ImportError::Unsupported {
                field: params.name("EncryptionAlgorithm"),
                reason: format!("`{other}` is not implemented by Tern (use AES-256-GCM)"),
            });
        }
    };
    let integ = match params.string("IntegrityAlgorithm")?.unwrap_or("SHA2-256") {
        "SHA2-256" => IntegAlgorithm::HmacSha2_256_128,
        "SHA2-384" => IntegAlgorithm::HmacSha2_384_192,
        "SHA2-512" => IntegAlgorithm::HmacSha2_512_256,
        other => {
            return Err(ImportError::Unsupported {
                field: params.name("IntegrityAlgorithm"),
                reason: format!("`{other}` is not implemented by Tern (use SHA2-256 or stronger)"),
            });
        }
    };
    let group = params.integer("DiffieHellmanGroup")?.unwrap_or(14);
    let dh = match group {
        0 if !ike => None,
        id => Some(
            u16::try_from(id)
                .ok()
                .and_then(DhGroup::from_transform_id)
                .ok_or_else(|| ImportError::Unsupported {
                    field: params.name("DiffieHellmanGroup"),
                    reason: format!(
                        "group {id} is not implemented by Tern (use 14, 15, 16, 19, 20 or 31)"
                    ),
                })?,
        ),
    };
    let lifetime = params
        .integer("LifeTimeInMinutes")?
        .map(|minutes| {
            u32::try_from(minutes)
                .ok()
                .filter(|m| (10..=1440).contains(m))
                .map(|m| m * 60)
                .ok_or_else(|| ImportError::InvalidValue {
                    field: params.name("LifeTimeInMinutes"),
                    reason: format!("{minutes} is outside Apple's range 10..=1440"),
                })
        })
        .transpose()?;
    Ok((encr, integ, dh, lifetime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_depth_is_bounded() {
        let deep = format!(
            "<plist>{}{}</plist>",
            "<array>".repeat(17),
            "</array>".repeat(17)
        );
        assert!(matches!(
            check_xml_depth(deep.as_bytes()),
            Err(ImportError::TooDeep { .. })
        ));
        let ok = format!(
            "<plist>{}<array/>{}</plist>",
            "<dict>".repeat(15),
            "</dict>".repeat(15)
        );
        assert!(check_xml_depth(ok.as_bytes()).is_ok());
        assert!(check_xml_depth(b"<plist><dict   ><array\n>").is_ok());
        // A closing tag inside a comment must not hide real nesting.
        let hidden = format!("<plist>{}</plist>", "<array><!-- </array> -->".repeat(17));
        assert!(check_xml_depth(hidden.as_bytes()).is_err());
        assert!(check_xml_depth(b"<plist><!-- never closed").is_err());
    }
}

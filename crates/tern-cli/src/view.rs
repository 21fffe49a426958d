//! How profiles look: the import preview and `show` as text, `list`/`show` as JSON.
//!
//! The JSON shapes are documented in `docs/cli.md` and stable: fields may be added, never
//! renamed or removed.

use std::fmt::Write as _;

use profile::{
    AuthMethod, ImportFormat, ImportPreview, Ipv6Policy, Profile, SecretKind, ServerTrust,
};
use serde::Serialize;

use crate::keyring::kind_name;

/// One entry of `tern list --json`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ListEntry<'a> {
    /// The profile's UUID.
    pub id: String,
    /// Its display name.
    pub name: &'a str,
    /// The gateway.
    pub gateway: GatewayJson<'a>,
    /// The authentication method's stable name.
    pub auth_method: &'static str,
    /// The secrets it needs, by stable kind name.
    pub required_secrets: Vec<&'static str>,
}

/// A gateway in JSON output.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct GatewayJson<'a> {
    /// Host name or address.
    pub host: &'a str,
    /// IKE port.
    pub port: u16,
}

/// `tern show --json`.
#[derive(Debug, Serialize)]
pub struct ShowJson<'a> {
    /// The profile in Tern's own format (the `profile` member of an exported file).
    pub profile: &'a Profile,
    /// The secrets it needs.
    pub required_secrets: Vec<&'static str>,
    /// The required secrets the keyring holds; `null` when no keyring is reachable.
    pub stored_secrets: Option<Vec<&'static str>>,
}

/// The `list --json` entry of a profile.
#[must_use]
pub fn list_entry(profile: &Profile) -> ListEntry<'_> {
    ListEntry {
        id: profile.id.to_string(),
        name: &profile.name,
        gateway: GatewayJson {
            host: &profile.gateway.host,
            port: profile.gateway.port,
        },
        auth_method: auth_method_name(&profile.auth),
        required_secrets: kind_names(&profile.required_secrets()),
    }
}

/// The stable names of secret kinds.
#[must_use]
pub fn kind_names(kinds: &[SecretKind]) -> Vec<&'static str> {
    kinds.iter().map(|&k| kind_name(k)).collect()
}

/// The stable name of an authentication method (as in the Tern profile format).
#[must_use]
pub const fn auth_method_name(auth: &AuthMethod) -> &'static str {
    match auth {
        AuthMethod::Psk => "psk",
        AuthMethod::EapMschapv2 { .. } => "eap-mschapv2",
        AuthMethod::EapTls => "eap-tls",
        AuthMethod::Certificate { .. } => "certificate",
        AuthMethod::CertificateEap { .. } => "certificate-eap",
    }
}

/// The text table of `tern list`.
#[must_use]
pub fn list_text(profiles: &[Profile]) -> String {
    if profiles.is_empty() {
        return "No profiles. Add one with `tern import FILE`.\n".to_owned();
    }
    let width = profiles
        .iter()
        .map(|p| p.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(4);
    let mut out = String::new();
    let _ = writeln!(out, "{:<width$}  {:<36}  GATEWAY", "NAME", "UUID");
    for p in profiles {
        let _ = writeln!(out, "{:<width$}  {}  {}", p.name, p.id, gateway_text(p));
    }
    out
}

fn gateway_text(profile: &Profile) -> String {
    let host = &profile.gateway.host;
    let host = if host.contains(':') {
        format!("[{host}]") // an IPv6 literal
    } else {
        host.clone()
    };
    if profile.gateway.port == profile::DEFAULT_IKE_PORT {
        host
    } else {
        format!("{host}:{}", profile.gateway.port)
    }
}

/// Plain sentences for secret kinds: `pre-shared key, EAP password`.
#[must_use]
pub fn kinds_text(kinds: &[SecretKind]) -> String {
    if kinds.is_empty() {
        return "none".to_owned();
    }
    kinds
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The description of a profile, one `Label: value` per line (`tern show`, and the body of the
/// import preview).
#[must_use]
pub fn profile_text(profile: &Profile) -> String {
    let mut out = String::new();
    let mut row = |label: &str, value: &str| {
        let _ = writeln!(out, "{:<18}{value}", format!("{label}:"));
    };
    row("Name", &profile.name);
    row("UUID", &profile.id.to_string());
    row("Gateway", &gateway_text(profile));
    row("Authentication", &auth_text(&profile.auth));
    row(
        "Local identity",
        &profile.local_identity.as_ref().map_or_else(
            || "derived from the certificate or EAP username".to_owned(),
            |id| id.to_string(),
        ),
    );
    row(
        "Gateway identity",
        &profile
            .remote_identity
            .as_ref()
            .map_or_else(|| "the gateway address".to_owned(), |id| id.to_string()),
    );
    if !matches!(profile.auth, AuthMethod::Psk) {
        row("Gateway trust", &trust_text(&profile.server_trust));
    }
    row("Routing", &routing_text(profile));
    row("IPv6", ipv6_text(profile.ipv6));
    row("DNS", &dns_text(profile));
    row("IKE proposals", &proposals_text(&profile.ike_proposals));
    row("ESP proposals", &proposals_text(&profile.esp_proposals));
    if let Some(mtu) = profile.mtu {
        row("MTU", &mtu.to_string());
    }
    row("Secrets needed", &kinds_text(&profile.required_secrets()));
    out
}

fn auth_text(auth: &AuthMethod) -> String {
    let user = |username: &Option<String>| match username {
        Some(name) => format!("as \"{name}\""),
        None => "(username asked when connecting)".to_owned(),
    };
    let pss = |rsa_pss: bool| if rsa_pss { ", RSA-PSS signatures" } else { "" };
    match auth {
        AuthMethod::Psk => "pre-shared key".to_owned(),
        AuthMethod::EapMschapv2 { username } => format!("EAP-MSCHAPv2 {}", user(username)),
        AuthMethod::EapTls => "EAP-TLS with a client certificate".to_owned(),
        AuthMethod::Certificate { rsa_pss } => format!("client certificate{}", pss(*rsa_pss)),
        AuthMethod::CertificateEap { username, rsa_pss } => format!(
            "client certificate{}, then EAP-MSCHAPv2 {}",
            pss(*rsa_pss),
            user(username)
        ),
    }
}

fn trust_text(trust: &ServerTrust) -> String {
    let mut text = if trust.pinned_certificate.is_some() {
        "only the pinned gateway certificate from the file".to_owned()
    } else if trust.ca_certificates.is_empty() {
        "certificates trusted by the system".to_owned()
    } else {
        let n = trust.ca_certificates.len();
        format!(
            "certificates issued by the {n} CA certificate{} from the file",
            if n == 1 { "" } else { "s" }
        )
    };
    if let Some(cn) = &trust.server_common_name {
        let _ = write!(text, ", named \"{cn}\"");
    }
    if let Some(cn) = &trust.issuer_common_name {
        let _ = write!(text, ", issued by \"{cn}\"");
    }
    text
}

fn join<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn routing_text(profile: &Profile) -> String {
    let routing = &profile.routing;
    let mut text = if routing.include.is_empty() {
        "all traffic through the VPN".to_owned()
    } else {
        format!("only {} through the VPN", join(&routing.include))
    };
    if !routing.exclude.is_empty() {
        let _ = write!(text, ", except {}", join(&routing.exclude));
    }
    let blocked = match (routing.block_ipv4_outside, routing.block_ipv6_outside) {
        (true, true) => Some("IPv4 and IPv6"),
        (true, false) => Some("IPv4"),
        (false, true) => Some("IPv6"),
        (false, false) => None,
    };
    if let Some(families) = blocked {
        let _ = write!(text, "; other {families} traffic is blocked");
    }
    text
}

const fn ipv6_text(policy: Ipv6Policy) -> &'static str {
    match policy {
        Ipv6Policy::Tunnel => "through the VPN (blocked if the gateway offers none)",
        Ipv6Policy::Block => "blocked while connected",
        Ipv6Policy::Bypass => "outside the VPN",
    }
}

fn dns_text(profile: &Profile) -> String {
    let dns = &profile.dns;
    let mut text = if dns.servers.is_empty() {
        "the gateway's servers".to_owned()
    } else {
        dns.servers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !dns.search_domains.is_empty() {
        let _ = write!(text, " (search {})", dns.search_domains.join(", "));
    }
    text
}

fn proposals_text<P: std::fmt::Display>(proposals: &[P]) -> String {
    if proposals.is_empty() {
        return "Tern's defaults".to_owned();
    }
    proposals
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

const fn format_name(format: ImportFormat) -> &'static str {
    match format {
        ImportFormat::Sswan => "strongSwan profile (.sswan)",
        ImportFormat::MobileConfig => "Apple configuration profile (.mobileconfig)",
        ImportFormat::Tern => "Tern profile",
    }
}

/// The import preview: what the file is, what the profile will be, the secrets the file carries,
/// every warning, and whether an existing profile is replaced.
#[must_use]
pub fn import_preview_text(
    format: ImportFormat,
    preview: &ImportPreview,
    replaces: Option<&Profile>,
) -> String {
    let mut out = format!("Importing a {}:\n\n", format_name(format));
    out.push_str(&profile_text(&preview.profile));
    let carried = preview.secrets.kinds();
    let _ = writeln!(
        out,
        "{:<18}{}",
        "Secrets in file:",
        if carried.is_empty() {
            "none (you will be asked when connecting, or use `tern secret set`)".to_owned()
        } else {
            format!("{} (to be stored in the keyring)", kinds_text(&carried))
        }
    );
    if preview.warnings.is_empty() {
        out.push_str("\nNo warnings.\n");
    } else {
        let _ = writeln!(out, "\nWarnings ({}):", preview.warnings.len());
        for warning in &preview.warnings {
            let sentence = warning.to_string();
            let stop = if sentence.ends_with('.') { "" } else { "." };
            let _ = writeln!(out, "  - {sentence}{stop}");
        }
    }
    if let Some(old) = replaces {
        let _ = writeln!(
            out,
            "\nThis replaces the existing profile \"{}\" with the same UUID.",
            old.name
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use profile::{Gateway, Identity, ImportWarning, ProfileId, WarningKind};

    use super::*;

    fn eap_profile() -> Profile {
        let mut p = Profile::new(
            "d8a0f1f5-3b6f-4c53-9a3b-4a9e2f0c7b11"
                .parse::<ProfileId>()
                .unwrap(),
            "Example Corp",
            Gateway::new("vpn.example.com"),
            AuthMethod::EapMschapv2 {
                username: Some("alice".into()),
            },
        );
        p.remote_identity = Some(Identity::parse("vpn.example.com"));
        p.routing = serde_json::from_value(serde_json::json!({
            "include": ["10.8.0.0/16"],
            "block_ipv6_outside": true,
        }))
        .unwrap();
        p.dns.servers = vec!["10.8.0.1".parse().unwrap()];
        p
    }

    #[test]
    fn preview_reads_well() {
        let secrets = profile::ImportedSecrets {
            eap_password: Some(zeroize::Zeroizing::new("hunter2".into())),
            ..Default::default()
        };
        let preview = ImportPreview {
            profile: eap_profile(),
            secrets,
            warnings: vec![ImportWarning {
                field: "remote.certreq".into(),
                kind: WarningKind::UnknownField,
            }],
        };
        let text = import_preview_text(ImportFormat::Sswan, &preview, Some(&eap_profile()));
        assert!(
            text.starts_with("Importing a strongSwan profile (.sswan):\n"),
            "{text}"
        );
        for expected in [
            "Name:             Example Corp\n",
            "Gateway:          vpn.example.com\n",
            "Authentication:   EAP-MSCHAPv2 as \"alice\"\n",
            "Gateway identity: vpn.example.com\n",
            "Gateway trust:    certificates trusted by the system\n",
            "Routing:          only 10.8.0.0/16 through the VPN; other IPv6 traffic is blocked\n",
            "DNS:              10.8.0.1\n",
            "IKE proposals:    Tern's defaults\n",
            "Secrets needed:   EAP password\n",
            "Secrets in file:  EAP password (to be stored in the keyring)\n",
            "Warnings (1):\n  - remote.certreq: not a known field of this format; ignored.\n",
            "replaces the existing profile \"Example Corp\"",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        assert!(!text.contains("hunter2"));
    }

    #[test]
    fn list_json_shape() {
        let p = eap_profile();
        let json = serde_json::to_value([list_entry(&p)]).unwrap();
        assert_eq!(
            json,
            serde_json::json!([{
                "id": "d8a0f1f5-3b6f-4c53-9a3b-4a9e2f0c7b11",
                "name": "Example Corp",
                "gateway": {"host": "vpn.example.com", "port": 500},
                "auth_method": "eap-mschapv2",
                "required_secrets": ["eap-password"],
            }])
        );
    }

    #[test]
    fn show_json_shape() {
        let p = eap_profile();
        let show = ShowJson {
            profile: &p,
            required_secrets: kind_names(&p.required_secrets()),
            stored_secrets: None,
        };
        let json = serde_json::to_value(&show).unwrap();
        assert_eq!(
            json["profile"]["id"],
            "d8a0f1f5-3b6f-4c53-9a3b-4a9e2f0c7b11"
        );
        assert_eq!(json["profile"]["auth"]["method"], "eap-mschapv2");
        assert_eq!(json["profile"]["auth"]["username"], "alice");
        assert_eq!(
            json["required_secrets"],
            serde_json::json!(["eap-password"])
        );
        assert!(json["stored_secrets"].is_null());
        // The profile member reads back as a profile.
        let back: Profile = serde_json::from_value(json["profile"].clone()).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn auth_method_names_match_the_profile_format() {
        for auth in [
            AuthMethod::Psk,
            AuthMethod::EapMschapv2 { username: None },
            AuthMethod::EapTls,
            AuthMethod::Certificate { rsa_pss: false },
            AuthMethod::CertificateEap {
                username: None,
                rsa_pss: false,
            },
        ] {
            assert_eq!(
                serde_json::to_value(&auth).unwrap()["method"],
                auth_method_name(&auth)
            );
        }
    }

    #[test]
    fn list_text_aligns_columns() {
        let mut other = eap_profile();
        other.name = "B".into();
        other.gateway.port = 4500;
        let text = list_text(&[eap_profile(), other]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], format!("{:<14}{:<38}GATEWAY", "NAME", "UUID"));
        assert!(lines[2].ends_with("vpn.example.com:4500"), "{text}");
        assert_eq!(
            list_text(&[]),
            "No profiles. Add one with `tern import FILE`.\n"
        );
    }
}

//! What the UI shows of a profile: plain strings and lists, with certificates parsed for their
//! subject and fingerprint. Built from a [`profile::Profile`]; never contains secrets.

use profile::{AuthMethod, Certificate, Identity, Ipv6Policy, Profile, SecretKind};
use serde::Serialize;

/// A profile as the import preview, the editor and the profile list show it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileDetails {
    /// The profile's UUID.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// The gateway host.
    pub gateway: String,
    /// The gateway's IKE port.
    pub port: u16,
    /// The identity the gateway must prove, if the profile names one.
    pub remote_identity: Option<String>,
    /// Our identity, if the profile names one.
    pub local_identity: Option<String>,
    /// How we authenticate.
    pub auth: AuthDetails,
    /// The gateway certificate's required subject common name, if any.
    pub server_name: Option<String>,
    /// Trust anchors and pinned certificates the profile carries.
    pub certificates: Vec<CertificateDetails>,
    /// Where traffic goes.
    pub routes: RouteDetails,
    /// DNS overrides.
    pub dns: DnsDetails,
    /// The secrets the profile needs to connect.
    pub required_secrets: Vec<SecretKind>,
}

/// The authentication method in words.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthDetails {
    /// The method's tag (`psk`, `eap-mschapv2`, `eap-tls`, `certificate`, `certificate-eap`).
    pub method: &'static str,
    /// A short label for people.
    pub label: &'static str,
    /// The EAP username, for methods that have one.
    pub username: Option<String>,
}

/// One certificate of the profile.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateDetails {
    /// `ca` (a trust anchor) or `pinned` (the only gateway certificate accepted).
    pub role: &'static str,
    /// The subject DN, when the certificate parses.
    pub subject: Option<String>,
    /// The issuer DN, when the certificate parses.
    pub issuer: Option<String>,
    /// The end of the validity period (RFC 2822 date), when the certificate parses.
    pub not_after: Option<String>,
    /// SHA-256 over the DER encoding, as colon-separated upper-case hex.
    pub sha256: String,
    /// Why the certificate could not be parsed, if it could not.
    pub problem: Option<String>,
}

/// Routing in words.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteDetails {
    /// True when every destination the gateway accepts uses the tunnel.
    pub full_tunnel: bool,
    /// Destinations that use the tunnel (split tunnel).
    pub include: Vec<String>,
    /// Destinations that never use the tunnel.
    pub exclude: Vec<String>,
    /// IPv4 traffic outside the tunnel is dropped.
    pub block_ipv4_outside: bool,
    /// IPv6 traffic outside the tunnel is dropped.
    pub block_ipv6_outside: bool,
    /// `tunnel`, `block` or `bypass`.
    pub ipv6: &'static str,
}

/// DNS overrides in words.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DnsDetails {
    /// Resolvers to use while connected (empty: the gateway's).
    pub servers: Vec<String>,
    /// Search domains (empty: the gateway's).
    pub search_domains: Vec<String>,
}

impl ProfileDetails {
    /// The view of a profile.
    #[must_use]
    pub fn of(profile: &Profile) -> Self {
        let trust = &profile.server_trust;
        let certificates = trust
            .ca_certificates
            .iter()
            .map(|c| CertificateDetails::of("ca", c))
            .chain(
                trust
                    .pinned_certificate
                    .iter()
                    .map(|c| CertificateDetails::of("pinned", c)),
            )
            .collect();
        let routing = &profile.routing;
        Self {
            id: profile.id.to_string(),
            name: profile.name.clone(),
            gateway: profile.gateway.host.clone(),
            port: profile.gateway.port,
            remote_identity: profile.remote_identity.as_ref().map(Identity::to_string),
            local_identity: profile.local_identity.as_ref().map(Identity::to_string),
            auth: AuthDetails::of(&profile.auth),
            server_name: trust.server_common_name.clone(),
            certificates,
            routes: RouteDetails {
                full_tunnel: routing.include.is_empty(),
                include: routing.include.iter().map(ToString::to_string).collect(),
                exclude: routing.exclude.iter().map(ToString::to_string).collect(),
                block_ipv4_outside: routing.block_ipv4_outside,
                block_ipv6_outside: routing.block_ipv6_outside,
                ipv6: match profile.ipv6 {
                    Ipv6Policy::Tunnel => "tunnel",
                    Ipv6Policy::Block => "block",
                    Ipv6Policy::Bypass => "bypass",
                },
            },
            dns: DnsDetails {
                servers: profile
                    .dns
                    .servers
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                search_domains: profile.dns.search_domains.clone(),
            },
            required_secrets: crate::secrets::to_enter(profile),
        }
    }
}

impl AuthDetails {
    fn of(auth: &AuthMethod) -> Self {
        let (method, label) = match auth {
            AuthMethod::Psk => ("psk", "Pre-shared key"),
            AuthMethod::EapMschapv2 { .. } => ("eap-mschapv2", "Username and password (EAP)"),
            AuthMethod::EapTls => ("eap-tls", "Client certificate (EAP-TLS)"),
            AuthMethod::Certificate { .. } => ("certificate", "Client certificate"),
            AuthMethod::CertificateEap { .. } => (
                "certificate-eap",
                "Client certificate, then username and password",
            ),
        };
        Self {
            method,
            label,
            username: auth.eap_username().map(str::to_owned),
        }
    }
}

impl CertificateDetails {
    fn of(role: &'static str, certificate: &Certificate) -> Self {
        let der = match certificate_der(certificate) {
            Ok(der) => der,
            Err(problem) => {
                return Self {
                    role,
                    subject: None,
                    issuer: None,
                    not_after: None,
                    sha256: fingerprint(&certificate.0),
                    problem: Some(problem),
                };
            }
        };
        let sha256 = fingerprint(&der);
        match x509_parser::parse_x509_certificate(&der) {
            Ok((_, cert)) => Self {
                role,
                subject: Some(cert.subject().to_string()),
                issuer: Some(cert.issuer().to_string()),
                not_after: cert.validity().not_after.to_rfc2822().ok(),
                sha256,
                problem: None,
            },
            Err(e) => Self {
                role,
                subject: None,
                issuer: None,
                not_after: None,
                sha256,
                problem: Some(format!("not a readable X.509 certificate: {e}")),
            },
        }
    }
}

/// The DER bytes of a certificate given as DER or PEM.
fn certificate_der(certificate: &Certificate) -> Result<Vec<u8>, String> {
    if !certificate.is_pem() {
        return Ok(certificate.0.clone());
    }
    match x509_parser::pem::parse_x509_pem(&certificate.0) {
        Ok((_, pem)) => Ok(pem.contents),
        Err(e) => Err(format!("not a readable PEM certificate: {e}")),
    }
}

/// SHA-256 as `AB:CD:…`, the way certificate viewers show fingerprints.
fn fingerprint(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let hex: Vec<String> = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_colon_separated_hex() {
        let f = fingerprint(b"abc");
        assert!(f.starts_with("BA:78:16:BF:"), "{f}");
        assert_eq!(f.len(), 32 * 3 - 1);
    }

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../crates/profile/tests/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(path).unwrap()
    }

    #[test]
    fn certificates_show_subject_and_fingerprint() {
        let pem = CertificateDetails::of("ca", &Certificate(fixture("ca.pem")));
        assert_eq!(
            pem.subject.as_deref(),
            Some("C=CH, O=Example Corp, CN=Example VPN Root CA")
        );
        // As `openssl x509 -fingerprint -sha256` prints it.
        assert!(
            pem.sha256.starts_with("18:A4:BF:30:84:48:54:02"),
            "{}",
            pem.sha256
        );
        assert!(pem.not_after.is_some() && pem.problem.is_none());
        let der = CertificateDetails::of("ca", &Certificate(fixture("ca.der")));
        assert_eq!(der.sha256, pem.sha256);
    }

    #[test]
    fn an_imported_profile_in_words() {
        let (_, preview) = profile::import_any(&fixture("sswan/cert.sswan")).unwrap();
        let details = ProfileDetails::of(&preview.profile);
        assert_eq!(details.gateway, "203.0.113.10");
        assert_eq!(details.port, 4500);
        assert_eq!(details.auth.method, "certificate");
        assert_eq!(details.certificates.len(), 1);
        assert!(details.certificates[0].subject.is_some());
        let json = serde_json::to_value(&details).unwrap();
        assert!(json["routes"]["fullTunnel"].is_boolean());
        assert!(json["requiredSecrets"].is_array());
    }

    #[test]
    fn an_unreadable_certificate_is_reported_not_fatal() {
        let details = CertificateDetails::of("ca", &Certificate(vec![0x30, 0x82, 0, 1, 5]));
        assert!(details.problem.is_some());
        assert!(details.subject.is_none());
    }
}

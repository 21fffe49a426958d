//! From a client's [`ConnectRequest`] to what the connection needs: the checked profile and
//! secret ([`check`]), the IKE initiator's configuration ([`initiator_config`]), and the tunnel
//! network plan once the gateway has answered ([`network_plan`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::SystemTime;

use ike::cert::{ClientCredential, GatewayIdentity, TrustStore};
use ike::eap::{EapMethod, EapTlsConfig};
use ike::{AuthConfig, ConfigRequest, InitiatorConfig, RetransmitConfig, ServerAuth};
use ipc::{ConnectRequest, ErrorCode, ErrorReply, Failure, FailureKind};
use ipsec_types::TrafficSelector;
use profile::{AuthMethod, ClientKey, IdentityKind, Ipv6Policy, Profile};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use zeroize::Zeroizing;

use crate::platform::{
    DnsSettings, InterfaceAddress, RoutingMode, TunnelInterface, TunnelNetworkPlan,
};

/// A connect request that passed every check: a valid profile with an authentication method
/// this helper implements, and its secret.
pub struct CheckedRequest {
    /// The validated profile.
    pub profile: Profile,
    /// How we authenticate; secrets zeroized on drop.
    credential: Credential,
}

/// The secrets and trust of one supported authentication method.
enum Credential {
    /// The pre-shared key.
    Psk(Zeroizing<Vec<u8>>),
    /// EAP-MSCHAPv2 after the gateway's certificate checked out against `trust`.
    EapMschapv2 {
        username: String,
        password: Zeroizing<String>,
        trust: Arc<TrustStore>,
    },
    /// Certificates both ways: ours signs the AUTH payload.
    Certificate {
        credential: Arc<ClientCredential>,
        rsa_pss: bool,
        /// Our identity when the profile names none: the certificate's subject.
        subject_der: Vec<u8>,
        trust: Arc<TrustStore>,
    },
    /// EAP-TLS with our certificate, after the gateway's IKE certificate checked out against
    /// `trust`; the EAP server's TLS certificate is checked against the same CAs.
    EapTls {
        /// The EAP identity: the profile's local identity, else the certificate's subject.
        identity: String,
        /// rustls' client configuration: the CAs and our certificate and key.
        tls: Arc<rustls::ClientConfig>,
        trust: Arc<TrustStore>,
    },
}

impl Credential {
    const fn name(&self) -> &'static str {
        match self {
            Self::Psk(_) => "psk",
            Self::EapMschapv2 { .. } => "eap-mschapv2",
            Self::Certificate { .. } => "certificate",
            Self::EapTls { .. } => "eap-tls",
        }
    }
}

impl std::fmt::Debug for CheckedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckedRequest")
            .field("profile", &self.profile.id)
            .field("method", &self.credential.name())
            .field("credentials", &"<redacted>")
            .finish()
    }
}

fn refuse(code: ErrorCode, message: impl Into<String>) -> ErrorReply {
    ErrorReply {
        code,
        message: message.into(),
    }
}

/// Checks a client's request: the profile validates, uses an authentication method this helper
/// implements, and the secrets it needs are there. A profile without CA certificates trusts the
/// operating system's CAs, loaded here.
pub fn check(request: ConnectRequest) -> Result<CheckedRequest, ErrorReply> {
    check_with(request, &load_system_trust)
}

/// Where the system's CA certificates come from; tests pass their own.
type SystemTrustLoader<'a> = &'a dyn Fn() -> Result<Vec<CertificateDer<'static>>, String>;

/// [`check`] with the system trust store loaded by `load_system`.
fn check_with(
    request: ConnectRequest,
    load_system: SystemTrustLoader<'_>,
) -> Result<CheckedRequest, ErrorReply> {
    let ConnectRequest { profile, secrets } = request;
    profile.validate().map_err(|e| {
        refuse(
            ErrorCode::InvalidProfile,
            format!("the profile is not valid: {e}"),
        )
    })?;
    if matches!(profile.auth, AuthMethod::CertificateEap { .. }) {
        return Err(refuse(
            ErrorCode::InvalidProfile,
            "a certificate followed by EAP (two authentication rounds, RFC 4739) is not \
             supported yet; ask for a profile of type certificate, EAP-TLS or EAP-MSCHAPv2",
        ));
    }
    for (field, identity) in [
        ("local_identity", &profile.local_identity),
        ("remote_identity", &profile.remote_identity),
    ] {
        if let Some(identity) = identity {
            // A distinguished name is checked against the client certificate below.
            if identity.kind == IdentityKind::DistinguishedName
                && field == "local_identity"
                && profile.auth.uses_client_certificate()
            {
                continue;
            }
            ike_identity(identity)
                .map_err(|why| refuse(ErrorCode::InvalidProfile, format!("{field}: {why}")))?;
        }
    }
    let credential = match &profile.auth {
        AuthMethod::EapMschapv2 { username } => {
            let username = match username.as_deref() {
                Some(name) if !name.is_empty() => name.to_owned(),
                _ => {
                    return Err(refuse(
                        ErrorCode::MissingSecret,
                        "the profile needs an EAP user name, and none was given",
                    ));
                }
            };
            let password = match secrets.eap_password.as_deref() {
                Some(password) if !password.is_empty() => Zeroizing::new(password.to_owned()),
                _ => {
                    return Err(refuse(
                        ErrorCode::MissingSecret,
                        "the profile needs an EAP password, and none was sent",
                    ));
                }
            };
            Credential::EapMschapv2 {
                username,
                password,
                trust: Arc::new(server_trust(&profile, load_system)?.store),
            }
        }
        AuthMethod::Certificate { rsa_pss } => {
            let key = client_key(&secrets)?;
            let credential = signing_credential(&key)?;
            let subject_der = credential
                .subject_der()
                .map_err(|e| refuse(ErrorCode::InvalidClientCertificate, e.to_string()))?;
            check_local_dn(&profile, &credential)?;
            Credential::Certificate {
                credential: Arc::new(credential),
                rsa_pss: *rsa_pss,
                subject_der,
                trust: Arc::new(server_trust(&profile, load_system)?.store),
            }
        }
        AuthMethod::EapTls => {
            let key = client_key(&secrets)?;
            // Loading it as for IKE signing checks that the key belongs to the certificate.
            let credential = signing_credential(&key)?;
            check_local_dn(&profile, &credential)?;
            // The subject in certificate order (`O=…, CN=…`), as strongSwan writes and reads it.
            let identity = match &profile.local_identity {
                Some(id) if id.kind != IdentityKind::DistinguishedName => id.value.clone(),
                _ => key.subject().to_owned(),
            };
            let trust = server_trust(&profile, load_system)?;
            Credential::EapTls {
                identity,
                tls: Arc::new(eap_tls_client_config(&key, trust.roots)?),
                trust: Arc::new(trust.store),
            }
        }
        _ => match secrets.psk.as_deref() {
            Some(psk) if !psk.is_empty() => {
                Credential::Psk(Zeroizing::new(psk.as_bytes().to_vec()))
            }
            _ => {
                return Err(refuse(
                    ErrorCode::MissingSecret,
                    "the profile needs a pre-shared key, and none was sent",
                ));
            }
        },
    };
    // `secrets` is zeroized as it drops here.
    Ok(CheckedRequest {
        profile,
        credential,
    })
}

/// The client certificate and key the request carries, checked.
fn client_key(secrets: &ipc::Secrets) -> Result<ClientKey, ErrorReply> {
    let Some(sent) = &secrets.client_certificate else {
        return Err(refuse(
            ErrorCode::MissingClientCertificate,
            "the profile authenticates with a client certificate, and none was sent; import \
             the profile's certificate (PKCS#12) again",
        ));
    };
    sent.to_key().map_err(|e| {
        refuse(
            ErrorCode::InvalidClientCertificate,
            format!("the client certificate cannot be used: {e}"),
        )
    })
}

/// The key and chain loaded for signing: refuses keys that do not belong to the certificate
/// and key types IKE cannot sign with.
fn signing_credential(key: &ClientKey) -> Result<ClientCredential, ErrorReply> {
    ClientCredential::from_pem_or_der(key.certificates_pem().as_bytes(), key.private_key_der())
        .map_err(|e| {
            refuse(
                ErrorCode::InvalidClientCertificate,
                format!("the client certificate cannot be used: {e}"),
            )
        })
}

/// A distinguished-name local identity must be the certificate's subject: that is the only
/// DN this helper can send (as the certificate's DER subject).
fn check_local_dn(profile: &Profile, credential: &ClientCredential) -> Result<(), ErrorReply> {
    let Some(id) = &profile.local_identity else {
        return Ok(());
    };
    if id.kind != IdentityKind::DistinguishedName {
        return Ok(());
    }
    // The same attributes in any order and spacing: parsers print RDNs in either order.
    let normalize = |dn: &str| -> Vec<String> {
        let mut rdns: Vec<String> = dn
            .split(',')
            .map(|rdn| {
                rdn.chars()
                    .filter(|c| !c.is_whitespace())
                    .flat_map(char::to_lowercase)
                    .collect()
            })
            .collect();
        rdns.sort_unstable();
        rdns
    };
    if normalize(&id.value) == normalize(credential.subject()) {
        return Ok(());
    }
    Err(refuse(
        ErrorCode::InvalidProfile,
        format!(
            "local_identity: `{}` is not the client certificate's subject `{}`; leave the \
             identity out to use the subject",
            id.value,
            credential.subject()
        ),
    ))
}

/// The gateway's trust anchors, for IKE and for EAP-TLS.
struct ServerTrust {
    store: TrustStore,
    roots: Arc<rustls::RootCertStore>,
}

/// The CAs the gateway's certificate must chain to: the profile's CA certificates, or the
/// operating system's when the profile has none. Pinned certificates and common-name checks
/// are not supported yet.
fn server_trust(
    profile: &Profile,
    load_system: SystemTrustLoader<'_>,
) -> Result<ServerTrust, ErrorReply> {
    let trust = &profile.server_trust;
    let unsupported = |what: &str| {
        refuse(
            ErrorCode::InvalidProfile,
            format!("{what} is not supported yet; put the gateway's CA certificate in the profile"),
        )
    };
    if trust.pinned_certificate.is_some() {
        return Err(unsupported("a pinned gateway certificate"));
    }
    if trust.server_common_name.is_some() || trust.issuer_common_name.is_some() {
        return Err(unsupported("checking the certificate's common names"));
    }
    let invalid = |e: ike::cert::CertError| refuse(ErrorCode::InvalidProfile, e.to_string());
    let (store, ders) = if trust.ca_certificates.is_empty() {
        let ders = load_system().map_err(|why| {
            refuse(
                ErrorCode::InvalidProfile,
                format!(
                    "the profile has no CA certificate, and the system's trusted CAs cannot \
                     be loaded ({why}); put the gateway's CA certificate in the profile"
                ),
            )
        })?;
        tracing::info!(
            certificates = ders.len(),
            "checking the gateway against the system's trusted CAs"
        );
        let refs: Vec<&[u8]> = ders.iter().map(AsRef::as_ref).collect();
        (
            TrustStore::from_system_certificates(&refs).map_err(invalid)?,
            ders,
        )
    } else {
        let cas: Vec<&[u8]> = trust
            .ca_certificates
            .iter()
            .map(|c| c.0.as_slice())
            .collect();
        let store = TrustStore::from_ca_certificates(&cas).map_err(invalid)?;
        let mut ders = Vec::new();
        for cert in &trust.ca_certificates {
            if cert.is_pem() {
                ders.extend(
                    CertificateDer::pem_slice_iter(&cert.0)
                        .filter_map(Result::ok)
                        .map(CertificateDer::into_owned),
                );
            } else {
                ders.push(CertificateDer::from(cert.0.clone()));
            }
        }
        (store, ders)
    };
    let mut roots = rustls::RootCertStore::empty();
    // Certificates webpki cannot use as anchors are skipped, as `TrustStore` does.
    roots.add_parsable_certificates(ders);
    Ok(ServerTrust {
        store,
        roots: Arc::new(roots),
    })
}

/// The operating system's trusted CA certificates (`rustls-native-certs`: the system bundle on
/// Linux, or `SSL_CERT_FILE`/`SSL_CERT_DIR`; Keychain on macOS; the Windows root store).
fn load_system_trust() -> Result<Vec<CertificateDer<'static>>, String> {
    let loaded = rustls_native_certs::load_native_certs();
    for error in &loaded.errors {
        tracing::warn!(%error, "skipping part of the system's trust store");
    }
    if loaded.certs.is_empty() {
        return Err(match loaded.errors.first() {
            Some(error) => error.to_string(),
            None => "the system trust store is empty".to_owned(),
        });
    }
    Ok(loaded.certs)
}

/// The TLS client for EAP-TLS: TLS 1.2 or 1.3 (ring), the gateway's CAs, our certificate.
fn eap_tls_client_config(
    key: &ClientKey,
    roots: Arc<rustls::RootCertStore>,
) -> Result<rustls::ClientConfig, ErrorReply> {
    let chain: Vec<CertificateDer<'static>> = key
        .certificates()
        .iter()
        .map(|c| CertificateDer::from(c.0.clone()))
        .collect();
    let private_key =
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.private_key_der().to_vec()));
    let unusable = |e: rustls::Error| {
        refuse(
            ErrorCode::InvalidClientCertificate,
            format!("the client certificate cannot be used for EAP-TLS: {e}"),
        )
    };
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(unusable)?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, private_key)
        .map_err(unusable)
}

/// The name the gateway's certificate must carry: the profile's remote identity, else the
/// gateway's host name or address.
fn expected_gateway_identity(profile: &Profile) -> Result<GatewayIdentity, String> {
    if let Some(id) = &profile.remote_identity {
        return match ike_identity(id)? {
            ike::Identity::Fqdn(name) => Ok(GatewayIdentity::Fqdn(name)),
            ike::Identity::Email(mail) => Ok(GatewayIdentity::Email(mail)),
            ike::Identity::Ipv4(a) => Ok(GatewayIdentity::Ip(a.into())),
            ike::Identity::Ipv6(a) => Ok(GatewayIdentity::Ip(a.into())),
            _ => Err("a key-id remote identity cannot be checked against a certificate".into()),
        };
    }
    let host = profile
        .gateway
        .host
        .trim_start_matches('[')
        .trim_end_matches(']');
    Ok(match host.parse::<IpAddr>() {
        Ok(addr) => GatewayIdentity::Ip(addr),
        Err(_) => GatewayIdentity::Fqdn(host.to_owned()),
    })
}

/// The name the EAP server's TLS certificate must carry: the gateway's, as for IKE.
fn tls_server_name(profile: &Profile) -> Result<ServerName<'static>, String> {
    match expected_gateway_identity(profile)? {
        GatewayIdentity::Fqdn(name) => ServerName::try_from(name.clone())
            .map_err(|_| format!("`{name}` is not a DNS name EAP-TLS can check")),
        GatewayIdentity::Ip(addr) => Ok(ServerName::IpAddress(addr.into())),
        _ => Err(
            "EAP-TLS checks the server's certificate against a DNS name or an address; give \
             the profile such a remote identity"
                .into(),
        ),
    }
}

/// The IKE identity for a profile identity.
fn ike_identity(identity: &profile::Identity) -> Result<ike::Identity, String> {
    let value = identity.value.as_str();
    Ok(match identity.kind {
        IdentityKind::Fqdn => ike::Identity::Fqdn(value.to_owned()),
        IdentityKind::Email => ike::Identity::Email(value.to_owned()),
        IdentityKind::IpAddr => match value.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => ike::Identity::Ipv4(a),
            Ok(IpAddr::V6(a)) => ike::Identity::Ipv6(a),
            Err(_) => return Err(format!("`{value}` is not an IP address")),
        },
        IdentityKind::KeyId => ike::Identity::KeyId(
            hex::decode(value).map_err(|_| format!("key id `{value}` is not hex"))?,
        ),
        IdentityKind::DistinguishedName => {
            return Err("distinguished-name identities are not supported yet".into());
        }
    })
}

fn address_identity(addr: IpAddr) -> ike::Identity {
    match addr {
        IpAddr::V4(a) => ike::Identity::Ipv4(a),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => ike::Identity::Ipv4(v4),
            None => ike::Identity::Ipv6(a),
        },
    }
}

/// The selectors we ask for on the gateway's side: the profile's include list, or everything
/// (IPv6 only when the profile tunnels it).
#[must_use]
pub fn remote_selectors(profile: &Profile) -> Vec<TrafficSelector> {
    let tunnel_v6 = profile.ipv6 == Ipv6Policy::Tunnel;
    if profile.routing.include.is_empty() {
        let mut all = vec![TrafficSelector::ipv4_any()];
        if tunnel_v6 {
            all.push(TrafficSelector::ipv6_any());
        }
        return all;
    }
    profile
        .routing
        .include
        .iter()
        .filter(|p| tunnel_v6 || p.addr().is_ipv4())
        .map(|p| TrafficSelector::from_prefix(*p))
        .collect()
}

/// The initiator's configuration for `request`, sending to `gateway` from `local` (the IKE
/// socket's address, our identity when the profile names none).
pub fn initiator_config(
    request: &CheckedRequest,
    gateway: SocketAddr,
    local: SocketAddr,
    retransmit: RetransmitConfig,
) -> Result<InitiatorConfig, Failure> {
    let profile = &request.profile;
    let invalid = |message: String| Failure {
        kind: FailureKind::InvalidProfile,
        message,
    };
    let local_id = match (&profile.local_identity, &request.credential) {
        // A certificate speaks for its subject (a DN identity was checked to be it).
        (None, Credential::Certificate { subject_der, .. }) => {
            ike::Identity::DerAsn1Dn(subject_der.clone())
        }
        (Some(id), Credential::Certificate { subject_der, .. })
            if id.kind == IdentityKind::DistinguishedName =>
        {
            ike::Identity::DerAsn1Dn(subject_der.clone())
        }
        (Some(id), Credential::EapTls { .. }) if id.kind == IdentityKind::DistinguishedName => {
            address_identity(local.ip())
        }
        (Some(id), _) => ike_identity(id).map_err(invalid)?,
        (None, _) => address_identity(local.ip()),
    };
    let server = |trust: &Arc<TrustStore>| -> Result<ServerAuth, Failure> {
        Ok(ServerAuth {
            trust: Arc::clone(trust),
            expected_identity: expected_gateway_identity(profile).map_err(invalid)?,
            request_certificates: profile.server_trust.checks.send_certificate_requests,
            wall_clock: SystemTime::now(),
        })
    };
    let auth = match &request.credential {
        Credential::Psk(psk) => AuthConfig::Psk(psk.clone()),
        Credential::EapMschapv2 {
            username,
            password,
            trust,
        } => AuthConfig::Eap {
            identity: username.clone(),
            method: EapMethod::MsChapV2 {
                user_name: username.clone(),
                password: password.clone(),
            },
            server: server(trust)?,
        },
        Credential::Certificate {
            credential,
            rsa_pss,
            trust,
            ..
        } => AuthConfig::Certificate {
            credential: Arc::clone(credential),
            rsa_pss: *rsa_pss,
            server: server(trust)?,
        },
        Credential::EapTls {
            identity,
            tls,
            trust,
        } => AuthConfig::Eap {
            identity: identity.clone(),
            method: EapMethod::Tls(EapTlsConfig {
                client_config: Arc::clone(tls),
                server_name: tls_server_name(profile).map_err(invalid)?,
            }),
            server: server(trust)?,
        },
    };
    let mut config = InitiatorConfig::new(gateway, local_id, auth);
    config.remote_id = match &profile.remote_identity {
        Some(id) => Some(ike_identity(id).map_err(invalid)?),
        // Without a configured identity the gateway may call itself anything; the PSK still
        // has to match for it to authenticate.
        None => None,
    };
    if !profile.ike_proposals.is_empty() {
        config.ike_proposals = profile
            .ike_proposals
            .iter()
            .map(|p| ike::IkeProposal {
                encr: p.encryption.clone(),
                integ: p.integrity.clone(),
                prf: p.prf.clone(),
                dh: p.dh_groups.clone(),
            })
            .collect();
    }
    if !profile.esp_proposals.is_empty() {
        // The first CHILD_SA comes with IKE_AUTH and so never does PFS: the groups are unused.
        config.esp_proposals = profile
            .esp_proposals
            .iter()
            .map(|p| ike::EspProposal {
                encr: p.encryption.clone(),
                integ: p.integrity.clone(),
                esn: p.esn != profile::EsnMode::Off,
            })
            .collect();
    }
    let tunnel_v6 = profile.ipv6 == Ipv6Policy::Tunnel;
    config.ts_remote = remote_selectors(profile);
    config.ts_local = vec![TrafficSelector::ipv4_any()];
    if tunnel_v6 {
        config.ts_local.push(TrafficSelector::ipv6_any());
    }
    config.config_request = ConfigRequest {
        ipv4: true,
        ipv6: tunnel_v6,
        dns: true,
        dns_domains: true,
    };
    config.local_addr = Some(local);
    config.retransmit = retransmit;
    Ok(config)
}

/// The TUN MTU: the profile's, or the path MTU minus the outer IP and UDP headers and the
/// worst-case ESP overhead of the negotiated suite.
#[must_use]
pub fn tunnel_mtu(
    profile: &Profile,
    path_mtu: u16,
    gateway: IpAddr,
    suite: &ipsec_types::EspSuite,
) -> u16 {
    if let Some(mtu) = profile.mtu {
        return mtu;
    }
    let ip_header = if gateway.is_ipv4() { 20 } else { 40 };
    let overhead = ip_header + esp::UDP_HEADER_LEN + esp::max_overhead(suite);
    let mtu = usize::from(path_mtu).saturating_sub(overhead);
    // IPv6 needs 1280 on every link; below 576 nothing works well for IPv4 either.
    u16::try_from(mtu).unwrap_or(u16::MAX).max(576)
}

/// The network plan for an established CHILD_SA: its configuration payload and the
/// gateway-side selectors.
#[must_use]
pub fn network_plan(
    profile: &Profile,
    cp: &ike::NegotiatedConfig,
    ts_remote: &[TrafficSelector],
    interface: TunnelInterface,
    gateway: IpAddr,
) -> TunnelNetworkPlan {
    let mut addresses: Vec<InterfaceAddress> = cp
        .ipv4_addresses
        .iter()
        .map(|a| InterfaceAddress::host(IpAddr::V4(*a)))
        .collect();
    addresses.extend(cp.ipv6_addresses.iter().map(|(a, len)| {
        InterfaceAddress::new(IpAddr::V6(*a), *len)
            .unwrap_or_else(|_| InterfaceAddress::host(IpAddr::V6(*a)))
    }));
    let routing = RoutingMode::from_selectors(ts_remote);
    if !profile.routing.exclude.is_empty() {
        tracing::warn!("routing.exclude is not applied yet: those networks still use the tunnel");
    }
    let (servers, domains) = if profile.dns.servers.is_empty() {
        (cp.dns_servers.clone(), cp.dns_domains.clone())
    } else {
        (profile.dns.servers.clone(), Vec::new())
    };
    let domains = if profile.dns.search_domains.is_empty() {
        domains
    } else {
        profile.dns.search_domains.clone()
    };
    let dns = (!servers.is_empty()).then_some(DnsSettings { servers, domains });
    TunnelNetworkPlan {
        interface,
        addresses,
        gateway,
        routing,
        dns,
    }
}

#[cfg(test)]
mod tests {
    use ipc::Secrets;
    use ipsec_types::IpPrefix;
    use profile::{Gateway, ProfileId};

    use super::*;

    fn psk_profile() -> Profile {
        Profile::new(
            ProfileId::new_random(),
            "Lab",
            Gateway::new("198.51.100.1"),
            AuthMethod::Psk,
        )
    }

    fn with_psk(profile: Profile, psk: Option<&str>) -> ConnectRequest {
        let mut secrets = Secrets::default();
        secrets.psk = psk.map(str::to_owned);
        ConnectRequest { profile, secrets }
    }

    #[test]
    fn refuses_missing_secrets_invalid_profiles_and_other_methods() {
        let err = check(with_psk(psk_profile(), None)).unwrap_err();
        assert_eq!(err.code, ErrorCode::MissingSecret);
        let err = check(with_psk(psk_profile(), Some(""))).unwrap_err();
        assert_eq!(err.code, ErrorCode::MissingSecret);

        let mut bad = psk_profile();
        bad.gateway.host = "not a host name!".into();
        let err = check(with_psk(bad, Some("k"))).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidProfile);
        assert!(err.message.contains("gateway"), "{}", err.message);

        let mut eap = psk_profile();
        eap.auth = AuthMethod::EapMschapv2 {
            username: Some("alice".into()),
        };
        // A PSK is no EAP password.
        let err = check(with_psk(eap, Some("k"))).unwrap_err();
        assert_eq!(err.code, ErrorCode::MissingSecret);

        let mut tls = psk_profile();
        tls.auth = AuthMethod::EapTls;
        let err = check(with_psk(tls, Some("k"))).unwrap_err();
        assert_eq!(err.code, ErrorCode::MissingClientCertificate);
        assert!(
            err.message.contains("client certificate"),
            "{}",
            err.message
        );

        let mut two_rounds = psk_profile();
        two_rounds.auth = AuthMethod::CertificateEap {
            username: Some("alice".into()),
            rsa_pss: false,
        };
        let err = check(with_psk(two_rounds, Some("k"))).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidProfile);
        assert!(err.message.contains("RFC 4739"), "{}", err.message);

        let mut dn = psk_profile();
        dn.local_identity = Some(profile::Identity::parse("CN=alice, O=Tern"));
        let err = check(with_psk(dn, Some("k"))).unwrap_err();
        assert!(err.message.contains("local_identity"), "{}", err.message);

        let checked = check(with_psk(psk_profile(), Some("secret"))).unwrap();
        assert!(!format!("{checked:?}").contains("secret"));
    }

    #[test]
    fn maps_identities_selectors_and_config_request() {
        let mut profile = psk_profile();
        profile.local_identity = Some(profile::Identity::parse("client@tern.test"));
        profile.remote_identity = Some(profile::Identity::parse("gw.tern.test"));
        profile.routing.include = vec![IpPrefix::new("10.99.0.0".parse().unwrap(), 24).unwrap()];
        profile.ipv6 = Ipv6Policy::Block;
        let checked = check(with_psk(profile, Some("secret"))).unwrap();
        let config = initiator_config(
            &checked,
            "198.51.100.1:500".parse().unwrap(),
            "198.51.100.2:40000".parse().unwrap(),
            RetransmitConfig::default(),
        )
        .unwrap();
        assert_eq!(
            config.local_id,
            ike::Identity::Email("client@tern.test".into())
        );
        assert_eq!(
            config.remote_id,
            Some(ike::Identity::Fqdn("gw.tern.test".into()))
        );
        assert_eq!(config.ts_remote.len(), 1);
        assert_eq!(config.ts_remote[0].to_string(), "10.99.0.0/24");
        assert_eq!(config.ts_local, vec![TrafficSelector::ipv4_any()]);
        assert!(!config.config_request.ipv6);

        // No local identity: our address.
        let checked = check(with_psk(psk_profile(), Some("secret"))).unwrap();
        let config = initiator_config(
            &checked,
            "198.51.100.1:500".parse().unwrap(),
            "198.51.100.2:40000".parse().unwrap(),
            RetransmitConfig::default(),
        )
        .unwrap();
        assert_eq!(
            config.local_id,
            ike::Identity::Ipv4("198.51.100.2".parse().unwrap())
        );
        assert_eq!(config.ts_remote.len(), 2);
        assert!(config.remote_id.is_none());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn maps_eap_mschapv2_to_certificate_checked_eap() {
        let ca = tern_e2e::pki::Ca::new("Tern Test CA", tern_e2e::pki::KeyKind::EcdsaP256).unwrap();
        let mut profile = psk_profile();
        profile.auth = AuthMethod::EapMschapv2 {
            username: Some("alice".into()),
        };
        let eap_request = |profile: Profile, password: Option<&str>| {
            let mut secrets = Secrets::default();
            secrets.eap_password = password.map(str::to_owned);
            ConnectRequest { profile, secrets }
        };
        // No CA in the profile and no usable system store: refused, saying why.
        let err =
            check_with(eap_request(profile.clone(), Some("pw")), &no_system_store).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidProfile);
        assert!(err.message.contains("CA certificate"), "{}", err.message);
        assert!(err.message.contains("no store here"), "{}", err.message);

        profile
            .server_trust
            .ca_certificates
            .push(profile::Certificate(ca.cert_pem.clone().into_bytes()));
        let err = check(eap_request(profile.clone(), None)).unwrap_err();
        assert_eq!(err.code, ErrorCode::MissingSecret);

        let checked = check(eap_request(profile.clone(), Some("secret-pw"))).unwrap();
        assert!(!format!("{checked:?}").contains("secret-pw"));
        let gateway = "198.51.100.1:500".parse().unwrap();
        let local = "198.51.100.2:40000".parse().unwrap();
        let config =
            initiator_config(&checked, gateway, local, RetransmitConfig::default()).unwrap();
        let AuthConfig::Eap {
            identity, server, ..
        } = &config.auth
        else {
            panic!("not EAP: {:?}", config.auth);
        };
        assert_eq!(identity, "alice");
        // No remote identity: the certificate must name the gateway's address.
        assert_eq!(
            server.expected_identity,
            GatewayIdentity::Ip("198.51.100.1".parse().unwrap())
        );
        assert!(server.request_certificates);
        assert!(!format!("{:?}", config.auth).contains("secret-pw"));

        profile.remote_identity = Some(profile::Identity::parse("gw.tern.test"));
        let checked = check(eap_request(profile, Some("secret-pw"))).unwrap();
        let config =
            initiator_config(&checked, gateway, local, RetransmitConfig::default()).unwrap();
        let AuthConfig::Eap { server, .. } = &config.auth else {
            panic!("not EAP");
        };
        assert_eq!(
            server.expected_identity,
            GatewayIdentity::Fqdn("gw.tern.test".into())
        );
    }

    fn no_system_store() -> Result<Vec<CertificateDer<'static>>, String> {
        Err("no store here".into())
    }

    #[cfg(target_os = "linux")]
    mod certificates {
        use tern_e2e::pki::{Ca, IssuedCert, KeyKind};

        use super::*;

        struct Pki {
            ca: Ca,
            client: IssuedCert,
        }

        fn pki(kind: KeyKind) -> Pki {
            let ca = Ca::new("Tern Test CA", KeyKind::EcdsaP256).unwrap();
            let client = ca.issue("alice", &["alice.tern.test"], kind).unwrap();
            Pki { ca, client }
        }

        fn sent(cert: &IssuedCert) -> ipc::ClientCertificate {
            let key = ClientKey::from_der(&cert.key_pkcs8_der, vec![cert.cert_der.clone()]);
            ipc::ClientCertificate::from_key(&key.unwrap())
        }

        fn profile(auth: AuthMethod, ca: Option<&Ca>) -> Profile {
            let mut profile = Profile::new(
                ProfileId::new_random(),
                "Lab",
                Gateway::new("198.51.100.1"),
                auth,
            );
            profile.remote_identity = Some(profile::Identity::parse("gw.tern.test"));
            if let Some(ca) = ca {
                profile
                    .server_trust
                    .ca_certificates
                    .push(profile::Certificate(ca.cert_pem.clone().into_bytes()));
            }
            profile
        }

        fn request(profile: Profile, cert: Option<ipc::ClientCertificate>) -> ConnectRequest {
            let mut secrets = Secrets::default();
            secrets.client_certificate = cert;
            ConnectRequest { profile, secrets }
        }

        fn config_for(checked: &CheckedRequest) -> InitiatorConfig {
            initiator_config(
                checked,
                "198.51.100.1:500".parse().unwrap(),
                "198.51.100.2:40000".parse().unwrap(),
                RetransmitConfig::default(),
            )
            .unwrap()
        }

        #[test]
        fn certificate_profiles_sign_with_the_sent_key_as_their_subject() {
            for kind in [KeyKind::EcdsaP256, KeyKind::EcdsaP384] {
                let pki = pki(kind);
                let auth = AuthMethod::Certificate { rsa_pss: true };
                let checked = check(request(
                    profile(auth.clone(), Some(&pki.ca)),
                    Some(sent(&pki.client)),
                ))
                .unwrap();
                let shown = format!("{checked:?}");
                assert!(shown.contains("certificate") && !shown.contains("PRIVATE"));
                let config = config_for(&checked);
                let AuthConfig::Certificate {
                    credential,
                    rsa_pss,
                    server,
                } = &config.auth
                else {
                    panic!("not certificate auth: {:?}", config.auth);
                };
                assert!(*rsa_pss);
                assert!(credential.subject().contains("CN=alice"));
                assert_eq!(
                    config.local_id,
                    ike::Identity::DerAsn1Dn(credential.subject_der().unwrap())
                );
                assert_eq!(
                    server.expected_identity,
                    GatewayIdentity::Fqdn("gw.tern.test".into())
                );
                assert_eq!(server.trust.source(), ike::cert::TrustSource::Profile);

                // The subject written as a DN identity is the same identity.
                let mut named = profile(auth.clone(), Some(&pki.ca));
                named.local_identity = Some(profile::Identity::parse("O=Tern Lab,CN=alice"));
                let checked = check(request(named, Some(sent(&pki.client)))).unwrap();
                assert!(matches!(
                    config_for(&checked).local_id,
                    ike::Identity::DerAsn1Dn(_)
                ));
                // Another DN is not.
                let mut other = profile(auth.clone(), Some(&pki.ca));
                other.local_identity = Some(profile::Identity::parse("CN=bob"));
                let err = check(request(other, Some(sent(&pki.client)))).unwrap_err();
                assert_eq!(err.code, ErrorCode::InvalidProfile);
                assert!(err.message.contains("subject"), "{}", err.message);
                // An email identity is sent as is.
                let mut mail = profile(auth, Some(&pki.ca));
                mail.local_identity = Some(profile::Identity::parse("alice@tern.test"));
                let checked = check(request(mail, Some(sent(&pki.client)))).unwrap();
                assert_eq!(
                    config_for(&checked).local_id,
                    ike::Identity::Email("alice@tern.test".into())
                );
            }
        }

        #[test]
        fn missing_damaged_or_foreign_keys_are_refused_with_their_own_codes() {
            let pki = pki(KeyKind::EcdsaP256);
            let auth = AuthMethod::Certificate { rsa_pss: false };
            let err = check(request(profile(auth.clone(), Some(&pki.ca)), None)).unwrap_err();
            assert_eq!(err.code, ErrorCode::MissingClientCertificate);

            let mut garbage = sent(&pki.client);
            garbage.private_key = b"not a key".to_vec();
            let err =
                check(request(profile(auth.clone(), Some(&pki.ca)), Some(garbage))).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidClientCertificate);

            // Bob's key with Alice's certificate.
            let bob = pki
                .ca
                .issue("bob", &["bob.tern.test"], KeyKind::EcdsaP256)
                .unwrap();
            let mut foreign = sent(&pki.client);
            foreign.private_key = bob.key_pkcs8_der.to_vec();
            let err =
                check(request(profile(auth.clone(), Some(&pki.ca)), Some(foreign))).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidClientCertificate);
            assert!(err.message.contains("does not belong"), "{}", err.message);
            assert!(!err.message.contains("PRIVATE"));
        }

        #[test]
        fn eap_tls_profiles_use_the_key_in_tls_and_name_the_gateway() {
            let pki = pki(KeyKind::EcdsaP256);
            let mut eap_tls = profile(AuthMethod::EapTls, Some(&pki.ca));
            eap_tls.local_identity = Some(profile::Identity::parse("alice@tern.test"));
            let checked = check(request(eap_tls, Some(sent(&pki.client)))).unwrap();
            let config = config_for(&checked);
            let AuthConfig::Eap {
                identity,
                method: EapMethod::Tls(tls),
                server,
            } = &config.auth
            else {
                panic!("not EAP-TLS: {:?}", config.auth);
            };
            assert_eq!(identity, "alice@tern.test");
            assert_eq!(
                config.local_id,
                ike::Identity::Email("alice@tern.test".into())
            );
            assert_eq!(
                tls.server_name,
                ServerName::try_from("gw.tern.test").unwrap()
            );
            assert!(tls.client_config.client_auth_cert_resolver.has_certs());
            assert_eq!(server.trust.source(), ike::cert::TrustSource::Profile);

            // Without a local identity: the certificate's subject for EAP, the address for IKE.
            let checked = check(request(
                profile(AuthMethod::EapTls, Some(&pki.ca)),
                Some(sent(&pki.client)),
            ))
            .unwrap();
            let config = config_for(&checked);
            let AuthConfig::Eap { identity, .. } = &config.auth else {
                panic!("not EAP");
            };
            // The subject as the certificate orders it.
            let key = sent(&pki.client).to_key().unwrap();
            assert_eq!(identity, key.subject());
            assert!(identity.contains("CN=alice"), "{identity}");
            assert_eq!(
                config.local_id,
                ike::Identity::Ipv4("198.51.100.2".parse().unwrap())
            );
        }

        #[test]
        fn without_profile_cas_the_system_store_is_used() {
            let pki = pki(KeyKind::EcdsaP256);
            let ca_der = CertificateDer::from_pem_slice(pki.ca.cert_pem.as_bytes())
                .unwrap()
                .into_owned();
            let system = move || -> Result<Vec<CertificateDer<'static>>, String> {
                // An odd entry, as real stores have: skipped, not fatal.
                Ok(vec![CertificateDer::from(vec![0x30, 0x00]), ca_der.clone()])
            };
            for auth in [
                AuthMethod::Certificate { rsa_pss: false },
                AuthMethod::EapTls,
                AuthMethod::EapMschapv2 {
                    username: Some("alice".into()),
                },
            ] {
                let mut req = request(profile(auth.clone(), None), Some(sent(&pki.client)));
                req.secrets.eap_password = Some("pw".into());
                let checked = check_with(req, &system).unwrap();
                let config = config_for(&checked);
                let server = match &config.auth {
                    AuthConfig::Certificate { server, .. } | AuthConfig::Eap { server, .. } => {
                        server
                    }
                    AuthConfig::Psk(_) => panic!("PSK"),
                };
                assert_eq!(
                    server.trust.source(),
                    ike::cert::TrustSource::System,
                    "{auth:?}"
                );
                assert_eq!(server.trust.len(), 1);

                let mut req = request(profile(auth.clone(), None), Some(sent(&pki.client)));
                req.secrets.eap_password = Some("pw".into());
                let err = check_with(req, &no_system_store).unwrap_err();
                assert_eq!(err.code, ErrorCode::InvalidProfile, "{auth:?}");
                assert!(
                    err.message.contains("system's trusted CAs"),
                    "{}",
                    err.message
                );
            }
        }
    }

    #[test]
    fn mtu_leaves_room_for_esp_in_udp() {
        let suite = ipsec_types::EspSuite {
            encr: ipsec_types::EncrAlgorithm::AesGcm16_256,
            integ: None,
            esn: true,
        };
        let profile = psk_profile();
        let v4: IpAddr = "198.51.100.1".parse().unwrap();
        let mtu = tunnel_mtu(&profile, 1500, v4, &suite);
        // 1500 - 20 (IP) - 8 (UDP) - (8 + 8 + 3 + 2 + 16) (ESP, GCM) = 1435.
        assert_eq!(mtu, 1435);
        let mut fixed = psk_profile();
        fixed.mtu = Some(1300);
        assert_eq!(tunnel_mtu(&fixed, 1500, v4, &suite), 1300);
    }
}

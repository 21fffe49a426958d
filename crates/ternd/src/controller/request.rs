//! From a client's [`ConnectRequest`] to what the connection needs: the checked profile and
//! secret ([`check`]), the IKE initiator's configuration ([`initiator_config`]), and the tunnel
//! network plan once the gateway has answered ([`network_plan`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::SystemTime;

use ike::cert::{GatewayIdentity, TrustStore};
use ike::eap::EapMethod;
use ike::{AuthConfig, ConfigRequest, InitiatorConfig, RetransmitConfig, ServerAuth};
use ipc::{ConnectRequest, ErrorCode, ErrorReply, Failure, FailureKind};
use ipsec_types::TrafficSelector;
use profile::{AuthMethod, IdentityKind, Ipv6Policy, Profile};
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
}

impl std::fmt::Debug for CheckedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let method = match &self.credential {
            Credential::Psk(_) => "psk",
            Credential::EapMschapv2 { .. } => "eap-mschapv2",
        };
        f.debug_struct("CheckedRequest")
            .field("profile", &self.profile.id)
            .field("method", &method)
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
/// implements, and the secrets it needs are there.
pub fn check(request: ConnectRequest) -> Result<CheckedRequest, ErrorReply> {
    let ConnectRequest { profile, secrets } = request;
    profile.validate().map_err(|e| {
        refuse(
            ErrorCode::InvalidProfile,
            format!("the profile is not valid: {e}"),
        )
    })?;
    if !matches!(
        profile.auth,
        AuthMethod::Psk | AuthMethod::EapMschapv2 { .. }
    ) {
        return Err(refuse(
            ErrorCode::InvalidProfile,
            "this helper supports pre-shared-key and EAP-MSCHAPv2 authentication so far",
        ));
    }
    for (field, identity) in [
        ("local_identity", &profile.local_identity),
        ("remote_identity", &profile.remote_identity),
    ] {
        if let Some(identity) = identity {
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
                trust: Arc::new(server_trust(&profile)?),
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

/// The CAs the gateway's certificate must chain to. Only the profile's own CA certificates
/// are supported so far: no system store, no pinning, no name constraints beyond the identity.
fn server_trust(profile: &Profile) -> Result<TrustStore, ErrorReply> {
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
    if trust.ca_certificates.is_empty() {
        return Err(refuse(
            ErrorCode::InvalidProfile,
            "the profile has no CA certificate to check the gateway against, and the system's trusted CAs are not supported yet",
        ));
    }
    let cas: Vec<&[u8]> = trust
        .ca_certificates
        .iter()
        .map(|c| c.0.as_slice())
        .collect();
    TrustStore::from_ca_certificates(&cas)
        .map_err(|e| refuse(ErrorCode::InvalidProfile, e.to_string()))
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
    let local_id = match &profile.local_identity {
        Some(id) => ike_identity(id).map_err(invalid)?,
        None => address_identity(local.ip()),
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
            server: ServerAuth {
                trust: Arc::clone(trust),
                expected_identity: expected_gateway_identity(profile).map_err(invalid)?,
                request_certificates: profile.server_trust.checks.send_certificate_requests,
                wall_clock: SystemTime::now(),
            },
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
        assert_eq!(err.code, ErrorCode::InvalidProfile);

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
        // No CA in the profile: refused (the system store is not supported yet).
        let err = check(eap_request(profile.clone(), Some("pw"))).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidProfile);
        assert!(err.message.contains("CA certificate"), "{}", err.message);

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

//! From a client's [`ConnectRequest`] to what the connection needs: the checked profile and
//! secret ([`check`]), the IKE initiator's configuration ([`initiator_config`]), and the tunnel
//! network plan once the gateway has answered ([`network_plan`]).

use std::net::{IpAddr, SocketAddr};

use ike::{AuthConfig, ConfigRequest, InitiatorConfig, RetransmitConfig};
use ipc::{ConnectRequest, ErrorCode, ErrorReply, Failure, FailureKind};
use ipsec_types::TrafficSelector;
use profile::{AuthMethod, IdentityKind, Ipv6Policy, Profile};
use zeroize::Zeroizing;

use crate::platform::{
    DnsSettings, InterfaceAddress, RoutingMode, TunnelInterface, TunnelNetworkPlan,
};

/// A connect request that passed every check: a valid PSK profile and its key.
pub struct CheckedRequest {
    /// The validated profile.
    pub profile: Profile,
    /// The pre-shared key; zeroized on drop.
    psk: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for CheckedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckedRequest")
            .field("profile", &self.profile.id)
            .field("psk", &"<redacted>")
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
    if profile.auth != AuthMethod::Psk {
        return Err(refuse(
            ErrorCode::InvalidProfile,
            "this helper only supports pre-shared-key authentication so far",
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
    let psk = match secrets.psk.as_deref() {
        Some(psk) if !psk.is_empty() => Zeroizing::new(psk.as_bytes().to_vec()),
        _ => {
            return Err(refuse(
                ErrorCode::MissingSecret,
                "the profile needs a pre-shared key, and none was sent",
            ));
        }
    };
    // `secrets` is zeroized as it drops here.
    Ok(CheckedRequest { profile, psk })
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
    let auth = AuthConfig::Psk(request.psk.clone());
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
        let err = check(with_psk(eap, Some("k"))).unwrap_err();
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

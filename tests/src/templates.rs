//! Ready-made charon configurations: the gateway setups Tern is tested against, and strongSwan
//! clients that show what a working peer does. All use the [`addr`] of the lab.
//!
//! The gateway connection is always named [`CONNECTION`] with one child [`CHILD`] that offers
//! the LAN ([`addr::LAN_PREFIX_V4`]) and hands out virtual IPs from
//! [`addr::VIRTUAL_IP_POOL_V4`]; its identity is [`GATEWAY_ID`]. It listens on both
//! [`addr::GATEWAY_V4`] and [`addr::GATEWAY_V6`].
//!
//! ```no_run
//! use tern_e2e::{templates, Charon, Gateway, Lab, LabConfig, Ns};
//!
//! let lab = Lab::new(LabConfig::default()).unwrap();
//! let gateway = Gateway::start(&lab, templates::gateway_psk("a-long-test-secret")).unwrap();
//! let client = Charon::start_in(
//!     &lab,
//!     Ns::Client,
//!     templates::strongswan_client_psk(tern_e2e::addr::GATEWAY_V4.into(), "a-long-test-secret"),
//! )
//! .unwrap();
//! client.swanctl(&["--initiate", "--child", templates::CHILD, "--timeout", "10"]).unwrap();
//! ```
//!
//! Secrets and names are placed inside double quotes in `swanctl.conf`: they must not contain
//! `"` or a backslash.

use std::net::IpAddr;

use zeroize::Zeroizing;

use crate::addr;
use crate::charon::CharonConfig;
use crate::pki::{Ca, IssuedCert};

/// The gateway's IKE identity (also a DNS SAN of certificates made for it).
pub const GATEWAY_ID: &str = "gw.tern.test";
/// The gateway's connection name (`swanctl --terminate --ike rw`).
pub const CONNECTION: &str = "rw";
/// The name of the gateway's (and the reference clients') CHILD_SA configuration.
pub const CHILD: &str = "net";
/// The file name of the gateway certificate in its swanctl directory (`x509/gw.pem`).
pub const GATEWAY_CERT: &str = "gw";

fn pool_and_child() -> String {
    format!(
        "    pools = pool4\n\
         \x20   children {{\n\
         \x20     {CHILD} {{\n\
         \x20       local_ts = {lan}\n\
         \x20       esp_proposals = aes256gcm16, aes128gcm16, default\n\
         \x20     }}\n\
         \x20   }}\n",
        lan = addr::LAN_PREFIX_V4
    )
}

fn pools() -> String {
    format!(
        "pools {{\n  pool4 {{\n    addrs = {}\n  }}\n}}\n",
        addr::VIRTUAL_IP_POOL_V4
    )
}

/// A gateway that authenticates itself and every client with the pre-shared key `psk`
/// (any client identity).
#[must_use]
pub fn gateway_psk(psk: &str) -> CharonConfig {
    let swanctl_conf = format!(
        "connections {{\n\
         \x20 {CONNECTION} {{\n\
         \x20   local_addrs = {gw4}, {gw6}\n\
         \x20   proposals = aes256-sha256-x25519, default\n\
         \x20   local {{\n\
         \x20     auth = psk\n\
         \x20     id = {GATEWAY_ID}\n\
         \x20   }}\n\
         \x20   remote {{\n\
         \x20     auth = psk\n\
         \x20   }}\n\
         {child}\
         \x20 }}\n\
         }}\n\
         {pools}\
         secrets {{\n\
         \x20 ike-any {{\n\
         \x20   secret = \"{psk}\"\n\
         \x20 }}\n\
         }}\n",
        gw4 = addr::GATEWAY_V4,
        gw6 = addr::GATEWAY_V6,
        child = pool_and_child(),
        pools = pools(),
    );
    CharonConfig {
        swanctl_conf,
        ..CharonConfig::default()
    }
}

/// A gateway that proves itself with `cert` (issued by `ca`, sent always) and authenticates
/// clients with EAP-MSCHAPv2 against `users` (name, password); any IKE identity is accepted,
/// since clients often use their IP address there.
#[must_use]
pub fn gateway_eap_mschapv2(ca: &Ca, cert: &IssuedCert, users: &[(&str, &str)]) -> CharonConfig {
    let mut secrets = String::new();
    for (n, (user, password)) in users.iter().enumerate() {
        secrets.push_str(&format!(
            "  eap-{n} {{\n    id = \"{user}\"\n    secret = \"{password}\"\n  }}\n"
        ));
    }
    let swanctl_conf = format!(
        "connections {{\n\
         \x20 {CONNECTION} {{\n\
         \x20   local_addrs = {gw4}, {gw6}\n\
         \x20   send_cert = always\n\
         \x20   local {{\n\
         \x20     auth = pubkey\n\
         \x20     certs = {GATEWAY_CERT}.pem\n\
         \x20     id = {GATEWAY_ID}\n\
         \x20   }}\n\
         \x20   remote {{\n\
         \x20     auth = eap-mschapv2\n\
         \x20     eap_id = %any\n\
         \x20   }}\n\
         {child}\
         \x20 }}\n\
         }}\n\
         {pools}\
         secrets {{\n\
         {secrets}\
         }}\n",
        gw4 = addr::GATEWAY_V4,
        gw6 = addr::GATEWAY_V6,
        child = pool_and_child(),
        pools = pools(),
    );
    let mut files = ca.swanctl_files("ca");
    files.extend(cert.swanctl_files(GATEWAY_CERT));
    CharonConfig {
        swanctl_conf,
        files,
        ..CharonConfig::default()
    }
}

/// The connection of [`gateway_eap_mschapv2_or_pubkey`] for clients with a certificate.
pub const CERT_CONNECTION: &str = "rw-cert";

/// A gateway that takes both kinds of client [`gateway_eap_mschapv2`] and [`gateway_pubkey`]
/// take: EAP-MSCHAPv2 against `users` on [`CONNECTION`], and a certificate chaining to `ca` for
/// the IKE identity `client_id` on [`CERT_CONNECTION`]. strongSwan picks the connection at
/// IKE_AUTH: the exact identity match wins for the certificate client, every other identity
/// falls to the EAP one.
#[must_use]
pub fn gateway_eap_mschapv2_or_pubkey(
    ca: &Ca,
    cert: &IssuedCert,
    users: &[(&str, &str)],
    client_id: &str,
) -> CharonConfig {
    let mut config = gateway_eap_mschapv2(ca, cert, users);
    let pubkey = gateway_certificate_auth(
        ca,
        cert,
        &format!("      auth = pubkey\n      id = {client_id}\n      cacerts = ca.pem\n"),
    );
    // The pubkey gateway's only connection (indented, so the first unindented `}` closes the
    // `connections` section), renamed and placed next to the EAP one.
    let connection = pubkey
        .swanctl_conf
        .strip_prefix("connections {\n")
        .and_then(|rest| rest.split_once("\n}\n"))
        .map(|(block, _)| {
            block.replacen(
                &format!("  {CONNECTION} {{"),
                &format!("  {CERT_CONNECTION} {{"),
                1,
            )
        })
        .unwrap_or_default();
    config.swanctl_conf = config.swanctl_conf.replacen(
        "connections {\n",
        &format!("connections {{\n{connection}\n"),
        1,
    );
    config
}

/// A PKCS#12 bundle of `cert`, its key and `ca`'s certificate under `passphrase`, as a provider
/// hands out a client certificate (`openssl pkcs12 -export` with OpenSSL's default encryption).
///
/// # Errors
/// When `openssl` is missing or fails.
pub fn client_pkcs12(cert: &IssuedCert, ca: &Ca, passphrase: &str) -> crate::Result<Vec<u8>> {
    // Key and certificates on standard input: the first certificate matching the key is the
    // client's, the others its chain.
    let input = Zeroizing::new(format!("{}{}{}", *cert.key_pem, cert.cert_pem, ca.cert_pem));
    let mut command = crate::cmd::command(
        "openssl",
        &[
            "pkcs12",
            "-export",
            "-passout",
            &format!("pass:{passphrase}"),
        ],
    );
    let out = crate::cmd::output_with_input(
        &mut command,
        Some(input.as_bytes()),
        crate::cmd::COMMAND_TIMEOUT,
    )?;
    if out.status.success() && !out.stdout.is_empty() {
        Ok(out.stdout)
    } else {
        Err(crate::LabError::CommandFailed {
            command: crate::cmd::describe(&command),
            status: out.status.to_string(),
            stdout: String::new(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

fn client(gateway: IpAddr, local: &str, remote: &str, secrets: &str) -> String {
    format!(
        "connections {{\n\
         \x20 lab {{\n\
         \x20   remote_addrs = {gateway}\n\
         \x20   vips = 0.0.0.0\n\
         \x20   local {{\n{local}\x20   }}\n\
         \x20   remote {{\n{remote}\x20   }}\n\
         \x20   children {{\n\
         \x20     {CHILD} {{\n\
         \x20       remote_ts = {lan}\n\
         \x20     }}\n\
         \x20   }}\n\
         \x20 }}\n\
         }}\n\
         secrets {{\n{secrets}}}\n",
        lan = addr::LAN_PREFIX_V4,
    )
}

/// A strongSwan client (connection `lab`, child [`CHILD`]) that asks for a virtual IP and the
/// LAN, authenticating with `psk` as `client@tern.test`. Start it with
/// `swanctl --initiate --child net`.
#[must_use]
pub fn strongswan_client_psk(gateway: IpAddr, psk: &str) -> CharonConfig {
    let swanctl_conf = client(
        gateway,
        "      auth = psk\n      id = client@tern.test\n",
        &format!("      auth = psk\n      id = {GATEWAY_ID}\n"),
        &format!("  ike-any {{\n    secret = \"{psk}\"\n  }}\n"),
    );
    CharonConfig {
        swanctl_conf,
        ..CharonConfig::default()
    }
}

/// A strongSwan client that checks the gateway's certificate against `ca` and
/// authenticates with EAP-MSCHAPv2 as `user` (its IKE identity stays its IP address, as
/// strongSwan does by default).
#[must_use]
pub fn strongswan_client_eap_mschapv2(
    gateway: IpAddr,
    ca: &Ca,
    user: &str,
    password: &str,
) -> CharonConfig {
    let swanctl_conf = client(
        gateway,
        &format!("      auth = eap-mschapv2\n      eap_id = \"{user}\"\n"),
        &format!("      auth = pubkey\n      id = {GATEWAY_ID}\n"),
        &format!("  eap-user {{\n    id = \"{user}\"\n    secret = \"{password}\"\n  }}\n"),
    );
    CharonConfig {
        swanctl_conf,
        files: ca.swanctl_files("ca"),
        ..CharonConfig::default()
    }
}

/// A `.sswan` profile for [`gateway_eap_mschapv2`], as a provider would publish it: EAP-MSCHAPv2
/// for `user`, the gateway's CA certificate embedded (base64 PEM), the gateway at
/// [`addr::GATEWAY_V4`] with identity [`GATEWAY_ID`].
#[must_use]
pub fn eap_sswan(name: &str, uuid: &str, ca: &Ca, user: &str) -> String {
    format!(
        "{{\n  \"uuid\": \"{uuid}\",\n  \"name\": \"{name}\",\n  \"type\": \"ikev2-eap\",\n  \
         \"remote\": {{ \"addr\": \"{gateway}\", \"id\": \"{GATEWAY_ID}\", \"cert\": \"{cert}\" }},\n  \
         \"local\": {{ \"eap_id\": \"{user}\" }}\n}}\n",
        gateway = addr::GATEWAY_V4,
        cert = base64(ca.cert_pem.as_bytes()),
    )
}

/// A gateway that proves itself with `cert` (issued by `ca`, sent always) and authenticates
/// clients by their certificates, which must chain to `ca` (any client identity the certificate
/// carries: by default its subject DN).
#[must_use]
pub fn gateway_pubkey(ca: &Ca, cert: &IssuedCert) -> CharonConfig {
    gateway_certificate_auth(ca, cert, "      auth = pubkey\n")
}

/// A gateway that proves itself with `cert` and authenticates clients with EAP-TLS: the
/// client's TLS certificate must chain to `ca` and carry the EAP identity the client gives.
#[must_use]
pub fn gateway_eap_tls(ca: &Ca, cert: &IssuedCert) -> CharonConfig {
    gateway_certificate_auth(ca, cert, "      auth = eap-tls\n      eap_id = %any\n")
}

fn gateway_certificate_auth(ca: &Ca, cert: &IssuedCert, remote: &str) -> CharonConfig {
    let swanctl_conf = format!(
        "connections {{\n\
         \x20 {CONNECTION} {{\n\
         \x20   local_addrs = {gw4}, {gw6}\n\
         \x20   send_cert = always\n\
         \x20   local {{\n\
         \x20     auth = pubkey\n\
         \x20     certs = {GATEWAY_CERT}.pem\n\
         \x20     id = {GATEWAY_ID}\n\
         \x20   }}\n\
         \x20   remote {{\n{remote}\x20   }}\n\
         {child}\
         \x20 }}\n\
         }}\n\
         {pools}",
        gw4 = addr::GATEWAY_V4,
        gw6 = addr::GATEWAY_V6,
        child = pool_and_child(),
        pools = pools(),
    );
    let mut files = ca.swanctl_files("ca");
    files.extend(cert.swanctl_files(GATEWAY_CERT));
    CharonConfig {
        swanctl_conf,
        files,
        ..CharonConfig::default()
    }
}

/// A `.sswan` profile for [`gateway_pubkey`] (`kind` `ikev2-cert`) or [`gateway_eap_tls`]
/// (`ikev2-eap-tls`): the client certificate as a PKCS#12 bundle (`local.p12`), `local_id` as
/// the client's identity if given, the gateway's CA embedded, the gateway at
/// [`addr::GATEWAY_V4`] with identity [`GATEWAY_ID`].
#[must_use]
pub fn cert_sswan(
    name: &str,
    uuid: &str,
    kind: &str,
    ca: &Ca,
    pkcs12: &[u8],
    local_id: Option<&str>,
) -> String {
    let local_id = local_id
        .map(|id| format!("\"id\": \"{id}\", "))
        .unwrap_or_default();
    format!(
        "{{\n  \"uuid\": \"{uuid}\",\n  \"name\": \"{name}\",\n  \"type\": \"{kind}\",\n  \
         \"remote\": {{ \"addr\": \"{gateway}\", \"id\": \"{GATEWAY_ID}\", \"cert\": \"{cert}\" }},\n  \
         \"local\": {{ {local_id}\"p12\": \"{p12}\" }}\n}}\n",
        gateway = addr::GATEWAY_V4,
        cert = base64(ca.cert_pem.as_bytes()),
        p12 = base64(pkcs12),
    )
}

/// An Apple `.mobileconfig` for [`gateway_pubkey`]: IKEv2 with `AuthenticationMethod`
/// `Certificate`, the client certificate in a `com.apple.security.pkcs12` payload (with its
/// `Password`) referenced by `PayloadCertificateUUID`, the gateway's CA in a
/// `com.apple.security.pem` payload.
#[must_use]
pub fn cert_mobileconfig(name: &str, ca: &Ca, pkcs12: &[u8], password: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>PayloadContent</key>
  <array>
    <dict>
      <key>PayloadContent</key><data>{ca}</data>
      <key>PayloadType</key><string>com.apple.security.pem</string>
      <key>PayloadUUID</key><string>0B6C3E1A-5D2F-4A8B-9C7D-1E2F3A4B5C6D</string>
      <key>PayloadIdentifier</key><string>test.tern.lab.ca</string>
      <key>PayloadVersion</key><integer>1</integer>
    </dict>
    <dict>
      <key>Password</key><string>{password}</string>
      <key>PayloadContent</key><data>{p12}</data>
      <key>PayloadType</key><string>com.apple.security.pkcs12</string>
      <key>PayloadUUID</key><string>5E7F8A9B-1C2D-4E3F-8A5B-6C7D8E9F0A1B</string>
      <key>PayloadIdentifier</key><string>test.tern.lab.identity</string>
      <key>PayloadVersion</key><integer>1</integer>
    </dict>
    <dict>
      <key>IKEv2</key>
      <dict>
        <key>AuthenticationMethod</key><string>Certificate</string>
        <key>ExtendedAuthEnabled</key><false/>
        <key>PayloadCertificateUUID</key><string>5E7F8A9B-1C2D-4E3F-8A5B-6C7D8E9F0A1B</string>
        <key>RemoteAddress</key><string>{gateway}</string>
        <key>RemoteIdentifier</key><string>{GATEWAY_ID}</string>
      </dict>
      <key>PayloadType</key><string>com.apple.vpn.managed</string>
      <key>PayloadUUID</key><string>2A3B4C5D-6E7F-4081-9A2B-3C4D5E6F7A8B</string>
      <key>PayloadIdentifier</key><string>test.tern.lab.vpn</string>
      <key>PayloadVersion</key><integer>1</integer>
      <key>UserDefinedName</key><string>{name}</string>
      <key>VPNType</key><string>IKEv2</string>
    </dict>
  </array>
  <key>PayloadType</key><string>Configuration</string>
  <key>PayloadUUID</key><string>9C8D7E6F-5A4B-4C3D-8E2F-1A0B9C8D7E6F</string>
  <key>PayloadIdentifier</key><string>test.tern.lab</string>
  <key>PayloadVersion</key><integer>1</integer>
</dict>
</plist>
"#,
        ca = base64(ca.cert_pem.as_bytes()),
        p12 = base64(pkcs12),
        gateway = addr::GATEWAY_V4,
    )
}

/// Standard base64 with padding (RFC 4648 §4), for embedding certificates in profiles.
fn base64(data: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(TABLE[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Adds a DNS server that the gateway pushes with the virtual IP (`INTERNAL_IP4_DNS`).
#[must_use]
pub fn with_pushed_dns(mut config: CharonConfig, dns: IpAddr) -> CharonConfig {
    let pool = format!("addrs = {}\n", addr::VIRTUAL_IP_POOL_V4);
    config.swanctl_conf = config
        .swanctl_conf
        .replace(&pool, &format!("{pool}    dns = {dns}\n"));
    config
}

/// Restricts the gateway to exactly these proposals (strongSwan syntax): `ike` for the IKE SA
/// (`proposals`), `esp` for the CHILD_SA (`esp_proposals`), replacing what the template offers.
#[must_use]
pub fn with_proposals(mut config: CharonConfig, ike: &str, esp: &str) -> CharonConfig {
    let mut conf = String::with_capacity(config.swanctl_conf.len() + 64);
    for line in config.swanctl_conf.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        if trimmed.starts_with("proposals =") {
            continue; // written after local_addrs below
        }
        if trimmed.starts_with("esp_proposals =") {
            conf.push_str(&format!("{indent}esp_proposals = {esp}\n"));
            continue;
        }
        conf.push_str(line);
        conf.push('\n');
        if trimmed.starts_with("local_addrs =") {
            conf.push_str(&format!("{indent}proposals = {ike}\n"));
        }
    }
    config.swanctl_conf = conf;
    config
}

/// Makes the gateway's child offer `local_ts` (for example `"0.0.0.0/0"` for a full tunnel, or
/// several prefixes separated by commas) instead of the LAN.
#[must_use]
pub fn with_local_ts(mut config: CharonConfig, local_ts: &str) -> CharonConfig {
    config.swanctl_conf = config.swanctl_conf.replace(
        &format!("local_ts = {}", addr::LAN_PREFIX_V4),
        &format!("local_ts = {local_ts}"),
    );
    config
}

/// An Apple `.mobileconfig` for [`gateway_psk`], as an IT team would send it: IKEv2 with the
/// pre-shared key `psk`, the gateway at `gateway` ([`addr::GATEWAY_V4`] or
/// [`addr::GATEWAY_V6`]) with identity [`GATEWAY_ID`], our identity `client@tern.test`,
/// AES-256-GCM with SHA2-256 and Curve25519 (group 31), and NAT keepalives every
/// `nat_keepalive_secs` when given.
#[must_use]
pub fn psk_mobileconfig(
    name: &str,
    uuid: &str,
    psk: &str,
    gateway: IpAddr,
    nat_keepalive_secs: Option<u16>,
) -> String {
    let sa = |lifetime: u32| {
        format!(
            "<dict><key>EncryptionAlgorithm</key><string>AES-256-GCM</string>\
             <key>IntegrityAlgorithm</key><string>SHA2-256</string>\
             <key>DiffieHellmanGroup</key><integer>31</integer>\
             <key>LifeTimeInMinutes</key><integer>{lifetime}</integer></dict>"
        )
    };
    let keepalive = nat_keepalive_secs.map_or(String::new(), |secs| {
        format!("<key>NATKeepAliveInterval</key><integer>{secs}</integer>\n")
    });
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \
         \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <plist version=\"1.0\"><dict>\n\
         <key>PayloadContent</key><array><dict>\n\
         <key>IKEv2</key><dict>\n\
         <key>AuthenticationMethod</key><string>SharedSecret</string>\n\
         <key>SharedSecret</key><string>{psk}</string>\n\
         <key>RemoteAddress</key><string>{gateway}</string>\n\
         <key>RemoteIdentifier</key><string>{GATEWAY_ID}</string>\n\
         <key>LocalIdentifier</key><string>client@tern.test</string>\n\
         <key>ExtendedAuthEnabled</key><integer>0</integer>\n\
         <key>EnablePFS</key><integer>0</integer>\n\
         <key>DeadPeerDetectionRate</key><string>Medium</string>\n\
         {keepalive}\
         <key>IKESecurityAssociationParameters</key>{ike}\n\
         <key>ChildSecurityAssociationParameters</key>{child}\n\
         </dict>\n\
         <key>PayloadType</key><string>com.apple.vpn.managed</string>\n\
         <key>PayloadIdentifier</key><string>test.tern.vpn.{uuid}</string>\n\
         <key>PayloadUUID</key><string>{uuid}</string>\n\
         <key>PayloadVersion</key><integer>1</integer>\n\
         <key>UserDefinedName</key><string>{name}</string>\n\
         <key>VPNType</key><string>IKEv2</string>\n\
         </dict></array>\n\
         <key>PayloadDisplayName</key><string>{name}</string>\n\
         <key>PayloadIdentifier</key><string>test.tern.vpn</string>\n\
         <key>PayloadType</key><string>Configuration</string>\n\
         <key>PayloadUUID</key><string>0b8a3c52-6f1d-4e7a-9c2b-5d4e3f2a1b0c</string>\n\
         <key>PayloadVersion</key><integer>1</integer>\n\
         </dict></plist>\n",
        ike = sa(480),
        child = sa(60),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_examples() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }

    #[test]
    fn proposals_replace_the_templates_and_are_inserted_where_missing() {
        let psk = with_proposals(gateway_psk("k"), "aes128-sha256-modp2048", "aes128-sha256");
        assert!(
            psk.swanctl_conf
                .contains("proposals = aes128-sha256-modp2048\n")
        );
        assert!(psk.swanctl_conf.contains("esp_proposals = aes128-sha256\n"));
        assert_eq!(psk.swanctl_conf.matches("proposals =").count(), 2);
        let ca = Ca::new("t", crate::pki::KeyKind::EcdsaP256).unwrap();
        let cert = ca
            .issue(GATEWAY_ID, &[GATEWAY_ID], crate::pki::KeyKind::EcdsaP256)
            .unwrap();
        let eap = gateway_eap_mschapv2(&ca, &cert, &[("u", "p")]);
        assert!(!eap.swanctl_conf.contains("    proposals ="));
        let eap = with_proposals(eap, "aes256-sha384-ecp384", "aes256-sha384");
        assert!(
            eap.swanctl_conf
                .contains("    proposals = aes256-sha384-ecp384\n")
        );
    }

    #[test]
    fn the_combined_gateway_has_an_eap_and_a_certificate_connection() {
        let ca = Ca::new("t", crate::pki::KeyKind::EcdsaP256).unwrap();
        let cert = ca
            .issue(GATEWAY_ID, &[GATEWAY_ID], crate::pki::KeyKind::EcdsaP256)
            .unwrap();
        let both = gateway_eap_mschapv2_or_pubkey(&ca, &cert, &[("u", "p")], "client.tern.test");
        let conf = &both.swanctl_conf;
        let cert_at = conf.find(&format!("  {CERT_CONNECTION} {{")).unwrap();
        let eap_at = conf.find(&format!("  {CONNECTION} {{")).unwrap();
        assert!(cert_at < eap_at, "{conf}");
        assert!(conf[cert_at..eap_at].contains("auth = pubkey\n      id = client.tern.test\n"));
        assert!(conf[eap_at..].contains("auth = eap-mschapv2"));
        assert_eq!(conf.matches("pools {").count(), 1, "{conf}");
        assert_eq!(conf.matches("secrets {").count(), 1, "{conf}");
        // The pushed DNS still lands in the one pool.
        let dns = with_pushed_dns(both, "10.99.0.53".parse().unwrap());
        assert!(dns.swanctl_conf.contains("dns = 10.99.0.53"));
    }

    #[test]
    fn local_ts_is_replaced() {
        let full = with_local_ts(gateway_psk("k"), "0.0.0.0/0");
        assert!(full.swanctl_conf.contains("local_ts = 0.0.0.0/0\n"));
        assert!(!full.swanctl_conf.contains(addr::LAN_PREFIX_V4));
    }
}

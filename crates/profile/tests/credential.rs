//! Client certificates: PKCS#12 bundles as OpenSSL 3 writes them (modern AES and `-legacy`
//! 3DES/RC2), bundles made at test time, PEM key + chain, the bundle Tern stores, and how the
//! importers hand a real bundle over.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions may unwrap too

use base64::Engine as _;
use profile::{
    ClientKey, CredentialError, ProfileStore, SecretKind, StoreError, import_mobileconfig,
    import_sswan, random_passphrase,
};

const PASSPHRASE: &str = "tern-test";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/credential/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn alice() -> ClientKey {
    ClientKey::from_pem(&fixture("alice-pkcs8.pem"), &fixture("alice-chain.pem")).unwrap()
}

#[test]
fn openssl_modern_and_legacy_bundles_open() {
    let expected = alice();
    for name in ["client-modern.p12", "client-legacy.p12"] {
        let key = ClientKey::from_pkcs12(&fixture(name), PASSPHRASE)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(key.subject(), "O=Tern Test, CN=alice", "{name}");
        assert_eq!(key.certificates().len(), 2, "{name}: leaf and CA");
        assert_eq!(key, expected, "{name}: same key and chain as the PEM files");
    }
    let rsa = ClientKey::from_pkcs12(&fixture("client-rsa-legacy.p12"), PASSPHRASE).unwrap();
    assert_eq!(rsa.subject(), "O=Tern Test, CN=bob");
}

#[test]
fn a_wrong_passphrase_says_so() {
    for name in [
        "client-modern.p12",
        "client-legacy.p12",
        "client-rsa-legacy.p12",
    ] {
        for wrong in ["", "tern-tesT", "tern-test "] {
            let err = ClientKey::from_pkcs12(&fixture(name), wrong).unwrap_err();
            assert_eq!(
                err,
                CredentialError::WrongPassphrase,
                "{name} with {wrong:?}"
            );
        }
    }
    assert_eq!(
        CredentialError::WrongPassphrase.to_string(),
        "the PKCS#12 passphrase is wrong (or the file is damaged)"
    );
}

#[test]
fn bundles_written_at_test_time_in_both_encryptions_open() {
    let source = alice();
    for algorithm in [
        p12_keystore::EncryptionAlgorithm::PbeWithHmacSha256AndAes256,
        p12_keystore::EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc,
    ] {
        let mut store = p12_keystore::KeyStore::new();
        let key = p12_keystore::PrivateKey::from_der(source.private_key_der()).unwrap();
        let certs = source
            .certificates()
            .iter()
            .map(|c| p12_keystore::Certificate::from_der(&c.0).unwrap());
        store.add_entry(
            "alice",
            p12_keystore::KeyStoreEntry::PrivateKeyChain(p12_keystore::PrivateKeyChain::new(
                b"1".as_slice(),
                key,
                certs,
            )),
        );
        let bundle = store
            .writer("another passphrase")
            .encryption_algorithm(algorithm)
            .mac_algorithm(p12_keystore::MacAlgorithm::HmacSha1)
            .write()
            .unwrap();
        let opened = ClientKey::from_pkcs12(&bundle, "another passphrase").unwrap();
        assert_eq!(opened, source, "{algorithm:?}");
        assert_eq!(
            ClientKey::from_pkcs12(&bundle, PASSPHRASE).unwrap_err(),
            CredentialError::WrongPassphrase
        );
    }
}

#[test]
fn the_stored_bundle_round_trips_and_is_modern() {
    let key = alice();
    let passphrase = random_passphrase();
    assert_eq!(passphrase.len(), 43);
    assert_ne!(*passphrase, *random_passphrase());
    let bundle = key.to_pkcs12(&passphrase).unwrap();
    assert_eq!(ClientKey::from_pkcs12(&bundle, &passphrase).unwrap(), key);
    // PBES2 (1.2.840.113549.1.5.13) with AES-256-CBC (2.16.840.1.101.3.4.1.42).
    let contains = |needle: &[u8]| bundle.windows(needle.len()).any(|w| w == needle);
    assert!(contains(&[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d
    ]));
    assert!(contains(&[
        0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a
    ]));
}

#[test]
fn pem_key_and_chain() {
    let key = alice();
    assert_eq!(key.certificates().len(), 2);
    assert!(
        key.private_key_pem()
            .starts_with("-----BEGIN PRIVATE KEY-----\n")
    );
    let chain = key.certificates_pem();
    assert_eq!(chain.matches("-----BEGIN CERTIFICATE-----").count(), 2);
    // What the helper receives reads back to the same key.
    let again = ClientKey::from_pem(key.private_key_pem().as_bytes(), chain.as_bytes()).unwrap();
    assert_eq!(again, key);
    // DER works too (one certificate).
    let der = ClientKey::from_pem(key.private_key_der(), &key.certificates()[0].0).unwrap();
    assert_eq!(der.certificates().len(), 1);

    let err =
        ClientKey::from_pem(&fixture("alice-sec1.pem"), &fixture("alice-chain.pem")).unwrap_err();
    assert!(
        matches!(&err, CredentialError::BadPrivateKey(why) if why.contains("openssl pkcs8")),
        "{err}"
    );
    let err =
        ClientKey::from_pem(&fixture("alice-chain.pem"), &fixture("alice-chain.pem")).unwrap_err();
    assert!(matches!(err, CredentialError::BadPrivateKey(_)), "{err}");
    let err = ClientKey::from_pem(
        &fixture("alice-pkcs8.pem"),
        b"-----BEGIN CERTIFICATE-----\n",
    )
    .unwrap_err();
    assert!(matches!(err, CredentialError::BadCertificate(_)), "{err}");
    let err = ClientKey::from_pem(&fixture("alice-pkcs8.pem"), b"").unwrap_err();
    assert!(matches!(err, CredentialError::BadCertificate(_)), "{err}");
    // Nine certificates are one too many.
    let nine = String::from_utf8(fixture("alice-chain.pem"))
        .unwrap()
        .repeat(5);
    let err = ClientKey::from_pem(&fixture("alice-pkcs8.pem"), nine.as_bytes()).unwrap_err();
    assert_eq!(err, CredentialError::TooManyCertificates { limit: 8 });
}

#[test]
fn damaged_and_oversized_bundles_are_errors() {
    let bundle = fixture("client-modern.p12");
    for cut in [0, 1, 10, bundle.len() / 2, bundle.len() - 1] {
        assert!(ClientKey::from_pkcs12(&bundle[..cut], PASSPHRASE).is_err());
    }
    let mut flipped = bundle.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x55;
    assert!(ClientKey::from_pkcs12(&flipped, PASSPHRASE).is_err());
    assert!(matches!(
        ClientKey::from_pkcs12(&vec![0x30; 300 * 1024], PASSPHRASE),
        Err(CredentialError::TooLarge { .. })
    ));
    // The old fixture is random bytes.
    let random = std::fs::read(format!(
        "{}/tests/fixtures/client-random.p12",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    assert!(ClientKey::from_pkcs12(&random, PASSPHRASE).is_err());
}

#[test]
fn debug_never_shows_the_key() {
    let key = alice();
    let shown = format!("{key:?}");
    assert!(shown.contains("CN=alice"), "{shown}");
    let pem = key.private_key_pem();
    let body = pem.lines().nth(1).unwrap();
    assert!(!shown.contains(body));
}

fn sswan(kind: &str, bundle: &[u8]) -> String {
    format!(
        r#"{{"uuid": "6b1d2f0e-8f4a-4d55-a1e2-7c3b9d0e4f21", "name": "Cert", "type": "{kind}",
            "remote": {{"addr": "vpn.example.com"}},
            "local": {{"id": "alice@tern.test", "p12": "{}"}}}}"#,
        base64::engine::general_purpose::STANDARD.encode(bundle)
    )
}

#[test]
fn sswan_bundles_open_with_the_users_passphrase() {
    for kind in ["ikev2-cert", "ikev2-eap-tls", "ikev2-cert-eap"] {
        for name in ["client-modern.p12", "client-legacy.p12"] {
            let preview = import_sswan(sswan(kind, &fixture(name)).as_bytes()).unwrap();
            assert!(preview.profile.auth.uses_client_certificate());
            assert!(
                preview
                    .profile
                    .required_secrets()
                    .contains(&SecretKind::Pkcs12Passphrase)
            );
            // `.sswan` has no passphrase field: the user types it.
            assert!(preview.secrets.pkcs12_passphrase.is_none());
            let bundle = preview.secrets.get(SecretKind::PrivateKey).unwrap();
            assert_eq!(ClientKey::from_pkcs12(bundle, PASSPHRASE).unwrap(), alice());
            assert_eq!(
                ClientKey::from_pkcs12(bundle, "nope").unwrap_err(),
                CredentialError::WrongPassphrase
            );
        }
    }
}

fn mobileconfig(bundle: &[u8], password: Option<&str>, extended_auth: bool) -> String {
    let password = password
        .map(|p| format!("<key>Password</key><string>{p}</string>"))
        .unwrap_or_default();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>PayloadContent</key><array>
  <dict>{password}
    <key>PayloadContent</key><data>{}</data>
    <key>PayloadType</key><string>com.apple.security.pkcs12</string>
    <key>PayloadUUID</key><string>A1B2C3D4-E5F6-4789-8ABC-DEF012345678</string>
    <key>PayloadIdentifier</key><string>test.identity</string>
    <key>PayloadVersion</key><integer>1</integer>
  </dict>
  <dict>
    <key>IKEv2</key><dict>
      <key>AuthenticationMethod</key><string>{method}</string>
      <key>ExtendedAuthEnabled</key><{extended}/>
      <key>PayloadCertificateUUID</key><string>a1b2c3d4-e5f6-4789-8abc-def012345678</string>
      <key>RemoteAddress</key><string>vpn.example.com</string>
      <key>RemoteIdentifier</key><string>vpn.example.com</string>
      <key>LocalIdentifier</key><string>alice@tern.test</string>
    </dict>
    <key>PayloadType</key><string>com.apple.vpn.managed</string>
    <key>PayloadUUID</key><string>7C6B5A49-3827-4165-9E8D-7C6B5A493827</string>
    <key>PayloadIdentifier</key><string>test.vpn</string>
    <key>PayloadVersion</key><integer>1</integer>
    <key>UserDefinedName</key><string>Cert</string>
    <key>VPNType</key><string>IKEv2</string>
  </dict>
</array>
<key>PayloadType</key><string>Configuration</string>
<key>PayloadUUID</key><string>8E6B8D3C-4F0A-4E21-9C5B-1A2B3C4D5E6F</string>
<key>PayloadIdentifier</key><string>test</string>
<key>PayloadVersion</key><integer>1</integer>
</dict></plist>"#,
        base64::engine::general_purpose::STANDARD.encode(bundle),
        method = if extended_auth { "None" } else { "Certificate" },
        extended = if extended_auth { "true" } else { "false" },
    )
}

#[test]
fn mobileconfig_bundles_open_with_the_files_password() {
    for name in ["client-modern.p12", "client-legacy.p12"] {
        let file = mobileconfig(&fixture(name), Some(PASSPHRASE), false);
        let preview = import_mobileconfig(file.as_bytes()).unwrap();
        assert_eq!(
            preview.profile.auth,
            profile::AuthMethod::Certificate { rsa_pss: false }
        );
        let passphrase = preview.secrets.pkcs12_passphrase.as_deref().unwrap();
        let bundle = preview.secrets.pkcs12.as_deref().unwrap();
        assert_eq!(ClientKey::from_pkcs12(bundle, passphrase).unwrap(), alice());
    }
    // EAP-TLS: no AuthName, a certificate, extended authentication.
    let file = mobileconfig(&fixture("client-modern.p12"), None, true);
    let preview = import_mobileconfig(file.as_bytes()).unwrap();
    assert_eq!(preview.profile.auth, profile::AuthMethod::EapTls);
    assert!(preview.secrets.pkcs12_passphrase.is_none());
    let err = ClientKey::from_pkcs12(preview.secrets.pkcs12.as_deref().unwrap(), "").unwrap_err();
    assert_eq!(err, CredentialError::WrongPassphrase);
}

#[test]
fn the_store_keeps_the_key_encrypted_next_to_the_profile() {
    let dir = tempfile::tempdir().unwrap();
    let store = ProfileStore::open(dir.path()).unwrap();
    let preview =
        import_sswan(sswan("ikev2-cert", &fixture("client-legacy.p12")).as_bytes()).unwrap();
    let id = preview.profile.id;
    store.import(&preview).unwrap();
    assert!(!store.has_client_key(id));
    assert!(store.client_key(id, "x").unwrap().is_none());

    let key =
        ClientKey::from_pkcs12(preview.secrets.pkcs12.as_deref().unwrap(), PASSPHRASE).unwrap();
    let passphrase = random_passphrase();
    store.save_client_key(id, &key, &passphrase).unwrap();
    assert!(store.has_client_key(id));
    assert_eq!(store.client_key(id, &passphrase).unwrap(), Some(key));
    assert!(matches!(
        store.client_key(id, PASSPHRASE),
        Err(StoreError::Credential(CredentialError::WrongPassphrase))
    ));
    let path = dir.path().join(format!("{id}.p12"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The bundle file is no profile.
    assert_eq!(store.list().unwrap().len(), 1);
    store.delete(id).unwrap();
    assert!(!path.exists());
    assert!(!store.delete_client_key(id).unwrap());
}

mod never_panics {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = ClientKey::from_pkcs12(&bytes, PASSPHRASE);
            let _ = ClientKey::from_pem(&bytes, &bytes);
        }

        #[test]
        fn on_a_damaged_bundle(index in 0usize..1691, value in any::<u8>()) {
            let mut bundle = fixture("client-modern.p12");
            let i = index % bundle.len();
            bundle[i] = value;
            let _ = ClientKey::from_pkcs12(&bundle, PASSPHRASE);
        }
    }
}

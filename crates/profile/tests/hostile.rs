//! Hostile and malformed files: each is refused with a clear error or imported with the
//! warning that the user must see. None may panic.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions may unwrap too

use profile::{
    ImportError, MAX_FILE_BYTES, Problem, WarningKind, import_any, import_mobileconfig,
    import_sswan, import_tern,
};

fn fixture(dir: &str, name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{dir}/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn sswan(name: &str) -> Result<profile::ImportPreview, ImportError> {
    import_sswan(&fixture("sswan", name))
}

fn mobileconfig(name: &str) -> Result<profile::ImportPreview, ImportError> {
    import_mobileconfig(&fixture("mobileconfig", name))
}

#[test]
fn huge_files_are_refused_before_parsing() {
    let mut huge = br#"{"uuid":""#.to_vec();
    huge.resize(MAX_FILE_BYTES + 1, b'a');
    for result in [
        import_sswan(&huge),
        import_mobileconfig(&huge),
        import_tern(&huge),
        import_any(&huge).map(|(_, p)| p),
    ] {
        assert!(
            matches!(result, Err(ImportError::TooLarge { .. })),
            "{result:?}"
        );
    }
}

#[test]
fn deep_nesting_is_refused() {
    assert!(matches!(
        sswan("hostile-deep.sswan"),
        Err(ImportError::TooDeep { .. })
    ));
    let deep_plist = format!(
        "<?xml version=\"1.0\"?><plist><dict><key>PayloadContent</key>{}{}</dict></plist>",
        "<array>".repeat(50_000),
        "</array>".repeat(50_000)
    );
    assert!(matches!(
        import_mobileconfig(deep_plist.as_bytes()),
        Err(ImportError::TooDeep { .. })
    ));
}

#[test]
fn hostile_names_are_refused() {
    for name in ["hostile-control-name.sswan", "hostile-path-name.sswan"] {
        let Err(ImportError::Invalid(error)) = sswan(name) else {
            panic!("{name} was not refused");
        };
        assert_eq!(error.field, "name");
        assert!(matches!(
            error.problem,
            Problem::ControlCharacter | Problem::PathLike
        ));
    }
    let Err(ImportError::Invalid(error)) = mobileconfig("hostile-control-name.mobileconfig") else {
        panic!("control characters in a mobileconfig name were not refused");
    };
    assert_eq!(error.field, "PayloadContent[0].UserDefinedName");
    assert_eq!(error.problem, Problem::ControlCharacter);
}

#[test]
fn wrong_types_and_unknown_values_are_refused() {
    assert_eq!(
        sswan("hostile-wrong-types.sswan").unwrap_err().to_string(),
        "remote must be a JSON object"
    );
    let error = sswan("hostile-unknown-type.sswan").unwrap_err();
    assert_eq!(error.to_string(), "type: unknown profile type `ikev2-psk`");
    let error = sswan("hostile-bad-proposal.sswan").unwrap_err();
    assert_eq!(
        error.to_string(),
        "ike-proposal: `ecp3844` is not a known algorithm name"
    );
    let Err(ImportError::Invalid(error)) = sswan("hostile-bad-host.sswan") else {
        panic!("a host with shell syntax was accepted");
    };
    assert_eq!(error.field, "remote.addr");
    for (text, expected) in [
        ("[]", "(top level) must be a JSON object"),
        ("{", "the file is not valid JSON"),
        ("\u{FEFF}{\"uuid\":1}", "uuid must be a string"),
    ] {
        let error = import_sswan(text.as_bytes()).unwrap_err().to_string();
        assert!(error.starts_with(expected), "{error}");
    }
    assert!(matches!(
        import_sswan(b"{\"name\":\"\xff\"}"),
        Err(ImportError::NotUtf8)
    ));
}

#[test]
fn split_tunnel_that_covers_everything_is_flagged() {
    let preview = sswan("hostile-split-everything.sswan").unwrap();
    assert!(
        preview
            .warnings
            .iter()
            .any(|w| w.field == "split-tunneling.subnets"
                && w.kind == WarningKind::SplitTunnelCoversEverything { family: "IPv4" })
    );
}

#[test]
fn dns_outside_the_tunnel_is_flagged() {
    let preview = sswan("hostile-dns-outside.sswan").unwrap();
    assert!(preview.warnings.iter().any(|w| w.field == "dns-servers"
        && w.kind
            == WarningKind::DnsServerOutsideTunnel {
                server: "198.51.100.53".parse().unwrap()
            }));
    let text = r#"{"uuid":"11111111-1111-4111-8111-111111111111","name":"n","type":"ikev2-eap",
        "remote":{"addr":"vpn.example.com"},"dns-servers":"10.0.0.53",
        "split-tunneling":{"excluded":["0.0.0.0/0"]}}"#;
    let preview = import_sswan(text.as_bytes()).unwrap();
    let kinds: Vec<&WarningKind> = preview.warnings.iter().map(|w| &w.kind).collect();
    assert!(kinds.contains(&&WarningKind::ExclusionsCoverEverything { family: "IPv4" }));
    assert!(
        kinds
            .iter()
            .any(|k| matches!(k, WarningKind::DnsServerOutsideTunnel { .. }))
    );
}

#[test]
fn secrets_in_unknown_fields_are_never_imported() {
    let preview = import_sswan(
        br#"{"uuid":"11111111-1111-4111-8111-111111111111","name":"n","type":"ikev2-eap",
            "remote":{"addr":"vpn.example.com"},"local":{"shared_secret":"hunter2","password":"pw"}}"#,
    )
    .unwrap();
    assert!(preview.secrets.is_empty());
    assert_eq!(preview.warnings.len(), 2);
    assert!(!format!("{preview:?}").contains("hunter2"));
}

#[test]
fn external_entities_are_not_resolved() {
    // The plist crate's XML reader never fetches external entities, but it turns references
    // to undeclared ones into empty text. Entity declarations and references are therefore
    // refused before parsing, so a value is never silently blanked.
    let error = mobileconfig("hostile-xxe.mobileconfig").unwrap_err();
    assert!(matches!(error, ImportError::Malformed { .. }), "{error:?}");
    assert!(error.to_string().contains("entity declarations"), "{error}");
    let undeclared = String::from_utf8(fixture("mobileconfig", "psk.mobileconfig"))
        .unwrap()
        .replace("Example Corp (PSK)", "&name;");
    let error = import_mobileconfig(undeclared.as_bytes()).unwrap_err();
    assert!(error.to_string().contains("`&name;`"), "{error}");
    let escaped = String::from_utf8(fixture("mobileconfig", "psk.mobileconfig"))
        .unwrap()
        .replace("Example Corp (PSK)", "AT&amp;T &#x263A;");
    let preview = import_mobileconfig(escaped.as_bytes()).unwrap();
    assert_eq!(preview.profile.name, "AT&T \u{263A}");
}

#[test]
fn unsupported_vpn_setups_are_refused() {
    let error = mobileconfig("hostile-l2tp.mobileconfig").unwrap_err();
    assert_eq!(
        error.to_string(),
        "PayloadContent[0].VPNType: VPN type `L2TP` is not supported; Tern imports IKEv2"
    );
    let error = mobileconfig("hostile-two-vpns.mobileconfig").unwrap_err();
    assert!(error.to_string().contains("2 VPN payloads"));
    let error = mobileconfig("hostile-weak-crypto.mobileconfig").unwrap_err();
    assert_eq!(
        error.to_string(),
        "PayloadContent[0].IKEv2.IKESecurityAssociationParameters.EncryptionAlgorithm: `3DES` is \
         not implemented by Tern (use AES-256-GCM)"
    );
    let error = mobileconfig("hostile-binary.mobileconfig").unwrap_err();
    assert!(error.to_string().contains("binary plists are not"));
}

#[test]
fn truncated_files_never_panic() {
    for (dir, name) in [
        ("sswan", "eap.sswan"),
        ("sswan", "cert.sswan"),
        ("mobileconfig", "cert-p12.mobileconfig"),
        ("mobileconfig", "signed.mobileconfig"),
        ("mobileconfig", "signed-ber.mobileconfig"),
    ] {
        let bytes = fixture(dir, name);
        for cut in (0..bytes.len()).step_by(7) {
            let _ = import_any(&bytes[..cut]);
            let _ = import_sswan(&bytes[..cut]);
            let _ = import_mobileconfig(&bytes[..cut]);
        }
        // Flipped bytes too.
        for i in (0..bytes.len()).step_by(13) {
            let mut mutated = bytes.clone();
            mutated[i] ^= 0x5A;
            let _ = import_any(&mutated);
        }
    }
}

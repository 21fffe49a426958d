//! The profile commands end to end: the built `tern` binary on the profile crate's fixtures, in
//! a private configuration directory.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions may unwrap too

mod common;

use common::{Tern, fixture_arg};

const EAP_ID: &str = "d8a0f1f5-3b6f-4c53-9a3b-4a9e2f0c7b11";
const PSK_ID: &str = "2f9e6c1b-7a3d-4e8f-9b0c-5d4e3f2a1b0c";

#[test]
fn import_needs_confirmation_or_yes() {
    let tern = Tern::new();
    let eap = fixture_arg("sswan/eap.sswan");
    let refused = tern.run(&["import", &eap]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stderr.contains(
            "tern: refusing to import without confirmation: stdin is not a terminal; pass --yes"
        ),
        "{refused:?}"
    );
    // The preview was shown, nothing was saved.
    assert!(
        refused.stdout.contains("Gateway:          vpn.example.com"),
        "{refused:?}"
    );
    assert!(tern.store_files().is_empty());

    let imported = tern.run(&["import", &eap, "--yes"]);
    assert_eq!(imported.code, 0, "{imported:?}");
    for expected in [
        "Importing a strongSwan profile (.sswan):",
        "Name:             Example Corp (EAP)",
        "Authentication:   EAP-MSCHAPv2 as \"alice\"",
        "Gateway identity: vpn.example.com",
        "Gateway trust:    certificates issued by the 1 CA certificate from the file",
        "DNS:              10.8.0.1, 10.8.0.2",
        "IKE proposals:    aes256gcm16-prfsha384-ecp384, ",
        "Secrets in file:  none",
        &format!("Imported \"Example Corp (EAP)\" ({EAP_ID})."),
    ] {
        assert!(
            imported.stdout.contains(expected),
            "missing {expected:?}: {imported:?}"
        );
    }
    assert_eq!(tern.store_files().len(), 1);

    let again = tern.run(&["import", &eap, "-y"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(
        again.stdout.contains(
            "This replaces the existing profile \"Example Corp (EAP)\" with the same UUID."
        ),
        "{again:?}"
    );
    assert!(
        again
            .stdout
            .contains(&format!("Replaced the existing profile with UUID {EAP_ID}")),
        "{again:?}"
    );
    assert_eq!(tern.store_files().len(), 1);
}

#[test]
fn list_show_export_rename_delete() {
    let tern = Tern::new();
    assert_eq!(
        tern.run(&["list"]).stdout,
        "No profiles. Add one with `tern import FILE`.\n"
    );
    assert_eq!(tern.run(&["list", "--json"]).stdout.trim(), "[]");
    for file in ["sswan/eap.sswan", "mobileconfig/psk.mobileconfig"] {
        let r = tern.run(&["import", &fixture_arg(file), "--yes"]);
        assert_eq!(r.code, 0, "{r:?}");
    }
    // The PSK file carries its key; with no keyring it is not stored, and the user is told.
    let psk = tern.run(&[
        "import",
        &fixture_arg("mobileconfig/psk.mobileconfig"),
        "--yes",
    ]);
    assert!(
        psk.stdout
            .contains("Secrets in file:  pre-shared key (to be stored in the keyring)"),
        "{psk:?}"
    );
    assert!(
        psk.stderr.contains("tern: the file's pre-shared key was not stored: no keyring is reachable (TERN_KEYRING=off)"),
        "{psk:?}"
    );
    assert!(!psk.stdout.contains("correct horse") && !psk.stderr.contains("correct horse"));

    let list = tern.run(&["list"]);
    assert_eq!(list.code, 0, "{list:?}");
    let lines: Vec<&str> = list.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{list:?}");
    assert!(lines[0].starts_with("NAME "));
    assert!(
        lines[1].starts_with("Example Corp (EAP)  d8a0f1f5-"),
        "{list:?}"
    );
    assert!(
        lines[2].starts_with("Example Corp (PSK)  2f9e6c1b-"),
        "{list:?}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&tern.run(&["list", "--json"]).stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert_eq!(json[0]["id"], EAP_ID);
    assert_eq!(json[0]["gateway"]["host"], "vpn.example.com");
    assert_eq!(json[0]["gateway"]["port"], 500);
    assert_eq!(json[0]["auth_method"], "eap-mschapv2");
    assert_eq!(
        json[1]["required_secrets"],
        serde_json::json!(["pre-shared-key"])
    );

    // Show by exact name, by name in another case, by UUID and by UUID prefix.
    for query in [
        "Example Corp (PSK)",
        "example corp (psk)",
        PSK_ID,
        "2f9e6c1b",
    ] {
        let show = tern.run(&["show", query]);
        assert_eq!(show.code, 0, "{query}: {show:?}");
        assert!(
            show.stdout.contains("Authentication:   pre-shared key"),
            "{show:?}"
        );
        assert!(
            show.stderr.contains("cannot tell which secrets are stored"),
            "{show:?}"
        );
    }
    let show_json: serde_json::Value =
        serde_json::from_str(&tern.run(&["show", "2f9e", "--json"]).stdout).unwrap();
    assert_eq!(show_json["profile"]["id"], PSK_ID);
    assert_eq!(show_json["profile"]["auth"]["method"], "psk");
    assert_eq!(
        show_json["required_secrets"],
        serde_json::json!(["pre-shared-key"])
    );
    assert!(show_json["stored_secrets"].is_null());

    let missing = tern.run(&["show", "Office"]);
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(
        missing.stderr.starts_with(
            "tern: no profile is named \"Office\"; the profiles are: \"Example Corp (EAP)\""
        ),
        "{missing:?}"
    );

    // Export: Tern's format, no secrets; it imports back as the same profile.
    let export = tern.run(&["export", "Example Corp (PSK)"]);
    assert_eq!(export.code, 0, "{export:?}");
    assert!(!export.stdout.contains("correct horse"));
    let (_, back) = profile::import_any(export.stdout.as_bytes()).unwrap();
    assert_eq!(back.profile.id.to_string(), PSK_ID);
    assert!(back.secrets.is_empty());
    let out = tern.config.path().join("psk.tern.json");
    let to_file = tern.run(&["export", PSK_ID, out.to_str().unwrap()]);
    assert_eq!(to_file.code, 0, "{to_file:?}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), export.stdout);

    // Rename, and refuse a name another profile has.
    let rename = tern.run(&["rename", "2f9e6c1b", "Office"]);
    assert_eq!(rename.code, 0, "{rename:?}");
    assert_eq!(
        rename.stdout,
        format!("Renamed \"Example Corp (PSK)\" to \"Office\" ({PSK_ID}).\n")
    );
    let clash = tern.run(&["rename", "Office", "example corp (eap)"]);
    assert_eq!(clash.code, 1, "{clash:?}");
    assert!(clash.stderr.contains("already has that name"), "{clash:?}");
    let bad = tern.run(&["rename", "Office", "bad\u{7}name"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert_eq!(tern.run(&["show", "Office"]).code, 0);

    // Delete needs --yes without a terminal.
    let refused = tern.run(&["delete", "Office"]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert_eq!(tern.store_files().len(), 2);
    let deleted = tern.run(&["delete", "Office", "--yes"]);
    assert_eq!(deleted.code, 0, "{deleted:?}");
    assert!(
        deleted
            .stdout
            .contains(&format!("Deleted \"Office\" ({PSK_ID}).")),
        "{deleted:?}"
    );
    assert_eq!(tern.store_files().len(), 1);
    assert_eq!(tern.run(&["show", "Office"]).code, 1);
}

#[test]
fn import_with_a_new_name() {
    let tern = Tern::new();
    let file = fixture_arg("mobileconfig/eap.mobileconfig");
    let bad = tern.run(&["import", &file, "--name", "a/b", "--yes"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.starts_with("tern: --name: "), "{bad:?}");
    assert!(tern.store_files().is_empty());
    let ok = tern.run(&["import", &file, "--name", "Office VPN", "--yes"]);
    assert_eq!(ok.code, 0, "{ok:?}");
    assert!(
        ok.stdout
            .contains("Importing an Apple configuration profile"),
        "{ok:?}"
    );
    assert!(ok.stdout.contains("Name:             Office VPN"), "{ok:?}");
    assert!(ok.stdout.contains("Warnings ("), "{ok:?}");
    assert_eq!(tern.run(&["show", "office vpn"]).code, 0);
}

#[test]
fn hostile_files_are_refused_without_changing_anything() {
    let tern = Tern::new();
    let r = tern.run(&["import", &fixture_arg("sswan/eap.sswan"), "--yes"]);
    assert_eq!(r.code, 0, "{r:?}");
    let before = tern.store_files();
    for file in [
        "sswan/hostile-bad-host.sswan",
        "sswan/hostile-bad-proposal.sswan",
        "sswan/hostile-control-name.sswan",
        "sswan/hostile-deep.sswan",
        "sswan/hostile-path-name.sswan",
        "sswan/hostile-unknown-type.sswan",
        "sswan/hostile-wrong-types.sswan",
        "mobileconfig/hostile-binary.mobileconfig",
        "mobileconfig/hostile-control-name.mobileconfig",
        "mobileconfig/hostile-l2tp.mobileconfig",
        "mobileconfig/hostile-two-vpns.mobileconfig",
        "mobileconfig/hostile-weak-crypto.mobileconfig",
        "mobileconfig/hostile-xxe.mobileconfig",
        "ca.der",
    ] {
        let r = tern.run(&["import", &fixture_arg(file), "--yes"]);
        assert_eq!(r.code, 1, "{file}: {r:?}");
        assert!(
            r.stderr.starts_with("tern: cannot import "),
            "{file}: {r:?}"
        );
        assert!(
            r.stderr.trim_end().ends_with("; nothing was changed"),
            "{file}: {r:?}"
        );
        assert_eq!(r.stderr.lines().count(), 1, "{file}: {r:?}");
        assert!(r.stdout.is_empty(), "{file}: {r:?}");
        assert_eq!(tern.store_files(), before, "{file} changed the store");
    }
    // Files that import with warnings say each one as a sentence.
    let r = tern.run(&[
        "import",
        &fixture_arg("sswan/hostile-split-everything.sswan"),
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stdout
            .contains("so all IPv4 traffic goes through the VPN."),
        "{r:?}"
    );
    assert_eq!(tern.store_files(), before);
    let missing = tern.run(&["import", "/nonexistent/file.sswan", "--yes"]);
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(
        missing
            .stderr
            .starts_with("tern: cannot read /nonexistent/file.sswan: "),
        "{missing:?}"
    );
}

#[test]
fn secrets_without_a_keyring() {
    let tern = Tern::new();
    // The fixture's bundle is random bytes: refused, nothing saved.
    let bad = tern.run(&["import", &fixture_arg("sswan/cert-eap.sswan"), "--yes"]);
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(
        bad.stderr
            .contains("the file's PKCS#12 bundle: the PKCS#12 file cannot be read"),
        "{bad:?}"
    );
    assert!(tern.store_files().is_empty());
    // A real bundle instead; without a keyring it keeps its own passphrase.
    let r = tern.run_with_stdin(
        &[
            "import",
            &fixture_arg("sswan/cert-eap.sswan"),
            "--yes",
            "--pkcs12",
            &fixture_arg("credential/client-modern.p12"),
            "--passphrase-stdin",
        ],
        b"tern-test\n",
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("stored under its own passphrase"),
        "{r:?}"
    );
    // Several kinds: --kind is needed without a terminal.
    let which = tern.run_with_stdin(&["secret", "set", "0b7f3f58", "--stdin"], b"pw\n");
    assert_eq!(which.code, 2, "{which:?}");
    assert!(which.stderr.contains("choose one with --kind"), "{which:?}");
    let wrong = tern.run_with_stdin(
        &[
            "secret",
            "set",
            "0b7f3f58",
            "--kind",
            "pre-shared-key",
            "--stdin",
        ],
        b"pw\n",
    );
    assert_eq!(wrong.code, 2, "{wrong:?}");
    assert!(
        wrong.stderr.contains("does not use a pre-shared key"),
        "{wrong:?}"
    );
    let set = tern.run_with_stdin(
        &[
            "secret",
            "set",
            "0b7f3f58",
            "--kind",
            "eap-password",
            "--stdin",
        ],
        b"pw\n",
    );
    assert_eq!(set.code, 1, "{set:?}");
    assert_eq!(
        set.stderr,
        "tern: no keyring is reachable (TERN_KEYRING=off)\n"
    );
    let clear = tern.run(&["secret", "clear", "0b7f3f58"]);
    assert_eq!(clear.code, 1, "{clear:?}");
}

#[test]
fn man_page_and_completions() {
    let tern = Tern::new();
    let man = tern.run(&["man"]);
    assert_eq!(man.code, 0, "{man:?}");
    for sub in [
        "import",
        "list",
        "show",
        "export",
        "rename",
        "delete",
        "connect",
        "secret",
        "status",
        "disconnect",
        "logs",
        "completions",
    ] {
        assert!(
            man.stdout.contains(&format!("tern\\-{sub}")),
            "man page lacks {sub}"
        );
    }
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let r = tern.run(&["completions", shell]);
        assert_eq!(r.code, 0, "{r:?}");
        assert!(
            r.stdout.contains("import") && r.stdout.contains("password-stdin"),
            "{shell}"
        );
    }
    let usage = tern.run(&["connect"]);
    assert_eq!(usage.code, 2, "{usage:?}");
}

/// On a terminal, import asks; only "y" imports.
#[test]
fn import_asks_on_a_terminal() {
    if common::skip_unless(&["script"], "terminal import test") {
        return;
    }
    let tern = Tern::new();
    let file = fixture_arg("sswan/eap.sswan");
    let no = tern.run_in_terminal(&["import", &file], b"n\n");
    assert_eq!(no.code, 1, "{no:?}");
    assert!(no.stdout.contains("Import this profile? [y/N]"), "{no:?}");
    assert!(
        no.stdout
            .contains("tern: import cancelled; nothing was changed"),
        "{no:?}"
    );
    assert!(tern.store_files().is_empty());
    let yes = tern.run_in_terminal(&["import", &file], b"y\n");
    assert_eq!(yes.code, 0, "{yes:?}");
    assert!(
        yes.stdout
            .contains(&format!("Imported \"Example Corp (EAP)\" ({EAP_ID}).")),
        "{yes:?}"
    );
    assert_eq!(tern.store_files().len(), 1);
    let delete = tern.run_in_terminal(&["delete", EAP_ID], b"yes\n");
    assert_eq!(delete.code, 0, "{delete:?}");
    assert!(
        delete
            .stdout
            .contains("and its secrets in the keyring? [y/N]"),
        "{delete:?}"
    );
    assert!(tern.store_files().is_empty());
}

#[test]
fn client_certificates_are_imported_encrypted_next_to_the_profile() {
    let tern = Tern::new();
    let cert_id = "6f1c2c7e-0a9d-4a44-8b9e-0c5a1d2e3f40";
    let sswan = fixture_arg("sswan/cert.sswan");
    let p12 = fixture_arg("credential/client-legacy.p12");
    // A wrong passphrase changes nothing.
    let wrong = tern.run_with_stdin(
        &[
            "import",
            &sswan,
            "--yes",
            "--pkcs12",
            &p12,
            "--passphrase-stdin",
        ],
        b"nope\n",
    );
    assert_eq!(wrong.code, 1, "{wrong:?}");
    assert!(
        wrong.stderr.contains("the PKCS#12 passphrase is wrong"),
        "{wrong:?}"
    );
    assert!(tern.store_files().is_empty());

    let ok = tern.run_with_stdin(
        &[
            "import",
            &sswan,
            "--yes",
            "--pkcs12",
            &p12,
            "--passphrase-stdin",
        ],
        b"tern-test\n",
    );
    assert_eq!(ok.code, 0, "{ok:?}");
    assert!(
        ok.stdout
            .contains("Client cert:      O=Tern Test, CN=alice (2 certificates)"),
        "{ok:?}"
    );
    let files = tern.store_files();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.contains(&format!("{cert_id}.p12").as_str()),
        "{names:?}"
    );
    // Tern re-encrypted it (the legacy bundle's RC2 is gone: PBES2 instead).
    let stored = &files.iter().find(|(n, _)| n.ends_with(".p12")).unwrap().1;
    let pbes2 = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d];
    assert!(stored.windows(pbes2.len()).any(|w| w == pbes2));
    let original = std::fs::read(common::fixture("credential/client-legacy.p12")).unwrap();
    assert_ne!(stored, &original);

    // PEM key and chain replace it; options a PSK profile does not use are refused.
    let pem = tern.run_with_stdin(
        &[
            "import",
            &sswan,
            "--yes",
            "--key",
            &fixture_arg("credential/alice-pkcs8.pem"),
            "--cert",
            &fixture_arg("credential/alice-chain.pem"),
            "--passphrase-stdin",
        ],
        b"new-pass\n",
    );
    assert_eq!(pem.code, 0, "{pem:?}");
    let sec1 = tern.run(&[
        "import",
        &sswan,
        "--yes",
        "--key",
        &fixture_arg("credential/alice-sec1.pem"),
        "--cert",
        &fixture_arg("credential/alice-chain.pem"),
    ]);
    assert_eq!(sec1.code, 1, "{sec1:?}");
    assert!(sec1.stderr.contains("openssl pkcs8"), "{sec1:?}");
    let psk = tern.run(&[
        "import",
        &fixture_arg("mobileconfig/psk.mobileconfig"),
        "--yes",
        "--pkcs12",
        &p12,
    ]);
    assert_eq!(psk.code, 2, "{psk:?}");

    let shown = tern.run(&["show", cert_id]);
    assert!(
        shown.stdout.contains("Client cert:      stored (encrypted"),
        "{shown:?}"
    );

    // Deleting the profile deletes the certificate.
    let deleted = tern.run(&["delete", cert_id, "--yes"]);
    assert_eq!(deleted.code, 0, "{deleted:?}");
    assert!(tern.store_files().is_empty(), "{:?}", tern.store_files());
}

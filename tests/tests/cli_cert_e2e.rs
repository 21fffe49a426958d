//! Client certificates through the product, end to end: a user imports the `.sswan` or
//! `.mobileconfig` their IT team sent, with the client certificate inside as a PKCS#12 bundle
//! (made by the `openssl` command, as providers do), connects with `tern connect --wait`, pings
//! a host behind the gateway, and disconnects — against the real `ternd` in the lab's client
//! namespace and a strongSwan gateway that authenticates clients by certificate or EAP-TLS.
//!
//! The lab has no OS keyring (`TERN_KEYRING=off`), so the stored certificate keeps the
//! bundle's own passphrase, which `--password-stdin` gives when connecting.
//!
//! `cargo xtask test` builds `ternd` and `tern` first and names their directory in
//! `TERN_BIN_DIR`.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use tern_e2e::pki::{Ca, IssuedCert, KeyKind};
use tern_e2e::{Gateway, GatewayConfig, Lab, LabConfig, LabTernCli, Ternd, templates};

/// The passphrase of every PKCS#12 bundle made here.
const P12_PASSPHRASE: &str = "lab-p12-pass";

/// Connects `name` (the stored certificate's passphrase on stdin), pings the LAN through the
/// tunnel, disconnects, and checks the tunnel is gone.
fn connect_ping_disconnect(cli: &LabTernCli<'_>, name: &str) {
    cli.ok(
        &["connect", name, "--password-stdin", "--wait"],
        Some(P12_PASSPHRASE),
    );
    assert_eq!(cli.status()["state"]["state"], "connected");
    assert!(
        cli.ping_lan(),
        "no ping through the tunnel; ternd log:\n{}",
        cli.ternd.log()
    );
    cli.disconnect_and_wait();
    assert!(!cli.ping_lan());
}

/// A PKCS#12 bundle of `cert` and its key (with the CA), made by `openssl pkcs12 -export`:
/// OpenSSL 3's default encryption (AES-256-CBC, PBKDF2), or `-legacy` (3DES and RC2-40).
fn pkcs12(dir: &Path, name: &str, cert: &IssuedCert, ca: &Ca, legacy: bool) -> Vec<u8> {
    let write = |file: &str, bytes: &[u8]| {
        let path = dir.join(file);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let key = write(&format!("{name}.key"), cert.key_pem.as_bytes());
    let crt = write(&format!("{name}.crt"), cert.cert_pem.as_bytes());
    let chain = write("ca.crt", ca.cert_pem.as_bytes());
    let out = dir.join(format!("{name}.p12"));
    let mut command = Command::new("openssl");
    command.arg("pkcs12").arg("-export");
    if legacy {
        command.arg("-legacy");
    }
    let status = command
        .arg("-inkey")
        .arg(&key)
        .arg("-in")
        .arg(&crt)
        .arg("-certfile")
        .arg(&chain)
        .args(["-name", name, "-passout"])
        .arg(format!("pass:{P12_PASSPHRASE}"))
        .arg("-out")
        .arg(&out)
        .status()
        .expect("run openssl");
    assert!(status.success(), "openssl pkcs12 -export failed");
    std::fs::read(out).unwrap()
}

/// One lab with a gateway from `gateway` (given the CA and its certificate) and ternd.
struct Setup {
    lab: Lab,
    ca: Ca,
    bin: PathBuf,
}

impl Setup {
    fn new(bin: PathBuf) -> Self {
        Self {
            lab: Lab::new(LabConfig::default()).unwrap(),
            ca: Ca::new("Tern Lab CA", KeyKind::EcdsaP256).unwrap(),
            bin,
        }
    }

    fn gateway(&self, config: fn(&Ca, &IssuedCert) -> GatewayConfig) -> Gateway<'_> {
        let cert = self
            .ca
            .issue(
                templates::GATEWAY_ID,
                &[templates::GATEWAY_ID],
                KeyKind::EcdsaP256,
            )
            .unwrap();
        Gateway::start(&self.lab, config(&self.ca, &cert)).unwrap()
    }

    fn ternd(&self) -> Ternd {
        Ternd::start(
            &self.lab,
            &self.bin.join("ternd"),
            &self.lab.dir().join("ternd"),
        )
        .unwrap()
    }

    fn cli<'a>(&'a self, ternd: &'a Ternd) -> LabTernCli<'a> {
        LabTernCli {
            tern: self.bin.join("tern"),
            config: self.lab.dir().join("config"),
            lab: &self.lab,
            ternd,
        }
    }

    fn write(&self, name: &str, content: &str) -> String {
        let path = self.lab.dir().join(name);
        std::fs::write(&path, content).unwrap();
        path.to_str().unwrap().to_owned()
    }
}

#[test]
fn sswan_certificates_both_sides_ecdsa_and_rsa() {
    let Some(bin) = tern_e2e::bin_dir("sswan_certificates_both_sides_ecdsa_and_rsa") else {
        return;
    };
    let setup = Setup::new(bin);
    let _gateway = setup.gateway(templates::gateway_pubkey);
    let ternd = setup.ternd();
    let cli = setup.cli(&ternd);
    let cases = [
        (
            "Lab ECDSA",
            "0d6c1f5e-2b3a-4c8d-9e0f-1a2b3c4d5e61",
            KeyKind::EcdsaP256,
            false,
        ),
        (
            "Lab RSA",
            "0d6c1f5e-2b3a-4c8d-9e0f-1a2b3c4d5e62",
            KeyKind::Rsa3072,
            true,
        ),
    ];
    for (name, uuid, kind, legacy) in cases {
        let client = setup.ca.issue("alice", &["alice.tern.test"], kind).unwrap();
        let bundle = pkcs12(setup.lab.dir(), "alice", &client, &setup.ca, legacy);
        let sswan = templates::cert_sswan(name, uuid, "ikev2-cert", &setup.ca, &bundle, None);
        let file = setup.write("provider.sswan", &sswan);

        // A wrong passphrase imports nothing.
        let wrong = cli.run(
            &["import", &file, "--yes", "--passphrase-stdin"],
            Some("not-it"),
        );
        assert!(!wrong.status.success());
        let reason = String::from_utf8_lossy(&wrong.stderr);
        assert!(reason.contains("passphrase is wrong"), "{reason}");
        assert!(!cli.ok(&["list"], None).contains(name));

        let preview = cli.ok(
            &["import", &file, "--yes", "--passphrase-stdin"],
            Some(P12_PASSPHRASE),
        );
        assert!(preview.contains("CN=alice"), "{preview}");
        connect_ping_disconnect(&cli, name);

        // The stored certificate does not open with another passphrase: the helper is never
        // asked.
        let wrong = cli.run(
            &["connect", name, "--password-stdin", "--wait"],
            Some("not-it"),
        );
        assert!(!wrong.status.success());
        assert!(
            String::from_utf8_lossy(&wrong.stderr).contains("does not open"),
            "{wrong:?}"
        );
    }
}

#[test]
fn mobileconfig_certificate_connects() {
    let Some(bin) = tern_e2e::bin_dir("mobileconfig_certificate_connects") else {
        return;
    };
    let setup = Setup::new(bin);
    let _gateway = setup.gateway(templates::gateway_pubkey);
    let ternd = setup.ternd();
    let cli = setup.cli(&ternd);
    let client = setup
        .ca
        .issue("alice", &["alice.tern.test"], KeyKind::EcdsaP384)
        .unwrap();
    let bundle = pkcs12(setup.lab.dir(), "alice", &client, &setup.ca, false);
    let profile = templates::cert_mobileconfig("Lab Apple", &setup.ca, &bundle, P12_PASSPHRASE);
    let file = setup.write("provider.mobileconfig", &profile);
    // The file carries the bundle's password: no question asked.
    let preview = cli.ok(&["import", &file, "--yes"], None);
    assert!(preview.contains("CN=alice"), "{preview}");
    connect_ping_disconnect(&cli, "Lab Apple");
}

#[test]
fn sswan_eap_tls_connects() {
    let Some(bin) = tern_e2e::bin_dir("sswan_eap_tls_connects") else {
        return;
    };
    let setup = Setup::new(bin);
    let _gateway = setup.gateway(templates::gateway_eap_tls);
    let ternd = setup.ternd();
    let cli = setup.cli(&ternd);
    let client = setup
        .ca
        .issue("alice", &["alice.tern.test"], KeyKind::EcdsaP256)
        .unwrap();
    let bundle = pkcs12(setup.lab.dir(), "alice", &client, &setup.ca, false);
    // The EAP identity must be one the client certificate carries.
    let sswan = templates::cert_sswan(
        "Lab EAP-TLS",
        "0d6c1f5e-2b3a-4c8d-9e0f-1a2b3c4d5e63",
        "ikev2-eap-tls",
        &setup.ca,
        &bundle,
        Some("alice.tern.test"),
    );
    let file = setup.write("provider.sswan", &sswan);
    cli.ok(
        &["import", &file, "--yes", "--passphrase-stdin"],
        Some(P12_PASSPHRASE),
    );
    connect_ping_disconnect(&cli, "Lab EAP-TLS");
}

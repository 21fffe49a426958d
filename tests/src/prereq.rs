//! Can the lab run here? Root, the tools and strongSwan's plugins.

use std::io::Write as _;
use std::path::Path;

use crate::charon::{CHARON, CHARON_PLUGINS, PLUGIN_DIR, SWANCTL};

/// How to get what the lab needs on Debian (what `cargo xtask test` installs).
pub const INSTALL_HINT: &str = "apt-get install strongswan-charon strongswan-swanctl strongswan-pki \
     libcharon-extra-plugins libcharon-extauth-plugins libstrongswan-standard-plugins \
     libstrongswan-extra-plugins iproute2 iputils-ping nftables util-linux \
     (or run `cargo xtask test`, which installs them)";

/// What is missing for the lab to run, one entry per problem; empty when all is there.
#[must_use]
pub fn missing_prerequisites() -> Vec<String> {
    let mut missing = Vec::new();
    if !nix::unistd::geteuid().is_root() {
        missing.push("root (network namespaces and mounts need it)".to_owned());
    }
    for tool in ["ip", "nft", "unshare", "mount", "bash", "ping", "sysctl"] {
        if !on_path(tool) {
            missing.push(format!("the `{tool}` command"));
        }
    }
    for binary in [CHARON, SWANCTL] {
        if !Path::new(binary).exists() {
            missing.push(binary.to_owned());
        }
    }
    for plugin in CHARON_PLUGINS {
        let file = format!("{PLUGIN_DIR}/libstrongswan-{plugin}.so");
        if !Path::new(&file).exists() {
            missing.push(format!("strongSwan plugin {plugin} ({file})"));
        }
    }
    if !Path::new("/dev/net/tun").exists() {
        missing.push("/dev/net/tun (kernel-libipsec needs TUN devices)".to_owned());
    }
    missing
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
}

/// Decides whether test `name` runs: `true` when every prerequisite is there. Otherwise, with
/// `TERN_E2E=require` it panics (the suite must not pass without running), and without it prints
/// a loud `SKIPPED` line to stderr and returns `false`.
///
/// ```no_run
/// #[test]
/// fn connects() {
///     if !tern_e2e::should_run("connects") {
///         return;
///     }
///     // … the test …
/// }
/// ```
///
/// # Panics
/// When prerequisites are missing and `TERN_E2E=require` is set.
#[must_use]
pub fn should_run(name: &str) -> bool {
    let missing = missing_prerequisites();
    if missing.is_empty() {
        return true;
    }
    let only_root = missing.len() == 1 && !nix::unistd::geteuid().is_root();
    let hint = if only_root {
        "run the tests as root, or through `cargo xtask test`".to_owned()
    } else {
        format!("install hint: {INSTALL_HINT}")
    };
    let reason = format!("missing {}; {hint}", missing.join(", "));
    let required = std::env::var("TERN_E2E").is_ok_and(|v| v == "require");
    assert!(
        !required,
        "TERN_E2E=require but test {name} cannot run: {reason}"
    );
    announce_skip(name, &reason);
    false
}

/// Prints the loud `SKIPPED` line of test `name`.
pub(crate) fn announce_skip(name: &str, reason: &str) {
    // Straight to the process's stderr: libtest captures `eprintln!`, and a skip must be seen.
    let _ = writeln!(std::io::stderr(), "\n!!!!!!!! SKIPPED: {name}: {reason}\n");
}

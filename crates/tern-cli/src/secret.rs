//! `tern secret set` and `tern secret clear`: a profile's secrets in the keyring.

use profile::{Profile, SecretKind};
use zeroize::Zeroizing;

use crate::cli::KindArg;
use crate::client_key;
use crate::failure::{CmdResult, Failure};
use crate::keyring::{Keyring, kind_name};
use crate::profiles::{find, open_store};
use crate::prompt;
use crate::resolve::label;

/// The kind to work on: `--kind` (which must be one the profile needs), the only one, or the
/// user's choice on a terminal.
fn pick_kind(profile: &Profile, kind: Option<KindArg>) -> CmdResult<SecretKind> {
    let required = profile.required_secrets();
    let names = || {
        required
            .iter()
            .map(|&k| kind_name(k))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(kind) = kind.map(SecretKind::from) {
        if !required.contains(&kind) {
            return Err(Failure::usage(format!(
                "{} does not use a {kind}; its secrets are: {}",
                label(profile),
                names()
            )));
        }
        return Ok(kind);
    }
    match required.as_slice() {
        [only] => Ok(*only),
        several if prompt::stdin_is_terminal() => prompt::choose(
            &format!("{} needs several secrets; which one?", label(profile)),
            several,
        ),
        _ => Err(Failure::usage(format!(
            "{} needs several secrets ({}); choose one with --kind",
            label(profile),
            names()
        ))),
    }
}

/// `tern secret set NAME [--kind KIND] [--stdin]`.
pub fn set(query: &str, kind: Option<KindArg>, from_stdin: bool, keyring: &Keyring) -> CmdResult {
    let profile = find(&open_store()?, query)?;
    if kind == Some(KindArg::PrivateKey) {
        return set_client_key(&profile, from_stdin, keyring);
    }
    let kind = pick_kind(&profile, kind)?;
    let secret: Zeroizing<Vec<u8>> = if from_stdin {
        prompt::read_stdin_secret()?
    } else if prompt::stdin_is_terminal() {
        let first = prompt::ask_secret(&format!("{kind} for \"{}\": ", profile.name))?;
        let again = prompt::ask_secret("Again: ")?;
        if first != again {
            return Err(Failure::error("the two entries differ; nothing was stored"));
        }
        Zeroizing::new(first.as_bytes().to_vec())
    } else {
        return Err(Failure::usage(
            "stdin is not a terminal: pass --stdin to read the secret from it",
        ));
    };
    if secret.is_empty() && kind != SecretKind::Pkcs12Passphrase {
        return Err(Failure::usage(format!("an empty {kind} cannot be stored")));
    }
    keyring
        .set(profile.id, kind, &secret)
        .map_err(|e| Failure::error(e.to_string()))?;
    println!("Stored the {kind} of {} in the keyring.", label(&profile));
    Ok(())
}

/// `tern secret set NAME --kind private-key --stdin < CERT.p12`: replaces the profile's client
/// certificate (stored like an imported one).
fn set_client_key(profile: &Profile, from_stdin: bool, keyring: &Keyring) -> CmdResult {
    if !profile.auth.uses_client_certificate() {
        return Err(Failure::usage(format!(
            "{} does not authenticate with a client certificate",
            label(profile)
        )));
    }
    if !from_stdin {
        return Err(Failure::usage(
            "pass the PKCS#12 file on stdin: `tern secret set NAME --kind private-key --stdin \
             < client.p12` (or import it with `tern import FILE --pkcs12 client.p12`)",
        ));
    }
    let bundle = prompt::read_stdin_secret()?;
    let opened = client_key::open_bundle(&bundle)?;
    client_key::save(&open_store()?, keyring, profile.id, &opened)?;
    println!(
        "Stored the client certificate {} of {}.",
        opened.key.subject(),
        label(profile)
    );
    Ok(())
}

/// `tern secret clear NAME [--kind KIND]`.
pub fn clear(query: &str, kind: Option<KindArg>, keyring: &Keyring) -> CmdResult {
    let profile = find(&open_store()?, query)?;
    let store = open_store()?;
    let mut removed = Vec::new();
    // Without its passphrase the stored certificate is useless: both go together.
    if matches!(
        kind,
        None | Some(KindArg::PrivateKey | KindArg::Pkcs12Passphrase)
    ) && store.delete_client_key(profile.id)?
    {
        removed.push(SecretKind::PrivateKey);
    }
    let kinds = match kind {
        Some(KindArg::PrivateKey) => vec![SecretKind::Pkcs12Passphrase],
        Some(kind) => vec![pick_kind(&profile, Some(kind))?],
        None => crate::keyring::ALL_KINDS.to_vec(),
    };
    for kind in kinds {
        if keyring
            .delete(profile.id, kind)
            .map_err(|e| Failure::error(e.to_string()))?
        {
            removed.push(kind);
        }
    }
    if removed.is_empty() {
        println!("The keyring held no such secret of {}.", label(&profile));
    } else {
        println!(
            "Removed the {} of {} from the keyring.",
            crate::view::kinds_text(&removed),
            label(&profile)
        );
    }
    Ok(())
}

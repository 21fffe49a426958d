//! The profile commands: import, list, show, export, rename, delete.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use profile::{ImportPreview, MAX_FILE_BYTES, Profile, ProfileStore, SaveOutcome, SecretKind};

use crate::client_key::{self, KeySource};
use crate::failure::{CmdResult, Failure};
use crate::keyring::{ALL_KINDS, Keyring, KeyringError};
use crate::resolve::{label, resolve};
use crate::{prompt, view};

/// Opens the profile store (`$TERN_CONFIG_DIR/profiles` or the platform's config directory).
pub fn open_store() -> CmdResult<ProfileStore> {
    Ok(ProfileStore::open_default()?)
}

/// Loads the profile `query` names.
pub fn find(store: &ProfileStore, query: &str) -> CmdResult<Profile> {
    let profiles = store.list()?;
    resolve(&profiles, query)
        .cloned()
        .map_err(|e| Failure::error(e.to_string()))
}

/// Refuses a command that must be confirmed when nobody can confirm it.
fn require_confirmation_possible(yes: bool, what: &str) -> CmdResult {
    if !yes && !prompt::stdin_is_terminal() {
        return Err(Failure::usage(format!(
            "refusing to {what} without confirmation: stdin is not a terminal; pass --yes"
        )));
    }
    Ok(())
}

fn read_profile_file(path: &Path) -> CmdResult<Zeroizing<Vec<u8>>> {
    let cannot = |e: std::io::Error| Failure::error(format!("cannot read {}: {e}", path.display()));
    let file = File::open(path).map_err(cannot)?;
    // Zeroizing: the file may carry secrets.
    let mut bytes = Zeroizing::new(Vec::new());
    // One byte over the limit lets the importer report the size.
    file.take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    Ok(bytes)
}

/// `tern import`'s client-certificate options.
#[derive(Debug, Default)]
pub struct KeyOptions {
    /// `--pkcs12 FILE`.
    pub pkcs12: Option<PathBuf>,
    /// `--key FILE --cert FILE`.
    pub pem: Option<(PathBuf, PathBuf)>,
    /// `--passphrase-stdin`.
    pub passphrase_stdin: bool,
}

/// `tern import FILE [--name NAME] [--yes] [--pkcs12 P12 | --key KEY --cert CHAIN]
/// [--passphrase-stdin]`.
pub fn import(
    file: &Path,
    name: Option<String>,
    yes: bool,
    options: &KeyOptions,
    keyring: &Keyring,
) -> CmdResult {
    let passphrase = if options.passphrase_stdin {
        let bytes = prompt::read_stdin_secret()?;
        Some(prompt::secret_text(bytes, "PKCS#12 passphrase")?)
    } else {
        None
    };
    let bytes = read_profile_file(file)?;
    let (format, mut preview) = profile::import_any(&bytes).map_err(|e| {
        Failure::error(format!(
            "cannot import {}: {e}; nothing was changed",
            file.display()
        ))
    })?;
    drop(bytes);
    if let Some(name) = name {
        preview.profile.name = name;
        preview
            .profile
            .validate()
            .map_err(|e| Failure::usage(format!("--name: {e}")))?;
    }
    let source = KeySource {
        pkcs12: options.pkcs12.as_deref(),
        pem: options
            .pem
            .as_ref()
            .map(|(key, cert)| (key.as_path(), cert.as_path())),
        passphrase,
    };
    let interactive = !options.passphrase_stdin && prompt::stdin_is_terminal();
    let client_key = client_key::open_for_import(&preview, source, interactive)?;
    let store = open_store()?;
    let replaces = match store.get(preview.profile.id) {
        Ok(old) => Some(old),
        Err(profile::StoreError::NotFound(_)) => None,
        // An unreadable old file is replaced like a readable one.
        Err(profile::StoreError::Corrupt { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    print!(
        "{}",
        view::import_preview_text(format, &preview, replaces.as_ref())
    );
    if let Some(opened) = &client_key {
        println!(
            "{:<18}{} ({} certificate{})",
            "Client cert:",
            opened.key.subject(),
            opened.key.certificates().len(),
            if opened.key.certificates().len() == 1 {
                ""
            } else {
                "s"
            }
        );
    } else if preview.profile.auth.uses_client_certificate() {
        eprintln!(
            "tern: the profile authenticates with a client certificate and the file carries \
             none: add it with --pkcs12 FILE (or --key and --cert), now or in a later import"
        );
    }
    require_confirmation_possible(yes, "import")?;
    if !yes && !prompt::confirm("\nImport this profile?")? {
        return Err(Failure::error("import cancelled; nothing was changed"));
    }
    let outcome = store.import(&preview)?;
    store_imported_secrets(&preview, keyring);
    if let Some(opened) = &client_key {
        client_key::save(&store, keyring, preview.profile.id, opened)?;
    }
    let profile = &preview.profile;
    match outcome {
        SaveOutcome::Created => println!("Imported {}.", label(profile)),
        SaveOutcome::Replaced => println!(
            "Replaced the existing profile with UUID {} by {}.",
            profile.id,
            label(profile)
        ),
    }
    let same_name = store
        .list()?
        .into_iter()
        .filter(|p| p.id != profile.id && p.name.eq_ignore_ascii_case(&profile.name))
        .count();
    if same_name > 0 {
        eprintln!(
            "tern: another profile is also named \"{}\"; refer to this one by its UUID or rename it",
            profile.name
        );
    }
    Ok(())
}

/// Stores the secrets an import carried; a keyring problem is reported, not fatal (the profile
/// is saved, and the secret can be given when connecting or with `tern secret set`).
fn store_imported_secrets(preview: &ImportPreview, keyring: &Keyring) {
    let id = preview.profile.id;
    for kind in preview.secrets.kinds() {
        if matches!(kind, SecretKind::PrivateKey | SecretKind::Pkcs12Passphrase) {
            continue; // the client certificate is stored on its own (`client_key::save`)
        }
        let Some(secret) = preview.secrets.get(kind) else {
            continue;
        };
        if let Err(e) = keyring.set(id, kind, secret) {
            eprintln!(
                "tern: the file's {kind} was not stored: {e}; you will be asked for it when \
                 connecting, or store it with `tern secret set`"
            );
        }
    }
}

/// `tern list [--json]`.
pub fn list(json: bool) -> CmdResult {
    let profiles = open_store()?.list()?;
    if json {
        let entries: Vec<_> = profiles.iter().map(view::list_entry).collect();
        print_json(&entries)
    } else {
        print!("{}", view::list_text(&profiles));
        Ok(())
    }
}

fn print_json<T: serde::Serialize>(value: &T) -> CmdResult {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::error(format!("cannot encode JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

/// `tern show NAME [--json]`.
pub fn show(query: &str, json: bool, keyring: &Keyring) -> CmdResult {
    let store = open_store()?;
    let profile = find(&store, query)?;
    let required = profile.required_secrets();
    let stored = match keyring.stored_kinds(profile.id, &required) {
        Ok(stored) => Some(stored),
        Err(e) => {
            if !json {
                eprintln!("tern: cannot tell which secrets are stored: {e}");
            }
            None
        }
    };
    if json {
        return print_json(&view::ShowJson {
            profile: &profile,
            required_secrets: view::kind_names(&required),
            stored_secrets: stored.as_deref().map(view::kind_names),
        });
    }
    print!("{}", view::profile_text(&profile));
    if let Some(stored) = stored {
        println!("{:<18}{}", "Secrets stored:", view::kinds_text(&stored));
    }
    if profile.auth.uses_client_certificate() {
        let state = if store.has_client_key(profile.id) {
            "stored (encrypted, in the profile directory)"
        } else {
            "missing: add it with `tern import FILE --pkcs12 CERT.p12`"
        };
        println!("{:<18}{state}", "Client cert:");
    }
    Ok(())
}

/// `tern export NAME [FILE]`.
pub fn export(query: &str, file: Option<&Path>) -> CmdResult {
    let store = open_store()?;
    let profile = find(&store, query)?;
    let text = profile::export_tern(&profile)
        .map_err(|e| Failure::error(format!("cannot encode the profile: {e}")))?;
    match file {
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|e| Failure::error(format!("cannot write to stdout: {e}")))?;
        }
        Some(path) => {
            std::fs::write(path, text.as_bytes())
                .map_err(|e| Failure::error(format!("cannot write {}: {e}", path.display())))?;
            eprintln!("Exported {} to {}.", label(&profile), path.display());
        }
    }
    Ok(())
}

/// `tern rename NAME NEW`.
pub fn rename(query: &str, new_name: &str) -> CmdResult {
    let store = open_store()?;
    let profiles = store.list()?;
    let profile = resolve(&profiles, query).map_err(|e| Failure::error(e.to_string()))?;
    if let Some(other) = profiles
        .iter()
        .find(|p| p.id != profile.id && p.name.eq_ignore_ascii_case(new_name))
    {
        return Err(Failure::error(format!(
            "{} already has that name; choose another",
            label(other)
        )));
    }
    let renamed = store.rename(profile.id, new_name).map_err(|e| match e {
        profile::StoreError::Invalid(e) => Failure::usage(e.to_string()),
        other => other.into(),
    })?;
    println!("Renamed \"{}\" to {}.", profile.name, label(&renamed));
    Ok(())
}

/// `tern delete NAME [--yes]`.
pub fn delete(query: &str, yes: bool, keyring: &Keyring) -> CmdResult {
    let store = open_store()?;
    let profile = find(&store, query)?;
    require_confirmation_possible(yes, "delete a profile")?;
    if !yes
        && !prompt::confirm(&format!(
            "Delete {} and its secrets in the keyring?",
            label(&profile)
        ))?
    {
        return Err(Failure::error("nothing was deleted"));
    }
    store.delete(profile.id)?;
    let mut removed = Vec::new();
    for kind in ALL_KINDS {
        match keyring.delete(profile.id, kind) {
            Ok(true) => removed.push(kind),
            Ok(false) => {}
            Err(e @ KeyringError::Unavailable(_)) => {
                eprintln!("tern: its secrets, if any, stay in the keyring: {e}");
                break;
            }
            Err(e) => eprintln!("tern: {e}"),
        }
    }
    if removed.is_empty() {
        println!("Deleted {}.", label(&profile));
    } else {
        println!(
            "Deleted {} and its {} from the keyring.",
            label(&profile),
            view::kinds_text(&removed)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imported_secrets_go_to_the_keyring() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../profile/tests/fixtures/mobileconfig/psk.mobileconfig"
        );
        let (_, preview) = profile::import_any(&std::fs::read(path).unwrap()).unwrap();
        let keyring = Keyring::with_store(keyring_core::mock::Store::new().unwrap());
        store_imported_secrets(&preview, &keyring);
        let stored = keyring
            .get(preview.profile.id, SecretKind::PreSharedKey)
            .unwrap()
            .unwrap();
        assert_eq!(stored.as_slice(), b"correct horse battery staple");
        assert_eq!(
            keyring
                .stored_kinds(preview.profile.id, &ALL_KINDS)
                .unwrap(),
            [SecretKind::PreSharedKey]
        );
    }
}

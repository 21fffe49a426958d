//! The Tauri commands the UI calls, and the tray's actions. Every command returns a
//! [`UiError`] on failure, which the UI words for people.

use std::path::{Path, PathBuf};

use profile::{
    AuthMethod, Gateway, Identity, ImportFormat, ImportPreview, Profile, ProfileId, ProfileStore,
    SecretKind,
};
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Manager, State};
use tauri_plugin_autostart::ManagerExt as _;

use crate::error::{ErrorKind, UiError};
use crate::helper::{self, emit, events};
use crate::open::ImportSource;
use crate::secrets::{self, EnteredSecrets};
use crate::settings::Settings;
use crate::state::{AppState, HelperView, PendingImport};
use crate::tray;
use crate::view::ProfileDetails;

/// An import waiting for the user: everything the file contains and what Tern cannot honour.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportView {
    /// Pass back to [`confirm_import`] or [`cancel_import`].
    pub token: String,
    /// The file's (or link's) name.
    pub source: String,
    /// `sswan`, `mobileconfig` or `tern`.
    pub format: &'static str,
    /// The profile the import would create.
    pub profile: ProfileDetails,
    /// What Tern will not do as the file asks.
    pub warnings: Vec<WarningView>,
    /// Secrets the file carries (stored in the keyring on confirmation).
    pub secrets_in_file: Vec<SecretKind>,
    /// Secrets the user must enter.
    pub missing_secrets: Vec<SecretKind>,
    /// The name of the stored profile this import replaces (same id), if any.
    pub replaces: Option<String>,
}

/// One importer warning.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WarningView {
    /// The field in the file's terms.
    pub field: String,
    /// The warning's kind (`unsupported`, `algorithm-dropped`, …).
    pub kind: String,
    /// The importer's sentence.
    pub text: String,
}

/// Everything the UI needs when it (re)loads.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// The helper connection.
    pub helper: HelperView,
    /// The last status.
    pub status: Option<ipc::Status>,
    /// Stored profiles, by name.
    pub profiles: Vec<ProfileDetails>,
    /// Imports waiting for confirmation (files opened before the window was ready).
    pub pending_imports: Vec<ImportView>,
    /// The settings.
    pub settings: Settings,
    /// This app's version.
    pub version: &'static str,
}

/// The fields of the "add" and "edit" forms.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileDraft {
    /// Display name.
    pub name: String,
    /// Gateway host.
    pub gateway: String,
    /// IKE port (500 when absent).
    pub port: Option<u16>,
    /// The identity the gateway must prove (empty: the gateway address).
    pub remote_identity: Option<String>,
    /// `psk` or `eap-mschapv2` (new profiles only; other methods come from imports).
    pub auth: Option<String>,
    /// The EAP username.
    pub username: Option<String>,
}

fn store() -> Result<ProfileStore, UiError> {
    Ok(ProfileStore::open_default()?)
}

fn parse_id(id: &str) -> Result<ProfileId, UiError> {
    id.parse().map_err(|_| {
        UiError::with_code(
            ErrorKind::Invalid,
            "bad_id",
            format!("`{id}` is not a profile id"),
        )
    })
}

fn profiles_changed(app: &AppHandle) {
    emit(app, events::PROFILES, &());
    tray::refresh(app);
}

fn format_name(format: ImportFormat) -> &'static str {
    match format {
        ImportFormat::Sswan => "sswan",
        ImportFormat::MobileConfig => "mobileconfig",
        ImportFormat::Tern => "tern",
    }
}

fn import_view(token: &str, pending: &PendingImport) -> ImportView {
    let preview = &pending.preview;
    let in_file = preview.secrets.kinds();
    // The certificate's passphrase is asked for only when the bundle does not open without it.
    let mut missing_secrets = match (
        preview.profile.auth.uses_client_certificate(),
        preview.secrets.pkcs12.is_some(),
    ) {
        (false, _) => Vec::new(),
        (true, false) => vec![SecretKind::PrivateKey, SecretKind::Pkcs12Passphrase],
        (true, true) if pending.bundle_opens => Vec::new(),
        (true, true) => vec![SecretKind::Pkcs12Passphrase],
    };
    missing_secrets.extend(
        preview
            .profile
            .required_secrets()
            .into_iter()
            .filter(|kind| *kind != SecretKind::Pkcs12Passphrase && !in_file.contains(kind)),
    );
    let replaces = store()
        .ok()
        .and_then(|s| s.get(preview.profile.id).ok())
        .map(|p| p.name);
    ImportView {
        token: token.to_owned(),
        source: pending.source.clone(),
        format: format_name(pending.format),
        profile: ProfileDetails::of(&preview.profile),
        warnings: preview
            .warnings
            .iter()
            .map(|w| WarningView {
                field: w.field.clone(),
                kind: serde_json::to_value(&w.kind)
                    .ok()
                    .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
                    .unwrap_or_default(),
                text: w.to_string(),
            })
            .collect(),
        secrets_in_file: in_file,
        missing_secrets,
        replaces,
    }
}

/// Reads and parses an import source, keeping it pending until the user confirms.
pub fn begin_import(app: &AppHandle, source: ImportSource) -> Result<ImportView, UiError> {
    let (name, bytes) = match source {
        ImportSource::File(path) => (display_name(&path), read_bounded(&path)?),
        ImportSource::Link { name, bytes } => (name, bytes),
    };
    let (format, preview) = profile::import_any(&bytes)?;
    let state = app.state::<AppState>();
    let mut inner = state.lock();
    inner.next_token += 1;
    let token = format!("import-{}", inner.next_token);
    let pending = PendingImport {
        bundle_opens: secrets::bundle_opens(&preview.secrets),
        preview,
        format,
        source: name,
    };
    let view = import_view(&token, &pending);
    inner.pending.insert(token, pending);
    Ok(view)
}

fn display_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, UiError> {
    let io =
        |e: std::io::Error| UiError::new(ErrorKind::Io, format!("reading {}: {e}", path.display()));
    let size = std::fs::metadata(path).map_err(io)?.len();
    if usize::try_from(size).map_or(true, |s| s > profile::MAX_FILE_BYTES) {
        return Err(profile::ImportError::TooLarge {
            size: usize::try_from(size).unwrap_or(usize::MAX),
            limit: profile::MAX_FILE_BYTES,
        }
        .into());
    }
    std::fs::read(path).map_err(io)
}

/// Opens files and links from the command line or a second instance: each becomes a pending
/// import announced to the UI, or an error event.
pub fn open_sources(app: &AppHandle, args: &[String], cwd: &Path) {
    for source in crate::open::sources_from_args(args, cwd) {
        match source.and_then(|s| begin_import(app, s)) {
            Ok(view) => emit(app, events::IMPORT, &view),
            Err(error) => emit(app, events::ERROR, &error),
        }
        show_window(app);
    }
}

/// Brings the main window to the front.
pub fn show_window(app: &AppHandle) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}

/// Handles a click in the tray menu.
pub fn on_tray_menu(app: &AppHandle, id: &str) {
    match id {
        "open" => show_window(app),
        "quit" => app.exit(0),
        "disconnect" => {
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                if let Err(error) = helper::disconnect().await {
                    emit(&app, events::ERROR, &error);
                }
            });
        }
        other => {
            if let Some(profile_id) = other.strip_prefix("connect:") {
                let app = app.clone();
                let profile_id = profile_id.to_owned();
                tauri::async_runtime::spawn(async move {
                    match connect_profile(&profile_id).await {
                        Ok(()) => {}
                        Err(error) if error.kind == ErrorKind::MissingSecret => {
                            show_window(&app);
                            emit(
                                &app,
                                events::NEED_SECRETS,
                                &serde_json::json!({ "profileId": profile_id, "secrets": error.secrets }),
                            );
                        }
                        Err(error) => {
                            show_window(&app);
                            emit(&app, events::ERROR, &error);
                        }
                    }
                });
            }
        }
    }
}

async fn connect_profile(id: &str) -> Result<(), UiError> {
    let store = store()?;
    let profile = store.get(parse_id(id)?)?;
    let secrets = secrets::for_connect(&profile, &store)?;
    helper::connect(ipc::ConnectRequest { profile, secrets }).await
}

fn list() -> Result<Vec<ProfileDetails>, UiError> {
    Ok(store()?.list()?.iter().map(ProfileDetails::of).collect())
}

/// Everything the UI shows on load.
#[tauri::command]
pub fn snapshot(state: State<'_, AppState>) -> Result<Snapshot, UiError> {
    let profiles = list()?;
    let inner = state.lock();
    Ok(Snapshot {
        helper: inner.helper.clone(),
        status: inner.status.clone(),
        profiles,
        pending_imports: inner
            .pending
            .iter()
            .map(|(token, pending)| import_view(token, pending))
            .collect(),
        settings: inner.settings.clone(),
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// The stored profiles, by name.
#[tauri::command]
pub fn list_profiles() -> Result<Vec<ProfileDetails>, UiError> {
    list()
}

/// Previews a profile file.
#[tauri::command]
pub fn open_import(app: AppHandle, path: PathBuf) -> Result<ImportView, UiError> {
    begin_import(&app, ImportSource::File(path))
}

/// Previews a `tern://import?…` link.
#[tauri::command]
pub fn open_link(app: AppHandle, link: String) -> Result<ImportView, UiError> {
    begin_import(&app, crate::open::parse_link(&link)?)
}

/// Saves a pending import: the file's secrets and the ones entered go to the keyring, then the
/// profile (optionally renamed) to the store.
#[tauri::command]
pub fn confirm_import(
    app: AppHandle,
    state: State<'_, AppState>,
    token: String,
    name: Option<String>,
    secrets: EnteredSecrets,
) -> Result<ProfileDetails, UiError> {
    let Some(pending) = state.lock().pending.remove(&token) else {
        return Err(UiError::with_code(
            ErrorKind::NotFound,
            "import_gone",
            format!("no pending import {token}"),
        ));
    };
    let result = save_import(&pending.preview, name, &secrets);
    if result.is_err() {
        // Keep it so the user can fix the problem and try again.
        state.lock().pending.insert(token, pending);
    } else {
        profiles_changed(&app);
    }
    result
}

fn save_import(
    preview: &ImportPreview,
    name: Option<String>,
    entered: &EnteredSecrets,
) -> Result<ProfileDetails, UiError> {
    let store = store()?;
    let mut profile = preview.profile.clone();
    if let Some(name) = name.filter(|n| !n.trim().is_empty()) {
        profile.name = name.trim().to_owned();
    }
    secrets::store_imported(&profile, &preview.secrets, entered, &store)?;
    store.save(&profile)?;
    Ok(ProfileDetails::of(&profile))
}

/// Drops a pending import.
#[tauri::command]
pub fn cancel_import(state: State<'_, AppState>, token: String) {
    state.lock().pending.remove(&token);
}

/// Connects a stored profile with its secrets from the keyring.
#[tauri::command]
pub async fn connect(id: String) -> Result<(), UiError> {
    connect_profile(&id).await
}

/// Disconnects.
#[tauri::command]
pub async fn disconnect() -> Result<(), UiError> {
    helper::disconnect().await
}

/// Stores secrets the user entered for a profile.
#[tauri::command]
pub fn save_secrets(id: String, secrets: EnteredSecrets) -> Result<(), UiError> {
    let store = store()?;
    let profile = store.get(parse_id(&id)?)?;
    secrets.store(&profile, &store)
}

/// Which secrets of a profile the keyring lacks.
#[tauri::command]
pub fn missing_secrets(id: String) -> Result<Vec<SecretKind>, UiError> {
    let store = store()?;
    let profile = store.get(parse_id(&id)?)?;
    secrets::missing(&profile, &store)
}

/// Removes a profile's secrets from the keyring.
#[tauri::command]
pub fn forget_secrets(id: String) -> Result<(), UiError> {
    secrets::delete_all(parse_id(&id)?)
}

fn apply_draft(profile: &mut Profile, draft: ProfileDraft) {
    profile.name = draft.name.trim().to_owned();
    profile.gateway = Gateway {
        host: draft.gateway.trim().to_owned(),
        port: draft.port.unwrap_or(profile::DEFAULT_IKE_PORT),
    };
    profile.remote_identity = draft
        .remote_identity
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Identity::parse);
    let username = draft
        .username
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty());
    match &mut profile.auth {
        AuthMethod::EapMschapv2 { username: current }
        | AuthMethod::CertificateEap {
            username: current, ..
        } => *current = username,
        _ => {}
    }
}

/// Creates a profile from the "add" form.
#[tauri::command]
pub fn create_profile(app: AppHandle, draft: ProfileDraft) -> Result<ProfileDetails, UiError> {
    let auth = match draft.auth.as_deref() {
        Some("psk") => AuthMethod::Psk,
        Some("eap-mschapv2") | None => AuthMethod::EapMschapv2 { username: None },
        Some(other) => {
            return Err(UiError::with_code(
                ErrorKind::Invalid,
                "bad_auth",
                format!("`{other}` cannot be chosen here; import a file for certificate methods"),
            ));
        }
    };
    let mut profile = Profile::new(ProfileId::new_random(), "", Gateway::new(""), auth);
    apply_draft(&mut profile, draft);
    store()?.save(&profile)?;
    profiles_changed(&app);
    Ok(ProfileDetails::of(&profile))
}

/// Saves the "edit" form.
#[tauri::command]
pub fn update_profile(
    app: AppHandle,
    id: String,
    draft: ProfileDraft,
) -> Result<ProfileDetails, UiError> {
    let store = store()?;
    let mut profile = store.get(parse_id(&id)?)?;
    apply_draft(&mut profile, draft);
    store.save(&profile)?;
    profiles_changed(&app);
    Ok(ProfileDetails::of(&profile))
}

/// Copies a profile (and its secrets) under a new id.
#[tauri::command]
pub fn duplicate_profile(app: AppHandle, id: String) -> Result<ProfileDetails, UiError> {
    let store = store()?;
    let mut profile = store.get(parse_id(&id)?)?;
    let from = profile.id;
    profile.id = ProfileId::new_random();
    profile.name = copy_name(&profile.name);
    store.save(&profile)?;
    if let Err(e) = secrets::copy_all(from, profile.id)
        .and_then(|()| secrets::copy_client_key(from, profile.id, &store))
    {
        tracing::warn!(error = %e, "secrets not copied to the duplicate");
    }
    profiles_changed(&app);
    Ok(ProfileDetails::of(&profile))
}

fn copy_name(name: &str) -> String {
    let limit = profile::limits::MAX_NAME_CHARS.saturating_sub(7);
    let base: String = name.chars().take(limit).collect();
    format!("{base} (copy)")
}

/// Deletes a profile and its secrets.
#[tauri::command]
pub fn delete_profile(app: AppHandle, id: String) -> Result<(), UiError> {
    let id = parse_id(&id)?;
    store()?.delete(id)?;
    if let Err(e) = secrets::delete_all(id) {
        tracing::warn!(error = %e, "secrets of a deleted profile left in the keyring");
    }
    profiles_changed(&app);
    Ok(())
}

/// Writes a profile as a Tern profile file (without secrets).
#[tauri::command]
pub fn export_profile(id: String, path: PathBuf) -> Result<(), UiError> {
    let profile = store()?.get(parse_id(&id)?)?;
    let text = profile::export_tern(&profile)
        .map_err(|e| UiError::new(ErrorKind::Invalid, e.to_string()))?;
    std::fs::write(&path, text)
        .map_err(|e| UiError::new(ErrorKind::Io, format!("writing {}: {e}", path.display())))
}

/// Writes text the user chose to save (the log export) to the path picked in the save dialog.
#[tauri::command]
pub fn save_text(path: PathBuf, contents: String) -> Result<(), UiError> {
    std::fs::write(&path, contents)
        .map_err(|e| UiError::new(ErrorKind::Io, format!("writing {}: {e}", path.display())))
}

/// Recent helper log lines.
#[tauri::command]
pub async fn logs(since: Option<u64>) -> Result<Vec<ipc::LogLine>, UiError> {
    helper::logs(since).await
}

/// Changes the helper's log level.
#[tauri::command]
pub async fn set_log_level(level: ipc::LogLevel) -> Result<(), UiError> {
    helper::set_log_level(level).await
}

/// Shows a desktop notification (the UI has checked the permission and the user's setting).
///
/// On Linux it is sent from a thread of its own: notify-rust's D-Bus call blocks on a runtime of
/// its own, which panics inside Tauri's async runtime — where the notification plugin 2.4 runs it,
/// so its notifications never appeared.
#[tauri::command]
pub fn show_notification(
    app: AppHandle,
    title: String,
    body: Option<String>,
) -> Result<(), UiError> {
    #[cfg(target_os = "linux")]
    {
        let _ = &app;
        std::thread::Builder::new()
            .name("notification".into())
            .spawn(move || {
                let mut notification = notify_rust::Notification::new();
                notification.appname("Tern").summary(&title).auto_icon();
                if let Some(body) = &body {
                    notification.body(body);
                }
                if let Err(error) = notification.show() {
                    tracing::debug!(%error, "the desktop notification was not shown");
                }
            })
            .map(drop)
            .map_err(|e| UiError::new(ErrorKind::Io, format!("cannot show a notification: {e}")))
    }
    #[cfg(not(target_os = "linux"))]
    {
        use tauri_plugin_notification::NotificationExt as _;
        let mut builder = app.notification().builder().title(title);
        if let Some(body) = body {
            builder = builder.body(body);
        }
        builder
            .show()
            .map_err(|e| UiError::new(ErrorKind::Io, format!("cannot show a notification: {e}")))
    }
}

/// Saves the settings and applies "launch at login".
#[tauri::command]
pub fn set_settings(
    app: AppHandle,
    state: State<'_, AppState>,
    settings: Settings,
) -> Result<Settings, UiError> {
    let autostart = app.autolaunch();
    let applied = if settings.launch_at_login {
        autostart.enable()
    } else {
        autostart.disable()
    };
    if let Err(e) = applied {
        // Disabling something never enabled fails on some platforms; only enabling matters.
        if settings.launch_at_login {
            return Err(UiError::with_code(
                ErrorKind::Io,
                "autostart",
                format!("could not set Tern to start at login: {e}"),
            ));
        }
    }
    settings.save(&state.config_dir)?;
    state.lock().settings = settings.clone();
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drafts_fill_a_profile() {
        let mut profile = Profile::new(
            ProfileId::new_random(),
            "",
            Gateway::new(""),
            AuthMethod::EapMschapv2 { username: None },
        );
        apply_draft(
            &mut profile,
            ProfileDraft {
                name: " Office ".into(),
                gateway: "vpn.example.com".into(),
                port: None,
                remote_identity: Some("vpn.example.com".into()),
                auth: None,
                username: Some("alice".into()),
            },
        );
        assert_eq!(profile.name, "Office");
        assert_eq!(profile.gateway.port, 500);
        assert_eq!(profile.auth.eap_username(), Some("alice"));
        assert!(profile.validate().is_ok());
        assert_eq!(
            crate::error::snake(&SecretKind::EapPassword),
            "eap-password"
        );
        assert_eq!(copy_name("Office"), "Office (copy)");
    }
}

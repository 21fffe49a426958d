//! The tray icon: always present, drawn for the tunnel's state and the panel's colour, with a
//! tooltip saying the state and profile, and a menu to connect a profile, disconnect, open the
//! window or quit.

use ipc::TunnelState;
use tauri::image::Image;
use tauri::menu::{Menu, MenuBuilder, MenuItemBuilder};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Theme, Wry};

use crate::state::AppState;

const TRAY_ID: &str = "tern";

/// The four looks of the tray icon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Look {
    /// No tunnel.
    Disconnected,
    /// Coming up, reconnecting or going down.
    Connecting,
    /// Protected.
    Connected,
    /// Failed, or the helper cannot be reached.
    Error,
}

/// The look and tooltip for a helper state and tunnel status.
#[must_use]
pub fn describe(reachable: bool, status: Option<&ipc::Status>) -> (Look, String) {
    if !reachable {
        return (
            Look::Error,
            "Tern: the Tern helper is not running — open Tern for how to fix it".to_owned(),
        );
    }
    let Some(status) = status else {
        return (Look::Disconnected, "Tern: not connected".to_owned());
    };
    let profile = status
        .profile
        .as_ref()
        .map(|p| format!(" — {}", p.name))
        .unwrap_or_default();
    match &status.state {
        TunnelState::Disconnected => (Look::Disconnected, "Tern: not connected".to_owned()),
        TunnelState::Connecting { .. } => (Look::Connecting, format!("Tern: connecting{profile}")),
        TunnelState::Reconnecting { attempt, .. } => (
            Look::Connecting,
            format!("Tern: reconnecting (attempt {attempt}){profile}"),
        ),
        TunnelState::Disconnecting => (Look::Connecting, format!("Tern: disconnecting{profile}")),
        TunnelState::Connected => (Look::Connected, format!("Tern: protected{profile}")),
        TunnelState::Failed { failure } => (
            Look::Error,
            format!("Tern: connection failed{profile}: {}", failure.message),
        ),
    }
}

fn icon_bytes(look: Look, dark_panel: bool) -> &'static [u8] {
    match (look, dark_panel) {
        (Look::Disconnected, false) => include_bytes!("../../icons/tray/disconnected-light.png"),
        (Look::Disconnected, true) => include_bytes!("../../icons/tray/disconnected-dark.png"),
        (Look::Connecting, false) => include_bytes!("../../icons/tray/connecting-light.png"),
        (Look::Connecting, true) => include_bytes!("../../icons/tray/connecting-dark.png"),
        (Look::Connected, false) => include_bytes!("../../icons/tray/connected-light.png"),
        (Look::Connected, true) => include_bytes!("../../icons/tray/connected-dark.png"),
        (Look::Error, false) => include_bytes!("../../icons/tray/error-light.png"),
        (Look::Error, true) => include_bytes!("../../icons/tray/error-dark.png"),
    }
}

/// Panels are dark unless the desktop uses a light theme (most Linux panels are dark even then,
/// but a light theme is the best hint the app has).
fn dark_panel(app: &AppHandle) -> bool {
    app.get_webview_window("main")
        .and_then(|w| w.theme().ok())
        .is_none_or(|theme| theme == Theme::Dark)
}

/// Creates the tray icon.
pub fn create(app: &AppHandle) -> tauri::Result<()> {
    let (look, tooltip) = describe(false, None);
    let menu = build_menu(app)?;
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(Image::from_bytes(icon_bytes(look, dark_panel(app)))?)
        .tooltip(&tooltip)
        .menu(&menu)
        .on_menu_event(|app, event| crate::commands::on_tray_menu(app, event.id().as_ref()))
        .build(app)?;
    Ok(())
}

/// What the tray shows now; it is redrawn only when this changes. Status events arrive every
/// second or so with new traffic counters, and replacing the menu each time would close it
/// under the user's pointer.
#[derive(Clone, PartialEq, Eq)]
struct Shown {
    icon: (Look, bool),
    tooltip: String,
    menu: String,
}

static SHOWN: std::sync::Mutex<Option<Shown>> = std::sync::Mutex::new(None);

/// Redraws the icon, tooltip and menu from the current state, where they changed.
///
/// The work is queued on the main thread, where the tray's GTK calls run anyway, and this returns
/// at once: the helper watcher calls it for every status event and must never wait for the main
/// thread (a status event stuck behind a busy main thread never reached the window).
pub fn refresh(app: &AppHandle) {
    let handle = app.clone();
    if let Err(e) = app.run_on_main_thread(move || redraw(&handle)) {
        tracing::warn!(error = %e, "could not update the tray icon");
    }
}

fn redraw(app: &AppHandle) {
    let Some(tray) = app.tray_by_id(TRAY_ID) else {
        return;
    };
    let (look, tooltip) = {
        let state = app.state::<AppState>();
        let inner = state.lock();
        describe(inner.helper.reachable, inner.status.as_ref())
    };
    let profiles = stored_profiles();
    let next = Shown {
        icon: (look, dark_panel(app)),
        tooltip,
        menu: menu_key(app, &profiles),
    };
    let mut shown = SHOWN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let previous = shown.clone();
    let mut result = Ok(());
    if previous.as_ref().map(|p| p.icon) != Some(next.icon) {
        result = result.and_then(|()| {
            Image::from_bytes(icon_bytes(look, next.icon.1)).and_then(|i| tray.set_icon(Some(i)))
        });
    }
    if previous.as_ref().map(|p| &p.tooltip) != Some(&next.tooltip) {
        result = result.and_then(|()| tray.set_tooltip(Some(&next.tooltip)));
    }
    if previous.as_ref().map(|p| &p.menu) != Some(&next.menu) {
        result = result.and_then(|()| tray.set_menu(Some(build_menu(app)?)));
    }
    match result {
        Ok(()) => *shown = Some(next),
        Err(e) => tracing::warn!(error = %e, "could not update the tray icon"),
    }
}

fn stored_profiles() -> Vec<profile::Profile> {
    profile::ProfileStore::open_default()
        .and_then(|store| store.list())
        .unwrap_or_default()
}

/// Everything the menu depends on, as one comparable string.
fn menu_key(app: &AppHandle, profiles: &[profile::Profile]) -> String {
    let (reachable, active, up) = menu_state(app);
    let (_, summary) = {
        let state = app.state::<AppState>();
        let inner = state.lock();
        describe(inner.helper.reachable, inner.status.as_ref())
    };
    let names: Vec<String> = profiles
        .iter()
        .map(|p| format!("{}={}", p.id, p.name))
        .collect();
    format!("{reachable}|{up}|{active:?}|{summary}|{}", names.join("|"))
}

/// Whether the helper is reachable, which profile is in use, and whether a tunnel is up.
fn menu_state(app: &AppHandle) -> (bool, Option<String>, bool) {
    let state = app.state::<AppState>();
    let inner = state.lock();
    let active = inner
        .status
        .as_ref()
        .and_then(|s| s.profile.as_ref())
        .map(|p| p.uuid.clone());
    let up = inner.status.as_ref().is_some_and(|s| {
        !matches!(
            s.state,
            TunnelState::Disconnected | TunnelState::Failed { .. }
        )
    });
    (inner.helper.reachable, active, up)
}

fn build_menu(app: &AppHandle) -> tauri::Result<Menu<Wry>> {
    let (reachable, active, up) = menu_state(app);
    let (_, summary) = {
        let state = app.state::<AppState>();
        let inner = state.lock();
        describe(inner.helper.reachable, inner.status.as_ref())
    };
    let mut menu = MenuBuilder::new(app)
        .item(
            &MenuItemBuilder::with_id("status", summary.trim_start_matches("Tern: "))
                .enabled(false)
                .build(app)?,
        )
        .separator();
    let profiles = stored_profiles();
    for profile in &profiles {
        let id = profile.id.to_string();
        let current = up && active.as_deref() == Some(id.as_str());
        let label = if current {
            format!("✓ {}", profile.name)
        } else {
            format!("Connect {}", profile.name)
        };
        menu = menu.item(
            &MenuItemBuilder::with_id(format!("connect:{id}"), label)
                .enabled(reachable && !current)
                .build(app)?,
        );
    }
    if profiles.is_empty() {
        menu = menu.item(
            &MenuItemBuilder::with_id("none", "No profiles yet")
                .enabled(false)
                .build(app)?,
        );
    }
    menu.separator()
        .item(
            &MenuItemBuilder::with_id("disconnect", "Disconnect")
                .enabled(reachable && up)
                .build(app)?,
        )
        .item(&MenuItemBuilder::with_id("open", "Open Tern").build(app)?)
        .item(&MenuItemBuilder::with_id("quit", "Quit").build(app)?)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipc::{Failure, FailureKind, ProfileSummary, Status};

    #[test]
    fn tooltips_say_state_and_profile() {
        assert_eq!(describe(false, None).0, Look::Error);
        let mut status = Status {
            state: TunnelState::Connected,
            profile: Some(ProfileSummary {
                uuid: "x".into(),
                name: "Office".into(),
            }),
            ..Status::default()
        };
        assert_eq!(
            describe(true, Some(&status)),
            (Look::Connected, "Tern: protected — Office".to_owned())
        );
        status.state = TunnelState::Failed {
            failure: Failure {
                kind: FailureKind::GatewayUnreachable,
                message: "the gateway did not answer".into(),
            },
        };
        let (look, tip) = describe(true, Some(&status));
        assert_eq!(look, Look::Error);
        assert!(tip.contains("did not answer"));
    }
}

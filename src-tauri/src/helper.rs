//! Talking to `ternd`: one long-lived watcher connection that follows status and log events
//! and re-opens itself when the helper goes away, and short-lived connections for requests.

use std::time::Duration;

use ipc::{Client, ConnectRequest, Event, LogLine, Status};
use tauri::{AppHandle, Emitter, Manager};

use crate::error::UiError;
use crate::state::{AppState, HelperView};
use crate::tray;

/// Event names the UI listens to.
pub mod events {
    /// A new [`ipc::Status`].
    pub const STATUS: &str = "tern://status";
    /// Whether the helper is reachable ([`crate::state::HelperView`]).
    pub const HELPER: &str = "tern://helper";
    /// New log lines (a list of [`ipc::LogLine`]).
    pub const LOG: &str = "tern://log";
    /// A file or link was opened ([`crate::commands::ImportView`]).
    pub const IMPORT: &str = "tern://import";
    /// Something failed outside a command (tray actions, opening files): a [`crate::error::UiError`].
    pub const ERROR: &str = "tern://error";
    /// The profiles changed (the UI reloads its list).
    pub const PROFILES: &str = "tern://profiles";
    /// A tray action needs secrets the keyring lacks: `{ profileId, secrets }`.
    pub const NEED_SECRETS: &str = "tern://need-secrets";
}

/// Opens a connection for one request.
async fn open() -> Result<Client, UiError> {
    Ok(Client::connect(&ipc::default_socket_path()).await?)
}

/// Starts a connect.
pub async fn connect(request: ConnectRequest) -> Result<(), UiError> {
    Ok(open().await?.connect_tunnel(request).await?)
}

/// Starts a disconnect.
pub async fn disconnect() -> Result<(), UiError> {
    Ok(open().await?.disconnect().await?)
}

/// Recent log lines.
pub async fn logs(since: Option<u64>) -> Result<Vec<LogLine>, UiError> {
    Ok(open().await?.logs(since, false).await?)
}

/// Changes the helper's log level.
pub async fn set_log_level(level: ipc::LogLevel) -> Result<(), UiError> {
    Ok(open().await?.set_log_level(level).await?)
}

/// Runs the watcher for the life of the app.
pub fn spawn_watcher(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        let mut last_seq = None;
        let mut delay = Duration::from_secs(1);
        loop {
            let mut reached = false;
            let error = watch(&app, &mut last_seq, &mut reached)
                .await
                .err()
                .unwrap_or_else(|| UiError::from(ipc::IpcError::Closed));
            tracing::info!(error = %error, "helper connection ended");
            set_helper(
                &app,
                HelperView {
                    reachable: false,
                    server: None,
                    error: Some(error),
                },
            );
            if reached {
                delay = Duration::from_secs(1);
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(10));
        }
    });
}

async fn watch(
    app: &AppHandle,
    last_seq: &mut Option<u64>,
    reached: &mut bool,
) -> Result<(), UiError> {
    let mut client = open().await?;
    *reached = true;
    client.subscribe().await?;
    let status = client.status().await?;
    set_helper(
        app,
        HelperView {
            reachable: true,
            server: Some(client.server().to_owned()),
            error: None,
        },
    );
    set_status(app, status);
    let backlog = client.logs(*last_seq, true).await?;
    emit_logs(app, last_seq, backlog);
    while let Some(event) = client.next_event().await? {
        match event {
            Event::Status(status) => set_status(app, *status),
            Event::Log(line) => emit_logs(app, last_seq, vec![line]),
        }
    }
    Ok(())
}

fn emit_logs(app: &AppHandle, last_seq: &mut Option<u64>, lines: Vec<LogLine>) {
    if let Some(last) = lines.last() {
        *last_seq = Some(last.seq);
    }
    if !lines.is_empty() {
        emit(app, events::LOG, &lines);
    }
}

fn set_helper(app: &AppHandle, view: HelperView) {
    app.state::<AppState>().lock().helper = view.clone();
    emit(app, events::HELPER, &view);
    tray::refresh(app);
}

fn set_status(app: &AppHandle, status: Status) {
    app.state::<AppState>().lock().status = Some(status.clone());
    emit(app, events::STATUS, &status);
    tray::refresh(app);
}

/// Sends an event to the UI; a failure (no window yet) is only logged.
pub fn emit<T: serde::Serialize + Clone>(app: &AppHandle, event: &str, payload: &T) {
    if let Err(e) = app.emit(event, payload.clone()) {
        tracing::warn!(event, error = %e, "could not send an event to the UI");
    }
}

#[cfg(test)]
mod tests {
    use crate::error::ErrorKind;

    #[tokio::test]
    async fn an_absent_or_dead_helper_is_reported_as_not_running() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("ternd.sock");
        let error: crate::error::UiError =
            ipc::Client::connect(&missing).await.err().unwrap().into();
        assert_eq!(error.kind, ErrorKind::HelperNotRunning);

        // A socket file left behind by a helper that died: nobody accepts.
        let stale = dir.path().join("stale.sock");
        drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
        let error: crate::error::UiError = ipc::Client::connect(&stale).await.err().unwrap().into();
        assert_eq!(error.kind, ErrorKind::HelperNotRunning);
    }
}

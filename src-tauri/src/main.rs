//! The Tern desktop app: a Tauri shell around the web UI in `ui/`, with the system tray, profile
//! import by click, and credentials in the OS keyring.
//!
//! Room and rules:
//! - Unprivileged; talks to the helper only through `ipc` and reads profiles through `profile`.
//! - Never links the protocol cores (`ike`, `esp`).
//! - The UI talks only to the commands in [`commands`] and the events in [`helper::events`];
//!   secrets go from the UI into the keyring and are never sent back.
//! - The app keeps running in the tray when its window is closed; Quit is in the tray menu.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;
mod error;
mod helper;
mod open;
mod secrets;
mod settings;
mod state;
mod tray;
mod view;

use tauri::{Manager, WindowEvent};
use tauri_plugin_autostart::MacosLauncher;
use tauri_plugin_deep_link::DeepLinkExt as _;

use crate::state::AppState;

/// The argument autostart passes: start in the tray without showing the window.
const HIDDEN_ARG: &str = "--hidden";

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TERN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();

    if let Err(e) = secrets::use_platform_store() {
        // The app still runs; saving or reading a secret will say what is wrong.
        tracing::warn!(error = %e, "no OS keyring");
    }

    let result = tauri::Builder::default()
        // First, so a second launch (a double-clicked file, a link) goes to this instance.
        .plugin(tauri_plugin_single_instance::init(|app, argv, cwd| {
            commands::show_window(app);
            // Links were already handed to the deep-link plugin (its `on_open_url` below).
            let args: Vec<String> = argv
                .into_iter()
                .skip(1)
                .filter(|a| !a.starts_with(&format!("{}:", open::SCHEME)))
                .collect();
            commands::open_sources(app, &args, std::path::Path::new(&cwd));
        }))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_autostart::init(
            MacosLauncher::LaunchAgent,
            Some(vec![HIDDEN_ARG]),
        ))
        .setup(|app| {
            let config_dir = app
                .path()
                .app_config_dir()
                .unwrap_or_else(|_| std::env::temp_dir().join("tern"));
            app.manage(AppState::new(config_dir));
            let handle = app.handle().clone();
            tray::create(&handle)?;
            helper::spawn_watcher(handle.clone());

            let link_handle = handle.clone();
            app.deep_link().on_open_url(move |event| {
                let links: Vec<String> = event.urls().iter().map(ToString::to_string).collect();
                commands::open_sources(&link_handle, &links, std::path::Path::new("/"));
            });

            let args: Vec<String> = std::env::args().skip(1).collect();
            if !args.iter().any(|a| a == HIDDEN_ARG) {
                commands::show_window(&handle);
            }
            let cwd = std::env::current_dir().unwrap_or_default();
            commands::open_sources(&handle, &args, &cwd);
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing the window keeps Tern in the tray.
            if let WindowEvent::CloseRequested { api, .. } = event {
                api.prevent_close();
                let _ = window.hide();
            }
        })
        .invoke_handler(tauri::generate_handler![
            commands::snapshot,
            commands::list_profiles,
            commands::open_import,
            commands::open_link,
            commands::confirm_import,
            commands::cancel_import,
            commands::connect,
            commands::disconnect,
            commands::save_secrets,
            commands::missing_secrets,
            commands::forget_secrets,
            commands::create_profile,
            commands::update_profile,
            commands::duplicate_profile,
            commands::delete_profile,
            commands::export_profile,
            commands::save_text,
            commands::logs,
            commands::set_log_level,
            commands::set_settings,
            commands::show_notification,
        ])
        .run(tauri::generate_context!());
    if let Err(e) = result {
        tracing::error!(error = %e, "Tern could not start");
        std::process::exit(1);
    }
}

//! The desktop app's steps: the system libraries Tauri builds against, the web UI build, the UI
//! tests (headless Chromium against a scripted backend; see `ui/tests/`), and the real app in a
//! real window against `ternd` and a strongSwan gateway (`tests/tests/gui_real_window.rs`).

use crate::system::{self, Outcome};

/// What building `src-tauri` (WebKitGTK, the tray's AppIndicator, SVG icons) needs on Debian.
const BUILD_PACKAGES: &[&str] = &[
    "pkg-config",
    "libwebkit2gtk-4.1-dev",
    "libayatana-appindicator3-dev",
    "librsvg2-dev",
];

/// The UI tests drive Debian's Chromium (never a downloaded browser).
const TEST_PACKAGES: &[&str] = &["chromium"];

/// Installs the build libraries and builds the web UI into `ui/dist`, which the app embeds; runs
/// before clippy, since compiling `tern-gui` needs both.
pub fn prepare() -> Result<(), String> {
    system::ensure_apt_packages(BUILD_PACKAGES)?;
    npm_ci()?;
    in_ui("npm", &["run", "build"])
}

/// Type-checks the UI and runs its tests in headless Chromium.
pub fn ui_tests() -> Result<(), String> {
    system::ensure_apt_packages(TEST_PACKAGES)?;
    if !std::path::Path::new("/usr/bin/chromium").is_file() {
        return Err("the chromium package is installed but /usr/bin/chromium is missing".into());
    }
    npm_ci()?;
    in_ui("npm", &["run", "typecheck"])?;
    in_ui("npx", &["vitest", "run"])
}

/// What the real-window test needs at run time: the X server, the WebDriver for WebKitGTK, the
/// tray (AppIndicator library, a tray host, pointer and keys, window listing, screen shots), the
/// keyring on a private D-Bus, and the desktop's file associations (`gio`, shared-mime-info).
const WINDOW_PACKAGES: &[&str] = &[
    "xvfb",
    "webkit2gtk-driver",
    "libayatana-appindicator3-1",
    "trayer",
    "xdotool",
    "x11-utils",
    "imagemagick",
    "dbus",
    "dbus-daemon",
    "gnome-keyring",
    "libglib2.0-bin",
    "shared-mime-info",
    "util-linux",
];

/// The `tauri-driver` release the test was written against.
const TAURI_DRIVER_VERSION: &str = "2.0.6";

/// The app in a real window: builds `ternd` and `tern-gui`, then runs the ignored test
/// `gui_real_window` (lab, gateway, ternd, and the WebDriver script in `ui/tests/real-app.ts`).
/// Screenshots land in `$CARGO_TARGET_DIR/gui-artifacts`.
pub fn real_window() -> Result<Outcome, String> {
    if !system::is_root() {
        return Err(
            "the real-window test needs root (network and PID namespaces); run as root \
                    or use `cargo xtask test --quick`"
                .into(),
        );
    }
    let mut packages = crate::LAB_PACKAGES.to_vec();
    packages.extend(WINDOW_PACKAGES);
    system::ensure_apt_packages(&packages)?;
    ensure_tauri_driver()?;
    npm_ci()?;
    // The app embeds ui/dist at compile time.
    in_ui("npm", &["run", "build"])?;
    // The same set as a contributor's usual build, so features unify the same way and nothing
    // is rebuilt twice.
    system::cargo(&["build", "-p", "ternd", "-p", "tern-cli", "-p", "tern-gui"])?;
    let target = system::target_dir();
    let bin_dir = target.join("debug");
    let artifacts = target.join("gui-artifacts");
    let utf8 = |p: &std::path::Path| {
        p.to_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("{} is not UTF-8", p.display()))
    };
    system::cargo_with_env(
        &[
            "test",
            "-p",
            "tern-e2e",
            "--test",
            "gui_real_window",
            "--",
            "--ignored",
            "--nocapture",
        ],
        &[
            ("TERN_E2E", "require"),
            ("TERN_BIN_DIR", &utf8(&bin_dir)?),
            ("TERN_GUI_ARTIFACTS", &utf8(&artifacts)?),
        ],
    )?;
    println!("    screenshots: {}", artifacts.display());
    Ok(Outcome::Passed)
}

fn ensure_tauri_driver() -> Result<(), String> {
    let home = std::env::var_os("HOME").ok_or("HOME is not set")?;
    let installed = std::path::Path::new(&home).join(".cargo/bin/tauri-driver");
    if installed.is_file() || system::command_exists("tauri-driver") {
        return Ok(());
    }
    println!("==> installing tauri-driver {TAURI_DRIVER_VERSION} (once)");
    system::run(
        "cargo",
        &[
            "install",
            "--locked",
            "tauri-driver",
            "--version",
            TAURI_DRIVER_VERSION,
        ],
    )
}

/// Runs a program in `ui/`, inheriting stdio; fails on a non-zero exit.
fn in_ui(program: &str, args: &[&str]) -> Result<(), String> {
    let status = std::process::Command::new(program)
        .args(args)
        .current_dir(system::workspace_root().join("ui"))
        .status()
        .map_err(|e| format!("could not start `{program}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{program} {}` in ui/ failed ({status})",
            args.join(" ")
        ))
    }
}

fn npm_ci() -> Result<(), String> {
    if !system::command_exists("npm") {
        return Err(
            "npm is missing: the UI needs Node.js 20.19 or newer with npm (Debian's nodejs is too old)"
                .into(),
        );
    }
    in_ui("npm", &["ci", "--no-audit", "--no-fund"])
}

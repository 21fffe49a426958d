//! The desktop app's steps: the system libraries Tauri builds against, the web UI build, and the
//! UI tests (headless Chromium against a scripted backend; see `ui/tests/`).

use crate::system;

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

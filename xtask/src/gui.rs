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
    system::run_in("ui", "npm", &["run", "build"])
}

/// Type-checks the UI and runs its tests in headless Chromium.
pub fn ui_tests() -> Result<(), String> {
    system::ensure_apt_packages(TEST_PACKAGES)?;
    if !std::path::Path::new("/usr/bin/chromium").is_file() {
        return Err("the chromium package is installed but /usr/bin/chromium is missing".into());
    }
    npm_ci()?;
    system::run_in("ui", "npm", &["run", "typecheck"])?;
    system::run_in("ui", "npx", &["vitest", "run"])
}

fn npm_ci() -> Result<(), String> {
    if !system::command_exists("npm") {
        return Err(
            "npm is missing: the UI needs Node.js 20.19 or newer with npm (Debian's nodejs is too old)"
                .into(),
        );
    }
    system::run_in("ui", "npm", &["ci", "--no-audit", "--no-fund"])
}

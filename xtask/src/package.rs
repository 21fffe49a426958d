//! `cargo xtask package`: the `.deb` and `.rpm` built with the Tauri bundler, and the package
//! stage of `cargo xtask test`, which lints the `.deb`, installs it into a throwaway Debian 12
//! root and checks what a user would get.
//!
//! What goes into the packages is declared in `installers/linux/tauri.bundle.json` (merged by
//! the Tauri CLI over `src-tauri/tauri.conf.json`); this module adds what is built or generated
//! here: `ternd`, `tern`, its man page and shell completions, the extra icon sizes and the Debian
//! changelog. `installers/README.md` describes the layout.

use std::path::{Path, PathBuf};

use crate::gui;
use crate::system::{self, Outcome};

/// Debian's name of the release the test root runs (the packages target Debian 12 and newer).
const TEST_SUITE: &str = "bookworm";

/// What the test root needs besides the package's own dependencies: systemd (for
/// `systemd-analyze verify` and sysusers) and the desktop database tools behind `xdg-mime`.
const TEST_ROOT_TOOLS: &[&str] = &[
    "systemd",
    "xdg-utils",
    "desktop-file-utils",
    "shared-mime-info",
];

/// What staging needs: `rsvg-convert` for the icons, `objcopy` to strip.
const BUILD_TOOLS: &[&str] = &["librsvg2-bin", "binutils"];

/// Host tools of the package stage: the linter, the root builder and the RPM reader.
const HOST_TOOLS: &[&str] = &["lintian", "debootstrap", "rpm"];

/// PNG sizes rendered from `icons/src/app.svg` besides the ones `tauri.conf.json` lists.
const EXTRA_ICON_SIZES: &[u32] = &[16, 24, 48, 64, 256];

/// Files both packages must contain (besides the bundler's own GUI binary and desktop file).
const EXPECTED_FILES: &[&str] = &[
    "/usr/bin/tern-gui",
    "/usr/bin/tern",
    "/usr/libexec/tern/ternd",
    "/usr/lib/sysusers.d/tern.conf",
    "/usr/share/mime/packages/tern-mime.xml",
    "/usr/share/applications/Tern.desktop",
    "/usr/share/man/man1/tern.1.gz",
    "/usr/share/man/man1/tern-gui.1.gz",
    "/usr/share/bash-completion/completions/tern",
    "/usr/share/fish/vendor_completions.d/tern.fish",
    "/usr/share/icons/hicolor/48x48/apps/tern-gui.png",
    "/usr/share/icons/hicolor/scalable/apps/tern-gui.svg",
];

/// Which cargo profile the packaged binaries come from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Profile {
    Release,
    Debug,
}

impl Profile {
    fn dir(self) -> &'static str {
        match self {
            Profile::Release => "release",
            Profile::Debug => "debug",
        }
    }
}

/// The packages one build produced.
struct Packages {
    deb: PathBuf,
    rpm: PathBuf,
}

/// `cargo xtask package [--debug | --test]`.
pub fn command(args: &[String]) -> Result<(), String> {
    let profile = match args {
        [] => Profile::Release,
        [flag] if flag == "--debug" => Profile::Debug,
        [flag] if flag == "--test" => {
            return match test_stage()? {
                Outcome::Passed => Ok(()),
                Outcome::Skipped(why) => Err(why),
            };
        }
        _ => return Err("usage: cargo xtask package [--debug | --test]".into()),
    };
    if !cfg!(target_os = "linux") {
        return Err("the .deb and .rpm are built on Linux".into());
    }
    gui::prepare()?;
    let packages = build(profile)?;
    println!("==> packages:");
    println!("    {}", packages.deb.display());
    println!("    {}", packages.rpm.display());
    Ok(())
}

/// The package stage of `cargo xtask test`: build (debug), lint, list, install into a throwaway
/// root, check, remove and purge.
pub fn test_stage() -> Result<Outcome, String> {
    if !system::is_root() {
        return skip_or_fail("installing into a throwaway root needs root (debootstrap, chroot)");
    }
    if !system::command_exists("apt-get") {
        return skip_or_fail("the package test needs a Debian/Ubuntu build machine");
    }
    system::ensure_apt_packages(HOST_TOOLS)?;
    if !system::workspace_root()
        .join("ui/dist/index.html")
        .is_file()
    {
        gui::prepare()?;
    }
    let packages = build(Profile::Debug)?;
    lint(&packages.deb)?;
    check_deb_contents(&packages.deb)?;
    check_rpm_contents(&packages.rpm)?;
    install_test(&packages.deb)?;
    Ok(Outcome::Passed)
}

fn skip_or_fail(why: &str) -> Result<Outcome, String> {
    if std::env::var("TERN_E2E").is_ok_and(|v| v == "require") {
        Err(why.to_owned())
    } else {
        Ok(Outcome::Skipped(format!(
            "!!! {why}; the package test did NOT run"
        )))
    }
}

/// Builds the binaries, stages the generated files and runs the Tauri bundler.
fn build(profile: Profile) -> Result<Packages, String> {
    system::ensure_apt_packages(BUILD_TOOLS)?;
    // The same cargo invocation as the real-window step (`gui::real_window`): cargo unifies
    // features per invocation, so building `tern-gui` alone would recompile ~140 crates and
    // replace the binaries that step just built.
    let mut args = vec!["build", "-p", "ternd", "-p", "tern-cli", "-p", "tern-gui"];
    if profile == Profile::Release {
        args.push("--release");
    }
    system::cargo(&args)?;
    let bin_dir = system::target_dir().join(profile.dir());
    let stage = system::target_dir().join("package").join(profile.dir());
    let config = stage_files(&bin_dir, &stage)?;

    // `tauri bundle` packs what `tauri build` built, found in the target directory: point it at
    // the staged one, whose `tern-gui` is a stripped copy (the bundler ships the binary as it
    // finds it, and patches it in place: cargo's own stays untouched).
    let cli = tauri_cli()?;
    let mut args = vec!["bundle", "--bundles", "deb,rpm", "--config"];
    args.push(path_str(&config)?);
    if profile == Profile::Debug {
        args.push("--debug");
    }
    let staged_target = stage.join("target");
    println!("==> bundling the .deb and .rpm (Tauri bundler)");
    system::run_with(
        path_str(&cli)?,
        &args,
        &[("CARGO_TARGET_DIR", path_str(&staged_target)?)],
        Some("src-tauri"),
    )?;

    let bundle_dir = staged_target.join(profile.dir()).join("bundle");
    let version = workspace_version()?;
    Ok(Packages {
        deb: find_bundle(&bundle_dir.join("deb"), &format!("_{version}_amd64.deb"))?,
        rpm: find_bundle(&bundle_dir.join("rpm"), &format!("-{version}-1.x86_64.rpm"))?,
    })
}

/// Writes the man page, completions, icons, changelog and stripped binaries to `stage`, and the
/// bundler config that adds them to the packages; returns the config's path.
fn stage_files(bin_dir: &Path, stage: &Path) -> Result<PathBuf, String> {
    if stage.exists() {
        std::fs::remove_dir_all(stage)
            .map_err(|e| format!("cannot clear {}: {e}", stage.display()))?;
    }
    create_dir(&stage.join("icons"))?;
    let tern = bin_dir.join("tern");
    let tern_str = path_str(&tern)?;
    let mut files: Vec<(String, PathBuf)> = Vec::new();

    // The binaries, stripped (lintian asks for it; a debug build would otherwise ship hundreds
    // of megabytes of DWARF, and the workspace's release profile keeps line tables). The GUI goes
    // where the bundler looks for it, the others into the package's `files`.
    let gui_dir = stage
        .join("target")
        .join(bin_dir.file_name().unwrap_or_default());
    create_dir(&gui_dir)?;
    for (name, dest) in [
        ("tern", Some("/usr/bin/tern")),
        ("ternd", Some("/usr/libexec/tern/ternd")),
        ("tern-gui", None),
    ] {
        let staged = match dest {
            Some(_) => stage.join(name),
            None => gui_dir.join(name),
        };
        let (from, to) = (
            path_str(&bin_dir.join(name))?.to_owned(),
            path_str(&staged)?,
        );
        system::run("objcopy", &["--strip-debug", "--strip-unneeded", &from, to])?;
        if let Some(dest) = dest {
            files.push((dest.to_owned(), staged));
        }
    }

    // Man pages: the CLI's from its command line, the app's written by hand.
    write_output(tern_str, &["man"], &stage.join("tern.1"))?;
    copy(
        &system::workspace_root().join("installers/linux/tern-gui.1"),
        &stage.join("tern-gui.1"),
    )?;
    for page in ["tern.1", "tern-gui.1"] {
        system::run("gzip", &["-9nf", path_str(&stage.join(page))?])?;
        files.push((
            format!("/usr/share/man/man1/{page}.gz"),
            stage.join(format!("{page}.gz")),
        ));
    }
    for (shell, file) in [
        ("bash", "tern.bash"),
        ("zsh", "_tern"),
        ("fish", "tern.fish"),
    ] {
        write_output(tern_str, &["completions", shell], &stage.join(file))?;
    }
    files.push((
        "/usr/share/bash-completion/completions/tern".into(),
        stage.join("tern.bash"),
    ));
    files.push((
        "/usr/share/fish/vendor_completions.d/tern.fish".into(),
        stage.join("tern.fish"),
    ));

    let svg = system::workspace_root().join("icons/src/app.svg");
    for size in EXTRA_ICON_SIZES {
        let png = stage.join("icons").join(format!("{size}.png"));
        let side = size.to_string();
        system::run(
            "rsvg-convert",
            &[
                "-w",
                &side,
                "-h",
                &side,
                path_str(&svg)?,
                "-o",
                path_str(&png)?,
            ],
        )?;
        files.push((
            format!("/usr/share/icons/hicolor/{size}x{size}/apps/tern-gui.png"),
            png,
        ));
    }

    let version = workspace_version()?;
    let changelog = stage.join("changelog");
    std::fs::write(&changelog, debian_changelog(&version)?)
        .map_err(|e| format!("cannot write {}: {e}", changelog.display()))?;
    system::run("gzip", &["-9nf", path_str(&changelog)?])?;
    let changelog = stage.join("changelog.gz");

    let config = bundle_config(&files, stage, &changelog)?;
    let path = stage.join("tauri.bundle.json");
    std::fs::write(&path, config).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// `installers/linux/tauri.bundle.json` with the staged files added to both packages' `files`
/// (zsh looks in different places on Debian and Fedora).
fn bundle_config(
    files: &[(String, PathBuf)],
    stage: &Path,
    changelog: &Path,
) -> Result<String, String> {
    let template = system::workspace_root().join("installers/linux/tauri.bundle.json");
    let text = std::fs::read_to_string(&template)
        .map_err(|e| format!("cannot read {}: {e}", template.display()))?;
    let mut config: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not valid JSON: {e}", template.display()))?;
    let zsh = stage.join("_tern");
    for (format, zsh_dir) in [
        ("deb", "/usr/share/zsh/vendor-completions"),
        ("rpm", "/usr/share/zsh/site-functions"),
    ] {
        let map = config
            .pointer_mut(&format!("/bundle/linux/{format}/files"))
            .and_then(serde_json::Value::as_object_mut)
            .ok_or_else(|| format!("{} has no bundle.linux.{format}.files", template.display()))?;
        for (dest, source) in files {
            map.insert(dest.clone(), path_str(source)?.into());
        }
        map.insert(format!("{zsh_dir}/_tern"), path_str(&zsh)?.into());
    }
    // Tauri's own `changelog` option files it under the product name (`doc/Tern/`).
    if let Some(deb_files) = config
        .pointer_mut("/bundle/linux/deb/files")
        .and_then(serde_json::Value::as_object_mut)
    {
        deb_files.insert(
            "/usr/share/doc/tern/changelog.gz".into(),
            path_str(changelog)?.into(),
        );
    }
    serde_json::to_string_pretty(&config).map_err(|e| format!("cannot write the config: {e}"))
}

/// A one-entry Debian changelog for this version (lintian wants one in every package).
fn debian_changelog(version: &str) -> Result<String, String> {
    // The commit's date keeps the package reproducible.
    let date = system::output("git", &["log", "-1", "--format=%aD"])
        .map(|d| d.trim().to_owned())
        .unwrap_or_else(|_| "Thu, 01 Jan 1970 00:00:00 +0000".into());
    Ok(format!(
        "tern ({version}) unstable; urgency=medium\n\n  * Built from the Tern source tree by \
         `cargo xtask package`.\n\n -- The Tern developers <dev@tern.invalid>  {date}\n"
    ))
}

/// The Tauri CLI from npm (`installers/tauri-cli/package.json`; the binary comes as an npm
/// optional dependency), installed once and again when the lock file changes.
fn tauri_cli() -> Result<PathBuf, String> {
    let dir = system::workspace_root().join("installers/tauri-cli");
    let cli = dir.join("node_modules/.bin/tauri");
    let lock = dir.join("package-lock.json");
    let installed = dir.join("node_modules/.package-lock.json");
    let stale = match (modified(&lock), modified(&installed)) {
        (Some(lock), Some(installed)) => lock > installed,
        _ => true,
    };
    if stale || !cli.is_file() {
        if !system::command_exists("npm") {
            return Err(
                "npm is missing: the Tauri CLI comes from npm (Node.js 20 or newer)".into(),
            );
        }
        println!("==> installing the Tauri CLI (npm ci in installers/tauri-cli)");
        system::run_with(
            "npm",
            &["ci", "--no-audit", "--no-fund"],
            &[],
            Some("installers/tauri-cli"),
        )?;
    }
    Ok(cli)
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The workspace's version (`[workspace.package] version`), which the packages carry.
fn workspace_version() -> Result<String, String> {
    let manifest = system::workspace_root().join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    let mut in_package = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[workspace.package]";
        } else if in_package && let Some(value) = line.strip_prefix("version") {
            return Ok(value
                .trim_start()
                .trim_start_matches('=')
                .trim()
                .trim_matches('"')
                .to_owned());
        }
    }
    Err("the root Cargo.toml has no [workspace.package] version".into())
}

fn find_bundle(dir: &Path, suffix: &str) -> Result<PathBuf, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_str().is_some_and(|s| s.ends_with(suffix)))
        .ok_or_else(|| format!("the bundler made no *{suffix} in {}", dir.display()))
}

/// lintian with no errors (and, so far, no warnings).
fn lint(deb: &Path) -> Result<(), String> {
    println!("==> lintian {}", deb.display());
    system::run(
        "lintian",
        &[
            "--fail-on",
            "error",
            "--display-level",
            ">=warning",
            "--info",
            path_str(deb)?,
        ],
    )
}

fn check_deb_contents(deb: &Path) -> Result<(), String> {
    let listing = system::output("dpkg-deb", &["--contents", path_str(deb)?])?;
    println!("==> contents of {}", deb.display());
    print!("{listing}");
    // The sixth column is the path: `usr/bin/tern` or `./usr/bin/tern`, by the builder.
    let paths: Vec<String> = listing
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .map(|p| format!("/{}", p.trim_start_matches('.').trim_start_matches('/')))
        .collect();
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    let mut expected = EXPECTED_FILES.to_vec();
    expected.extend([
        "/lib/systemd/system/ternd.service",
        "/usr/share/zsh/vendor-completions/_tern",
        "/usr/share/doc/tern/copyright",
        "/usr/share/doc/tern/changelog.gz",
    ]);
    expect_paths("the .deb", &paths, &expected)
}

fn check_rpm_contents(rpm: &Path) -> Result<(), String> {
    let rpm_str = path_str(rpm)?;
    let listing = system::output("rpm", &["-qlp", rpm_str])?;
    println!("==> rpm -qlp {}", rpm.display());
    print!("{listing}");
    let paths: Vec<&str> = listing.lines().map(str::trim).collect();
    let mut expected = EXPECTED_FILES.to_vec();
    expected.extend([
        "/usr/lib/systemd/system/ternd.service",
        "/usr/share/zsh/site-functions/_tern",
    ]);
    expect_paths("the .rpm", &paths, &expected)?;
    let requires = system::output("rpm", &["-qp", "--requires", rpm_str])?;
    let scripts = system::output("rpm", &["-qp", "--scripts", rpm_str])?;
    for (what, text, needle) in [
        ("Requires", &requires, "webkit2gtk4.1"),
        ("%post", &scripts, "systemctl enable ternd.service"),
        ("%preun", &scripts, "systemctl stop ternd.service"),
    ] {
        if !text.contains(needle) {
            return Err(format!("the .rpm's {what} lacks `{needle}`:\n{text}"));
        }
    }
    println!("==> the .rpm: files, requirements and scriptlets as expected");
    Ok(())
}

fn expect_paths(package: &str, paths: &[&str], expected: &[&str]) -> Result<(), String> {
    let missing: Vec<&str> = expected
        .iter()
        .copied()
        .filter(|e| !paths.contains(e))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("{package} lacks {}", missing.join(", ")))
    }
}

/// Installs the `.deb` into a fresh copy of the cached Debian 12 root and runs
/// `installers/linux/test-in-root.sh` there.
fn install_test(deb: &Path) -> Result<(), String> {
    let work = system::target_dir().join("package-test");
    let tarball = cached_root(&work)?;
    let root = RootDir::fresh(work.join("root"))?;
    println!("==> unpacking the test root");
    system::run(
        "tar",
        &["-xf", path_str(&tarball)?, "-C", path_str(&root.path)?],
    )?;
    let inside = root.path.join("root/tern-test");
    create_dir(&inside)?;
    copy(deb, &inside.join("tern.deb"))?;
    copy(
        &system::workspace_root().join("installers/linux/test-in-root.sh"),
        &inside.join("test-in-root.sh"),
    )?;
    println!("==> installing, checking, removing and purging inside the test root");
    in_root(&root.path, "/bin/sh /root/tern-test/test-in-root.sh")
}

/// Runs a shell command chrooted into `root`, in a private mount namespace with the root's own
/// /proc, /sys, /run, /tmp and /dev/pts: the mounts vanish with the namespace whatever happens inside, and
/// the host's /run (its systemd and D-Bus) stays out of reach.
fn in_root(root: &Path, command: &str) -> Result<(), String> {
    let script = format!(
        "set -e; R='{root}'; \
         mount -t proc proc \"$R/proc\"; mount -t sysfs -o ro sysfs \"$R/sys\"; \
         mount -t tmpfs tmpfs \"$R/run\"; mount -t tmpfs tmpfs \"$R/tmp\"; \
         mount -t devpts -o newinstance,ptmxmode=0666 devpts \"$R/dev/pts\"; \
         exec chroot \"$R\" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
         LC_ALL=C.UTF-8 HOME=/root DEBIAN_FRONTEND=noninteractive /bin/sh -c '{command}'",
        root = path_str(root)?,
    );
    system::run(
        "unshare",
        &["--mount", "--propagation", "private", "sh", "-c", &script],
    )
}

/// A Debian 12 root with the package's dependencies and the test tools, as a tarball: made once
/// (debootstrap, then apt inside for the dependencies, whose virtual packages debootstrap cannot
/// resolve; minutes), then reused (seconds) while its package list is unchanged.
fn cached_root(work: &Path) -> Result<PathBuf, String> {
    let depends = deb_depends()?;
    let key = format!(
        "{TEST_SUITE} minbase {} + {}\n",
        TEST_ROOT_TOOLS.join(","),
        depends.join(",")
    );
    let tarball = work.join(format!("debian-{TEST_SUITE}-root.tar"));
    let key_file = work.join(format!("debian-{TEST_SUITE}-root.key"));
    if tarball.is_file() && std::fs::read_to_string(&key_file).is_ok_and(|k| k == key) {
        println!("==> reusing the cached test root {}", tarball.display());
        return Ok(tarball);
    }
    let mirror = debian_mirror()?;
    println!("==> bootstrapping a Debian 12 test root (once; several minutes)");
    let root = RootDir::fresh(work.join("bootstrap"))?;
    let include = format!("--include={}", TEST_ROOT_TOOLS.join(","));
    system::run(
        "debootstrap",
        &[
            "--variant=minbase",
            &include,
            TEST_SUITE,
            path_str(&root.path)?,
            &mirror,
        ],
    )?;
    // Image-builder manners: packages installed here may not start services.
    let policy = root.path.join("usr/sbin/policy-rc.d");
    std::fs::write(&policy, "#!/bin/sh\nexit 101\n")
        .map_err(|e| format!("cannot write {}: {e}", policy.display()))?;
    system::run("chmod", &["755", path_str(&policy)?])?;
    in_root(
        &root.path,
        &format!(
            "apt-get install -y -q --no-install-recommends {} && apt-get clean",
            depends.join(" ")
        ),
    )?;
    let partial = work.join(format!("debian-{TEST_SUITE}-root.tar.partial"));
    system::run(
        "tar",
        &[
            "-cf",
            path_str(&partial)?,
            "-C",
            path_str(&root.path)?,
            "--numeric-owner",
            ".",
        ],
    )?;
    std::fs::rename(&partial, &tarball)
        .map_err(|e| format!("cannot keep the root tarball: {e}"))?;
    std::fs::write(&key_file, key)
        .map_err(|e| format!("cannot write {}: {e}", key_file.display()))?;
    Ok(tarball)
}

/// The package names in the `.deb`'s Depends, from `installers/linux/tauri.bundle.json`.
fn deb_depends() -> Result<Vec<String>, String> {
    let path = system::workspace_root().join("installers/linux/tauri.bundle.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let config: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
    let depends = config
        .pointer("/bundle/linux/deb/depends")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| format!("{} has no bundle.linux.deb.depends", path.display()))?;
    // Names only: `libc6 (>= 2.34)` is `libc6` to apt's command line.
    Ok(depends
        .iter()
        .filter_map(serde_json::Value::as_str)
        .filter_map(|d| d.split_whitespace().next())
        .map(str::to_owned)
        .collect())
}

/// The Debian mirror this machine's apt uses for Debian 12 (never a name written in the repo):
/// the first `deb` source whose suites include bookworm, from `/etc/apt/sources.list` or
/// `/etc/apt/sources.list.d/` (one-line `.list` or deb822 `.sources`).
fn debian_mirror() -> Result<String, String> {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(entries) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        more.sort();
        files.extend(more);
    }
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let name = file.to_string_lossy();
        let found = if name.ends_with(".sources") {
            mirror_in_deb822(&text)
        } else if name.ends_with(".list") {
            mirror_in_one_line(&text)
        } else {
            None
        };
        if let Some(mirror) = found {
            return Ok(mirror);
        }
    }
    Err(format!(
        "no apt source of this machine serves Debian {TEST_SUITE} (looked in /etc/apt/sources.list*)"
    ))
}

fn mirror_in_one_line(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace().filter(|w| !w.starts_with('['));
        // `deb [options] URI SUITE COMPONENTS...`; options in brackets may hold spaces no more.
        if words.next()? != "deb" {
            return None;
        }
        let uri = words.find(|w| w.contains("://"))?;
        (words.next()? == TEST_SUITE).then(|| uri.to_owned())
    })
}

fn mirror_in_deb822(text: &str) -> Option<String> {
    text.split("\n\n").find_map(|stanza| {
        let field = |name: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(str::trim)
        };
        let is_deb = field("Types")?.split_whitespace().any(|t| t == "deb");
        let has_suite = field("Suites")?.split_whitespace().any(|s| s == TEST_SUITE);
        let uri = field("URIs")?.split_whitespace().next()?;
        (is_deb && has_suite).then(|| uri.to_owned())
    })
}

/// A scratch root directory, emptied when made and removed when dropped; never removed while
/// anything is mounted below it.
struct RootDir {
    path: PathBuf,
}

impl RootDir {
    fn fresh(path: PathBuf) -> Result<Self, String> {
        let dir = Self { path };
        dir.remove()?;
        create_dir(&dir.path)?;
        Ok(dir)
    }

    fn remove(&self) -> Result<(), String> {
        if !self.path.exists() {
            return Ok(());
        }
        let prefix = format!("{}/", self.path.display());
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        if let Some(mount) = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4))
            .find(|m| m.starts_with(&prefix))
        {
            return Err(format!(
                "{mount} is still mounted: not removing {}",
                self.path.display()
            ));
        }
        std::fs::remove_dir_all(&self.path)
            .map_err(|e| format!("cannot remove {}: {e}", self.path.display()))
    }
}

impl Drop for RootDir {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            eprintln!("xtask: {e}");
        }
    }
}

/// Runs a program and writes its standard output to a file.
fn write_output(program: &str, args: &[&str], path: &Path) -> Result<(), String> {
    let text = system::output(program, args)?;
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn create_dir(path: &Path) -> Result<(), String> {
    std::fs::create_dir_all(path).map_err(|e| format!("cannot create {}: {e}", path.display()))
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::copy(from, to)
        .map(drop)
        .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))
}

fn path_str(path: &Path) -> Result<&str, String> {
    path.to_str()
        .ok_or_else(|| format!("{} is not UTF-8", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_mirror_in_both_source_formats() {
        let deb822 = "Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\n\
                      Components: main\n\nTypes: deb\nURIs: http://other.invalid/security\n\
                      Suites: bookworm-security\n";
        assert_eq!(
            mirror_in_deb822(deb822).as_deref(),
            Some("http://mirror.invalid/debian")
        );
        let one_line = "# comment\ndeb-src http://a.invalid/debian bookworm main\n\
                        deb [arch=amd64] http://b.invalid/debian bookworm main\n";
        assert_eq!(
            mirror_in_one_line(one_line).as_deref(),
            Some("http://b.invalid/debian")
        );
        assert_eq!(
            mirror_in_one_line("deb http://c.invalid/ubuntu jammy main\n"),
            None
        );
    }
}

//! Running commands, installing packages, and the step summary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;
use std::time::Instant;

/// How a step that may be skipped ended.
pub enum Outcome {
    /// It ran and passed.
    Passed,
    /// It could not run; the reason is printed in the summary.
    Skipped(String),
}

/// The result of each step of `cargo xtask test`, printed at the end.
#[derive(Default)]
pub struct Summary {
    rows: Vec<(String, Result<Outcome, String>, f64)>,
}

impl Summary {
    /// Runs a step that either passes or fails.
    pub fn run(&mut self, name: &str, step: impl FnOnce() -> Result<(), String>) {
        self.run_outcome(name, || step().map(|()| Outcome::Passed));
    }

    /// Runs a step that may also be skipped.
    pub fn run_outcome(&mut self, name: &str, step: impl FnOnce() -> Result<Outcome, String>) {
        println!("\n==> {name}");
        let start = Instant::now();
        let result = step();
        let secs = start.elapsed().as_secs_f64();
        match &result {
            Ok(Outcome::Passed) => println!("==> {name}: passed ({secs:.0}s)"),
            Ok(Outcome::Skipped(why)) => println!("==> {name}: SKIPPED: {why}"),
            Err(e) => println!("==> {name}: FAILED: {e}"),
        }
        self.rows.push((name.to_owned(), result, secs));
    }

    /// Records a step that was not run, with the reason.
    pub fn skip(&mut self, name: &str, why: &str) {
        self.rows
            .push((name.to_owned(), Ok(Outcome::Skipped(why.to_owned())), 0.0));
    }

    /// Prints the table and fails if any step failed.
    pub fn finish(self) -> Result<(), String> {
        println!("\n==> summary");
        let mut failed = 0;
        for (name, result, secs) in &self.rows {
            let verdict = match result {
                Ok(Outcome::Passed) => "passed".to_owned(),
                Ok(Outcome::Skipped(why)) => format!("skipped ({why})"),
                Err(_) => {
                    failed += 1;
                    "FAILED".to_owned()
                }
            };
            println!("  {name:<28} {verdict:<10} {secs:>6.0}s");
        }
        if failed == 0 {
            Ok(())
        } else {
            Err(format!("{failed} step(s) failed"))
        }
    }
}

/// The workspace root: the nearest directory at or above the current one whose `Cargo.toml`
/// declares `[workspace]`, else the parent of `xtask/` at build time. (The build-time path alone
/// is wrong when several clones share one `CARGO_TARGET_DIR`: the xtask binary may have been
/// built from another clone.)
pub fn workspace_root() -> PathBuf {
    let from_cwd = std::env::current_dir().ok().and_then(|cwd| {
        cwd.ancestors()
            .find(|dir| {
                std::fs::read_to_string(dir.join("Cargo.toml"))
                    .is_ok_and(|manifest| manifest.lines().any(|l| l.trim() == "[workspace]"))
                    && dir.join("xtask").is_dir()
            })
            .map(Path::to_path_buf)
    });
    from_cwd.unwrap_or_else(|| {
        let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        manifest_dir
            .parent()
            .map_or(manifest_dir.clone(), PathBuf::from)
    })
}

/// Runs a program in the workspace root, inheriting stdio; fails on a non-zero exit.
pub fn run(program: &str, args: &[&str]) -> Result<(), String> {
    run_with(program, args, &[], None)
}

/// Runs a program with extra environment variables, in `dir` (relative to the workspace root)
/// or the workspace root itself, inheriting stdio; fails on a non-zero exit.
pub fn run_with(
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
    dir: Option<&str>,
) -> Result<(), String> {
    let root = workspace_root();
    let cwd = dir.map_or(root.clone(), |d| root.join(d));
    let status = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(cwd)
        .status()
        .map_err(|e| format!("could not start `{program}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed ({status})", args.join(" ")))
    }
}

/// Runs a program in a sub-directory of the workspace root with stdout and stderr going to a
/// file.
pub fn run_logged(dir: &str, program: &str, args: &[&str], log: &Path) -> Result<(), String> {
    let file =
        std::fs::File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let err_file = file
        .try_clone()
        .map_err(|e| format!("cannot write {}: {e}", log.display()))?;
    let status = Command::new(program)
        .args(args)
        .current_dir(workspace_root().join(dir))
        .stdout(file)
        .stderr(err_file)
        .status()
        .map_err(|e| format!("could not start `{program}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed ({status})", args.join(" ")))
    }
}

/// The cargo target directory: `$CARGO_TARGET_DIR`, or `target/` in the workspace.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
}

/// Runs cargo with the given arguments in the workspace root.
pub fn cargo(args: &[&str]) -> Result<(), String> {
    run(&cargo_program(), args)
}

/// Runs cargo with extra environment variables.
pub fn cargo_with_env(args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    run_with(&cargo_program(), args, env, None)
}

fn cargo_program() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Captures a command's standard output; fails on a non-zero exit.
pub fn output(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(workspace_root())
        .output()
        .map_err(|e| format!("could not start `{program}`: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Whether a program is on `PATH`.
pub fn command_exists(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Whether we run as root (effective UID 0).
pub fn is_root() -> bool {
    output("id", &["-u"]).is_ok_and(|uid| uid.trim() == "0")
}

/// Whether rustup has this target installed for the active toolchain.
pub fn rust_target_installed(target: &str) -> bool {
    output("rustup", &["target", "list", "--installed"])
        .is_ok_and(|list| list.lines().any(|l| l.trim() == target))
}

/// Whether rustup has a toolchain whose name starts with `name`.
pub fn toolchain_installed(name: &str) -> bool {
    output("rustup", &["toolchain", "list"])
        .is_ok_and(|list| list.lines().any(|l| l.starts_with(name)))
}

/// The fuzz targets declared in `fuzz/Cargo.toml`.
pub fn fuzz_targets() -> Result<Vec<String>, String> {
    let manifest = std::fs::read_to_string(workspace_root().join("fuzz/Cargo.toml"))
        .map_err(|e| format!("cannot read fuzz/Cargo.toml: {e}"))?;
    // `[[bin]]` sections each carry `name = "..."`; the package's own name comes first.
    let mut names = Vec::new();
    let mut in_bin = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin && let Some(value) = line.strip_prefix("name") {
            let value = value
                .trim_start()
                .trim_start_matches('=')
                .trim()
                .trim_matches('"');
            names.push(value.to_owned());
        }
    }
    Ok(names)
}

static APT_UPDATE: Once = Once::new();

/// Installs the Debian packages that are missing, saying which; a no-op when all are there.
pub fn ensure_apt_packages(packages: &[&str]) -> Result<(), String> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| !apt_package_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !command_exists("apt-get") {
        return Err(format!(
            "these packages are missing and this is not a Debian/Ubuntu system: {}",
            missing.join(" ")
        ));
    }
    let sudo = if is_root() {
        None
    } else if command_exists("sudo") {
        Some("sudo")
    } else {
        return Err(format!("need root to install: {}", missing.join(" ")));
    };
    println!("==> installing Debian packages: {}", missing.join(" "));
    let apt = |args: &[&str]| -> Result<(), String> {
        let mut full = vec!["-o", "DPkg::Lock::Timeout=600"];
        full.extend_from_slice(args);
        match sudo {
            Some(s) => {
                let mut with_env = vec!["env", "DEBIAN_FRONTEND=noninteractive", "apt-get"];
                with_env.extend(full);
                run(s, &with_env)
            }
            None => run_with(
                "apt-get",
                &full,
                &[("DEBIAN_FRONTEND", "noninteractive")],
                None,
            ),
        }
    };
    let mut update_result = Ok(());
    APT_UPDATE.call_once(|| update_result = apt(&["update", "-q"]));
    update_result?;
    let mut install = vec!["install", "-y", "-q", "--no-install-recommends"];
    install.extend(missing.iter().copied());
    apt(&install)
}

fn apt_package_installed(package: &str) -> bool {
    output("dpkg-query", &["-W", "-f=${Status}", package])
        .is_ok_and(|status| status.contains("install ok installed"))
}

//! `cargo xtask`: the project's automation, in Rust so it runs wherever cargo does.
//!
//! Room and rules:
//! - Orchestrates cargo, rustup and the system package manager; it holds no product logic.
//! - Says what it is doing before each step, and fails loudly: a skipped step is printed as
//!   skipped with its reason, never passed over in silence.
//! - Only std and `serde_json` (for `cargo metadata`), so it builds in seconds.

mod deps;
mod gui;
mod package;
mod system;

use std::process::ExitCode;

use system::{Outcome, Summary};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  test [--quick]     everything a contributor must pass: fmt, clippy, tests, the
                     Windows type-check, the dependency rules, fuzz smoke runs, the
                     end-to-end suites and the UI tests (--quick: fmt, clippy and
                     unit tests only)
  demo [--down]      a working tunnel to a local strongSwan gateway
  bench [CRATE]      criterion benchmarks (all, or one crate's)
  fuzz [TARGET] [--seconds N]
                     run cargo-fuzz targets (needs the nightly toolchain)
  deps               check the crate dependency rules of ARCHITECTURE.md
  package [--debug | --test]
                     the .deb and .rpm (Tauri bundler; release build unless --debug;
                     --test: the package stage of `test` alone)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match args.split_first() {
        Some((c, r)) => (c.as_str(), r),
        None => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match command {
        "test" => test(rest),
        "demo" => demo(rest),
        "bench" => bench(rest),
        "fuzz" => fuzz(rest),
        "deps" => deps::check().map(|()| println!("dependency rules: ok")),
        "package" => package::command(rest),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("\nxtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Crates that must type-check for Windows from this machine.
const PORTABLE_CRATES: &[&str] = &["ipsec-types", "esp", "ike", "profile", "ipc", "tern-cli"];

/// Fuzz smoke-run length per target in a full `cargo xtask test`.
const FUZZ_SMOKE_SECONDS: u32 = 20;

fn test(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    if let Some(unknown) = args.iter().find(|a| *a != "--quick") {
        return Err(format!("unknown option `{unknown}` for test"));
    }
    let mut summary = Summary::default();

    summary.run("rustfmt", || {
        system::cargo(&["fmt", "--all", "--", "--check"])
    });
    summary.run("desktop app prerequisites", gui::prepare);
    summary.run("clippy", || {
        system::cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ])
    });
    summary.run("dependency rules", deps::check);
    summary.run("unit and integration tests", unit_and_integration_tests);
    if quick {
        summary.skip("Windows type-check", "--quick");
        summary.skip("fuzz smoke runs", "--quick");
        summary.skip("end-to-end suites", "--quick");
        summary.skip("UI tests", "--quick");
        summary.skip("Linux packages", "--quick");
    } else {
        summary.run("UI tests", gui::ui_tests);
        summary.run_outcome("Windows type-check", windows_check);
        summary.run_outcome("fuzz smoke runs", || fuzz_all(FUZZ_SMOKE_SECONDS));
        summary.run_outcome("end-to-end suites", end_to_end);
        summary.run_outcome("Linux packages", package::test_stage);
    }
    summary.finish()
}

/// What the crates' own tests use when they can: a private D-Bus with a Secret Service for the
/// keyring tests, `script` for terminal prompts, a D-Bus daemon for the resolved tests.
const TEST_PACKAGES: &[&str] = &[
    "dbus",
    "dbus-daemon",
    "gnome-keyring",
    "bsdutils",
    "iproute2",
];

fn unit_and_integration_tests() -> Result<(), String> {
    let args = ["test", "--workspace", "--exclude", "tern-e2e"];
    if system::is_root() {
        // As root (CI), tests that need namespaces or system tools must run, not skip.
        system::ensure_apt_packages(TEST_PACKAGES)?;
        system::cargo_with_env(&args, &[("TERN_E2E", "require")])
    } else {
        println!("==> not root: tests that need namespaces will print SKIPPED");
        system::cargo(&args)
    }
}

fn windows_check() -> Result<Outcome, String> {
    const TARGET: &str = "x86_64-pc-windows-gnu";
    // ring's build script compiles C even for `cargo check`, so it needs the MinGW compiler.
    if let Err(e) = system::ensure_apt_packages(&["gcc-mingw-w64-x86-64"]) {
        return Ok(Outcome::Skipped(format!(
            "!!! could not install the MinGW compiler ({e}); the Windows type-check did NOT run"
        )));
    }
    if !system::rust_target_installed(TARGET)
        && let Err(e) = system::run("rustup", &["target", "add", TARGET])
    {
        return Ok(Outcome::Skipped(format!(
            "!!! could not install the {TARGET} target ({e}); the Windows type-check did NOT run"
        )));
    }
    let mut args = vec!["check", "--target", TARGET];
    for krate in PORTABLE_CRATES {
        args.extend(["-p", krate]);
    }
    system::cargo(&args).map(|()| Outcome::Passed)
}

fn end_to_end() -> Result<Outcome, String> {
    if !system::is_root() {
        return Err(
            "the end-to-end suites need root (network namespaces); run as root \
                    or use `cargo xtask test --quick`"
                .into(),
        );
    }
    let mut packages = LAB_PACKAGES.to_vec();
    packages.push("iperf3");
    system::ensure_apt_packages(&packages)?;
    // The demo's smoke test runs the real binaries.
    system::cargo(&["build", "-p", "ternd", "-p", "tern-cli"])?;
    let bin_dir = system::target_dir().join("debug");
    let bin_dir = bin_dir
        .to_str()
        .ok_or("the target directory is not UTF-8")?;
    system::cargo_with_env(
        &["test", "-p", "tern-e2e"],
        &[("TERN_E2E", "require"), ("TERN_BIN_DIR", bin_dir)],
    )
    .map(|()| Outcome::Passed)
}

/// What the strongSwan lab in network namespaces needs (see `tests/`).
const LAB_PACKAGES: &[&str] = &[
    "iproute2",
    "iputils-ping",
    "nftables",
    "util-linux",
    "openssl",
    "tcpdump",
    "strongswan-charon",
    "strongswan-swanctl",
    "strongswan-pki",
    "libcharon-extra-plugins",
    "libcharon-extauth-plugins",
    "libstrongswan-standard-plugins",
    "libstrongswan-extra-plugins",
];

fn demo(args: &[String]) -> Result<(), String> {
    let down = match args {
        [] => false,
        [flag] if flag == "--down" => true,
        _ => return Err("usage: cargo xtask demo [--down]".into()),
    };
    if !cfg!(target_os = "linux") {
        return Err(
            "the demo builds its lab from Linux network namespaces; run it on Linux".into(),
        );
    }
    let mut packages = LAB_PACKAGES.to_vec();
    packages.push("iperf3");
    println!("==> checking what the demo needs (strongSwan, iproute2, iperf3)");
    system::ensure_apt_packages(&packages)?;
    println!("==> building Tern: ternd, tern and the demo (the first build takes several minutes)");
    // Two builds: `--bin` would otherwise restrict the other packages to that binary too.
    system::cargo(&["build", "-p", "ternd", "-p", "tern-cli"])?;
    system::cargo(&["build", "-p", "tern-e2e", "--bin", "tern-demo"])?;
    let bin = system::target_dir().join("debug");
    let demo = bin.join("tern-demo");
    let demo = demo.to_str().ok_or("the target directory is not UTF-8")?;
    let ternd = bin.join("ternd");
    let tern = bin.join("tern");
    let has_display =
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    let gui = bin.join("tern-gui");
    if has_display && !down {
        println!("==> a display is available: building the desktop app too");
        system::cargo(&["build", "-p", "tern-gui"])?;
    }
    let mut demo_args = vec![demo];
    if down {
        demo_args.push("--down");
    } else {
        demo_args.extend([
            "--ternd",
            ternd.to_str().ok_or("the target directory is not UTF-8")?,
            "--tern",
            tern.to_str().ok_or("the target directory is not UTF-8")?,
        ]);
        if has_display {
            demo_args.extend([
                "--gui",
                gui.to_str().ok_or("the target directory is not UTF-8")?,
            ]);
        }
    }
    if system::is_root() {
        system::run(demo_args[0], &demo_args[1..])
    } else if system::command_exists("sudo") {
        println!("==> the lab needs root for network namespaces: running the demo through sudo");
        system::run("sudo", &demo_args)
    } else {
        Err("the demo needs root (network namespaces); run it as root or install sudo".into())
    }
}

fn bench(args: &[String]) -> Result<(), String> {
    match args {
        [] => system::cargo(&["bench", "--workspace"]),
        [krate] => system::cargo(&["bench", "-p", krate]),
        _ => Err("usage: cargo xtask bench [CRATE]".into()),
    }
}

fn fuzz(args: &[String]) -> Result<(), String> {
    let mut seconds = 60;
    let mut target = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "--seconds" {
            seconds = iter
                .next()
                .and_then(|s| s.parse().ok())
                .ok_or("--seconds needs a whole number")?;
        } else {
            target = Some(arg.clone());
        }
    }
    let outcome = match target {
        Some(t) => {
            ensure_fuzz_tools()?;
            run_fuzz_target(&t, seconds).map(|()| Outcome::Passed)?
        }
        None => fuzz_all(seconds)?,
    };
    match outcome {
        Outcome::Passed => Ok(()),
        Outcome::Skipped(why) => Err(why),
    }
}

fn ensure_fuzz_tools() -> Result<(), String> {
    if !system::toolchain_installed("nightly") {
        return Err(
            "the nightly toolchain is not installed (`rustup toolchain install nightly`)".into(),
        );
    }
    if !system::command_exists("cargo-fuzz") {
        println!("==> installing cargo-fuzz (once)");
        system::run("cargo", &["install", "--locked", "cargo-fuzz"])?;
    }
    Ok(())
}

fn fuzz_all(seconds: u32) -> Result<Outcome, String> {
    if let Err(why) = ensure_fuzz_tools() {
        return Ok(Outcome::Skipped(format!("!!! fuzzing did NOT run: {why}")));
    }
    let targets = system::fuzz_targets()?;
    if targets.is_empty() {
        return Ok(Outcome::Skipped("no fuzz targets yet".into()));
    }
    // One build of every target first: `cargo fuzz run` then only links what it needs.
    println!("==> building {} fuzz targets", targets.len());
    system::run("cargo", &["+nightly", "fuzz", "build"])?;
    for target in &targets {
        run_fuzz_target(target, seconds)?;
    }
    Ok(Outcome::Passed)
}

fn run_fuzz_target(target: &str, seconds: u32) -> Result<(), String> {
    println!("==> fuzzing {target} for {seconds}s");
    let max_time = format!("-max_total_time={seconds}");
    // libFuzzer reports every corpus change; keep its chatter in a file and show the end of it
    // only when the target fails (a crash, a leak, a timeout).
    let log_dir = system::target_dir().join("fuzz-logs");
    std::fs::create_dir_all(&log_dir)
        .map_err(|e| format!("cannot create {}: {e}", log_dir.display()))?;
    let log_path = log_dir.join(format!("{target}.log"));
    let result = system::run_logged(
        "fuzz",
        "cargo",
        &[
            "+nightly",
            "fuzz",
            "run",
            target,
            "--",
            &max_time,
            "-rss_limit_mb=1024",
        ],
        &log_path,
    );
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    match result {
        Ok(()) => {
            if let Some(stats) = log.lines().rev().find(|l| l.starts_with("Done ")) {
                println!("    {stats}");
            }
            Ok(())
        }
        Err(e) => {
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            for line in tail.iter().rev() {
                eprintln!("    {line}");
            }
            Err(format!("{e} (full log: {})", log_path.display()))
        }
    }
}

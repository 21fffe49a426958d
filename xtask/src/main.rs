//! `cargo xtask`: the project's automation, in Rust so it runs wherever cargo does.
//!
//! Room and rules:
//! - Orchestrates cargo, rustup and the system package manager; it holds no product logic.
//! - Says what it is doing before each step, and fails loudly: a skipped step is printed as
//!   skipped with its reason, never passed over in silence.
//! - Only std and `serde_json` (for `cargo metadata`), so it builds in seconds.

mod bench_lab;
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
                     end-to-end suites, the UI tests and the desktop app in a real
                     window (--quick: fmt, clippy and unit tests only)
  demo [--down]      a working tunnel to a local strongSwan gateway
  bench [lab [--rounds N] [--seconds S] [--only A,B] | CRATE]
                     the datapath benchmark lab (namespaces, iperf3, Tern vs
                     strongSwan; needs root), or one crate's criterion benchmarks
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
        "bench" => bench_lab::bench(rest),
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
        summary.skip("desktop app in a real window", "--quick");
        summary.skip("Linux packages", "--quick");
    } else {
        summary.run("UI tests", gui::ui_tests);
        summary.run_outcome("Windows type-check", windows_check);
        summary.run_outcome("fuzz smoke runs", || fuzz_all(FUZZ_SMOKE_SECONDS));
        summary.run_outcome("end-to-end suites", end_to_end);
        summary.run_outcome("desktop app in a real window", gui::real_window);
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
    // The interop matrix, the CLI tests and the demo's smoke test run the real binaries.
    system::cargo(&["build", "-p", "ternd", "-p", "tern-cli"])?;
    let bin_dir = system::target_dir().join("debug");
    let bin_dir = bin_dir
        .to_str()
        .ok_or("the target directory is not UTF-8")?;
    let interop_dir = system::target_dir().join("interop");
    let rows_dir = interop_dir.join("rows");
    if rows_dir.exists() {
        std::fs::remove_dir_all(&rows_dir)
            .map_err(|e| format!("cannot clear {}: {e}", rows_dir.display()))?;
    }
    let interop = interop_dir
        .to_str()
        .ok_or("the target directory is not UTF-8")?;
    let tests = system::cargo_with_env(
        &["test", "-p", "tern-e2e"],
        &[
            ("TERN_E2E", "require"),
            ("TERN_BIN_DIR", bin_dir),
            ("TERN_INTEROP_DIR", interop),
        ],
    );
    // The table also (especially) when a row failed.
    match interop_summary(&interop_dir) {
        Ok(table) => println!("\n==> interop matrix (tern-e2e, tests/tests/interop.rs)\n{table}"),
        Err(e) => println!("\n==> interop matrix: no summary ({e})"),
    }
    tests.map(|()| Outcome::Passed)
}

/// Merges the matrix rows' records (`<dir>/rows/*.json`, one per row, written by
/// `tern_e2e::summary`) into `<dir>/summary.json` and returns them as a markdown table.
fn interop_summary(dir: &std::path::Path) -> Result<String, String> {
    use serde_json::Value;

    let rows_dir = dir.join("rows");
    let entries = std::fs::read_dir(&rows_dir)
        .map_err(|e| format!("cannot read {}: {e}", rows_dir.display()))?;
    let mut rows = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let row: Value = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(format!("no row records in {}", rows_dir.display()));
    }
    rows.sort_by_key(|r| r["order"].as_u64().unwrap_or(u64::MAX));
    let summary = serde_json::json!({ "rows": rows });
    let path = dir.join("summary.json");
    let text = serde_json::to_string_pretty(&summary)
        .map_err(|e| format!("cannot serialize the summary: {e}"))?;
    std::fs::write(&path, text + "\n")
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;

    let mut table = String::from(
        "| row | result | connect (ms) | throughput (Mbit/s) | notes |\n|---|---|---:|---:|---|\n",
    );
    for row in &rows {
        let cell = |key: &str| match &row[key] {
            Value::Null => "–".to_owned(),
            Value::Number(n) => n
                .as_f64()
                .map_or_else(|| n.to_string(), |f| format!("{f:.0}")),
            Value::String(s) => s.replace('|', "\\|").replace('\n', " "),
            other => other.to_string(),
        };
        table.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            cell("row"),
            cell("result"),
            cell("connect_ms"),
            cell("throughput_mbit_s"),
            cell("detail"),
        ));
    }
    table.push_str(&format!("(written to {})\n", path.display()));
    Ok(table)
}

/// What the strongSwan lab in network namespaces needs (see `tests/`).
pub(crate) const LAB_PACKAGES: &[&str] = &[
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
    println!("==> [demo 1/3] checking what the demo needs (strongSwan, iproute2, iperf3)");
    system::ensure_apt_packages(&packages)?;
    let bin = system::target_dir().join("debug");
    let demo = bin.join("tern-demo");
    println!("==> [demo 2/3] building Tern: ternd, tern and the demo");
    if !demo.exists() {
        println!(
            "    first build: cargo compiles a few hundred crates, 5 to 15 minutes on a small \
             machine; later runs take seconds"
        );
    }
    build_with_progress(&[
        "build", "-p", "ternd", "-p", "tern-cli", "-p", "tern-e2e", "--bins",
    ])?;
    let utf8 = |p: &std::path::Path| {
        p.to_str()
            .map(str::to_owned)
            .ok_or("the target directory is not UTF-8")
    };
    let mut demo_args = vec![utf8(&demo)?];
    let has_display =
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    if down {
        demo_args.push("--down".into());
    } else {
        demo_args.extend([
            "--ternd".into(),
            utf8(&bin.join("ternd"))?,
            "--tern".into(),
            utf8(&bin.join("tern"))?,
        ]);
        if has_display {
            println!("    a display is available: building the desktop app too");
            if let Err(e) =
                gui::prepare().and_then(|()| build_with_progress(&["build", "-p", "tern-gui"]))
            {
                println!(
                    "    !!! the desktop app could not be built ({e}); the demo goes on without it"
                );
            }
        }
        // The demo opens it when there is a display and it is built, else says how to.
        demo_args.extend(["--gui".into(), utf8(&bin.join("tern-gui"))?]);
    }
    println!(
        "==> [demo 3/3] {}",
        if down {
            "stopping the demo"
        } else {
            "running the demo"
        }
    );
    let program = demo_args.remove(0);
    if system::is_root() {
        replace_process(&program, &demo_args)
    } else if system::command_exists("sudo") {
        println!("    the lab needs root for network namespaces: running the demo through sudo");
        // The desktop app, started by the demo as root, needs the session's display; `env`
        // passes it on whatever sudo's policy on keeping variables. (Not the session bus:
        // root may not use another user's.)
        let var = |name: &str| std::env::var_os(name).and_then(|v| v.into_string().ok());
        let mut sudo_args = vec!["env".to_owned()];
        for name in ["DISPLAY", "XAUTHORITY"] {
            if let Some(value) = var(name) {
                sudo_args.push(format!("{name}={value}"));
            }
        }
        if let Some(wayland) = var("WAYLAND_DISPLAY") {
            // A bare socket name is relative to the user's XDG_RUNTIME_DIR, which root lacks.
            let socket = match var("XDG_RUNTIME_DIR") {
                Some(dir) if !wayland.starts_with('/') => format!("{dir}/{wayland}"),
                _ => wayland,
            };
            sudo_args.push(format!("WAYLAND_DISPLAY={socket}"));
        }
        if std::env::var_os("XAUTHORITY").is_none()
            && let Some(home) = std::env::var_os("HOME")
        {
            let cookie = std::path::Path::new(&home).join(".Xauthority");
            if cookie.is_file() {
                sudo_args.push(format!("XAUTHORITY={}", utf8(&cookie)?));
            }
        }
        sudo_args.push(program);
        sudo_args.extend(demo_args);
        replace_process("sudo", &sudo_args)
    } else {
        Err("the demo needs root (network namespaces); run it as root or install sudo".into())
    }
}

/// Runs cargo; when its output is not a terminal (no progress bar), says every 30 s that the
/// build is still going.
fn build_with_progress(args: &[&str]) -> Result<(), String> {
    use std::io::IsTerminal as _;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    if std::io::stderr().is_terminal() {
        return system::cargo(args); // cargo draws its own progress bar
    }
    let (done, finished) = mpsc::channel::<()>();
    let started = Instant::now();
    let heartbeat = std::thread::spawn(move || {
        while let Err(mpsc::RecvTimeoutError::Timeout) =
            finished.recv_timeout(Duration::from_secs(30))
        {
            println!(
                "    … still building ({} s so far)",
                started.elapsed().as_secs()
            );
        }
    });
    let result = system::cargo(args);
    drop(done);
    let _ = heartbeat.join();
    result
}

/// Becomes `program` (Unix `exec`), so Ctrl-C reaches the demo alone and it can clean up in
/// order, with no `xtask` process in between to die first.
fn replace_process(program: &str, args: &[String]) -> Result<(), String> {
    let mut command = std::process::Command::new(program);
    command.args(args).current_dir(system::workspace_root());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        let error = command.exec();
        Err(format!("could not start `{program}`: {error}"))
    }
    #[cfg(not(unix))]
    {
        let status = command
            .status()
            .map_err(|e| format!("could not start `{program}`: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("`{program}` failed ({status})"))
        }
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

#[cfg(test)]
mod tests {
    use super::interop_summary;

    #[test]
    fn interop_rows_merge_in_matrix_order() {
        let dir = std::env::temp_dir().join(format!("xtask-interop-{}", std::process::id()));
        let rows = dir.join("rows");
        std::fs::create_dir_all(&rows).unwrap();
        std::fs::write(
            rows.join("b.json"),
            r#"{"order":1,"row":"b","result":"ignored","connect_ms":null,"throughput_mbit_s":null,"detail":"waits | for x"}"#,
        )
        .unwrap();
        std::fs::write(
            rows.join("a.json"),
            r#"{"order":0,"row":"a","result":"passed","connect_ms":31,"throughput_mbit_s":412.46,"detail":""}"#,
        )
        .unwrap();
        std::fs::write(rows.join("notes.txt"), "not a row").unwrap();
        let table = interop_summary(&dir).unwrap();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[2], "| a | passed | 31 | 412 |  |");
        assert_eq!(lines[3], "| b | ignored | – | – | waits \\| for x |");
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(summary["rows"][1]["row"], "b");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(interop_summary(&dir).is_err());
    }
}

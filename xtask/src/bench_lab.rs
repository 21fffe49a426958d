//! `cargo xtask bench`: the datapath benchmark lab of issue 11, and the criterion benchmarks.
//!
//! The lab itself is `tern-bench` in the `tests` crate (it reuses the strongSwan lab there):
//! this module installs what it needs, builds the binaries it measures in release mode, and runs
//! it as root with its output under `$CARGO_TARGET_DIR/bench/` (`summary.json`). `tern-bench`
//! removes its namespaces and processes itself, also when interrupted.

use crate::system;

const USAGE: &str =
    "usage: cargo xtask bench [lab [--rounds N] [--seconds S] [--only A,B] | CRATE]";

/// `cargo xtask bench [ARGS]`.
pub fn bench(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        None => lab(&[]),
        Some("lab") => lab(&args[1..]),
        Some("--help" | "-h") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(krate) if args.len() == 1 && !krate.starts_with('-') => {
            system::cargo(&["bench", "-p", krate])
        }
        Some(_) => Err(USAGE.into()),
    }
}

fn lab(args: &[String]) -> Result<(), String> {
    if !cfg!(target_os = "linux") {
        return Err("the benchmark lab builds on Linux network namespaces; run it on Linux".into());
    }
    let mut passthrough = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--rounds" | "--seconds" | "--only" => {
                let value = iter.next().ok_or(format!("{arg} needs a value\n{USAGE}"))?;
                passthrough.extend([arg.clone(), value.clone()]);
            }
            other => return Err(format!("unknown option `{other}`\n{USAGE}")),
        }
    }
    let mut packages = crate::LAB_PACKAGES.to_vec();
    packages.push("iperf3");
    println!("==> checking what the lab needs (strongSwan, iproute2, iperf3)");
    system::ensure_apt_packages(&packages)?;
    println!("==> building ternd, ternd-lab and tern (release) and the lab runner");
    system::cargo(&["build", "--release", "-p", "ternd", "-p", "tern-cli"])?;
    system::cargo(&["build", "-p", "tern-e2e", "--bin", "tern-bench"])?;
    let target = system::target_dir();
    let release = target.join("release");
    let out = target.join("bench");
    let text = |p: std::path::PathBuf| {
        p.to_str()
            .map(str::to_owned)
            .ok_or_else(|| "the target directory is not UTF-8".to_owned())
    };
    let mut argv = vec![
        text(target.join("debug").join("tern-bench"))?,
        "--ternd-lab".into(),
        text(release.join("ternd-lab"))?,
        "--ternd".into(),
        text(release.join("ternd"))?,
        "--tern".into(),
        text(release.join("tern"))?,
        "--out".into(),
        text(out)?,
    ];
    argv.extend(passthrough);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    if system::is_root() {
        system::run(argv[0], &argv[1..])
    } else if system::command_exists("sudo") {
        println!("==> the lab needs root (network namespaces): running it through sudo");
        system::run("sudo", &argv)
    } else {
        Err("the benchmark lab needs root (network namespaces); run it as root".into())
    }
}

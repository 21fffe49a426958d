//! `cargo xtask demo`: a working Tern tunnel to a local strongSwan gateway, on one machine,
//! without touching the machine's own network.
//!
//! Everything happens in throwaway network namespaces (client ↔ gateway ↔ lan): a strongSwan
//! gateway with its userspace ESP datapath, `ternd` in the client namespace, and the `tern` CLI
//! importing the demo profile and connecting, exactly as a user would. The demo then shows the
//! status, a ping and a transfer through the tunnel, and keeps the tunnel up until Ctrl-C (or
//! `cargo xtask demo --down` from another terminal), when it disconnects and removes the lab.
//!
//! `xtask` builds `ternd` and `tern` and passes their paths: `tern-demo --ternd PATH --tern PATH`.
//! With `--once` it tears everything down right after showing the tunnel (the test suite runs
//! it that way, so the README's first command keeps working).
#![cfg_attr(not(target_os = "linux"), allow(missing_docs))]

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    linux::main()
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("the Tern demo needs Linux network namespaces");
    std::process::exit(1);
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io::Write as _;
    use std::os::unix::process::CommandExt as _;
    use std::path::{Path, PathBuf};
    use std::process::{Command, ExitCode, Stdio};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    use tern_e2e::pki::{Ca, KeyKind};
    use tern_e2e::traffic::{self, KillOnDrop};
    use tern_e2e::{Gateway, Lab, LabConfig, Ns, Ternd, addr, templates};

    /// The demo user's EAP name and password (what the provider would have told the user).
    const DEMO_USER: &str = "demo";
    const DEMO_PASSWORD: &str = "tern-demo-password";
    const PUSHED_DNS: std::net::Ipv4Addr = std::net::Ipv4Addr::new(10, 99, 0, 53);
    const PROFILE_NAME: &str = "Tern demo";
    const PROFILE_UUID: &str = "6d1c4a8e-2b7f-4f0a-9c3e-1e5d7a9b0c2d";
    /// Where a running demo records its PID, for `--down`.
    const PID_FILE: &str = "/run/tern-demo.pid";

    struct Paths {
        ternd: PathBuf,
        tern: PathBuf,
        /// The desktop app, when a display is available to show it.
        gui: Option<PathBuf>,
    }

    pub fn main() -> ExitCode {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if args.iter().any(|a| a == "--down") {
            return down();
        }
        let arg = |name: &str| {
            args.iter()
                .position(|a| a == name)
                .and_then(|i| args.get(i + 1))
                .map(PathBuf::from)
        };
        let (Some(ternd), Some(tern)) = (arg("--ternd"), arg("--tern")) else {
            eprintln!("usage: tern-demo --ternd PATH --tern PATH [--gui PATH] [--once] | --down");
            return ExitCode::from(2);
        };
        let missing = tern_e2e::missing_prerequisites();
        if !missing.is_empty() {
            eprintln!("the demo cannot run here:\n  {}", missing.join("\n  "));
            eprintln!("{}", tern_e2e::INSTALL_HINT);
            return ExitCode::FAILURE;
        }
        let once = args.iter().any(|a| a == "--once");
        if !once && let Some(pid) = running_demo() {
            eprintln!(
                "a demo is already running (pid {pid}); stop it with Ctrl-C in its terminal or \
                 `cargo xtask demo --down`"
            );
            return ExitCode::FAILURE;
        }
        // This program disconnects in order on Ctrl-C; the lab's own signal cleanup (which
        // removes the namespaces at once) would cut that short.
        tern_e2e::set_signal_cleanup(false);
        let paths = Paths {
            ternd,
            tern,
            gui: arg("--gui"),
        };
        let result = run(&paths, once);
        if !once {
            let _ = std::fs::remove_file(PID_FILE);
        }
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) if e == STOPPED => {
                println!("\n==> stopped; the lab was removed and nothing is left running");
                ExitCode::from(130)
            }
            Err(e) => {
                eprintln!("\ndemo failed: {e}");
                eprintln!("(the lab was removed; nothing is left running)");
                ExitCode::FAILURE
            }
        }
    }

    /// The PID of a demo running in another terminal, if any.
    fn running_demo() -> Option<i32> {
        let pid = std::fs::read_to_string(PID_FILE)
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
        (alive && pid != i32::try_from(std::process::id()).unwrap_or(0)).then_some(pid)
    }

    /// Stops a demo running in another terminal, and removes what a crashed one left behind.
    fn down() -> ExitCode {
        if let Some(pid) = running_demo() {
            println!("==> asking the running demo (pid {pid}) to disconnect and clean up");
            let pid = nix::unistd::Pid::from_raw(pid);
            if nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).is_ok() {
                let deadline = Instant::now() + Duration::from_secs(30);
                while nix::sys::signal::kill(pid, None).is_ok() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        let _ = std::fs::remove_file(PID_FILE);
        tern_e2e::sweep_stale();
        println!("==> no demo lab is left");
        ExitCode::SUCCESS
    }

    const STEPS: u32 = 7;

    fn step(n: u32, what: &str) {
        println!("\n[{n}/{STEPS}] {what}");
    }

    /// Why [`run`] ends early when Ctrl-C or `--down` arrives during the setup.
    const STOPPED: &str = "stopped by Ctrl-C or `cargo xtask demo --down`";

    /// Fails (and so tears down what was built) when Ctrl-C or `--down` arrived meanwhile.
    fn not_stopped(stop: &AtomicBool) -> Result<(), String> {
        if stop.load(Ordering::Relaxed) {
            Err(STOPPED.into())
        } else {
            Ok(())
        }
    }

    fn run(paths: &Paths, once: bool) -> Result<(), String> {
        let stop = Arc::new(AtomicBool::new(false));
        for signal in [
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGHUP,
        ] {
            signal_hook::flag::register(signal, Arc::clone(&stop))
                .map_err(|e| format!("cannot handle signals: {e}"))?;
        }
        if !once {
            let _ = std::fs::write(PID_FILE, std::process::id().to_string());
        }
        println!("==> Tern demo: a strongSwan gateway and Tern in throwaway network namespaces");
        println!("    (this machine's own routes, DNS and firewall are not touched)");

        step(1, "creating the lab: client ↔ gateway ↔ lan namespaces");
        let lab = Lab::new(LabConfig::default()).map_err(|e| e.to_string())?;
        println!(
            "    namespaces {}-*, files in {}",
            lab.id(),
            lab.dir().display()
        );
        not_stopped(&stop)?;

        step(
            2,
            "starting the strongSwan gateway (certificate + EAP-MSCHAPv2, userspace ESP)",
        );
        // The gateway proves itself with a certificate from the provider's own CA; the user signs
        // in with EAP-MSCHAPv2, the most common road-warrior setup.
        let ca = Ca::new("Tern Demo CA", KeyKind::EcdsaP256).map_err(|e| e.to_string())?;
        let cert = ca
            .issue(
                templates::GATEWAY_ID,
                &[templates::GATEWAY_ID],
                KeyKind::EcdsaP256,
            )
            .map_err(|e| e.to_string())?;
        let config = templates::with_pushed_dns(
            templates::gateway_eap_mschapv2(&ca, &cert, &[(DEMO_USER, DEMO_PASSWORD)]),
            PUSHED_DNS.into(),
        );
        let gateway = Gateway::start(&lab, config).map_err(|e| e.to_string())?;
        println!(
            "    gateway {} (id {}), LAN {} behind it, virtual IPs from {}",
            addr::GATEWAY_V4,
            templates::GATEWAY_ID,
            addr::LAN_PREFIX_V4,
            addr::VIRTUAL_IP_POOL_V4
        );
        not_stopped(&stop)?;

        step(3, "starting ternd, Tern's helper, in the client namespace");
        let run_dir = lab.dir().join("ternd");
        let mut ternd = Ternd::start(&lab, &paths.ternd, &run_dir).map_err(|e| e.to_string())?;
        println!("    socket {}", ternd.socket().display());
        let socket = ternd.socket().to_path_buf();
        let config_dir = lab.dir().join("config");
        let cli = ternd.cli(&paths.tern, &config_dir);
        let ternd_log = ternd.run_dir().join("ternd.log");
        let tern = |args: &[&str], stdin: Option<&str>| -> Result<String, String> {
            let out = cli.run(args, stdin).map_err(|e| e.to_string())?;
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            if out.status.success() {
                Ok(text)
            } else {
                Err(format!(
                    "`tern {}` failed ({}):\n{text}\nternd's log:\n{}",
                    args.join(" "),
                    out.status,
                    std::fs::read_to_string(&ternd_log).unwrap_or_default()
                ))
            }
        };
        not_stopped(&stop)?;

        step(
            4,
            "importing the demo profile, as a user who was sent the file would",
        );
        let profile_path = lab.dir().join("tern-demo.sswan");
        let sswan = templates::eap_sswan(PROFILE_NAME, PROFILE_UUID, &ca, DEMO_USER);
        std::fs::write(&profile_path, sswan)
            .map_err(|e| format!("cannot write the demo profile: {e}"))?;
        println!("    $ tern import {} --yes", profile_path.display());
        print_indented(&tern(&["import", path_str(&profile_path)?, "--yes"], None)?);
        not_stopped(&stop)?;

        step(5, "connecting");
        println!("    $ tern connect \"{PROFILE_NAME}\" --password-stdin --wait");
        let started = Instant::now();
        print_indented(&tern(
            &[
                "connect",
                PROFILE_NAME,
                "--password-stdin",
                "--wait",
                "--timeout",
                "30",
            ],
            Some(DEMO_PASSWORD),
        )?);
        println!("    connected in {} ms", started.elapsed().as_millis());
        not_stopped(&stop)?;

        step(6, "the tunnel at work");
        println!("    $ tern status");
        print_indented(&tern(&["status"], None)?);
        let lan_host = addr::LAN_HOST_V4.to_string();
        println!("    $ ping -c 3 {lan_host}   (from the client namespace, through the tunnel)");
        let ping = lab
            .exec(Ns::Client, &["ping", "-c", "3", "-W", "2", &lan_host])
            .map_err(|e| format!("ping through the tunnel failed: {e}"))?;
        print_indented(&ping);
        transfer(&lab)?;
        println!("    $ tern status");
        print_indented(&tern(&["status"], None)?);
        not_stopped(&stop)?;

        step(7, "the desktop app");
        let gui = open_gui(paths, &socket, &config_dir);

        println!("\n==> The tunnel is up. Try it from another terminal (as root):");
        println!(
            "      ip netns exec {} ping {lan_host}",
            lab.ns_name(Ns::Client).map_err(|e| e.to_string())?
        );
        println!(
            "      {} --socket {} status --watch",
            paths.tern.display(),
            socket.display()
        );
        println!(
            "\n    Press Ctrl-C (or run `cargo xtask demo --down`) to disconnect and remove the lab."
        );

        // `--once` (the test suite's smoke run of this demo): show it works, then clean up.
        while !once && !stop.load(Ordering::Relaxed) {
            if let Some(status) = ternd.exited() {
                return Err(format!(
                    "ternd exited ({status}); its log:\n{}",
                    ternd.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }

        println!("\n==> disconnecting");
        print_indented(&tern(&["disconnect"], None).unwrap_or_else(|e| e));
        drop(gui);
        ternd.terminate();
        drop(gateway);
        drop(lab);
        println!("==> the lab is gone; nothing is left running");
        Ok(())
    }

    /// Opens the desktop app on this display, connected to the demo's ternd and profiles; or,
    /// without a display (or without the built app), says how to open it.
    fn open_gui(paths: &Paths, socket: &Path, config_dir: &Path) -> Option<KillOnDrop> {
        let how = format!(
            "TERN_SOCKET={} TERN_CONFIG_DIR={} {}",
            socket.display(),
            config_dir.display(),
            paths.gui.as_ref().map_or_else(
                || "target/debug/tern-gui".to_owned(),
                |g| g.display().to_string()
            )
        );
        let display =
            std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
        let gui = match &paths.gui {
            Some(gui) if display && gui.is_file() => gui,
            _ => {
                println!(
                    "    {}; to open it on a desktop session, build it (`cargo build -p tern-gui`) \
                     and run as root:\n      {how}",
                    if display {
                        "The desktop app is not built"
                    } else {
                        "No display here, so the desktop app stays closed"
                    }
                );
                return None;
            }
        };
        println!(
            "    Opening the desktop app ({}) on this display:",
            gui.display()
        );
        println!("      {how}");
        // The app finds ternd through TERN_SOCKET and the profiles through TERN_CONFIG_DIR.
        match Command::new(gui)
            .env("TERN_SOCKET", socket)
            .env("TERN_CONFIG_DIR", config_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
        {
            Ok(child) => Some(KillOnDrop(child)),
            Err(e) => {
                println!("    (could not open the desktop app: {e})");
                None
            }
        }
    }

    /// A 20 MB TCP transfer through the tunnel with iperf3, when it is installed.
    fn transfer(lab: &Lab) -> Result<(), String> {
        if !traffic::iperf3_available() {
            println!("    (iperf3 is not installed: skipping the transfer)");
            return Ok(());
        }
        println!(
            "    $ iperf3 -c {} -n 20M   (a 20 MB TCP transfer through the tunnel)",
            addr::LAN_HOST_V4
        );
        let done = traffic::iperf3_transfer(lab, 20 * 1024 * 1024, Duration::from_secs(60))
            .map_err(|e| format!("the transfer failed: {e}"))?;
        println!(
            "      {:.1} MiB in {:.2} s: {:.0} Mbit/s",
            done.bytes as f64 / 1_048_576.0,
            done.seconds,
            done.mbit_per_s
        );
        Ok(())
    }

    fn path_str(path: &Path) -> Result<&str, String> {
        path.to_str()
            .ok_or_else(|| format!("{} is not UTF-8", path.display()))
    }

    fn print_indented(text: &str) {
        let mut out = std::io::stdout().lock();
        for line in text.lines() {
            let _ = writeln!(out, "      {line}");
        }
    }
}

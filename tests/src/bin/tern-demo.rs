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
    use std::process::{Child, Command, ExitCode, Stdio};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    use tern_e2e::pki::{Ca, KeyKind};
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
        match run(&Paths {
            ternd,
            tern,
            gui: arg("--gui"),
        }) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("\ndemo failed: {e}");
                ExitCode::FAILURE
            }
        }
    }

    /// Stops a demo running in another terminal, and removes what a crashed one left behind.
    fn down() -> ExitCode {
        if let Ok(pid) = std::fs::read_to_string(PID_FILE) {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                println!("==> asking the running demo (pid {pid}) to disconnect and clean up");
                let pid = nix::unistd::Pid::from_raw(pid);
                if nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).is_ok() {
                    let deadline = Instant::now() + Duration::from_secs(20);
                    while nix::sys::signal::kill(pid, None).is_ok() && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
            let _ = std::fs::remove_file(PID_FILE);
        }
        tern_e2e::sweep_stale();
        println!("==> no demo lab is left");
        ExitCode::SUCCESS
    }

    fn step(n: u32, what: &str) {
        println!("\n[{n}/6] {what}");
    }

    fn run(paths: &Paths) -> Result<(), String> {
        let stop = Arc::new(AtomicBool::new(false));
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(signal, Arc::clone(&stop))
                .map_err(|e| format!("cannot handle signals: {e}"))?;
        }
        if !std::env::args().any(|a| a == "--once") {
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

        step(3, "starting ternd, Tern's helper, in the client namespace");
        let run_dir = lab.dir().join("ternd");
        let mut ternd = Ternd::start(&lab, &paths.ternd, &run_dir).map_err(|e| e.to_string())?;
        println!("    socket {}", ternd.socket().display());

        let socket = ternd.socket().to_path_buf();
        let config_dir = lab.dir().join("config");
        let tern = |args: &[&str], stdin: Option<&str>| -> Result<String, String> {
            let out = tern_e2e::tern(&paths.tern, &socket, &config_dir, args, stdin)
                .map_err(|e| e.to_string())?;
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            if out.status.success() {
                Ok(text)
            } else {
                Err(format!(
                    "`tern {}` failed ({}):\n{text}",
                    args.join(" "),
                    out.status
                ))
            }
        };

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
        let _gui = match &paths.gui {
            Some(gui) => {
                println!(
                    "    Opening the desktop app ({}) on this display.",
                    gui.display()
                );
                Command::new(gui)
                    .env("TERN_SOCKET", &socket)
                    .env("TERN_CONFIG_DIR", &config_dir)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .process_group(0)
                    .spawn()
                    .map(KillOnDrop)
                    .map_err(|e| println!("    (could not open the desktop app: {e})"))
                    .ok()
            }
            None => {
                println!(
                    "    No display here, so the desktop app stays closed; on a desktop session run\n      \
                     TERN_SOCKET={} TERN_CONFIG_DIR={} cargo run -p tern-gui",
                    socket.display(),
                    config_dir.display()
                );
                None
            }
        };
        println!(
            "\n    Press Ctrl-C (or run `cargo xtask demo --down`) to disconnect and remove the lab."
        );

        // `--once` (the test suite's smoke run of this demo): show it works, then clean up.
        let once = std::env::args().any(|a| a == "--once");
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
        ternd.terminate();
        drop(gateway);
        drop(lab);
        let _ = std::fs::remove_file(PID_FILE);
        println!("==> the lab is gone; nothing is left running");
        Ok(())
    }

    /// A TCP transfer through the tunnel: iperf3 when installed, otherwise nothing is claimed.
    fn transfer(lab: &Lab) -> Result<(), String> {
        if Command::new("iperf3").arg("--version").output().is_err() {
            println!("    (iperf3 is not installed: skipping the transfer)");
            return Ok(());
        }
        let lan_host = addr::LAN_HOST_V4.to_string();
        let server = lab
            .command(Ns::Lan, "iperf3", &["-s", "-1", "-B", &lan_host])
            .map_err(|e| e.to_string())?
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start iperf3 in the LAN namespace: {e}"))?;
        let _server = KillOnDrop(server);
        std::thread::sleep(Duration::from_millis(300));
        println!("    $ iperf3 -c {lan_host} -n 20M   (a 20 MB TCP transfer through the tunnel)");
        let out = lab
            .exec_within(
                Ns::Client,
                &["iperf3", "-c", &lan_host, "-n", "20M", "-f", "m"],
                Duration::from_secs(60),
            )
            .map_err(|e| format!("the transfer failed: {e}"))?;
        for line in out
            .lines()
            .filter(|l| l.contains("sender") || l.contains("receiver"))
        {
            println!("    {}", line.trim());
        }
        Ok(())
    }

    struct KillOnDrop(Child);

    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
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

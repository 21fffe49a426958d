//! `tern-bench`: the benchmark lab behind `cargo xtask bench` (issue 11). A benchmark, never a
//! timed test: it prints numbers and the targets they meet, and fails only when it cannot run.
//!
//! One lab (client ↔ gateway ↔ lan namespaces, 1500-byte veth links, see `tern_e2e::Lab`); every
//! round runs each scenario with `iperf3` (TCP, 1 and 4 streams) from the client namespace to the
//! gateway namespace, rounds interleaved so a slow moment of the machine hits every scenario:
//!
//! - `veth`: plain veth, no tunnel (the ceiling);
//! - `tern-null`, `tern-aes128gcm`, `tern-aes256gcm`, `tern-chacha20poly1305`: two `ternd-lab`
//!   datapaths with manual SAs face each other (TUN MTU as production computes it);
//! - `strongswan`: a strongSwan client ↔ the strongSwan gateway, both `kernel-libipsec`,
//!   AES-128-GCM;
//! - `tern-client`: the real `ternd` + `tern connect --wait` ↔ the same strongSwan gateway.
//!
//! CPU seconds per GB count the processes of the scenario (both iperf3 ends from their own
//! report, and the tunnel daemons from `/proc`), not the whole machine, which other work may
//! share. Ratios are medians of same-round ratios. The summary goes to stdout and, as JSON, to
//! `OUT/summary.json`.
//!
//! Everything it starts lives in the lab's namespaces; the lab (and with it every process in it)
//! is removed on return, on error and after SIGINT/SIGTERM.

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("tern-bench: the lab needs Linux network namespaces");
}

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    bench::main()
}

#[cfg(target_os = "linux")]
mod bench {
    use std::collections::BTreeMap;
    use std::fmt::Write as _;
    use std::io::Read as _;
    use std::path::{Path, PathBuf};
    use std::process::{Child, ExitCode, Stdio};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    use tern_e2e::{Charon, Gateway, Lab, LabConfig, Ns, Ternd, addr, templates};

    const PSK: &str = "a-long-benchmark-secret";
    const PROFILE_NAME: &str = "Bench PSK";
    /// Inner addresses of the two lab datapaths.
    const LAB_CLIENT_INNER: &str = "10.201.0.1/24";
    const LAB_GATEWAY_INNER: &str = "10.201.0.2";
    const LAB_TUN: &str = "tlab0";
    /// Seconds the idle figures of a daemon are sampled over: long enough to take in its
    /// periodic work (NAT keepalives every 20 s), which a few seconds would miss or overcount.
    const IDLE_SECONDS: u64 = 20;
    /// Seconds a daemon is left to settle (after connecting, after load) before it is measured.
    const SETTLE_SECONDS: u64 = 2;
    const STREAMS: [u32; 2] = [1, 4];

    type Result<T> = std::result::Result<T, String>;

    fn err<E: std::fmt::Display>(e: E) -> String {
        e.to_string()
    }

    struct Options {
        ternd_lab: PathBuf,
        ternd: PathBuf,
        tern: PathBuf,
        out: PathBuf,
        seconds: u32,
        rounds: usize,
        only: Option<Vec<String>>,
    }

    fn parse_args() -> Result<Options> {
        let mut args = std::env::args().skip(1);
        let mut options = Options {
            ternd_lab: PathBuf::new(),
            ternd: PathBuf::new(),
            tern: PathBuf::new(),
            out: PathBuf::from("bench"),
            seconds: 10,
            rounds: 3,
            only: None,
        };
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or(format!("{arg} needs a value"));
            match arg.as_str() {
                "--ternd-lab" => options.ternd_lab = value()?.into(),
                "--ternd" => options.ternd = value()?.into(),
                "--tern" => options.tern = value()?.into(),
                "--out" => options.out = value()?.into(),
                "--seconds" => options.seconds = value()?.parse().map_err(err)?,
                "--rounds" => options.rounds = value()?.parse().map_err(err)?,
                "--only" => options.only = Some(value()?.split(',').map(str::to_owned).collect()),
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        for (name, path) in [
            ("--ternd-lab", &options.ternd_lab),
            ("--ternd", &options.ternd),
            ("--tern", &options.tern),
        ] {
            if !path.is_file() {
                return Err(format!("{name} {} is not a file", path.display()));
            }
        }
        Ok(options)
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
    enum Scenario {
        Veth,
        TernNull,
        TernAes128,
        TernAes128NoOffload,
        TernAes256,
        TernChacha,
        StrongSwan,
        TernClient,
    }

    impl Scenario {
        const ALL: [Scenario; 8] = [
            Scenario::Veth,
            Scenario::TernNull,
            Scenario::TernAes128,
            Scenario::TernAes128NoOffload,
            Scenario::TernAes256,
            Scenario::TernChacha,
            Scenario::StrongSwan,
            Scenario::TernClient,
        ];

        fn key(self) -> &'static str {
            match self {
                Scenario::Veth => "veth",
                Scenario::TernNull => "tern-null",
                Scenario::TernAes128 => "tern-aes128gcm",
                Scenario::TernAes128NoOffload => "tern-aes128gcm-no-offload",
                Scenario::TernAes256 => "tern-aes256gcm",
                Scenario::TernChacha => "tern-chacha20poly1305",
                Scenario::StrongSwan => "strongswan",
                Scenario::TernClient => "tern-client",
            }
        }

        fn label(self) -> &'static str {
            match self {
                Scenario::Veth => "plain veth (no tunnel)",
                Scenario::TernNull => "Tern<->Tern null cipher",
                Scenario::TernAes128 => "Tern<->Tern AES-128-GCM",
                Scenario::TernAes128NoOffload => "  same, TERN_OFFLOAD=off",
                Scenario::TernAes256 => "Tern<->Tern AES-256-GCM",
                Scenario::TernChacha => "Tern<->Tern ChaCha20-Poly1305",
                Scenario::StrongSwan => "strongSwan<->strongSwan AES-128-GCM",
                Scenario::TernClient => "Tern client<->strongSwan gw",
            }
        }

        fn lab_suite(self) -> Option<(&'static str, usize)> {
            match self {
                Scenario::TernNull => Some(("null", 0)),
                Scenario::TernAes128 | Scenario::TernAes128NoOffload => Some(("aes128gcm", 20)),
                Scenario::TernAes256 => Some(("aes256gcm", 36)),
                Scenario::TernChacha => Some(("chacha20poly1305", 36)),
                _ => None,
            }
        }
    }

    /// One iperf3 run.
    #[derive(Clone, Copy, Debug, Default)]
    struct Run {
        gbps: f64,
        retransmits: f64,
        cpu_seconds: f64,
        bytes: f64,
        seconds: f64,
    }

    impl Run {
        fn cpu_s_per_gb(&self) -> f64 {
            self.cpu_seconds / (self.bytes / 1e9)
        }

        fn gbps_per_core(&self) -> f64 {
            self.gbps / (self.cpu_seconds / self.seconds)
        }
    }

    /// Figures of a daemon while idle and after load.
    #[derive(Clone, Copy, Debug, Default)]
    struct DaemonFigures {
        idle_rss_kib: f64,
        threads: f64,
        idle_ctxsw_per_s: f64,
        idle_cpu_percent: f64,
        rss_after_load_kib: f64,
    }

    #[derive(Default)]
    struct Results {
        /// (scenario, streams) → one run per round.
        runs: BTreeMap<(Scenario, u32), Vec<Run>>,
        ternd: Vec<DaemonFigures>,
        charon_idle_rss_kib: Vec<f64>,
        tern_connect_s: Vec<f64>,
        swanctl_initiate_s: Vec<f64>,
    }

    pub fn main() -> ExitCode {
        match run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("tern-bench: {message}");
                ExitCode::FAILURE
            }
        }
    }

    fn run() -> Result<()> {
        let options = parse_args()?;
        let mut missing = tern_e2e::missing_prerequisites();
        if std::process::Command::new("iperf3")
            .arg("--version")
            .output()
            .is_err()
        {
            missing.push("the `iperf3` command".into());
        }
        if !missing.is_empty() {
            return Err(format!(
                "cannot build the lab; missing: {}",
                missing.join(", ")
            ));
        }
        let stop = Arc::new(AtomicBool::new(false));
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(signal, Arc::clone(&stop)).map_err(err)?;
        }
        std::fs::create_dir_all(&options.out).map_err(err)?;
        let lab = Lab::new(LabConfig::default()).map_err(err)?;
        println!(
            "==> lab {} ({} s per run, {} rounds, 1 and 4 TCP streams)",
            lab.id(),
            options.seconds,
            options.rounds
        );
        let scenarios: Vec<Scenario> = Scenario::ALL
            .into_iter()
            .filter(|s| {
                options
                    .only
                    .as_ref()
                    .is_none_or(|only| only.iter().any(|o| o == s.key()))
            })
            .collect();
        let mut results = Results::default();
        for round in 0..options.rounds {
            for &scenario in &scenarios {
                if stop.load(Ordering::Relaxed) {
                    return Err("interrupted; the lab is removed".into());
                }
                println!(
                    "==> round {}/{}: {}",
                    round + 1,
                    options.rounds,
                    scenario.label()
                );
                run_scenario(&lab, scenario, &options, &stop, &mut results)
                    .map_err(|e| format!("{}: {e}", scenario.label()))?;
            }
        }
        drop(lab);
        let (table, json) = summarize(&results, &options);
        println!("\n{table}");
        let path = options.out.join("summary.json");
        std::fs::write(&path, json).map_err(err)?;
        println!("JSON summary: {}", path.display());
        Ok(())
    }

    /// A child process killed (SIGTERM, then SIGKILL) and reaped on drop.
    struct Guard(Child);

    impl Guard {
        fn pid(&self) -> u32 {
            self.0.id()
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            if let Ok(pid) = i32::try_from(self.0.id()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.0.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn spawn(lab: &Lab, ns: Ns, program: &str, args: &[&str], log: &Path) -> Result<Guard> {
        spawn_with_env(lab, ns, program, args, log, &[])
    }

    fn spawn_with_env(
        lab: &Lab,
        ns: Ns,
        program: &str,
        args: &[&str],
        log: &Path,
        env: &[(&str, &str)],
    ) -> Result<Guard> {
        let out = std::fs::File::create(log).map_err(err)?;
        let err_out = out.try_clone().map_err(err)?;
        lab.command(ns, program, args)
            .map_err(err)?
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err_out)
            .spawn()
            .map(Guard)
            .map_err(|e| format!("cannot start {program}: {e}"))
    }

    fn random_hex(len: usize) -> Result<String> {
        let mut bytes = vec![0u8; len];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut bytes))
            .map_err(err)?;
        Ok(bytes.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        }))
    }

    fn run_scenario(
        lab: &Lab,
        scenario: Scenario,
        options: &Options,
        stop: &AtomicBool,
        results: &mut Results,
    ) -> Result<()> {
        match scenario {
            Scenario::Veth => {
                let target = addr::GATEWAY_V4.to_string();
                measure(lab, scenario, &target, &[], options, stop, results)
            }
            Scenario::TernNull
            | Scenario::TernAes128
            | Scenario::TernAes128NoOffload
            | Scenario::TernAes256
            | Scenario::TernChacha => tern_lab(lab, scenario, options, stop, results),
            Scenario::StrongSwan => strongswan(lab, options, stop, results),
            Scenario::TernClient => tern_client(lab, options, stop, results),
        }
    }

    /// Two `ternd-lab` datapaths with fresh random keys.
    fn tern_lab(
        lab: &Lab,
        scenario: Scenario,
        options: &Options,
        stop: &AtomicBool,
        results: &mut Results,
    ) -> Result<()> {
        let (suite, key_len) = scenario.lab_suite().ok_or("not a lab scenario")?;
        let (key_a, key_b) = (random_hex(key_len)?, random_hex(key_len)?);
        let client_ip = addr::CLIENT_DIRECT_V4;
        let gateway_ip = addr::GATEWAY_V4;
        let file = |local: std::net::Ipv4Addr,
                    remote: std::net::Ipv4Addr,
                    out: (&str, &str),
                    inb: (&str, &str)| {
            format!(
                "# tern-bench: manual SAs, benchmark only\n\
                 local = {local}:4500\nremote = {remote}:4500\ntun = {LAB_TUN}\nsuite = {suite}\n\
                 out_spi = {}\nout_key = {}\nin_spi = {}\nin_key = {}\n",
                out.0, out.1, inb.0, inb.1
            )
        };
        let dir = lab.dir();
        let binary = options.ternd_lab.to_str().ok_or("path is not UTF-8")?;
        // Each end sends with its own SPI and key and receives with the other's.
        let ends = [
            (
                Ns::Client,
                client_ip,
                gateway_ip,
                ("0x1001", key_a.as_str()),
                ("0x2001", key_b.as_str()),
            ),
            (
                Ns::Gateway,
                gateway_ip,
                client_ip,
                ("0x2001", key_b.as_str()),
                ("0x1001", key_a.as_str()),
            ),
        ];
        let mut daemons = Vec::new();
        for (ns, local, remote, out, inb) in ends {
            let path = dir.join(format!("lab-{}.sa", ns.role()));
            std::fs::write(&path, file(local, remote, out, inb)).map_err(err)?;
            // The packet-at-a-time datapath, for the before/after comparison.
            let env: &[(&str, &str)] = if scenario == Scenario::TernAes128NoOffload {
                &[("TERN_OFFLOAD", "off")]
            } else {
                &[]
            };
            daemons.push(spawn_with_env(
                lab,
                ns,
                binary,
                &[path.to_str().ok_or("path is not UTF-8")?],
                &dir.join(format!("lab-{}.log", ns.role())),
                env,
            )?);
        }
        for ns in [Ns::Client, Ns::Gateway] {
            wait_for(
                || lab.exec(ns, &["ip", "link", "show", LAB_TUN]).is_ok(),
                "the lab TUN device",
            )?;
        }
        lab.exec(
            Ns::Client,
            &["ip", "addr", "add", LAB_CLIENT_INNER, "dev", LAB_TUN],
        )
        .map_err(err)?;
        lab.exec(
            Ns::Gateway,
            &[
                "ip",
                "addr",
                "add",
                &format!("{LAB_GATEWAY_INNER}/24"),
                "dev",
                LAB_TUN,
            ],
        )
        .map_err(err)?;
        lab.exec(
            Ns::Client,
            &["ping", "-c", "1", "-W", "3", LAB_GATEWAY_INNER],
        )
        .map_err(|e| format!("no ping through the lab datapath: {e}"))?;
        measure(
            lab,
            scenario,
            LAB_GATEWAY_INNER,
            &daemons.iter().map(Guard::pid).collect::<Vec<_>>(),
            options,
            stop,
            results,
        )
    }

    /// The gateway of the lab templates, with AES-128-GCM only for ESP.
    fn gateway_config() -> Result<tern_e2e::GatewayConfig> {
        let mut config = templates::gateway_psk(PSK);
        let offered = "esp_proposals = aes256gcm16, aes128gcm16, default";
        if !config.swanctl_conf.contains(offered) {
            return Err("the gateway template changed: cannot restrict ESP to AES-128-GCM".into());
        }
        config.swanctl_conf = config
            .swanctl_conf
            .replace(offered, "esp_proposals = aes128gcm16");
        Ok(config)
    }

    fn strongswan(
        lab: &Lab,
        options: &Options,
        stop: &AtomicBool,
        results: &mut Results,
    ) -> Result<()> {
        let gateway = Gateway::start(lab, gateway_config()?).map_err(err)?;
        let client = Charon::start_in(
            lab,
            Ns::Client,
            templates::strongswan_client_psk(addr::GATEWAY_V4.into(), PSK),
        )
        .map_err(err)?;
        let mut initiate = std::process::Command::new("/usr/sbin/swanctl");
        initiate
            .arg("--initiate")
            .arg("--uri")
            .arg(format!("unix://{}", client.vici_socket().display()))
            .args(["--child", templates::CHILD, "--timeout", "10"])
            .env("STRONGSWAN_CONF", client.dir().join("strongswan.conf"))
            .env("SWANCTL_DIR", client.swanctl_dir());
        let (took, out) = timed(initiate, None)?;
        if !out.status.success() {
            return Err(format!(
                "swanctl --initiate failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        results.swanctl_initiate_s.push(took.as_secs_f64());
        let sa = client
            .wait_for_child_sa(Duration::from_secs(5))
            .map_err(err)?;
        if !sa.encr_alg.to_ascii_uppercase().contains("GCM") || !sa.encr_alg.contains("128") {
            println!("    note: negotiated {}", sa.encr_alg);
        }
        let client_pid = client.pid().ok_or("the client charon is not running")?;
        let gateway_pid = gateway.pid().ok_or("the gateway charon is not running")?;
        std::thread::sleep(Duration::from_secs(SETTLE_SECONDS));
        results
            .charon_idle_rss_kib
            .push(proc_status(client_pid, "VmRSS:").unwrap_or(0.0));
        let target = addr::GATEWAY_LAN_V4.to_string();
        measure(
            lab,
            Scenario::StrongSwan,
            &target,
            &[client_pid, gateway_pid],
            options,
            stop,
            results,
        )
    }

    /// A PSK profile for the gateway, as an Apple configuration profile (the file carries no key
    /// here: `tern connect --password-stdin` gives it).
    fn psk_profile() -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
<key>PayloadContent</key><array><dict>
<key>IKEv2</key><dict>
<key>AuthenticationMethod</key><string>SharedSecret</string>
<key>ChildSecurityAssociationParameters</key><dict>
<key>DiffieHellmanGroup</key><integer>31</integer>
<key>EncryptionAlgorithm</key><string>AES-128-GCM</string>
<key>LifeTimeInMinutes</key><integer>60</integer></dict>
<key>IKESecurityAssociationParameters</key><dict>
<key>DiffieHellmanGroup</key><integer>31</integer>
<key>EncryptionAlgorithm</key><string>AES-256-GCM</string>
<key>IntegrityAlgorithm</key><string>SHA2-256</string>
<key>LifeTimeInMinutes</key><integer>480</integer></dict>
<key>LocalIdentifier</key><string>client@tern.test</string>
<key>RemoteAddress</key><string>{gateway}</string>
<key>RemoteIdentifier</key><string>{gateway_id}</string>
</dict>
<key>PayloadDisplayName</key><string>VPN</string>
<key>PayloadIdentifier</key><string>test.tern.bench.vpn</string>
<key>PayloadType</key><string>com.apple.vpn.managed</string>
<key>PayloadUUID</key><string>6B1D2E43-9C1A-4C55-8E2F-0B7C1A2D3E4F</string>
<key>PayloadVersion</key><integer>1</integer>
<key>UserDefinedName</key><string>{PROFILE_NAME}</string>
<key>VPNType</key><string>IKEv2</string>
</dict></array>
<key>PayloadDisplayName</key><string>Tern bench</string>
<key>PayloadIdentifier</key><string>test.tern.bench</string>
<key>PayloadType</key><string>Configuration</string>
<key>PayloadUUID</key><string>0C3F9A77-1E2B-4D6C-9A8B-7F6E5D4C3B2A</string>
<key>PayloadVersion</key><integer>1</integer>
</dict></plist>
"#,
            gateway = addr::GATEWAY_V4,
            gateway_id = templates::GATEWAY_ID,
        )
    }

    fn tern_client(
        lab: &Lab,
        options: &Options,
        stop: &AtomicBool,
        results: &mut Results,
    ) -> Result<()> {
        let gateway = Gateway::start(lab, gateway_config()?).map_err(err)?;
        let run_dir = lab.dir().join(format!("ternd-{}", results.ternd.len()));
        let ternd = Ternd::start(lab, &options.ternd, &run_dir).map_err(err)?;
        let config_dir = run_dir.join("config");
        let tern = |args: &[&str], stdin: Option<&str>| -> Result<String> {
            let out = tern_e2e::tern(&options.tern, ternd.socket(), &config_dir, args, stdin)
                .map_err(err)?;
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            if out.status.success() {
                Ok(text)
            } else {
                Err(format!(
                    "`tern {}` failed: {text}\n{}",
                    args.join(" "),
                    ternd.log()
                ))
            }
        };
        let profile = run_dir.join("bench.mobileconfig");
        std::fs::write(&profile, psk_profile()).map_err(err)?;
        tern(
            &[
                "import",
                profile.to_str().ok_or("path is not UTF-8")?,
                "--yes",
            ],
            None,
        )?;
        let mut connect = std::process::Command::new(&options.tern);
        connect
            .args(["connect", PROFILE_NAME, "--password-stdin", "--wait"])
            .args(["--timeout", "20"])
            .env("TERN_SOCKET", ternd.socket())
            .env("TERN_CONFIG_DIR", &config_dir)
            .env("TERN_KEYRING", "off");
        let (took, out) = timed(connect, Some(PSK))?;
        if !out.status.success() {
            return Err(format!(
                "`tern connect` failed: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                ternd.log()
            ));
        }
        results.tern_connect_s.push(took.as_secs_f64());
        let pid = ternd_pid(lab)?;
        std::thread::sleep(Duration::from_secs(SETTLE_SECONDS));
        let mut figures = idle_figures(pid)?;
        let target = addr::GATEWAY_LAN_V4.to_string();
        let daemons = [pid, gateway.pid().ok_or("the gateway is not running")?];
        measure(
            lab,
            Scenario::TernClient,
            &target,
            &daemons,
            options,
            stop,
            results,
        )?;
        std::thread::sleep(Duration::from_secs(SETTLE_SECONDS));
        figures.rss_after_load_kib = proc_status(pid, "VmRSS:").unwrap_or(0.0);
        results.ternd.push(figures);
        let _ = tern(&["disconnect"], None);
        Ok(())
    }

    /// Runs `command` (with `stdin` as its input) to its end; returns the time from spawning
    /// it to its exit. A blocking wait, for both connect timings alike: the lab's command
    /// runner polls with pauses of up to 20 ms, which would round a 30 ms connect up.
    fn timed(
        mut command: std::process::Command,
        stdin: Option<&str>,
    ) -> Result<(Duration, std::process::Output)> {
        use std::io::Write as _;
        command
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = command.spawn().map_err(err)?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(format!("{text}\n").as_bytes())
                .map_err(err)?;
        }
        let out = child.wait_with_output().map_err(err)?;
        Ok((started.elapsed(), out))
    }

    /// The pid of the `ternd` in the client namespace (started by `Ternd`, which hides it).
    fn ternd_pid(lab: &Lab) -> Result<u32> {
        let output = std::process::Command::new("ip")
            .args(["netns", "pids", lab.ns_name(Ns::Client).map_err(err)?])
            .output()
            .map_err(err)?;
        String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
            .find(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|comm| comm.trim() == "ternd")
            })
            .ok_or_else(|| "ternd is not running in the client namespace".into())
    }

    /// A field of `/proc/PID/status` (kB values as KiB, counts as is).
    fn proc_status(pid: u32, field: &str) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    }

    /// Context switches of all threads of `pid`.
    fn context_switches(pid: u32) -> f64 {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return 0.0;
        };
        tasks
            .flatten()
            .filter_map(|task| std::fs::read_to_string(task.path().join("status")).ok())
            .map(|status| {
                status
                    .lines()
                    .filter(|l| l.contains("ctxt_switches:"))
                    .filter_map(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
                    .sum::<f64>()
            })
            .sum()
    }

    /// User plus system CPU seconds of `pid` (all threads).
    fn cpu_seconds(pid: u32) -> f64 {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return 0.0;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return 0.0;
        };
        // Fields after the command: state is field 3; utime and stime are fields 14 and 15.
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // USER_HZ is 100 on Linux for every architecture this runs on.
        (ticks(11) + ticks(12)) / 100.0
    }

    fn idle_figures(pid: u32) -> Result<DaemonFigures> {
        let rss = proc_status(pid, "VmRSS:").ok_or("cannot read ternd's status")?;
        let threads = proc_status(pid, "Threads:").unwrap_or(0.0);
        let (switches, cpu) = (context_switches(pid), cpu_seconds(pid));
        std::thread::sleep(Duration::from_secs(IDLE_SECONDS));
        let seconds = IDLE_SECONDS as f64;
        Ok(DaemonFigures {
            idle_rss_kib: rss,
            threads,
            idle_ctxsw_per_s: (context_switches(pid) - switches) / seconds,
            idle_cpu_percent: (cpu_seconds(pid) - cpu) / seconds * 100.0,
            rss_after_load_kib: 0.0,
        })
    }

    fn wait_for(mut ready: impl FnMut() -> bool, what: &str) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ready() {
            if Instant::now() > deadline {
                return Err(format!("{what} did not come up within 10 s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// iperf3 from the client namespace to `target` in the gateway namespace, 1 and 4 streams.
    fn measure(
        lab: &Lab,
        scenario: Scenario,
        target: &str,
        daemons: &[u32],
        options: &Options,
        stop: &AtomicBool,
        results: &mut Results,
    ) -> Result<()> {
        let server = spawn(
            lab,
            Ns::Gateway,
            "iperf3",
            &["-s"],
            &lab.dir().join("iperf3-server.log"),
        )?;
        // The server listens within milliseconds; a refused first try is retried below.
        std::thread::sleep(Duration::from_millis(300));
        for streams in STREAMS {
            if stop.load(Ordering::Relaxed) {
                return Err("interrupted".into());
            }
            let before: f64 = daemons.iter().map(|&p| cpu_seconds(p)).sum();
            let seconds = options.seconds.to_string();
            let parallel = streams.to_string();
            let argv = [
                "iperf3", "-c", target, "-t", &seconds, "-P", &parallel, "-J", "-O", "1",
            ];
            let mut output = lab.exec_output(Ns::Client, &argv).map_err(err)?;
            if !output.status.success() {
                std::thread::sleep(Duration::from_millis(500));
                output = lab.exec_output(Ns::Client, &argv).map_err(err)?;
            }
            let after: f64 = daemons.iter().map(|&p| cpu_seconds(p)).sum();
            let json = String::from_utf8_lossy(&output.stdout);
            if !output.status.success() {
                return Err(format!(
                    "iperf3 failed: {}{}",
                    json,
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
            let run = parse_iperf(&json, after - before)
                .ok_or_else(|| format!("cannot read iperf3's report: {json}"))?;
            println!(
                "    {streams} stream(s): {:6.2} Gbit/s, {:5.1} CPU s/GB, {} retransmits",
                run.gbps,
                run.cpu_s_per_gb(),
                run.retransmits
            );
            results
                .runs
                .entry((scenario, streams))
                .or_default()
                .push(run);
        }
        drop(server);
        Ok(())
    }

    /// The number after `"key":` at or after `from` in `text`.
    fn number_after(text: &str, from: usize, key: &str) -> Option<f64> {
        let needle = format!("\"{key}\":");
        let at = text.get(from..)?.find(&needle)? + from + needle.len();
        let rest = text.get(at..)?.trim_start();
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
            .unwrap_or(rest.len());
        rest[..end].parse().ok()
    }

    /// Throughput, retransmits and CPU from `iperf3 -J`, plus `daemon_cpu` seconds.
    fn parse_iperf(json: &str, daemon_cpu: f64) -> Option<Run> {
        // The totals are the last of their names (the per-interval sums come first).
        let sent = json.rfind("\"sum_sent\":")?;
        let received = json.rfind("\"sum_received\":")?;
        let cpu = json.rfind("\"cpu_utilization_percent\":")?;
        let seconds = number_after(json, received, "seconds")?;
        let bytes = number_after(json, received, "bytes")?;
        let bits = number_after(json, received, "bits_per_second")?;
        let retransmits = number_after(json, sent, "retransmits").unwrap_or(0.0);
        let host = number_after(json, cpu, "host_total")?;
        let remote = number_after(json, cpu, "remote_total")?;
        Some(Run {
            gbps: bits / 1e9,
            retransmits,
            cpu_seconds: (host + remote) / 100.0 * seconds + daemon_cpu,
            bytes,
            seconds,
        })
    }

    fn median(mut values: Vec<f64>) -> Option<f64> {
        values.retain(|v| v.is_finite());
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let mid = values.len() / 2;
        Some(if values.len().is_multiple_of(2) {
            f64::midpoint(values[mid - 1], values[mid])
        } else {
            values[mid]
        })
    }

    /// Median over rounds of `f(a_round) / f(b_round)`.
    fn round_ratio(
        results: &Results,
        a: Scenario,
        b: Scenario,
        streams: u32,
        f: impl Fn(&Run) -> f64,
    ) -> Option<f64> {
        let a = results.runs.get(&(a, streams))?;
        let b = results.runs.get(&(b, streams))?;
        median(a.iter().zip(b).map(|(x, y)| f(x) / f(y)).collect())
    }

    fn json_number(value: Option<f64>) -> String {
        value
            .filter(|v| v.is_finite())
            .map_or("null".into(), |v| format!("{v:.4}"))
    }

    fn summarize(results: &Results, options: &Options) -> (String, String) {
        use Scenario::{StrongSwan, TernAes128, TernChacha, TernNull, Veth};
        let mut table = String::new();
        let _ = writeln!(
            table,
            "{:<38} {:>3} {:>8} {:>9} {:>10} {:>8}",
            "scenario (medians)", "P", "Gbit/s", "CPU s/GB", "Gb/s/core", "retrans"
        );
        let mut scenarios_json = Vec::new();
        for ((scenario, streams), runs) in &results.runs {
            let m = |f: fn(&Run) -> f64| median(runs.iter().map(f).collect());
            let (gbps, cpu, per_core, retrans) = (
                m(|r| r.gbps),
                m(Run::cpu_s_per_gb),
                m(Run::gbps_per_core),
                m(|r| r.retransmits),
            );
            let _ = writeln!(
                table,
                "{:<38} {:>3} {:>8.2} {:>9.1} {:>10.2} {:>8.0}",
                scenario.label(),
                streams,
                gbps.unwrap_or(f64::NAN),
                cpu.unwrap_or(f64::NAN),
                per_core.unwrap_or(f64::NAN),
                retrans.unwrap_or(f64::NAN)
            );
            scenarios_json.push(format!(
                "    {{\"scenario\": \"{}\", \"streams\": {streams}, \"gbit_per_s\": {}, \
                 \"cpu_s_per_gb\": {}, \"gbit_per_s_per_core\": {}, \"retransmits\": {}, \
                 \"rounds\": {}}}",
                scenario.key(),
                json_number(gbps),
                json_number(cpu),
                json_number(per_core),
                json_number(retrans),
                runs.len()
            ));
        }
        let ternd = |f: fn(&DaemonFigures) -> f64| median(results.ternd.iter().map(f).collect());
        let idle_rss = ternd(|d| d.idle_rss_kib);
        let after_rss = ternd(|d| d.rss_after_load_kib);
        let charon_rss = median(results.charon_idle_rss_kib.clone());
        let connect = median(results.tern_connect_s.clone());
        let swanctl = median(results.swanctl_initiate_s.clone());
        let ratio = |a: Option<f64>, b: Option<f64>| Some(a? / b?);
        let gbps = |r: &Run| r.gbps;
        // (field, value, target, higher is better)
        let targets_for = |streams: u32| {
            vec![
                (
                    "aes128gcm_vs_null",
                    round_ratio(results, TernAes128, TernNull, streams, gbps),
                    0.80,
                    true,
                ),
                (
                    "aes128gcm_vs_veth",
                    round_ratio(results, TernAes128, Veth, streams, gbps),
                    0.45,
                    true,
                ),
                (
                    "tern_vs_strongswan",
                    round_ratio(results, TernAes128, StrongSwan, streams, gbps),
                    8.0,
                    true,
                ),
                (
                    "per_core_vs_strongswan",
                    round_ratio(results, TernAes128, StrongSwan, streams, Run::gbps_per_core),
                    10.0,
                    true,
                ),
                (
                    "chacha_vs_aes128gcm",
                    round_ratio(results, TernChacha, TernAes128, streams, gbps),
                    0.55,
                    true,
                ),
                (
                    "retransmits_vs_strongswan",
                    round_ratio(results, TernAes128, StrongSwan, streams, |r| {
                        r.retransmits.max(1.0)
                    }),
                    0.01,
                    false,
                ),
            ]
        };
        let daemon_targets = vec![
            (
                "idle_rss_vs_charon",
                ratio(idle_rss, charon_rss),
                0.6,
                false,
            ),
            ("rss_load_vs_idle", ratio(after_rss, idle_rss), 1.25, false),
            (
                "idle_ctxsw_per_s",
                ternd(|d| d.idle_ctxsw_per_s),
                1.0,
                false,
            ),
            ("connect_vs_swanctl", ratio(connect, swanctl), 0.5, false),
        ];
        let verdict = |value: Option<f64>, target: f64, higher: bool| match value {
            None => "not measured",
            Some(v) if (higher && v >= target) || (!higher && v <= target) => "met",
            Some(_) => "NOT met",
        };
        let _ = writeln!(
            table,
            "\noffloads on / off (AES-128-GCM, 1 stream): {:.2}",
            round_ratio(results, TernAes128, Scenario::TernAes128NoOffload, 1, gbps)
                .unwrap_or(f64::NAN)
        );
        let _ = writeln!(table, "\ntargets (1 stream; 4 streams in brackets)");
        let four = targets_for(4);
        for (i, (name, value, target, higher)) in targets_for(1).into_iter().enumerate() {
            let other = four.get(i).and_then(|t| t.1);
            let _ = writeln!(
                table,
                "  {name:<27} {:>8.3} [{:>8.3}]  {} {target:<5} {} [{}]",
                value.unwrap_or(f64::NAN),
                other.unwrap_or(f64::NAN),
                if higher { ">=" } else { "<=" },
                verdict(value, target, higher),
                verdict(other, target, higher),
            );
        }
        for (name, value, target, higher) in &daemon_targets {
            let _ = writeln!(
                table,
                "  {name:<27} {:>8.3}             {} {target:<5} {}",
                value.unwrap_or(f64::NAN),
                if *higher { ">=" } else { "<=" },
                verdict(*value, *target, *higher),
            );
        }
        let _ = writeln!(
            table,
            "\nternd idle: RSS {:.0} KiB (charon client {:.0} KiB), {:.0} threads, {:.2} ctx switches/s, \
             {:.2}% CPU; RSS after load {:.0} KiB\nconnect: tern connect --wait {:.3} s, swanctl --initiate {:.3} s",
            idle_rss.unwrap_or(f64::NAN),
            charon_rss.unwrap_or(f64::NAN),
            ternd(|d| d.threads).unwrap_or(f64::NAN),
            ternd(|d| d.idle_ctxsw_per_s).unwrap_or(f64::NAN),
            ternd(|d| d.idle_cpu_percent).unwrap_or(f64::NAN),
            after_rss.unwrap_or(f64::NAN),
            connect.unwrap_or(f64::NAN),
            swanctl.unwrap_or(f64::NAN),
        );

        let mut json = String::from("{\n");
        for (name, value, _, _) in targets_for(1).iter().chain(&daemon_targets) {
            let _ = writeln!(json, "  \"{name}\": {},", json_number(*value));
        }
        let _ = writeln!(
            json,
            "  \"offload_speedup\": {},",
            json_number(round_ratio(
                results,
                TernAes128,
                Scenario::TernAes128NoOffload,
                1,
                gbps
            ))
        );
        json.push_str("  \"four_streams\": {");
        let four_fields: Vec<String> = four
            .iter()
            .map(|(name, value, _, _)| format!("\"{name}\": {}", json_number(*value)))
            .collect();
        json.push_str(&four_fields.join(", "));
        json.push_str("},\n");
        let _ = writeln!(
            json,
            "  \"ternd\": {{\"idle_rss_kib\": {}, \"rss_after_load_kib\": {}, \"threads\": {}, \
             \"idle_ctxsw_per_s\": {}, \"idle_cpu_percent\": {}}},",
            json_number(idle_rss),
            json_number(after_rss),
            json_number(ternd(|d| d.threads)),
            json_number(ternd(|d| d.idle_ctxsw_per_s)),
            json_number(ternd(|d| d.idle_cpu_percent)),
        );
        let _ = writeln!(
            json,
            "  \"charon_client_idle_rss_kib\": {},\n  \"tern_connect_s\": {},\n  \
             \"swanctl_initiate_s\": {},\n  \"seconds_per_run\": {},\n  \"rounds\": {},",
            json_number(charon_rss),
            json_number(connect),
            json_number(swanctl),
            options.seconds,
            options.rounds
        );
        json.push_str("  \"scenarios\": [\n");
        json.push_str(&scenarios_json.join(",\n"));
        json.push_str("\n  ]\n}\n");
        (table, json)
    }
}

//! `ternd`, Tern's privileged helper: owns the TUN device, the UDP sockets, the IKE session, the
//! ESP datapath, and the routes and DNS changes it always restores.
//!
//! Room and rules:
//! - The only crate that does I/O for the tunnel; per-OS code lives only under
//!   `src/platform/{linux,windows,macos}/`.
//! - Trusts nothing from its IPC clients: validates every request and profile.
//! - Journals every system change before making it, and undoes it on disconnect, shutdown and
//!   start-up after a crash.
//!
//! Start-up: logging (journald under systemd, else stderr; plus the in-memory ring served over
//! IPC), `recover()` of a crashed run's changes, the IPC socket, systemd readiness. SIGTERM and
//! SIGINT take the tunnel down, restore the system, remove the socket and exit 0.

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    linux::main()
}

#[cfg(not(target_os = "linux"))]
fn main() -> std::process::ExitCode {
    eprintln!("ternd: this platform is not supported yet");
    std::process::ExitCode::FAILURE
}

#[cfg(target_os = "linux")]
mod linux {
    use std::path::PathBuf;
    use std::process::ExitCode;
    use std::sync::Arc;

    use clap::{Parser, ValueEnum};
    use ipc::LogLevel;
    use ternd::controller::platform::SystemPlatform;
    use ternd::controller::{Controller, ControllerConfig, LogLevelSetter};
    use ternd::ipc_server::{IpcServer, ServerConfig, Service};
    use ternd::logbuf::{DEFAULT_CAPACITY, LogBuffer};
    use ternd::platform::NetworkConfigurator;
    use ternd::platform::linux::{DnsBackend, LinuxConfig, LinuxConfigurator};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer, reload};

    /// How DNS is changed while connected.
    #[derive(Clone, Copy, Debug, ValueEnum)]
    enum DnsChoice {
        /// systemd-resolved when resolv.conf points at it, else resolv.conf.
        Auto,
        /// Always systemd-resolved.
        Resolved,
        /// Always rewrite resolv.conf.
        ResolvConf,
        /// Never touch DNS.
        None,
    }

    /// Tern's privileged helper.
    #[derive(Debug, Parser)]
    #[command(name = "ternd", version, about)]
    struct Args {
        /// Stay in the foreground (ternd never daemonizes itself; kept for service files).
        #[arg(long)]
        foreground: bool,
        /// The IPC socket.
        #[arg(long, env = ipc::SOCKET_ENV, default_value = "/run/tern/ternd.sock")]
        socket: PathBuf,
        /// Where the change journal lives (must survive reboots).
        #[arg(long, default_value = "/var/lib/tern")]
        state_dir: PathBuf,
        /// Runtime directory.
        #[arg(long, default_value = "/run/tern")]
        runtime_dir: PathBuf,
        /// The resolv.conf rewritten when systemd-resolved is not used.
        #[arg(long, default_value = "/etc/resolv.conf")]
        resolv_conf: PathBuf,
        /// How DNS is changed while connected.
        #[arg(long, value_enum, default_value = "auto")]
        dns_backend: DnsChoice,
        /// Members of this group may use the helper besides root.
        #[arg(long, default_value = "tern")]
        allowed_group: String,
        /// Log level (error, warn, info, debug, trace) or a tracing filter.
        #[arg(long, default_value = "info")]
        log_level: String,
        /// Tests only: rekey CHILD_SAs every this many seconds, whatever the profile says.
        #[arg(long, hide = true)]
        test_child_rekey_secs: Option<u64>,
        /// Tests only: rekey the IKE SA every this many seconds, whatever the profile says.
        #[arg(long, hide = true)]
        test_ike_rekey_secs: Option<u64>,
        /// Tests only: send a liveness check after this many seconds of silence.
        #[arg(long, hide = true)]
        test_dpd_secs: Option<u64>,
        /// A liveness check unanswered this many seconds means the gateway is dead.
        #[arg(long, default_value_t = 30)]
        dpd_timeout_secs: u64,
    }

    fn controller_config(args: &Args) -> ControllerConfig {
        let secs = |s: Option<u64>| s.map(std::time::Duration::from_secs);
        ControllerConfig {
            dpd_timeout: std::time::Duration::from_secs(args.dpd_timeout_secs),
            timer_overrides: ternd::controller::TimerOverrides {
                child_rekey: secs(args.test_child_rekey_secs),
                ike_rekey: secs(args.test_ike_rekey_secs),
                dpd_interval: secs(args.test_dpd_secs),
            },
            ..ControllerConfig::default()
        }
    }

    pub(super) fn main() -> ExitCode {
        let args = Args::parse();
        let logs = LogBuffer::new(DEFAULT_CAPACITY);
        let setter = match init_logging(&args.log_level, &logs) {
            Ok(setter) => setter,
            Err(error) => {
                eprintln!("ternd: {error}");
                return ExitCode::FAILURE;
            }
        };
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(error) => {
                tracing::error!(%error, "cannot start the async runtime");
                return ExitCode::FAILURE;
            }
        };
        runtime.block_on(run(args, logs, setter))
    }

    fn level_filter(level: LogLevel) -> &'static str {
        match level {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }

    fn init_logging(level: &str, logs: &LogBuffer) -> Result<LogLevelSetter, String> {
        let filter = EnvFilter::try_new(level).map_err(|e| format!("bad --log-level: {e}"))?;
        let (filter, handle) = reload::Layer::new(filter);
        // journald when systemd started us with its journal on stdout/stderr.
        let journald = std::env::var_os("JOURNAL_STREAM")
            .and_then(|_| tracing_journald::layer().ok())
            .map(|l| l.with_syslog_identifier("ternd".into()));
        let stderr = journald.is_none().then(|| {
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(false)
        });
        tracing_subscriber::registry()
            .with(
                journald
                    .map(Layer::boxed)
                    .or(stderr.map(Layer::boxed))
                    .with_filter(filter),
            )
            .with(logs.layer())
            .try_init()
            .map_err(|e| format!("cannot set up logging: {e}"))?;
        Ok(Arc::new(move |level: LogLevel| {
            let filter = EnvFilter::try_new(level_filter(level)).map_err(|e| e.to_string())?;
            handle.reload(filter).map_err(|e| e.to_string())
        }))
    }

    async fn run(args: Args, logs: LogBuffer, setter: LogLevelSetter) -> ExitCode {
        if !args.foreground {
            tracing::debug!("ternd always runs in the foreground");
        }
        let dns_backend = match args.dns_backend {
            DnsChoice::Auto => DnsBackend::Auto,
            DnsChoice::Resolved => DnsBackend::SystemdResolved,
            DnsChoice::ResolvConf => DnsBackend::ResolvConf,
            DnsChoice::None => DnsBackend::Disabled,
        };
        for dir in [&args.runtime_dir, &args.state_dir] {
            if let Err(error) = std::fs::create_dir_all(dir) {
                tracing::error!(%error, dir = %dir.display(), "cannot create a directory");
                return ExitCode::FAILURE;
            }
        }
        if let Err(error) = std::fs::create_dir_all(&args.state_dir) {
            tracing::error!(%error, dir = %args.state_dir.display(), "cannot create the state directory");
            return ExitCode::FAILURE;
        }
        let mut network = LinuxConfigurator::new(LinuxConfig {
            state_dir: args.state_dir.clone(),
            resolv_conf: args.resolv_conf.clone(),
            dns_backend,
            ..LinuxConfig::default()
        });
        match network.recover().await {
            Ok(report) if report.undone > 0 => {
                tracing::warn!(
                    undone = report.undone,
                    "restored what a previous run left behind"
                );
            }
            Ok(_) => {}
            // Keep going: the journal keeps what is left, and the next restore retries it.
            Err(error) => tracing::error!(%error, "could not undo everything a previous run left"),
        }
        let socket_path = args.socket.clone();
        let server = match IpcServer::bind(ServerConfig {
            socket_path: socket_path.clone(),
            allowed_group: Some(args.allowed_group.clone()),
        }) {
            Ok(server) => server,
            Err(error) => {
                tracing::error!(%error, "cannot listen for clients");
                return ExitCode::FAILURE;
            }
        };
        let (controller, task) = Controller::spawn(
            SystemPlatform::new(network),
            controller_config(&args),
            Some(setter),
        );
        let service: Arc<dyn Service> = controller.clone();
        let serving = tokio::spawn(server.serve(service, logs));
        notify_systemd("READY=1");
        tracing::info!(version = env!("CARGO_PKG_VERSION"), "ternd ready");

        let signal = wait_for_signal().await;
        tracing::info!(signal, "shutting down");
        notify_systemd("STOPPING=1");
        serving.abort();
        controller.shutdown().await;
        let _ = task.await;
        if let Err(error) = std::fs::remove_file(&socket_path) {
            tracing::debug!(%error, "socket already gone");
        }
        tracing::info!("stopped");
        ExitCode::SUCCESS
    }

    async fn wait_for_signal() -> &'static str {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("cannot watch for signals; stopping on ctrl-c only");
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        };
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    }

    /// `sd_notify(3)`: a datagram to `$NOTIFY_SOCKET`, if systemd gave us one.
    fn notify_systemd(state: &str) {
        let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
            return;
        };
        let socket = match std::os::unix::net::UnixDatagram::unbound() {
            Ok(socket) => socket,
            Err(error) => return tracing::warn!(%error, "cannot notify systemd"),
        };
        let bytes = path.as_encoded_bytes();
        let result = if let Some(name) = bytes.strip_prefix(b"@") {
            // An abstract socket.
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(name)
                .and_then(|addr| socket.send_to_addr(state.as_bytes(), &addr))
        } else {
            socket.send_to(state.as_bytes(), &path)
        };
        if let Err(error) = result {
            tracing::warn!(%error, "cannot notify systemd");
        }
    }
}

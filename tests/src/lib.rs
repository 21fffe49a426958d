//! End-to-end tests: Tern against a real strongSwan gateway, in network namespaces this crate
//! creates and always removes.
//!
//! Room and rules:
//! - Traffic only inside namespaces the tests create, or on loopback.
//! - Tests that need root or strongSwan skip loudly, never silently pass, when run without them
//!   outside `cargo xtask test` (see [`should_run`]); with `TERN_E2E=require` they fail instead.
//!
//! The pieces:
//! - [`Lab`]: network namespaces `client ↔ [router (NAT)] ↔ gateway ↔ lan`, veth links,
//!   addresses ([`addr`]), a configurable outer MTU; [`Lab::run_in`] runs Rust code (real UDP
//!   sockets) inside a namespace, [`Lab::exec`] runs a command there.
//! - [`Charon`] (alias [`Gateway`]): a strongSwan `charon` with `kernel-libipsec` in one of the
//!   namespaces, its own mount namespace, config, credentials, vici socket and log.
//! - [`pki`]: a throw-away CA and certificates for the gateway.
//! - [`templates`]: ready-made gateway (PSK, EAP-MSCHAPv2 + certificate) and reference-client
//!   configurations, and the profile files a provider would hand out (`.mobileconfig`, `.sswan`).
//! - [`Ternd`] and [`TernCli`]: the real helper in the client namespace and the real CLI
//!   against it; [`NetworkSnapshot`] proves a disconnect restored the client's network and DNS.
//! - [`traffic`]: pings and an iperf3 transfer through the tunnel; [`summary`]: the interop
//!   matrix's per-row records.
//! - [`ike_client`]: Tern's `ike::Initiator` over real sockets until its CHILD_SA carries a ping.
//!
//! The suites (`tests/tests/`): `interop.rs` is the acceptance matrix — one row per gateway
//! setup, each driven through the real `tern` CLI and `ternd` (import, connect, ping, iperf3,
//! status, disconnect, everything restored); its rows record `target/interop/rows/*.json`, which
//! `cargo xtask test` merges into `summary.json` and a table. `cli_e2e.rs` checks the CLI beyond
//! the rows, `demo.rs` runs `cargo xtask demo` once, `lab_selftest.rs` proves the lab itself
//! (strongSwan on both ends, cleanup on drop and on Ctrl-C), and the `ike_*` suites drive the IKE
//! core directly. Tests that run `ternd`/`tern` find them through [`Binaries::for_test`].
//!
//! What the strongSwan side does here (5.9.8, `kernel-libipsec`), so tests expect it:
//! - ESP is always UDP-encapsulated and IKE floats to port 4500 after IKE_SA_INIT: charon fakes
//!   its NAT detection hash, so both sides see "NAT" even on a direct link
//!   ([`IkeSaInfo::nat_remote`] is always true).
//! - A strongSwan *client* puts its virtual IP on its TUN device `ipsec0` (MTU 1400) and routes
//!   the remote traffic selectors through it in table 220 with that source address; the gateway
//!   routes each client's virtual IP through its own `ipsec0` the same way.
//! - With certificates of about RSA-3072 size, the gateway fragments IKE_AUTH (RFC 7383) into
//!   pieces of at most 1280 bytes of IP packet (`charon.fragment_size`; lower it through
//!   [`CharonConfig::charon_settings`] for links below 1280).
//! - A client without `local.id` uses its IP address as identity; `remote.id = %any` on the
//!   gateway accepts that. charon announces its other addresses (MOBIKE `ADDITIONAL_*_ADDRESS`),
//!   IPv6 ones included.
//!
//! A whole test (Tern's client would replace the `run_in` part):
//!
//! ```no_run
//! use std::net::UdpSocket;
//! use std::time::Duration;
//! use tern_e2e::{Gateway, Lab, LabConfig, Ns, addr, templates};
//!
//! if !tern_e2e::should_run("my_test") {
//!     return;
//! }
//! let lab = Lab::new(LabConfig { nat: true, ..LabConfig::default() }).unwrap();
//! let gateway = Gateway::start(&lab, templates::gateway_psk("a-long-test-secret")).unwrap();
//! let socket = lab.run_in(Ns::Client, || UdpSocket::bind("0.0.0.0:0")).unwrap().unwrap();
//! socket.connect((addr::GATEWAY_V4, 500)).unwrap();
//! // … drive Tern's IKE core over `socket` (any thread) …
//! let sa = gateway.wait_for_child_sa(Duration::from_secs(10)).unwrap();
//! assert_eq!(sa.remote_host, addr::CLIENT_SEEN_BY_GATEWAY_V4.to_string());
//! // On failure (panic), the gateway's log is printed when `gateway` drops; the lab then
//! // removes its namespaces and processes.
//! ```

#![cfg(target_os = "linux")]

mod charon;
mod cli;
mod cmd;
pub mod esp_probe;
pub mod ike_client;
mod lab;
pub mod pki;
mod prereq;
mod snapshot;
pub mod summary;
pub mod templates;
mod ternd;
pub mod traffic;

use std::io;
use std::path::PathBuf;

pub use charon::{
    Charon, CharonConfig, ChildSaInfo, Gateway, GatewayConfig, IkeSaInfo, parse_ike_sas,
    parse_list_sas,
};
pub use cli::{LabTernCli, bin_dir};
pub use lab::{Lab, LabConfig, Ns, addr, set_signal_cleanup, sweep_stale};
pub use prereq::{INSTALL_HINT, missing_prerequisites, should_run};
pub use snapshot::NetworkSnapshot;
pub use ternd::{BIN_DIR_ENV, Binaries, LAB_RESOLV_CONF, TernCli, Ternd, tern};

/// Everything that can go wrong while building or driving the lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A command could not be started at all (missing binary, no permission).
    #[error("could not run `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// Why it could not start.
        #[source]
        source: io::Error,
    },
    /// A command ran and failed.
    #[error("`{command}` failed ({status})\nstderr: {stderr}\nstdout: {stdout}")]
    CommandFailed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// Its standard output (trimmed).
        stdout: String,
        /// Its standard error (trimmed).
        stderr: String,
    },
    /// A file or directory of the lab could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done ("writing", "creating directory" …).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Entering a network namespace failed.
    #[error("entering network namespace {namespace}: {source}")]
    Setns {
        /// The namespace name.
        namespace: String,
        /// The OS error.
        #[source]
        source: nix::Error,
    },
    /// Something did not happen in time.
    #[error("timed out after {seconds:.1} s waiting for {what}{details}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long we waited.
        seconds: f64,
        /// Extra context (for example the last `swanctl --list-sas` output).
        details: String,
    },
    /// A charon process exited while it should be running.
    #[error("charon in {namespace} exited ({status}); its log:\n{log}")]
    CharonExited {
        /// The namespace it ran in.
        namespace: String,
        /// Its exit status.
        status: String,
        /// The end of its log and standard error.
        log: String,
    },
    /// The caller asked for something this lab cannot give (a namespace it has not got, a bad path).
    #[error("invalid lab request: {0}")]
    Invalid(String),
    /// Certificate generation failed.
    #[error("certificate generation: {0}")]
    Certificate(#[from] rcgen::Error),
}

/// Shorthand for results of this crate.
pub type Result<T, E = LabError> = std::result::Result<T, E>;

/// Wraps an I/O error with the action and path.
pub(crate) fn io_err(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(io::Error) -> LabError {
    let path = path.into();
    move |source| LabError::Io {
        action,
        path,
        source,
    }
}

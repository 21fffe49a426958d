//! The OS layer the connection controller drives: a TUN device to read and write IP packets, and a
//! network configurator that points addresses, routes, policy rules and DNS at it and takes them
//! back.
//!
//! Room and rules:
//! - This module holds the platform-neutral vocabulary ([`TunnelNetworkPlan`], [`Applied`],
//!   [`PlatformError`]) and the two traits ([`TunDevice`], [`NetworkConfigurator`]); each OS
//!   implements them in its own submodule (`linux` today; `windows` and `macos` later).
//! - The controller says *what* the tunnel needs (addresses, which traffic, which DNS); the
//!   per-OS code decides *how* (policy routing on Linux, interface metrics on Windows, …), the way
//!   mullvad's `talpid-routing` / `talpid-dns` split it.
//! - Every change is journaled before it is made ([`journal`]); `restore` undoes the journal on
//!   disconnect and `recover` undoes whatever a crashed run left behind.
//! - [`fake`] has in-memory implementations for the controller's tests.

pub mod batch;
pub mod fake;
pub mod journal;
#[cfg(target_os = "linux")]
pub mod linux;

/// This OS's network configurator.
#[cfg(target_os = "linux")]
pub type SystemNetwork = linux::LinuxConfigurator;
/// This OS's TUN device.
#[cfg(target_os = "linux")]
pub type SystemTun = linux::LinuxTun;

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;

use ipsec_types::{IpPrefix, TrafficSelector};
use serde::{Deserialize, Serialize};

/// The TUN device the plan points traffic at, as the OS knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelInterface {
    /// Interface name (`tern0`).
    pub name: String,
    /// Kernel interface index.
    pub index: u32,
}

/// One address assigned to the tunnel interface: the virtual IP the gateway handed out
/// (IKEv2 `INTERNAL_IP4_ADDRESS` / `INTERNAL_IP6_ADDRESS`) with its prefix length.
///
/// Unlike [`IpPrefix`] the host bits are kept: `10.9.0.2/24` is an address, not a network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InterfaceAddress {
    /// The address itself.
    pub addr: IpAddr,
    /// Prefix length of the on-link network (32 or 128 for a lone host address).
    pub prefix_len: u8,
}

impl InterfaceAddress {
    /// An address with its prefix length, checked against the family's width.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Result<Self, PlatformError> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix_len > max {
            return Err(PlatformError::InvalidPlan(format!(
                "prefix length {prefix_len} is too long for address {addr}"
            )));
        }
        Ok(Self { addr, prefix_len })
    }

    /// A lone host address: `/32` for IPv4, `/128` for IPv6.
    #[must_use]
    pub fn host(addr: IpAddr) -> Self {
        let prefix_len = if addr.is_ipv4() { 32 } else { 128 };
        Self { addr, prefix_len }
    }
}

/// Which traffic goes into the tunnel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoutingMode {
    /// Everything, except the tunnel's own packets to the gateway. An address family with no
    /// virtual address is blocked while connected rather than sent around the tunnel.
    Full,
    /// Only these prefixes (the negotiated traffic selectors); everything else keeps its route.
    Split {
        /// Destinations routed into the tunnel.
        prefixes: Vec<IpPrefix>,
    },
}

impl RoutingMode {
    /// The split mode that covers exactly these remote traffic selectors (`TSr`).
    ///
    /// A selector that covers a whole address family makes this [`RoutingMode::Full`]: a
    /// `0.0.0.0/0` split route would be a full tunnel without the full tunnel's leak protection.
    #[must_use]
    pub fn from_selectors(selectors: &[TrafficSelector]) -> Self {
        let mut prefixes = Vec::new();
        for selector in selectors {
            for prefix in selector.to_prefixes() {
                if prefix.prefix_len() == 0 {
                    return Self::Full;
                }
                if !prefixes.contains(&prefix) {
                    prefixes.push(prefix);
                }
            }
        }
        Self::Split { prefixes }
    }
}

/// DNS the gateway pushed (IKEv2 `INTERNAL_IP4_DNS` / `INTERNAL_IP6_DNS`, RFC 8598
/// `INTERNAL_DNS_DOMAIN`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DnsSettings {
    /// Resolvers reached through the tunnel.
    pub servers: Vec<IpAddr>,
    /// Domains resolved by those servers. In a full tunnel they are also search domains; in a
    /// split tunnel only names under them go to the tunnel's resolvers (where the OS can do
    /// split DNS).
    pub domains: Vec<String>,
}

/// Everything the tunnel needs from the OS network stack, platform-neutral.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelNetworkPlan {
    /// The TUN device traffic is routed to.
    pub interface: TunnelInterface,
    /// Virtual addresses to put on it.
    pub addresses: Vec<InterfaceAddress>,
    /// The IKE/ESP peer: its packets must never be routed into the tunnel.
    pub gateway: IpAddr,
    /// Which traffic enters the tunnel.
    pub routing: RoutingMode,
    /// DNS to use while connected; `None` leaves DNS alone.
    pub dns: Option<DnsSettings>,
}

/// How the tunnel's own UDP sockets (IKE and ESP-in-UDP) must be set up so their packets go
/// around the tunnel instead of into it. (Windows and macOS will add "bind to the physical
/// interface", `IP_UNICAST_IF` / `IP_BOUND_IF`, when their configurators land.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketBypass {
    /// Nothing to do: the routes already exclude the gateway.
    NotNeeded,
    /// Linux: set `SO_MARK` to this value on every tunnel socket (see
    /// `linux::mark_socket`); unmarked traffic is what the tunnel table catches.
    Fwmark(u32),
}

/// Which DNS mechanism a configurator used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DnsMethod {
    /// DNS was left alone (the plan had none).
    Unchanged,
    /// systemd-resolved per-link settings over D-Bus.
    SystemdResolved,
    /// The resolv.conf file at this path was rewritten (and will be restored).
    ResolvConf(PathBuf),
}

/// What [`NetworkConfigurator::apply`] did, for the controller and for logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// What the tunnel's sockets need so they bypass the tunnel.
    pub socket_bypass: SocketBypass,
    /// How DNS was changed.
    pub dns: DnsMethod,
    /// How many journaled system changes were made.
    pub changes: usize,
}

/// What [`NetworkConfigurator::recover`] found and undid.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Journal entries a previous run left behind, all of which were undone (or were already
    /// gone).
    pub undone: usize,
}

/// Settings for opening a TUN device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunConfig {
    /// Requested interface name; `None` lets the OS choose.
    pub name: Option<String>,
    /// MTU for the inner packets (the path MTU minus ESP and UDP overhead).
    pub mtu: u16,
}

/// A TUN device: IP packets in and out, one per call.
///
/// Batched offload I/O (GSO/GRO, `recv_multiple`) is a later addition; this is the portable core.
pub trait TunDevice: Send + Sync {
    /// The interface this device is, for [`TunnelNetworkPlan::interface`].
    fn interface(&self) -> TunnelInterface;

    /// Current MTU.
    fn mtu(&self) -> io::Result<u16>;

    /// Changes the MTU (after PMTU discovery or a rekey with another suite).
    fn set_mtu(&self, mtu: u16) -> io::Result<()>;

    /// Waits for one packet the OS routed into the tunnel; returns its length.
    fn recv(&self, buf: &mut [u8]) -> impl Future<Output = io::Result<usize>> + Send;

    /// Hands one decrypted packet to the OS, as if it arrived on the interface.
    fn send(&self, packet: &[u8]) -> impl Future<Output = io::Result<usize>> + Send;

    /// Waits for packets the OS routed into the tunnel and reads one or more of them into
    /// `batch` (a device with segmentation offload splits a large TCP segment into MTU-sized
    /// packets here); returns how many. The default reads one packet with [`Self::recv`].
    fn recv_batch(
        &self,
        batch: &mut batch::TunRecvBatch,
    ) -> impl Future<Output = io::Result<usize>> + Send {
        async move {
            let offset = batch.offset();
            let (_, slots, sizes, _) = batch.parts_mut();
            let (Some(slot), Some(size)) = (slots.first_mut(), sizes.first_mut()) else {
                return Ok(0);
            };
            let len = self.recv(&mut slot[offset..]).await?;
            *size = len;
            batch.set_len(1);
            Ok(1)
        }
    }

    /// Hands the decrypted packets of `batch` to the OS (a device with offload may coalesce
    /// them); returns how many writes failed. The default writes them one by one with
    /// [`Self::send`].
    fn send_batch(
        &self,
        batch: &mut batch::TunSendBatch,
    ) -> impl Future<Output = io::Result<usize>> + Send {
        async move {
            let mut failed = 0;
            for i in 0..batch.len() {
                if let Err(error) = self.send(batch.packet(i)).await {
                    tracing::debug!(%error, "TUN write failed");
                    failed += 1;
                }
            }
            Ok(failed)
        }
    }
}

/// Points the OS network stack at the tunnel and takes it back, journaled.
///
/// Call [`recover`](Self::recover) once at start-up (before the first `apply`), `apply` after the
/// tunnel is up, and [`restore`](Self::restore) on disconnect and shutdown. A configurator holds
/// at most one applied plan at a time.
pub trait NetworkConfigurator: Send {
    /// Makes the changes the plan needs, journaling each one before it is made. On error,
    /// whatever was already changed is undone before returning.
    fn apply(
        &mut self,
        plan: &TunnelNetworkPlan,
    ) -> impl Future<Output = Result<Applied, PlatformError>> + Send;

    /// Undoes everything the journal lists, newest first, then clears the journal. Doing it twice
    /// is harmless.
    fn restore(&mut self) -> impl Future<Output = Result<(), PlatformError>> + Send;

    /// Undoes what a previous (crashed) run journaled but did not restore. Things that are
    /// already gone (a route that died with its interface) count as undone.
    fn recover(&mut self) -> impl Future<Output = Result<RecoveryReport, PlatformError>> + Send;
}

/// Why the OS layer could not do what was asked. Each variant names the step that failed.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// The plan asks for something impossible (an address of the wrong width, no interface …).
    #[error("invalid tunnel network plan: {0}")]
    InvalidPlan(String),
    /// A plan is already applied; restore it first.
    #[error("a tunnel network plan is already applied; restore it before applying another")]
    AlreadyApplied,
    /// The TUN device could not be created or configured.
    #[error("TUN device: {what}: {source}")]
    Tun {
        /// The step that failed.
        what: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The kernel refused a network change (address, route or rule).
    #[error("network configuration: {what}: {source}")]
    Network {
        /// The change that failed, e.g. `add route 0.0.0.0/0 table 29797`.
        what: String,
        /// The OS error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The change journal could not be written or read; no change is made without it.
    #[error("change journal {path}: {source}")]
    Journal {
        /// The journal file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// DNS could not be configured through the system resolver service.
    #[error("DNS: {what}: {source}")]
    Dns {
        /// The step that failed.
        what: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// resolv.conf could not be read, rewritten or restored.
    #[error("resolv.conf {path}: {what}: {source}")]
    ResolvConf {
        /// The file.
        path: PathBuf,
        /// The step that failed.
        what: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Some journaled changes could not be undone; they stay in the journal for the next try.
    #[error(
        "{failed} journaled change(s) could not be undone (first: {first}); they stay journaled"
    )]
    RestoreIncomplete {
        /// How many entries are still in the journal.
        failed: usize,
        /// The first failure, for the log and the user.
        first: String,
    },
}

//! Linux: a TUN device from `tun-rs`, addresses/routes/rules over rtnetlink, DNS through
//! systemd-resolved (D-Bus) or a rewritten resolv.conf, all journaled.
//!
//! The routing design (policy routing with a firewall mark, wg-quick style) and why it was chosen
//! over half-default routes is explained in [`plan`].

pub mod dns;
mod netlink;
pub mod plan;
pub mod resolv_conf;
mod tun;
pub mod watch;

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use self::netlink::Netlink;
use self::resolv_conf::FileState;
pub use self::tun::LinuxTun;
use super::journal::Journal;
use super::{
    Applied, DnsMethod, DnsSettings, InterfaceAddress, NetworkConfigurator, PlatformError,
    RecoveryReport, RoutingMode, SocketBypass, TunnelNetworkPlan,
};

/// "tern" in ASCII: the default routing table and firewall mark (mullvad uses "mole" the same way).
pub const DEFAULT_TABLE_AND_MARK: u32 = 0x7465_726e;

/// Default priority of the first of our policy rules; they take three consecutive numbers, all
/// before the main table's 32766.
pub const DEFAULT_RULE_PRIORITY: u32 = 31_000;

/// How DNS is configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DnsBackend {
    /// systemd-resolved when it is on the system bus and resolv.conf points at it; otherwise
    /// resolv.conf.
    Auto,
    /// Always systemd-resolved (fails if it is not running).
    SystemdResolved,
    /// Always rewrite the resolv.conf file.
    ResolvConf,
    /// Never touch DNS, whatever the plan says.
    Disabled,
}

/// Settings of the Linux configurator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinuxConfig {
    /// Where the change journal lives. It must survive a reboot, because a rewritten resolv.conf
    /// does (routes and rules do not, and undoing those after a reboot is a harmless no-op), hence
    /// the default `/var/lib/tern` rather than the runtime `/run/tern`.
    pub state_dir: PathBuf,
    /// The resolv.conf to rewrite when systemd-resolved is not used.
    pub resolv_conf: PathBuf,
    /// DNS mechanism.
    pub dns_backend: DnsBackend,
    /// Routing table that holds the tunnel's routes.
    pub table: u32,
    /// Firewall mark that the tunnel's own sockets carry, so they bypass the tunnel table.
    pub fwmark: u32,
    /// Priority of the first policy rule (three consecutive priorities are used).
    pub rule_priority: u32,
    /// D-Bus address of the system bus; `None` means the standard one (tests use a private bus).
    pub system_bus: Option<String>,
}

impl Default for LinuxConfig {
    fn default() -> Self {
        Self {
            state_dir: PathBuf::from("/var/lib/tern"),
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            dns_backend: DnsBackend::Auto,
            table: DEFAULT_TABLE_AND_MARK,
            fwmark: DEFAULT_TABLE_AND_MARK,
            rule_priority: DEFAULT_RULE_PRIORITY,
            system_bus: None,
        }
    }
}

impl LinuxConfig {
    /// The journal file inside [`state_dir`](Self::state_dir).
    #[must_use]
    pub fn journal_path(&self) -> PathBuf {
        self.state_dir.join("platform-journal.jsonl")
    }
}

/// IP version of a route or rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// Where a route sends its traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteTarget {
    /// Out of this interface (the TUN), no next hop.
    Interface {
        /// Interface index.
        index: u32,
    },
    /// Nowhere: the sender gets "network unreachable" (used to block a family).
    Unreachable,
}

/// A route in one table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RouteSpec {
    /// Destination network address.
    pub destination: IpAddr,
    /// Destination prefix length.
    pub prefix_len: u8,
    /// Routing table.
    pub table: u32,
    /// Where it goes.
    pub target: RouteTarget,
}

/// What a policy rule matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleMatch {
    /// Packets *without* this firewall mark (`not fwmark M`).
    NotFwmark(u32),
    /// Every packet, but routes with a prefix this long or shorter are ignored
    /// (`suppress_prefixlength N`).
    SuppressPrefixLength(u32),
    /// Packets to this destination (`to A/N`).
    To {
        /// Destination address.
        destination: IpAddr,
        /// Prefix length.
        prefix_len: u8,
    },
}

/// A policy routing rule that looks up a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RuleSpec {
    /// IP version.
    pub family: Family,
    /// Rule priority (lower runs first).
    pub priority: u32,
    /// Table to look up.
    pub table: u32,
    /// Selector.
    pub matcher: RuleMatch,
}

/// One journaled system change. The journal holds these, one JSON object per line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// An address on an interface.
    Address {
        /// Interface name, for logs and humans reading the journal.
        interface: String,
        /// Interface index.
        index: u32,
        /// The address.
        address: InterfaceAddress,
    },
    /// A route.
    Route(RouteSpec),
    /// A policy rule.
    Rule(RuleSpec),
    /// Per-link DNS settings in systemd-resolved (undone with `RevertLink`).
    ResolvedLink {
        /// Interface name.
        interface: String,
        /// Interface index.
        index: u32,
    },
    /// A rewritten resolv.conf, with what it was before (the backup) and what we wrote.
    ResolvConf {
        /// The file.
        path: PathBuf,
        /// What was there before: restored on undo.
        original: FileState,
        /// What we wrote: the file is restored only while it still holds this, so a newer
        /// rewrite by someone else (NetworkManager, dhclient) is not clobbered.
        written: String,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Address {
                interface,
                index,
                address,
            } => write!(
                f,
                "address {}/{} dev {interface} ({index})",
                address.addr, address.prefix_len
            ),
            Self::Route(route) => {
                let RouteSpec {
                    destination,
                    prefix_len,
                    table,
                    target,
                } = route;
                match target {
                    RouteTarget::Interface { index } => write!(
                        f,
                        "route {destination}/{prefix_len} dev {index} table {table}"
                    ),
                    RouteTarget::Unreachable => {
                        write!(
                            f,
                            "route unreachable {destination}/{prefix_len} table {table}"
                        )
                    }
                }
            }
            Self::Rule(rule) => {
                let family = match rule.family {
                    Family::V4 => "v4",
                    Family::V6 => "v6",
                };
                write!(f, "rule {family} pref {} ", rule.priority)?;
                match rule.matcher {
                    RuleMatch::NotFwmark(mark) => write!(f, "not fwmark {mark:#x}")?,
                    RuleMatch::SuppressPrefixLength(len) => {
                        write!(f, "suppress_prefixlength {len}")?;
                    }
                    RuleMatch::To {
                        destination,
                        prefix_len,
                    } => write!(f, "to {destination}/{prefix_len}")?,
                }
                write!(f, " lookup {}", rule.table)
            }
            Self::ResolvedLink { interface, index } => {
                write!(f, "systemd-resolved link {interface} ({index})")
            }
            Self::ResolvConf { path, .. } => write!(f, "rewritten {}", path.display()),
        }
    }
}

/// Sets `SO_MARK` on a tunnel socket so its packets skip the tunnel table (needs
/// `CAP_NET_ADMIN`, which the helper has). Use the mark from [`SocketBypass::Fwmark`].
pub fn mark_socket(socket: &impl AsFd, mark: u32) -> io::Result<()> {
    nix::sys::socket::setsockopt(socket, nix::sys::socket::sockopt::Mark, &mark)
        .map_err(io::Error::from)
}

/// The Linux [`NetworkConfigurator`].
#[derive(Debug)]
pub struct LinuxConfigurator {
    config: LinuxConfig,
    journal: Journal<Change>,
    netlink: Option<Netlink>,
}

impl LinuxConfigurator {
    /// A configurator; connects to the kernel lazily, on first use (from inside a Tokio runtime).
    #[must_use]
    pub fn new(config: LinuxConfig) -> Self {
        let journal = Journal::new(config.journal_path());
        Self {
            config,
            journal,
            netlink: None,
        }
    }

    /// The settings in use.
    #[must_use]
    pub fn config(&self) -> &LinuxConfig {
        &self.config
    }

    /// What the journal says is applied right now.
    pub fn journaled(&self) -> Result<Vec<Change>, PlatformError> {
        self.journal.entries()
    }

    fn netlink(&mut self) -> Result<&Netlink, PlatformError> {
        if self.netlink.is_none() {
            let netlink = Netlink::connect().map_err(|source| PlatformError::Network {
                what: "open rtnetlink socket".into(),
                source: Box::new(source),
            })?;
            self.netlink = Some(netlink);
        }
        // Just filled above; an `Option` dance instead of `expect` keeps the lint happy.
        self.netlink.as_ref().ok_or_else(|| PlatformError::Network {
            what: "open rtnetlink socket".into(),
            source: "no connection".into(),
        })
    }

    /// Journals every change of the plan (its DNS change included) with one sync, then makes
    /// them: the netlink requests pipelined, DNS last. If a netlink change fails, only the ones
    /// made stay journaled, so an undo never deletes something that was there before us (a
    /// route that existed already). An unmade DNS entry may stay: undoing it is a no-op.
    async fn apply_inner(
        &mut self,
        plan: &TunnelNetworkPlan,
        changes: Vec<Change>,
    ) -> Result<Applied, PlatformError> {
        let dns = match (&plan.dns, &self.config.dns_backend) {
            (None, _) | (Some(_), DnsBackend::Disabled) => None,
            (Some(settings), backend) => {
                let full = matches!(plan.routing, RoutingMode::Full);
                self.plan_dns(plan, settings, backend.clone(), full).await?
            }
        };
        let mut journaled = changes.clone();
        journaled.extend(dns.as_ref().map(|d| d.change.clone()));
        self.journal.record_all(&journaled)?;
        for change in &changes {
            tracing::debug!(%change, "applying");
        }
        let results = self.netlink()?.add_all(&changes).await;
        let mut made = Vec::with_capacity(changes.len());
        let mut first_error = None;
        for (change, result) in changes.into_iter().zip(results) {
            match result {
                Ok(()) => made.push(change),
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        if let Some(error) = first_error {
            self.journal.replace(&made)?;
            return Err(error);
        }
        let mut count = made.len();
        let dns = match dns {
            Some(planned) => {
                count += 1;
                planned.make().await?
            }
            None => DnsMethod::Unchanged,
        };
        Ok(Applied {
            socket_bypass: SocketBypass::Fwmark(self.config.fwmark),
            dns,
            changes: count,
        })
    }

    /// Decides how DNS is set (systemd-resolved or resolv.conf) and what the journal entry
    /// is, without changing anything yet; `None` when no usable server was pushed.
    async fn plan_dns(
        &self,
        plan: &TunnelNetworkPlan,
        settings: &DnsSettings,
        backend: DnsBackend,
        full: bool,
    ) -> Result<Option<PlannedDns>, PlatformError> {
        let settings = dns::sanitize(settings);
        if settings.servers.is_empty() {
            // Nothing usable was pushed: keep the system's DNS rather than leave it with none.
            tracing::warn!("no usable DNS server pushed; DNS left unchanged");
            return Ok(None);
        }
        let bus = self.config.system_bus.as_deref();
        let resolved = match backend {
            DnsBackend::SystemdResolved => Some(dns::Resolved::connect(bus).await?.ok_or_else(
                || PlatformError::Dns {
                    what: "systemd-resolved".into(),
                    source: "org.freedesktop.resolve1 is not on the system bus".into(),
                },
            )?),
            DnsBackend::Auto if resolv_conf::points_at_resolved(&self.config.resolv_conf) => {
                dns::Resolved::connect(bus).await.unwrap_or_else(|error| {
                    tracing::info!(%error, "no system bus; falling back to resolv.conf");
                    None
                })
            }
            _ => None,
        };
        if let Some(resolved) = resolved {
            let index = plan.interface.index;
            return Ok(Some(PlannedDns {
                change: Change::ResolvedLink {
                    interface: plan.interface.name.clone(),
                    index,
                },
                action: DnsAction::Resolved {
                    resolved,
                    index,
                    settings,
                    full,
                },
            }));
        }
        let path = self.config.resolv_conf.clone();
        let original = resolv_conf::snapshot(&path)?;
        let written = resolv_conf::render(&settings, original.contents(), full);
        Ok(Some(PlannedDns {
            change: Change::ResolvConf {
                path: path.clone(),
                original,
                written: written.clone(),
            },
            action: DnsAction::ResolvConf { path, written },
        }))
    }

    /// Whether the interface a journal entry names is still the one it meant. Interface indexes
    /// are reused after a reboot: an entry must never touch another interface's settings.
    async fn same_interface(&mut self, index: u32, name: &str) -> Result<bool, PlatformError> {
        let current = self.netlink()?.link_name(index).await?;
        if current.as_deref() != Some(name) {
            tracing::debug!(index, name, ?current, "journaled interface is gone");
            return Ok(false);
        }
        Ok(true)
    }

    async fn undo(&mut self, change: &Change) -> Result<(), PlatformError> {
        match change {
            Change::Address {
                interface, index, ..
            }
            | Change::ResolvedLink { interface, index }
                if !self.same_interface(*index, interface).await? =>
            {
                // Gone with its interface: addresses, and resolved's per-link settings.
                Ok(())
            }
            Change::Address { .. } | Change::Route(_) | Change::Rule(_) => {
                self.netlink()?.remove(change).await
            }
            Change::ResolvedLink { index, .. } => {
                match dns::Resolved::connect(self.config.system_bus.as_deref()).await? {
                    Some(resolved) => resolved.revert_link(*index).await,
                    // resolved is gone: so are its runtime per-link settings.
                    None => Ok(()),
                }
            }
            Change::ResolvConf {
                path,
                original,
                written,
            } => resolv_conf::restore(path, original, written),
        }
    }

    /// Undoes the journal newest-first; keeps whatever could not be undone.
    async fn undo_journal(&mut self) -> Result<usize, PlatformError> {
        let entries = self.journal.entries()?;
        let mut failed = Vec::new();
        let mut first_error = None;
        for change in entries.iter().rev() {
            tracing::debug!(%change, "undoing");
            if let Err(error) = self.undo(change).await {
                tracing::warn!(%change, %error, "could not undo a journaled change");
                first_error.get_or_insert_with(|| format!("{change}: {error}"));
                failed.push(change.clone());
            }
        }
        if let Some(first) = first_error {
            failed.reverse();
            self.journal.replace(&failed)?;
            return Err(PlatformError::RestoreIncomplete {
                failed: failed.len(),
                first,
            });
        }
        self.journal.clear()?;
        Ok(entries.len())
    }
}

/// A DNS change, decided and journaled before it is made.
struct PlannedDns {
    /// Its journal entry.
    change: Change,
    action: DnsAction,
}

enum DnsAction {
    Resolved {
        resolved: dns::Resolved,
        index: u32,
        settings: DnsSettings,
        full: bool,
    },
    ResolvConf {
        path: PathBuf,
        written: String,
    },
}

impl PlannedDns {
    async fn make(self) -> Result<DnsMethod, PlatformError> {
        tracing::debug!(change = %self.change, "applying");
        match self.action {
            DnsAction::Resolved {
                resolved,
                index,
                settings,
                full,
            } => {
                resolved.set_link(index, &settings, full).await?;
                Ok(DnsMethod::SystemdResolved)
            }
            DnsAction::ResolvConf { path, written } => {
                resolv_conf::write(&path, &written)?;
                Ok(DnsMethod::ResolvConf(path))
            }
        }
    }
}

impl NetworkConfigurator for LinuxConfigurator {
    async fn apply(&mut self, plan: &TunnelNetworkPlan) -> Result<Applied, PlatformError> {
        if !self.journal.entries()?.is_empty() {
            return Err(PlatformError::AlreadyApplied);
        }
        let changes = plan::network_changes(plan, &self.config)?;
        tracing::info!(
            interface = %plan.interface.name,
            changes = changes.len(),
            full = matches!(plan.routing, RoutingMode::Full),
            "pointing the network at the tunnel"
        );
        match self.apply_inner(plan, changes).await {
            Ok(applied) => Ok(applied),
            Err(error) => {
                tracing::warn!(%error, "apply failed; undoing what was done");
                if let Err(undo_error) = self.undo_journal().await {
                    tracing::error!(%undo_error, "could not undo a failed apply completely");
                }
                Err(error)
            }
        }
    }

    async fn restore(&mut self) -> Result<(), PlatformError> {
        let undone = self.undo_journal().await?;
        tracing::info!(undone, "network restored");
        Ok(())
    }

    async fn recover(&mut self) -> Result<RecoveryReport, PlatformError> {
        let undone = self.undo_journal().await?;
        if undone > 0 {
            tracing::warn!(undone, "undid changes left behind by a previous run");
        }
        Ok(RecoveryReport { undone })
    }
}

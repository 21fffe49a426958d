//! The namespaces, links and addresses of one lab, and their removal.
//!
//! Topology (addresses in [`addr`]; the same in every lab, since each lab has its own namespaces):
//!
//! ```text
//! direct:  client(out0) ─────────────────────────────── (out0)gateway(lan0) ── (eth0)lan
//!          198.51.100.2                                  198.51.100.1  10.99.0.1   10.99.0.2
//! nat:     client(out0) ── (in0)router(out0) ── (out0)gateway(lan0) ── (eth0)lan
//!          192.168.99.2   192.168.99.1  198.51.100.2    198.51.100.1  10.99.0.1   10.99.0.2
//! ```
//!
//! IPv6 runs alongside (2001:db8::/32 outside, fd00:99::/64 on the LAN); with an outer MTU
//! below 1280 (IPv6's minimum) the outer links carry IPv4 only. The lab avoids
//! 192.0.2.0/24, which some build hosts use for their own link: a command run in the wrong
//! namespace then fails instead of reaching the host's network. The router masquerades
//! (nftables) everything leaving `out0`, so the gateway always sees the client as
//! [`addr::CLIENT_SEEN_BY_GATEWAY_V4`].
//!
//! Names: namespaces are `tern-<pid>-e2e<n>-<role>`, the lab directory is
//! `$TMPDIR/tern-<pid>-e2e<n>`, and processes the lab starts carry `tern-<pid>-e2e<n>` in their
//! command line. [`sweep_stale`] removes such leftovers when `<pid>` is no longer alive.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::cmd::{self, ip, ip_in};
use crate::{LabError, Result, io_err};

/// The fixed addresses of every lab (see the module diagram).
pub mod addr {
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// The gateway's outer address: the address clients connect to.
    pub const GATEWAY_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
    /// The gateway's outer IPv6 address.
    pub const GATEWAY_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
    /// Where the gateway sees IKE/ESP come from: the client itself, or the NAT router.
    pub const CLIENT_SEEN_BY_GATEWAY_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
    /// The client's own IPv4 address without NAT.
    pub const CLIENT_DIRECT_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
    /// The client's own IPv6 address without NAT.
    pub const CLIENT_DIRECT_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);
    /// The client's own IPv4 address behind the NAT router.
    pub const CLIENT_NATTED_V4: Ipv4Addr = Ipv4Addr::new(192, 168, 99, 2);
    /// The client's own IPv6 address behind the NAT router.
    pub const CLIENT_NATTED_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 2);
    /// The NAT router's inside address (the client's default gateway).
    pub const ROUTER_INSIDE_V4: Ipv4Addr = Ipv4Addr::new(192, 168, 99, 1);
    /// The NAT router's inside IPv6 address.
    pub const ROUTER_INSIDE_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 1);
    /// The gateway's LAN-side address.
    pub const GATEWAY_LAN_V4: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
    /// The gateway's LAN-side IPv6 address.
    pub const GATEWAY_LAN_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x99, 0, 0, 0, 0, 0, 1);
    /// The host behind the gateway (answers ping; tests may run servers there).
    pub const LAN_HOST_V4: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
    /// The LAN host's IPv6 address.
    pub const LAN_HOST_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x99, 0, 0, 0, 0, 0, 2);
    /// The LAN prefix, as a traffic selector string.
    pub const LAN_PREFIX_V4: &str = "10.99.0.0/24";
    /// The LAN IPv6 prefix, as a traffic selector string.
    pub const LAN_PREFIX_V6: &str = "fd00:99::/64";
    /// A suggested virtual-IP pool for gateways (routed back via the gateway by the LAN host's
    /// default route).
    pub const VIRTUAL_IP_POOL_V4: &str = "10.99.100.0/24";
    /// A suggested IPv6 virtual-IP pool.
    pub const VIRTUAL_IP_POOL_V6: &str = "fd00:99:100::/120";
}

/// The namespaces of a lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ns {
    /// Where the VPN client (Tern, or a strongSwan client) runs.
    Client,
    /// The NAT router between client and gateway (only with [`LabConfig::nat`]).
    Router,
    /// The strongSwan gateway.
    Gateway,
    /// A host on the network behind the gateway.
    Lan,
}

impl Ns {
    /// The role part of the namespace name.
    #[must_use]
    pub fn role(self) -> &'static str {
        match self {
            Ns::Client => "client",
            Ns::Router => "router",
            Ns::Gateway => "gateway",
            Ns::Lan => "lan",
        }
    }
}

/// How to build a lab.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// Put a NAT router (nftables masquerade) between client and gateway.
    pub nat: bool,
    /// MTU of the links between client and gateway (both ends, and through the router). The LAN
    /// link keeps 1500. Lower it to force IKE or ESP fragmentation; below 1280 the outer links
    /// carry IPv4 only.
    pub outer_mtu: u32,
}

impl Default for LabConfig {
    fn default() -> Self {
        LabConfig {
            nat: false,
            outer_mtu: 1500,
        }
    }
}

/// The prefix every name of this harness starts with.
const PREFIX: &str = "tern-";
/// The marker after the pid that tells this harness's names from other tools' `tern-` names.
const MARKER: &str = "e2e";

static NEXT_LAB: AtomicU32 = AtomicU32::new(0);

/// One lab: its namespaces and directory, removed on drop (also when the test panics).
///
/// ```no_run
/// use tern_e2e::{Lab, LabConfig, Ns, addr};
///
/// let lab = Lab::new(LabConfig { nat: true, outer_mtu: 1280 }).unwrap();
/// lab.exec(Ns::Client, &["ping", "-c1", "-W2", &addr::GATEWAY_V4.to_string()]).unwrap();
/// // A real socket inside the client namespace:
/// let socket = lab
///     .run_in(Ns::Client, || std::net::UdpSocket::bind("0.0.0.0:0"))
///     .unwrap()
///     .unwrap();
/// # drop(socket);
/// ```
#[derive(Debug)]
pub struct Lab {
    id: String,
    dir: PathBuf,
    config: LabConfig,
    /// Namespaces created so far, in creation order (partial on a failed `new`).
    namespaces: Vec<(Ns, String)>,
}

impl Lab {
    /// Builds a lab: sweeps leftovers of crashed earlier runs, creates the namespaces, links,
    /// addresses, routes, forwarding and (optionally) NAT. The first lab of a process also
    /// installs the Ctrl-C cleanup (see [`set_signal_cleanup`]).
    ///
    /// # Errors
    /// When a command fails (the error names it, with its stderr) or the lab directory cannot be
    /// made. Whatever was created is removed again.
    pub fn new(config: LabConfig) -> Result<Lab> {
        install_signal_cleanup();
        sweep_stale();
        let id = format!(
            "{PREFIX}{}-{MARKER}{}",
            std::process::id(),
            NEXT_LAB.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(&id);
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(io_err("removing old lab directory", &dir))?;
        }
        fs::create_dir_all(&dir).map_err(io_err("creating lab directory", &dir))?;
        let mut lab = Lab {
            id,
            dir,
            config,
            namespaces: Vec::new(),
        };
        lab.build()?;
        Ok(lab)
    }

    fn build(&mut self) -> Result<()> {
        let mut roles = vec![Ns::Client, Ns::Gateway, Ns::Lan];
        if self.config.nat {
            roles.insert(1, Ns::Router);
        }
        for ns in roles {
            let name = format!("{}-{}", self.id, ns.role());
            if Path::new("/run/netns").join(&name).exists() {
                // Left by an earlier, crashed process that had our pid (ids are unique within a
                // process), so the sweeper took it for alive.
                kill_namespace_processes(&name);
                ip(&["netns", "del", &name])?;
            }
            ip(&["netns", "add", &name])?;
            self.namespaces.push((ns, name.clone()));
            ip_in(&name, &["link", "set", "lo", "up"])?;
        }
        let mtu = self.config.outer_mtu.to_string();
        let v4 = |a: std::net::Ipv4Addr, len: u8| format!("{a}/{len}");
        let v6 = |a: std::net::Ipv6Addr, len: u8| format!("{a}/{len}");

        if self.config.nat {
            self.veth((Ns::Client, "out0"), (Ns::Router, "in0"), &mtu)?;
            self.veth((Ns::Router, "out0"), (Ns::Gateway, "out0"), &mtu)?;
            self.address(Ns::Client, "out0", &v4(addr::CLIENT_NATTED_V4, 24))?;
            self.outer_v6(Ns::Client, "out0", &v6(addr::CLIENT_NATTED_V6, 64))?;
            self.address(Ns::Router, "in0", &v4(addr::ROUTER_INSIDE_V4, 24))?;
            self.outer_v6(Ns::Router, "in0", &v6(addr::ROUTER_INSIDE_V6, 64))?;
            self.address(Ns::Router, "out0", &v4(addr::CLIENT_SEEN_BY_GATEWAY_V4, 24))?;
            self.outer_v6(Ns::Router, "out0", &v6(addr::CLIENT_DIRECT_V6, 64))?;
            self.default_routes(
                Ns::Client,
                &addr::ROUTER_INSIDE_V4.to_string(),
                &addr::ROUTER_INSIDE_V6.to_string(),
            )?;
            self.forwarding(Ns::Router)?;
            let rules = "table inet tern_nat {\n\
                 \tchain postrouting {\n\
                 \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
                 \t\toifname \"out0\" masquerade\n\
                 \t}\n\
                 }\n";
            let path = self.dir.join("router-nat.nft");
            fs::write(&path, rules).map_err(io_err("writing", &path))?;
            self.exec(Ns::Router, &["nft", "-f", &path.to_string_lossy()])?;
        } else {
            self.veth((Ns::Client, "out0"), (Ns::Gateway, "out0"), &mtu)?;
            self.address(Ns::Client, "out0", &v4(addr::CLIENT_DIRECT_V4, 24))?;
            self.outer_v6(Ns::Client, "out0", &v6(addr::CLIENT_DIRECT_V6, 64))?;
            // No default route to the gateway: the client reaches the LAN only through the tunnel.
        }
        self.address(Ns::Gateway, "out0", &v4(addr::GATEWAY_V4, 24))?;
        self.outer_v6(Ns::Gateway, "out0", &v6(addr::GATEWAY_V6, 64))?;

        self.veth((Ns::Gateway, "lan0"), (Ns::Lan, "eth0"), "1500")?;
        self.address(Ns::Gateway, "lan0", &v4(addr::GATEWAY_LAN_V4, 24))?;
        self.address(Ns::Gateway, "lan0", &v6(addr::GATEWAY_LAN_V6, 64))?;
        self.address(Ns::Lan, "eth0", &v4(addr::LAN_HOST_V4, 24))?;
        self.address(Ns::Lan, "eth0", &v6(addr::LAN_HOST_V6, 64))?;
        self.default_routes(
            Ns::Lan,
            &addr::GATEWAY_LAN_V4.to_string(),
            &addr::GATEWAY_LAN_V6.to_string(),
        )?;
        self.forwarding(Ns::Gateway)?;
        Ok(())
    }

    /// A veth pair created directly inside its two namespaces (nothing ever appears in the root
    /// namespace, so names cannot clash with the host or other labs).
    fn veth(&self, (a_ns, a_dev): (Ns, &str), (b_ns, b_dev): (Ns, &str), mtu: &str) -> Result<()> {
        let a = self.ns_name(a_ns)?;
        let b = self.ns_name(b_ns)?;
        ip_in(
            a,
            &[
                "link", "add", a_dev, "mtu", mtu, "type", "veth", "peer", "name", b_dev, "mtu",
                mtu, "netns", b,
            ],
        )?;
        ip_in(a, &["link", "set", a_dev, "up"])?;
        ip_in(b, &["link", "set", b_dev, "up"])?;
        Ok(())
    }

    fn address(&self, ns: Ns, dev: &str, cidr: &str) -> Result<()> {
        let mut args = vec!["addr", "add", cidr, "dev", dev];
        if cidr.contains(':') {
            // Skip duplicate address detection: the address is usable at once.
            args.push("nodad");
        }
        ip_in(self.ns_name(ns)?, &args).map(drop)
    }

    /// An IPv6 address on a link between client and gateway: none when the outer MTU is below
    /// IPv6's minimum of 1280 (the kernel refuses IPv6 there).
    fn outer_v6(&self, ns: Ns, dev: &str, cidr: &str) -> Result<()> {
        if self.config.outer_mtu < 1280 {
            return Ok(());
        }
        self.address(ns, dev, cidr)
    }

    fn default_routes(&self, ns: Ns, via_v4: &str, via_v6: &str) -> Result<()> {
        let name = self.ns_name(ns)?;
        ip_in(name, &["-4", "route", "add", "default", "via", via_v4])?;
        let outer = ns == Ns::Client;
        if !outer || self.config.outer_mtu >= 1280 {
            ip_in(name, &["-6", "route", "add", "default", "via", via_v6])?;
        }
        Ok(())
    }

    fn forwarding(&self, ns: Ns) -> Result<()> {
        self.exec(
            ns,
            &[
                "sysctl",
                "-q",
                "-w",
                "net.ipv4.ip_forward=1",
                "net.ipv6.conf.all.forwarding=1",
            ],
        )
        .map(drop)
    }

    /// This lab's unique id, `tern-<pid>-e2e<n>`; part of every name the lab creates.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The lab's private directory (configs, logs, sockets); removed on drop.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The configuration this lab was built with.
    #[must_use]
    pub fn config(&self) -> &LabConfig {
        &self.config
    }

    /// The client's own IPv4 address (behind the router with NAT).
    #[must_use]
    pub fn client_v4(&self) -> std::net::Ipv4Addr {
        if self.config.nat {
            addr::CLIENT_NATTED_V4
        } else {
            addr::CLIENT_DIRECT_V4
        }
    }

    /// The client's own IPv6 address (behind the router with NAT).
    #[must_use]
    pub fn client_v6(&self) -> std::net::Ipv6Addr {
        if self.config.nat {
            addr::CLIENT_NATTED_V6
        } else {
            addr::CLIENT_DIRECT_V6
        }
    }

    /// The name of namespace `ns`, for `ip netns exec` and friends.
    ///
    /// # Errors
    /// [`LabError::Invalid`] for [`Ns::Router`] in a lab without NAT.
    pub fn ns_name(&self, ns: Ns) -> Result<&str> {
        self.namespaces
            .iter()
            .find(|(n, _)| *n == ns)
            .map(|(_, name)| name.as_str())
            .ok_or_else(|| LabError::Invalid(format!("this lab has no {} namespace", ns.role())))
    }

    /// A [`Command`] that runs `program args…` inside namespace `ns` (via `ip netns exec`), for
    /// callers that want to spawn, pipe or inspect the exit status themselves.
    ///
    /// # Errors
    /// When the lab has no such namespace.
    pub fn command(&self, ns: Ns, program: &str, args: &[&str]) -> Result<Command> {
        Ok(cmd::in_ns(self.ns_name(ns)?, program, args))
    }

    /// Runs `argv` inside namespace `ns`; fails unless it exits 0 within 60 s. Returns its
    /// standard output.
    ///
    /// ```no_run
    /// # let lab = tern_e2e::Lab::new(Default::default()).unwrap();
    /// let routes = lab.exec(tern_e2e::Ns::Lan, &["ip", "route"]).unwrap();
    /// assert!(routes.contains("default via 10.99.0.1"));
    /// ```
    ///
    /// # Errors
    /// [`LabError::CommandFailed`] with the command line, status and stderr.
    pub fn exec(&self, ns: Ns, argv: &[&str]) -> Result<String> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| LabError::Invalid("exec needs a program".into()))?;
        cmd::run(&mut self.command(ns, program, args)?)
    }

    /// Like [`Lab::exec`] with a time limit other than the default 60 s; on timeout the command
    /// (its whole process group) is killed and [`LabError::Timeout`] returned.
    ///
    /// # Errors
    /// [`LabError::CommandFailed`] or [`LabError::Timeout`].
    pub fn exec_within(&self, ns: Ns, argv: &[&str], timeout: Duration) -> Result<String> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| LabError::Invalid("exec needs a program".into()))?;
        cmd::run_within(&mut self.command(ns, program, args)?, timeout)
    }

    /// Like [`Lab::exec`] but returns the whole output whatever the exit status (for commands
    /// that are expected to fail, such as a ping that must not get through).
    ///
    /// # Errors
    /// Only when the command cannot be started.
    pub fn exec_output(&self, ns: Ns, argv: &[&str]) -> Result<Output> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| LabError::Invalid("exec needs a program".into()))?;
        cmd::output(&mut self.command(ns, program, args)?)
    }

    /// Runs `f` on a new thread that has entered namespace `ns`, and returns its result. Sockets
    /// created inside stay in that namespace after the thread ends, so they may be returned and
    /// used from any thread; the same holds for a TUN device opened there (`/dev/net/tun`
    /// creates its interface in the namespace of the thread that opens it). Only the network
    /// namespace changes: files and mounts are the test process's own. A panic in `f` is passed
    /// on to the caller.
    ///
    /// ```no_run
    /// # let lab = tern_e2e::Lab::new(Default::default()).unwrap();
    /// use std::net::UdpSocket;
    /// let socket = lab
    ///     .run_in(tern_e2e::Ns::Client, || UdpSocket::bind("0.0.0.0:0"))
    ///     .unwrap()
    ///     .unwrap();
    /// socket.send_to(b"hi", "198.51.100.1:500").unwrap();
    /// ```
    ///
    /// # Errors
    /// When the namespace cannot be opened or entered.
    pub fn run_in<T, F>(&self, ns: Ns, f: F) -> Result<T>
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        let name = self.ns_name(ns)?;
        let path = Path::new("/run/netns").join(name);
        let file = File::open(&path).map_err(io_err("opening namespace", &path))?;
        std::thread::scope(|scope| {
            let handle = scope.spawn(move || {
                setns(&file, CloneFlags::CLONE_NEWNET).map_err(|source| LabError::Setns {
                    namespace: name.to_owned(),
                    source,
                })?;
                Ok(f())
            });
            match handle.join() {
                Ok(result) => result,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// Stops every process still running in the lab's namespaces and deletes them.
    fn teardown(&mut self) {
        for (_, name) in self.namespaces.iter().rev() {
            kill_namespace_processes(name);
            if let Err(e) = ip(&["netns", "del", name]) {
                eprintln!("tern-e2e: could not remove namespace {name}: {e}");
            }
        }
        self.namespaces.clear();
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("tern-e2e: could not remove {}: {e}", self.dir.display());
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// Kills (SIGKILL) every process whose network namespace is `ns` — never this test process —
/// and waits briefly for them to go.
fn kill_namespace_processes(ns: &str) {
    let Ok(out) = ip(&["netns", "pids", ns]) else {
        return;
    };
    let me = std::process::id();
    let pids: Vec<u32> = out
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .filter(|&p| p != me)
        .collect();
    kill_and_wait(&pids);
}

fn kill_and_wait(pids: &[u32]) {
    for &pid in pids {
        if let Ok(raw) = i32::try_from(pid) {
            let _ = kill(Pid::from_raw(raw), Signal::SIGKILL);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while pids.iter().any(|p| process_alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// True while `/proc/<pid>` exists and is not a zombie.
pub(crate) fn process_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_none_or(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// The pid that owns a harness name `tern-<pid>-e2e…`, or `None` for any other name.
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let (pid, tail) = rest.split_once('-')?;
    tail.starts_with(MARKER).then(|| pid.parse().ok()).flatten()
}

/// Removes what crashed earlier runs of this harness left behind: processes whose command line
/// carries a harness id, namespaces and lab directories — only when the owning pid is dead.
/// [`Lab::new`] calls it; it never fails (problems are printed).
pub fn sweep_stale() {
    sweep(|pid| !process_alive(pid));
}

/// Removes every lab of this process: what the signal handler does before the process exits.
fn sweep_own() {
    let me = std::process::id();
    sweep(|pid| pid == me);
}

/// Removes processes, namespaces and lab directories whose harness name has an owner pid that
/// `owned` accepts. Processes first: a charon keeps its namespace and directory busy.
fn sweep(owned: impl Fn(u32) -> bool) {
    let matches = |name: &str| owner_pid(name).is_some_and(&owned);
    let me = std::process::id();

    if let Ok(entries) = fs::read_dir("/proc") {
        let mut victims = Vec::new();
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if pid == me {
                continue;
            }
            let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let found = cmdline
                .split(|b| *b == 0 || *b == b'/' || *b == b' ')
                .filter_map(|word| std::str::from_utf8(word).ok())
                .any(&matches);
            if found {
                victims.push(pid);
            }
        }
        if !victims.is_empty() {
            eprintln!("tern-e2e: killing lab processes {victims:?}");
            kill_and_wait(&victims);
        }
    }
    if let Ok(entries) = fs::read_dir("/run/netns") {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if matches(&name) {
                eprintln!("tern-e2e: removing namespace {name}");
                kill_namespace_processes(&name);
                if let Err(e) = ip(&["netns", "del", &name]) {
                    eprintln!("tern-e2e: could not remove namespace {name}: {e}");
                }
            }
        }
    }
    if let Ok(entries) = fs::read_dir(std::env::temp_dir()) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if matches(&name) {
                eprintln!(
                    "tern-e2e: removing lab directory {}",
                    entry.path().display()
                );
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// Whether [`Lab::new`] installs the Ctrl-C cleanup (see [`set_signal_cleanup`]).
static SIGNAL_CLEANUP: AtomicBool = AtomicBool::new(true);
static SIGNAL_HANDLER: Once = Once::new();

/// Chooses whether the first [`Lab::new`] of this process installs a handler for SIGINT,
/// SIGTERM and SIGHUP that removes every lab of the process (processes, namespaces,
/// directories) and exits with status 130 — so a Ctrl-C during `cargo test` leaves nothing
/// behind. On by default; a program that tears its labs down in order itself (the demo
/// disconnects first) turns it off before creating a lab.
pub fn set_signal_cleanup(enabled: bool) {
    SIGNAL_CLEANUP.store(enabled, Ordering::SeqCst);
}

fn install_signal_cleanup() {
    if !SIGNAL_CLEANUP.load(Ordering::SeqCst) {
        return;
    }
    SIGNAL_HANDLER.call_once(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let mut signals = match signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
            Ok(signals) => signals,
            Err(e) => {
                eprintln!("tern-e2e: no cleanup on Ctrl-C: {e}");
                return;
            }
        };
        std::thread::spawn(move || {
            if let Some(signal) = signals.forever().next() {
                eprintln!("\ntern-e2e: signal {signal}: removing this process's labs");
                sweep_own();
                std::process::exit(130);
            }
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_only_for_harness_names() {
        assert_eq!(owner_pid("tern-1234-e2e0-client"), Some(1234));
        assert_eq!(owner_pid("tern-1234-e2e17"), Some(1234));
        assert_eq!(owner_pid("tern-1234-client"), None);
        assert_eq!(owner_pid("tern-ternd-1234"), None);
        assert_eq!(owner_pid("other-1234-e2e0"), None);
    }

    #[test]
    fn this_process_is_alive() {
        assert!(process_alive(std::process::id()));
        assert!(owner_pid(&format!("tern-{}-e2e0", std::process::id())).is_some_and(process_alive));
    }
}

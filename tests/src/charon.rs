//! A strongSwan `charon` in one lab namespace: the gateway Tern is tested against (and, for the
//! harness self-test, a strongSwan client).
//!
//! Each instance runs as
//! `ip netns exec <ns> unshare -m bash -c 'mount --bind <dir>/run /run; mount --bind <dir>/resolv.conf /etc/resolv.conf; exec charon'`
//! so its fixed `/run/charon.pid` and anything it writes to `/etc/resolv.conf` stay private.
//! Its configuration comes from `<dir>/strongswan.conf` (through `STRONGSWAN_CONF`), its
//! credentials and `swanctl.conf` from `<dir>/swanctl` (through `SWANCTL_DIR`), and it logs to
//! `<dir>/charon.log`. The kernel here cannot carry ESP, so charon uses `kernel-libipsec`
//! (userspace ESP over a TUN device `ipsec0`, always UDP-encapsulated).

use std::fs;
use std::path::{Component, Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::cmd::{self, describe};
use crate::{Lab, LabError, Ns, Result, io_err};

/// The charon daemon (Debian: package `strongswan-charon`).
pub(crate) const CHARON: &str = "/usr/lib/ipsec/charon";
/// The vici command line tool (Debian: package `strongswan-swanctl`).
pub(crate) const SWANCTL: &str = "/usr/sbin/swanctl";
/// Where Debian installs strongSwan's plugins.
pub(crate) const PLUGIN_DIR: &str = "/usr/lib/ipsec/plugins";

/// The plugins every lab charon loads, in load order. `kernel-libipsec` must come before
/// `kernel-netlink`: it takes over the IPsec part (SAs and policies in userspace) while
/// `kernel-netlink` still installs addresses and routes.
pub(crate) const CHARON_PLUGINS: &[&str] = &[
    "random",
    "nonce",
    "openssl",
    "aes",
    "sha1",
    "sha2",
    "hmac",
    "gcm",
    "chapoly",
    "curve25519",
    "kdf",
    "mgf1",
    "pem",
    "pkcs1",
    "pkcs8",
    "x509",
    "pubkey",
    "revocation",
    "constraints",
    "kernel-libipsec",
    "kernel-netlink",
    "socket-default",
    "vici",
    "attr",
    "eap-identity",
    "eap-mschapv2",
    "eap-tls",
];

/// Plugins swanctl needs to parse credentials.
const SWANCTL_PLUGINS: &str =
    "pem pkcs1 pkcs8 x509 openssl random nonce revocation constraints pubkey";

/// The credential directories `swanctl --load-all` looks into (it warns for each one missing).
const CREDENTIAL_DIRS: &[&str] = &[
    "conf.d", "x509", "x509ca", "x509ocsp", "x509aa", "x509ac", "x509crl", "pubkey", "private",
    "rsa", "ecdsa", "bliss", "pkcs8", "pkcs12",
];

/// What a charon instance is given.
///
/// ```
/// let config = tern_e2e::GatewayConfig {
///     swanctl_conf: "connections { } secrets { }".into(),
///     files: vec![("x509ca/ca.pem".into(), b"-----BEGIN CERTIFICATE-----...".to_vec())],
///     ..Default::default()
/// };
/// # drop(config);
/// ```
#[derive(Debug, Clone, Default)]
pub struct CharonConfig {
    /// The text of `swanctl.conf`; loaded with `swanctl --load-all` once charon is up (skipped
    /// when empty).
    pub swanctl_conf: String,
    /// Files to place in the swanctl directory before loading, as (path relative to it, bytes):
    /// `x509ca/ca.pem`, `x509/gw.pem`, `private/gw.pem`, `conf.d/extra.conf` …
    pub files: Vec<(PathBuf, Vec<u8>)>,
    /// Extra settings inserted in the `charon { … }` section of `strongswan.conf`, for example
    /// `"fragment_size = 1200\n"` or `"plugins { openssl { fips_mode = 0 } }\n"`.
    pub charon_settings: String,
    /// Extra plugins to load after the standard ones (for example `"resolve"`).
    pub extra_plugins: Vec<String>,
}

/// The gateway's configuration (the same type as any charon's).
pub type GatewayConfig = CharonConfig;

/// The gateway: a [`Charon`] in [`Ns::Gateway`], started with [`Charon::start`].
pub type Gateway<'lab> = Charon<'lab>;

/// A running charon; stopped (process group killed and reaped) on drop. If the thread is
/// panicking at that moment (a failed test), the charon log is printed to stderr first.
///
/// ```no_run
/// use std::time::Duration;
/// use tern_e2e::{Gateway, GatewayConfig, Lab, LabConfig};
///
/// let lab = Lab::new(LabConfig::default()).unwrap();
/// let gateway = Gateway::start(&lab, GatewayConfig {
///     swanctl_conf: r#"
///         connections { rw { local_addrs = 198.51.100.1  pools = pool4
///             local { auth = psk  id = gw.tern.test }  remote { auth = psk }
///             children { net { local_ts = 10.99.0.0/24 } } } }
///         pools { pool4 { addrs = 10.99.100.0/24 } }
///         secrets { ike-1 { secret = "a-long-test-secret" } }
///     "#.into(),
///     ..GatewayConfig::default()
/// }).unwrap();
/// println!("{}", gateway.swanctl(&["--list-conns"]).unwrap());
/// // … start a client in Ns::Client …
/// let sa = gateway.wait_for_child_sa(Duration::from_secs(10)).unwrap();
/// println!("ESP SPIs in/out: {:08x}/{:08x}, {}", sa.spi_in, sa.spi_out, sa.encr_alg);
/// ```
#[derive(Debug)]
pub struct Charon<'lab> {
    lab: &'lab Lab,
    ns: Ns,
    dir: PathBuf,
    child: Option<Child>,
}

impl<'lab> Charon<'lab> {
    /// Starts the gateway: a charon in [`Ns::Gateway`].
    ///
    /// # Errors
    /// See [`Charon::start_in`].
    pub fn start(lab: &'lab Lab, config: CharonConfig) -> Result<Self> {
        Self::start_in(lab, Ns::Gateway, config)
    }

    /// Starts a charon in namespace `ns`, waits until its vici socket answers, then loads the
    /// configuration (`swanctl --load-all`).
    ///
    /// # Errors
    /// When files cannot be written, charon does not come up within 10 s or exits (the error
    /// carries its log), or swanctl rejects the configuration.
    pub fn start_in(lab: &'lab Lab, ns: Ns, config: CharonConfig) -> Result<Self> {
        let ns_name = lab.ns_name(ns)?.to_owned();
        // A fresh directory per start, so a restarted charon never sees its predecessor's files.
        let dir = (1..)
            .map(|n| match n {
                1 => lab.dir().join(format!("charon-{}", ns.role())),
                n => lab.dir().join(format!("charon-{}-{n}", ns.role())),
            })
            .find(|dir| !dir.exists())
            .ok_or_else(|| LabError::Invalid("no free charon directory".into()))?;
        let swanctl_dir = dir.join("swanctl");
        for sub in CREDENTIAL_DIRS {
            let path = swanctl_dir.join(sub);
            fs::create_dir_all(&path).map_err(io_err("creating directory", &path))?;
        }
        let run_dir = dir.join("run");
        fs::create_dir_all(&run_dir).map_err(io_err("creating directory", &run_dir))?;
        write(
            &dir.join("resolv.conf"),
            b"# private resolv.conf of a Tern lab charon\n",
        )?;
        write(
            &swanctl_dir.join("swanctl.conf"),
            config.swanctl_conf.as_bytes(),
        )?;
        for (relative, bytes) in &config.files {
            if relative.is_absolute()
                || relative
                    .components()
                    .any(|c| !matches!(c, Component::Normal(_)))
            {
                return Err(LabError::Invalid(format!(
                    "file path {} must be relative to the swanctl directory, without `..`",
                    relative.display()
                )));
            }
            let path = swanctl_dir.join(relative);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(io_err("creating directory", parent))?;
            }
            write(&path, bytes)?;
        }
        write(
            &dir.join("strongswan.conf"),
            strongswan_conf(&dir, &config).as_bytes(),
        )?;

        // argv[0] carries the lab id so leftovers can be found (`pgrep -f <lab id>`) and swept.
        let argv0 = format!("{}-charon-{}", lab.id(), ns.role());
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &ns_name, "unshare", "--mount", "--propagation", "private"])
            .args([
                "bash",
                "-c",
                r#"mount --bind "$1" /run && mount --bind "$2" /etc/resolv.conf && exec -a "$3" "$4""#,
                "tern-lab-charon",
            ])
            .arg(&run_dir)
            .arg(dir.join("resolv.conf"))
            .arg(&argv0)
            .arg(CHARON)
            .env("STRONGSWAN_CONF", dir.join("strongswan.conf"))
            .stdin(Stdio::null());
        let out_path = dir.join("charon.out");
        let out = fs::File::create(&out_path).map_err(io_err("creating", &out_path))?;
        let err = out.try_clone().map_err(io_err("duplicating", &out_path))?;
        command.stdout(out).stderr(err);
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().map_err(|source| LabError::Spawn {
            command: describe(&command),
            source,
        })?;
        let mut charon = Charon {
            lab,
            ns,
            dir,
            child: Some(child),
        };
        charon.wait_until_up(Duration::from_secs(10))?;
        if !config.swanctl_conf.trim().is_empty() {
            charon.load_all()?;
        }
        Ok(charon)
    }

    fn wait_until_up(&mut self, timeout: Duration) -> Result<()> {
        let started = Instant::now();
        loop {
            self.check_running()?;
            if self.vici_socket().exists() && self.swanctl(&["--stats"]).is_ok() {
                return Ok(());
            }
            if started.elapsed() > timeout {
                return Err(LabError::Timeout {
                    what: format!("charon in {} to open its vici socket", self.ns.role()),
                    seconds: timeout.as_secs_f64(),
                    details: format!(
                        "\ncharon log:\n{}",
                        without_vici_chatter(&self.log_and_output())
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Fails with the log if the charon process has exited.
    fn check_running(&mut self) -> Result<()> {
        let status = match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => return Ok(()),
            Some(Ok(Some(status))) => status.to_string(),
            Some(Err(e)) => e.to_string(),
            None => "stopped".to_owned(),
        };
        Err(LabError::CharonExited {
            namespace: self.lab.ns_name(self.ns).unwrap_or("?").to_owned(),
            status,
            log: without_vici_chatter(&self.log_and_output()),
        })
    }

    /// (Re)loads everything from the swanctl directory: `swanctl --load-all`.
    ///
    /// # Errors
    /// When swanctl fails or reports that a connection, secret or credential did not load.
    pub fn load_all(&self) -> Result<String> {
        let file = self.swanctl_dir().join("swanctl.conf");
        let output = self.swanctl(&["--load-all", "--file", &file.to_string_lossy()])?;
        if output.contains("failed") || output.contains("error") {
            return Err(LabError::CommandFailed {
                command: "swanctl --load-all".into(),
                status: "reported problems".into(),
                stdout: output,
                stderr: self.log(),
            });
        }
        Ok(output)
    }

    /// Runs `swanctl <args>` against this charon (its vici socket and swanctl directory) and
    /// returns the standard output. The first argument is the command (`--initiate`,
    /// `--list-sas` …).
    ///
    /// ```no_run
    /// # let lab = tern_e2e::Lab::new(Default::default()).unwrap();
    /// # let gateway = tern_e2e::Gateway::start(&lab, Default::default()).unwrap();
    /// gateway.swanctl(&["--terminate", "--ike", "rw", "--timeout", "5"]).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`LabError::CommandFailed`] with swanctl's output when it exits non-zero, or
    /// [`LabError::CharonExited`] (with the log) when charon is no longer running.
    pub fn swanctl(&self, args: &[&str]) -> Result<String> {
        let uri = format!("unix://{}", self.vici_socket().display());
        let mut full: Vec<&str> = Vec::with_capacity(args.len() + 2);
        full.extend(args.first());
        full.extend(["--uri", &uri]);
        full.extend(args.iter().skip(1));
        let mut command = cmd::command(SWANCTL, &full);
        command
            .env("STRONGSWAN_CONF", self.dir.join("strongswan.conf"))
            .env("SWANCTL_DIR", self.swanctl_dir());
        cmd::run(&mut command).map_err(|e| self.explain(e))
    }

    /// All CHILD_SAs charon currently lists (`swanctl --list-sas --pretty`).
    ///
    /// # Errors
    /// When swanctl fails.
    pub fn list_child_sas(&self) -> Result<Vec<ChildSaInfo>> {
        Ok(parse_list_sas(&self.swanctl(&["--list-sas", "--pretty"])?))
    }

    /// All IKE_SAs charon currently lists, with their CHILD_SAs.
    ///
    /// # Errors
    /// When swanctl fails.
    pub fn list_ike_sas(&self) -> Result<Vec<IkeSaInfo>> {
        Ok(parse_ike_sas(&self.swanctl(&["--list-sas", "--pretty"])?))
    }

    /// Polls `swanctl --list-sas` (every 50 ms) until `done` accepts the CHILD_SAs listed, and
    /// returns that listing. `what` names the condition in the timeout error.
    ///
    /// ```no_run
    /// # let lab = tern_e2e::Lab::new(Default::default()).unwrap();
    /// # let gateway = tern_e2e::Gateway::start(&lab, Default::default()).unwrap();
    /// use std::time::Duration;
    /// gateway.swanctl(&["--terminate", "--ike", "rw", "--timeout", "5"]).unwrap();
    /// gateway.wait_until(Duration::from_secs(5), "no SAs left", |sas| sas.is_empty()).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`LabError::Timeout`] with the last listing, or [`LabError::CharonExited`].
    pub fn wait_until(
        &self,
        timeout: Duration,
        what: &str,
        mut done: impl FnMut(&[ChildSaInfo]) -> bool,
    ) -> Result<Vec<ChildSaInfo>> {
        let started = Instant::now();
        loop {
            let listing = self.swanctl(&["--list-sas", "--pretty"])?;
            let sas = parse_list_sas(&listing);
            if done(&sas) {
                return Ok(sas);
            }
            if started.elapsed() > timeout {
                return Err(LabError::Timeout {
                    what: format!("{what} on the {} charon", self.ns.role()),
                    seconds: timeout.as_secs_f64(),
                    details: format!("\nlast --list-sas:\n{listing}"),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Prefers "charon exited" (with its log) over a bare swanctl connection error.
    fn explain(&self, error: LabError) -> LabError {
        let exited = self
            .child
            .as_ref()
            .is_none_or(|c| !crate::lab::process_alive(c.id()));
        if exited {
            LabError::CharonExited {
                namespace: self.lab.ns_name(self.ns).unwrap_or("?").to_owned(),
                status: "not running".into(),
                log: without_vici_chatter(&self.log_and_output()),
            }
        } else {
            error
        }
    }

    /// Waits until some CHILD_SA is `INSTALLED` and returns it.
    ///
    /// # Errors
    /// [`LabError::Timeout`] (with the last `--list-sas` output and the log) or
    /// [`LabError::CharonExited`].
    pub fn wait_for_child_sa(&self, timeout: Duration) -> Result<ChildSaInfo> {
        let installed = |sa: &ChildSaInfo| sa.state == "INSTALLED";
        let sas = self.wait_until(timeout, "an INSTALLED CHILD_SA", |sas| {
            sas.iter().any(installed)
        })?;
        sas.into_iter()
            .find(installed)
            .ok_or_else(|| LabError::Invalid("INSTALLED CHILD_SA vanished".into()))
    }

    /// Everything charon has logged so far (`ike`, `cfg`, `knl` at level 2).
    #[must_use]
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("charon.log")).unwrap_or_default()
    }

    fn log_and_output(&self) -> String {
        let output = fs::read_to_string(self.dir.join("charon.out")).unwrap_or_default();
        format!("{}\n--- stdout/stderr ---\n{output}", self.log())
    }

    /// This charon's private directory in the lab directory: `strongswan.conf`, `charon.log`,
    /// `charon.out` (its stdout/stderr), `charon.vici`, `run/` (mounted over its `/run`),
    /// `resolv.conf` (mounted over its `/etc/resolv.conf`) and `swanctl/`.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The swanctl directory (`swanctl.conf`, `x509ca/`, `x509/`, `private/` …).
    #[must_use]
    pub fn swanctl_dir(&self) -> PathBuf {
        self.dir.join("swanctl")
    }

    /// The path of the vici socket (a file in the lab directory).
    #[must_use]
    pub fn vici_socket(&self) -> PathBuf {
        self.dir.join("charon.vici")
    }

    /// The namespace this charon runs in.
    #[must_use]
    pub fn ns(&self) -> Ns {
        self.ns
    }

    /// The pid of the charon process (for checks that it is gone after drop).
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops charon: SIGTERM to its process group, SIGKILL after 3 s, then reaps it.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let Ok(raw) = i32::try_from(child.id()) else {
            return;
        };
        let group = Pid::from_raw(raw);
        let _ = killpg(group, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                // Children of charon (none expected) would share the group: finish them too.
                let _ = killpg(group, Signal::SIGKILL);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = killpg(group, Signal::SIGKILL);
        let _ = child.wait();
    }
}

impl Drop for Charon<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "\n===== charon log ({} namespace, {}) =====\n{}\n===== end of charon log =====\n",
                self.ns.role(),
                self.dir.display(),
                without_vici_chatter(&self.log_and_output())
            );
        }
        self.stop();
    }
}

/// The log without the lines every `swanctl` call adds (the harness polls through vici).
fn without_vici_chatter(log: &str) -> String {
    log.lines()
        .filter(|line| !line.contains("] vici client "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    fs::write(path, bytes).map_err(io_err("writing", path))
}

fn strongswan_conf(dir: &Path, config: &CharonConfig) -> String {
    let mut plugins = CHARON_PLUGINS.join(" ");
    for extra in &config.extra_plugins {
        plugins.push(' ');
        plugins.push_str(extra);
    }
    let d = dir.display();
    format!(
        "# Written by tern-e2e for one lab charon.\n\
         charon {{\n\
         \x20 load = {plugins}\n\
         \x20 filelog {{\n\
         \x20   lab {{\n\
         \x20     path = {d}/charon.log\n\
         \x20     time_format = %H:%M:%S\n\
         \x20     time_add_ms = yes\n\
         \x20     ike_name = yes\n\
         \x20     append = no\n\
         \x20     flush_line = yes\n\
         \x20     default = 1\n\
         \x20     ike = 2\n\
         \x20     cfg = 2\n\
         \x20     knl = 2\n\
         \x20     enc = 1\n\
         \x20     net = 1\n\
         \x20   }}\n\
         \x20 }}\n\
         \x20 syslog {{\n\
         \x20   daemon {{\n\
         \x20     default = -1\n\
         \x20   }}\n\
         \x20 }}\n\
         \x20 plugins {{\n\
         \x20   vici {{\n\
         \x20     socket = unix://{d}/charon.vici\n\
         \x20   }}\n\
         \x20   resolve {{\n\
         \x20     file = {d}/resolv.conf.charon\n\
         \x20   }}\n\
         \x20 }}\n\
         {extra}\n\
         }}\n\
         swanctl {{\n\
         \x20 load = {SWANCTL_PLUGINS}\n\
         }}\n",
        extra = config.charon_settings,
    )
}

/// One CHILD_SA as charon lists it, with the IKE_SA it belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChildSaInfo {
    /// The IKE_SA's connection name.
    pub ike_name: String,
    /// The IKE_SA's state (`ESTABLISHED` …).
    pub ike_state: String,
    /// The peer's address as charon sees it (after NAT).
    pub remote_host: String,
    /// The peer's UDP port (4500 once floated).
    pub remote_port: Option<u16>,
    /// The peer's IKE identity.
    pub remote_id: String,
    /// The peer's EAP identity, if it authenticated with EAP.
    pub remote_eap_id: Option<String>,
    /// Virtual IPs assigned to the peer.
    pub remote_vips: Vec<String>,
    /// Virtual IPs this charon received.
    pub local_vips: Vec<String>,
    /// The CHILD_SA's configured name.
    pub name: String,
    /// Its state (`INSTALLED`, `REKEYING` …).
    pub state: String,
    /// `ESP` or `AH`.
    pub protocol: String,
    /// Whether ESP is UDP-encapsulated.
    pub encap: bool,
    /// Inbound SPI (what the peer puts in packets to us).
    pub spi_in: u32,
    /// Outbound SPI.
    pub spi_out: u32,
    /// Encryption algorithm (`AES_GCM_16`, `AES_CBC` …).
    pub encr_alg: String,
    /// Key size in bits, when the algorithm has one.
    pub encr_keysize: Option<u32>,
    /// Integrity algorithm (absent for AEAD).
    pub integ_alg: Option<String>,
    /// DH group used for PFS in this CHILD_SA, if any.
    pub dh_group: Option<String>,
    /// Local traffic selectors.
    pub local_ts: Vec<String>,
    /// Remote traffic selectors.
    pub remote_ts: Vec<String>,
    /// Bytes received (decrypted), as charon counts them.
    pub bytes_in: u64,
    /// Bytes sent (encrypted).
    pub bytes_out: u64,
    /// Packets received.
    pub packets_in: u64,
    /// Packets sent.
    pub packets_out: u64,
}

/// One IKE_SA as charon lists it, with its CHILD_SAs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IkeSaInfo {
    /// The connection name.
    pub name: String,
    /// charon's unique id of this IKE_SA (for `swanctl --terminate --ike-id`).
    pub unique_id: u64,
    /// `CONNECTING`, `ESTABLISHED`, `REKEYING`, `DELETING` …
    pub state: String,
    /// This charon's address.
    pub local_host: String,
    /// This charon's UDP port (4500 once floated).
    pub local_port: Option<u16>,
    /// This charon's IKE identity.
    pub local_id: String,
    /// The peer's address as charon sees it (after NAT).
    pub remote_host: String,
    /// The peer's UDP port.
    pub remote_port: Option<u16>,
    /// The peer's IKE identity.
    pub remote_id: String,
    /// The peer's EAP identity, if it authenticated with EAP.
    pub remote_eap_id: Option<String>,
    /// Whether this charon initiated the IKE_SA.
    pub initiator: bool,
    /// The initiator's IKE SPI.
    pub initiator_spi: u64,
    /// The responder's IKE SPI.
    pub responder_spi: u64,
    /// charon believes the peer is behind NAT (always, with `kernel-libipsec`).
    pub nat_remote: bool,
    /// charon believes itself behind NAT.
    pub nat_local: bool,
    /// IKE encryption algorithm.
    pub encr_alg: String,
    /// IKE encryption key size in bits.
    pub encr_keysize: Option<u32>,
    /// IKE integrity algorithm (absent for AEAD).
    pub integ_alg: Option<String>,
    /// IKE PRF.
    pub prf_alg: String,
    /// IKE key exchange group (`CURVE_25519`, `ECP_256` …).
    pub dh_group: String,
    /// Virtual IPs this charon received.
    pub local_vips: Vec<String>,
    /// Virtual IPs assigned to the peer.
    pub remote_vips: Vec<String>,
    /// Its CHILD_SAs.
    pub children: Vec<ChildSaInfo>,
}

/// A node of swanctl's `--pretty` output.
#[derive(Debug, Default)]
struct Section {
    values: Vec<(String, String)>,
    lists: Vec<(String, Vec<String>)>,
    sections: Vec<(String, Section)>,
}

impl Section {
    fn value(&self, key: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    fn string(&self, key: &str) -> String {
        self.value(key).unwrap_or_default().to_owned()
    }
    fn list(&self, key: &str) -> Vec<String> {
        self.lists
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
    fn section(&self, key: &str) -> Option<&Section> {
        self.sections.iter().find(|(k, _)| k == key).map(|(_, s)| s)
    }
}

/// Parses `swanctl --list-sas --pretty` output into CHILD_SAs (empty when there are none).
/// Unknown or malformed lines are skipped, never a panic.
#[must_use]
pub fn parse_list_sas(pretty: &str) -> Vec<ChildSaInfo> {
    parse_ike_sas(pretty)
        .into_iter()
        .flat_map(|ike| ike.children)
        .collect()
}

/// Parses `swanctl --list-sas --pretty` output into IKE_SAs with their CHILD_SAs.
/// Unknown or malformed lines are skipped, never a panic.
#[must_use]
pub fn parse_ike_sas(pretty: &str) -> Vec<IkeSaInfo> {
    let root = parse_pretty(pretty);
    let mut found = Vec::new();
    for (event, body) in &root.sections {
        if event != "list-sa event" {
            continue;
        }
        for (ike_name, ike) in &body.sections {
            let mut info = IkeSaInfo {
                name: ike_name.clone(),
                unique_id: number(ike.value("uniqueid")),
                state: ike.string("state"),
                local_host: ike.string("local-host"),
                local_port: ike.value("local-port").and_then(|p| p.parse().ok()),
                local_id: ike.string("local-id"),
                remote_host: ike.string("remote-host"),
                remote_port: ike.value("remote-port").and_then(|p| p.parse().ok()),
                remote_id: ike.string("remote-id"),
                remote_eap_id: ike.value("remote-eap-id").map(str::to_owned),
                initiator: ike.value("initiator") == Some("yes"),
                initiator_spi: hex_u64(ike.value("initiator-spi")),
                responder_spi: hex_u64(ike.value("responder-spi")),
                nat_remote: ike.value("nat-remote") == Some("yes"),
                nat_local: ike.value("nat-local") == Some("yes"),
                encr_alg: ike.string("encr-alg"),
                encr_keysize: ike.value("encr-keysize").and_then(|k| k.parse().ok()),
                integ_alg: ike.value("integ-alg").map(str::to_owned),
                prf_alg: ike.string("prf-alg"),
                dh_group: ike.string("dh-group"),
                local_vips: ike.list("local-vips"),
                remote_vips: ike.list("remote-vips"),
                children: Vec::new(),
            };
            if let Some(children) = ike.section("child-sas") {
                for (_, child) in &children.sections {
                    info.children.push(ChildSaInfo {
                        ike_name: info.name.clone(),
                        ike_state: info.state.clone(),
                        remote_host: info.remote_host.clone(),
                        remote_port: info.remote_port,
                        remote_id: info.remote_id.clone(),
                        remote_eap_id: info.remote_eap_id.clone(),
                        remote_vips: info.remote_vips.clone(),
                        local_vips: info.local_vips.clone(),
                        name: child.string("name"),
                        state: child.string("state"),
                        protocol: child.string("protocol"),
                        encap: child.value("encap") == Some("yes"),
                        spi_in: hex_u32(child.value("spi-in")),
                        spi_out: hex_u32(child.value("spi-out")),
                        encr_alg: child.string("encr-alg"),
                        encr_keysize: child.value("encr-keysize").and_then(|k| k.parse().ok()),
                        integ_alg: child.value("integ-alg").map(str::to_owned),
                        dh_group: child.value("dh-group").map(str::to_owned),
                        local_ts: child.list("local-ts"),
                        remote_ts: child.list("remote-ts"),
                        bytes_in: number(child.value("bytes-in")),
                        bytes_out: number(child.value("bytes-out")),
                        packets_in: number(child.value("packets-in")),
                        packets_out: number(child.value("packets-out")),
                    });
                }
            }
            found.push(info);
        }
    }
    found
}

fn number(value: Option<&str>) -> u64 {
    value.and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn hex_u64(value: Option<&str>) -> u64 {
    value
        .and_then(|v| u64::from_str_radix(v, 16).ok())
        .unwrap_or(0)
}

fn hex_u32(value: Option<&str>) -> u32 {
    value
        .and_then(|v| u32::from_str_radix(v.trim_start_matches("0x"), 16).ok())
        .unwrap_or(0)
}

/// Reads the indented `--pretty` format: `name {` … `}`, `key = value`, `key = [` items `]`.
fn parse_pretty(text: &str) -> Section {
    // A stack of open sections; the root is at the bottom.
    let mut stack: Vec<(String, Section)> = vec![(String::new(), Section::default())];
    let mut open_list: Option<(String, Vec<String>)> = None;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some((key, items)) = open_list.as_mut() {
            if line == "]" {
                let list = (std::mem::take(key), std::mem::take(items));
                if let Some((_, top)) = stack.last_mut() {
                    top.lists.push(list);
                }
                open_list = None;
            } else {
                items.push(line.to_owned());
            }
        } else if let Some(name) = line.strip_suffix('{') {
            stack.push((name.trim().to_owned(), Section::default()));
        } else if line == "}" {
            if stack.len() > 1
                && let Some((name, done)) = stack.pop()
                && let Some((_, parent)) = stack.last_mut()
            {
                parent.sections.push((name, done));
            }
        } else if let Some((key, value)) = line.split_once(" = ") {
            if value == "[" {
                open_list = Some((key.to_owned(), Vec::new()));
            } else if let Some((_, top)) = stack.last_mut() {
                top.values.push((key.to_owned(), value.to_owned()));
            }
        } else if let Some(name) = line.strip_suffix("{}")
            && let Some((_, top)) = stack.last_mut()
        {
            top.sections
                .push((name.trim().to_owned(), Section::default()));
        }
    }
    // Close whatever the text left open (truncated output).
    while stack.len() > 1 {
        if let Some((name, done)) = stack.pop()
            && let Some((_, parent)) = stack.last_mut()
        {
            parent.sections.push((name, done));
        }
    }
    stack.pop().map(|(_, root)| root).unwrap_or_default()
}

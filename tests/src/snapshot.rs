//! What the client namespace's network and DNS look like, to prove that a disconnect (or a
//! failed connect) leaves the system exactly as it was.

use std::path::Path;

use crate::{Lab, Ns, Result, io_err};

/// Addresses, routes (all tables), policy rules, links and the resolv.conf of the client
/// namespace. Compare two with `==`; `Debug` shows both in a failed `assert_eq!`.
///
/// ```no_run
/// # let lab = tern_e2e::Lab::new(Default::default()).unwrap();
/// # let resolv = std::path::Path::new("/tmp/resolv.conf");
/// use tern_e2e::NetworkSnapshot;
/// let before = NetworkSnapshot::take(&lab, resolv).unwrap();
/// // … connect, use and disconnect the tunnel …
/// assert_eq!(NetworkSnapshot::take(&lab, resolv).unwrap(), before);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSnapshot {
    /// `ip -brief address`.
    pub addresses: String,
    /// `ip -4 route show table all` and `ip -6 route show table all`.
    pub routes: String,
    /// `ip -4 rule` and `ip -6 rule`.
    pub rules: String,
    /// `ip -brief link`.
    pub links: String,
    /// The resolv.conf the helper manages.
    pub resolv_conf: String,
}

impl NetworkSnapshot {
    /// Takes the snapshot of the lab's client namespace, with `resolv_conf` as its resolv.conf.
    ///
    /// # Errors
    /// When an `ip` command fails or the resolv.conf cannot be read.
    pub fn take(lab: &Lab, resolv_conf: &Path) -> Result<NetworkSnapshot> {
        // Link-local IPv6 addresses come and go with the lab's links finishing DAD; not ours.
        let run = |args: &[&str]| -> Result<String> {
            Ok(lab
                .exec(Ns::Client, args)?
                .lines()
                .filter(|l| !l.starts_with("local fe80"))
                .map(|l| {
                    l.split_whitespace()
                        .filter(|w| !w.starts_with("fe80"))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect::<Vec<_>>()
                .join("\n"))
        };
        Ok(NetworkSnapshot {
            addresses: run(&["ip", "-brief", "address"])?,
            routes: format!(
                "{}\n{}",
                run(&["ip", "-4", "route", "show", "table", "all"])?,
                run(&["ip", "-6", "route", "show", "table", "all"])?
            ),
            rules: format!(
                "{}\n{}",
                run(&["ip", "-4", "rule"])?,
                run(&["ip", "-6", "rule"])?
            ),
            links: run(&["ip", "-brief", "link"])?,
            resolv_conf: std::fs::read_to_string(resolv_conf)
                .map_err(io_err("reading", resolv_conf))?,
        })
    }
}

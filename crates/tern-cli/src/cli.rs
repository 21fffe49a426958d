//! The command line, declared once: parsing, `--help`, shell completions and the man page all
//! come from these definitions.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use profile::SecretKind;

/// Tern: connect to IPsec (IKEv2) VPN gateways.
#[derive(Debug, Parser)]
#[command(name = "tern", version, propagate_version = true)]
pub struct Cli {
    /// Path of the Tern helper's socket.
    #[arg(long, env = ipc::SOCKET_ENV, global = true, value_name = "PATH")]
    pub socket: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import a profile from a .sswan, .mobileconfig or Tern profile file.
    ///
    /// Shows what the profile will do and asks before saving it; secrets the file carries go
    /// to the OS keyring. A profile with the same UUID is replaced.
    Import {
        /// The file to import.
        file: PathBuf,
        /// Save the profile under this name instead of the file's.
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Import without asking (needed when stdin is not a terminal).
        #[arg(long, short = 'y')]
        yes: bool,
        /// The client certificate and key as a PKCS#12 (.p12/.pfx) file, for a profile that
        /// authenticates with a certificate or EAP-TLS (instead of the one the file carries).
        #[arg(long, value_name = "FILE", conflicts_with_all = ["key", "cert"])]
        pkcs12: Option<PathBuf>,
        /// The client's private key (PKCS#8 PEM or DER), with --cert.
        #[arg(long, value_name = "FILE", requires = "cert")]
        key: Option<PathBuf>,
        /// The client's certificate chain (PEM, own certificate first; or one DER
        /// certificate), with --key.
        #[arg(long, value_name = "FILE", requires = "key")]
        cert: Option<PathBuf>,
        /// Read the client certificate's PKCS#12 passphrase from stdin (without a keyring,
        /// also the passphrase the stored key is kept under). Needs --yes.
        #[arg(long, requires = "yes")]
        passphrase_stdin: bool,
    },
    /// List the profiles.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one profile in full.
    Show {
        /// The profile's name or UUID.
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write a profile as a Tern profile file (without its secrets).
    Export {
        /// The profile's name or UUID.
        name: String,
        /// Where to write it; stdout when left out.
        file: Option<PathBuf>,
    },
    /// Rename a profile.
    Rename {
        /// The profile's name or UUID.
        name: String,
        /// The new name.
        new_name: String,
    },
    /// Delete a profile and its secrets in the keyring.
    Delete {
        /// The profile's name or UUID.
        name: String,
        /// Delete without asking (needed when stdin is not a terminal).
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Bring the tunnel up with a profile.
    ///
    /// Secrets come from the OS keyring; missing ones are asked for on the terminal, or read
    /// from stdin with --password-stdin.
    Connect {
        /// The profile's name or UUID.
        name: String,
        /// Read the profile's password from stdin (the EAP password, else the pre-shared key,
        /// else the PKCS#12 passphrase) instead of the keyring.
        #[arg(long)]
        password_stdin: bool,
        /// Wait until the tunnel is up (exit 0) or has failed (exit 4).
        #[arg(long)]
        wait: bool,
        /// With --wait: give up (and cancel the attempt) after this many seconds (exit 5). The
        /// default outlasts the IKE retransmissions (about 60 s), so an unreachable gateway is
        /// reported as such (exit 4) rather than as a timeout.
        #[arg(
            long,
            value_name = "SECONDS",
            default_value_t = 75,
            requires = "wait",
            value_parser = clap::value_parser!(u64).range(1..=3600)
        )]
        timeout: u64,
    },
    /// Store or clear a profile's secrets in the OS keyring.
    Secret {
        /// What to do.
        #[command(subcommand)]
        action: SecretAction,
    },
    /// Show the tunnel's state, addresses, DNS, algorithms and traffic.
    Status {
        /// Print JSON (one object per line with --watch) instead of text.
        #[arg(long)]
        json: bool,
        /// Keep printing the status whenever it changes, until Ctrl-C.
        #[arg(long)]
        watch: bool,
    },
    /// Take the tunnel down and restore routes and DNS.
    Disconnect,
    /// Print the helper's recent log lines.
    Logs {
        /// Keep printing new lines until Ctrl-C.
        #[arg(long, short = 'f')]
        follow: bool,
        /// Only lines after this sequence number.
        #[arg(long, value_name = "SEQ")]
        since: Option<u64>,
    },
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    #[command(hide = true)]
    Man,
}

/// `tern secret` subcommands.
#[derive(Debug, Subcommand)]
pub enum SecretAction {
    /// Store a secret of a profile in the keyring (asked for without echo, or read from stdin).
    Set {
        /// The profile's name or UUID.
        name: String,
        /// Which secret, when the profile needs several.
        #[arg(long, value_enum)]
        kind: Option<KindArg>,
        /// Read the secret from stdin (for private-key: a PKCS#12 file, whose passphrase is
        /// then asked for on the terminal).
        #[arg(long)]
        stdin: bool,
    },
    /// Remove a profile's secrets from the keyring (all of them unless --kind).
    Clear {
        /// The profile's name or UUID.
        name: String,
        /// Only this secret.
        #[arg(long, value_enum)]
        kind: Option<KindArg>,
    },
}

/// Secret kinds on the command line (the names used in keyring accounts and JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// The IKE pre-shared key.
    PreSharedKey,
    /// The EAP password.
    EapPassword,
    /// The passphrase of the stored client certificate (PKCS#12).
    Pkcs12Passphrase,
    /// The client's key and certificate, from a PKCS#12 file (kept in the profile store,
    /// encrypted; its passphrase in the keyring).
    PrivateKey,
}

impl From<KindArg> for SecretKind {
    fn from(kind: KindArg) -> Self {
        match kind {
            KindArg::PreSharedKey => Self::PreSharedKey,
            KindArg::EapPassword => Self::EapPassword,
            KindArg::Pkcs12Passphrase => Self::Pkcs12Passphrase,
            KindArg::PrivateKey => Self::PrivateKey,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn socket_is_global() {
        let cli =
            Cli::try_parse_from(["tern", "status", "--socket", "/tmp/x.sock", "--json"]).unwrap();
        assert_eq!(
            cli.socket.as_deref(),
            Some(std::path::Path::new("/tmp/x.sock"))
        );
        assert!(matches!(
            cli.command,
            Command::Status {
                json: true,
                watch: false
            }
        ));
    }

    #[test]
    fn kind_names_match_the_keyring_names() {
        for kind in KindArg::value_variants() {
            let name = kind.to_possible_value().unwrap();
            assert_eq!(name.get_name(), crate::keyring::kind_name((*kind).into()));
        }
    }

    #[test]
    fn timeout_needs_wait() {
        assert!(Cli::try_parse_from(["tern", "connect", "Work", "--timeout", "5"]).is_err());
        let cli =
            Cli::try_parse_from(["tern", "connect", "Work", "--wait", "--timeout", "5"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Connect {
                wait: true,
                timeout: 5,
                ..
            }
        ));
        assert!(Cli::try_parse_from(["tern", "connect", "W", "--wait", "--timeout", "0"]).is_err());
    }

    #[test]
    fn man_page_mentions_every_subcommand() {
        let mut page = Vec::new();
        clap_mangen::Man::new(Cli::command())
            .render(&mut page)
            .unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(page.starts_with(".ie"), "{page}");
        for sub in Cli::command().get_subcommands() {
            if sub.is_hide_set() {
                continue;
            }
            assert!(
                page.contains(&format!("tern\\-{}", sub.get_name())),
                "the man page does not mention {}",
                sub.get_name()
            );
        }
    }
}

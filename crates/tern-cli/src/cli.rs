//! The command line, declared once: parsing, `--help`, shell completions and the man page all
//! come from these definitions.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
}

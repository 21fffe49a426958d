//! `tern`, the command-line client: imports profiles, keeps secrets in the OS keyring, and
//! drives `ternd` over IPC.
//!
//! Room and rules:
//! - Unprivileged; talks to the helper only through `ipc`.
//! - Never links the protocol cores (`ike`, `esp`).
//! - Results go to stdout (with `--json`, in the documented stable shape); errors go to stderr
//!   as `tern: <sentence>` with the exit codes of [`failure::Exit`] (see `docs/cli.md`).
//! - Secrets live in the OS keyring ([`keyring`]), are zeroized after use and never printed.

mod cli;
mod client_key;
mod connect;
mod failure;
mod keyring;
mod profiles;
mod prompt;
mod render;
mod resolve;
mod secret;
mod view;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use ipc::{Client, Event};

use cli::{Cli, Command, SecretAction};
use failure::{CmdResult, Exit, Failure};
use keyring::Keyring;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => Exit::Ok.into(),
        Err(failure) => {
            eprintln!("tern: {}", failure.message);
            failure.exit.into()
        }
    }
}

fn run(cli: Cli) -> CmdResult {
    let socket = cli.socket.clone().unwrap_or_else(ipc::default_socket_path);
    // Commands that only touch files and the keyring run without an async runtime: the
    // keyring's own blocking calls then never sit inside one.
    match cli.command {
        Command::Import {
            file,
            name,
            yes,
            pkcs12,
            key,
            cert,
            passphrase_stdin,
        } => {
            let source = profiles::KeyOptions {
                pkcs12,
                pem: key.zip(cert),
                passphrase_stdin,
            };
            profiles::import(&file, name, yes, &source, &Keyring::open_default())
        }
        Command::List { json } => profiles::list(json),
        Command::Show { name, json } => profiles::show(&name, json, &Keyring::open_default()),
        Command::Export { name, file } => profiles::export(&name, file.as_deref()),
        Command::Rename { name, new_name } => profiles::rename(&name, &new_name),
        Command::Delete { name, yes } => profiles::delete(&name, yes, &Keyring::open_default()),
        Command::Secret { action } => match action {
            SecretAction::Set { name, kind, stdin } => {
                secret::set(&name, kind, stdin, &Keyring::open_default())
            }
            SecretAction::Clear { name, kind } => {
                secret::clear(&name, kind, &Keyring::open_default())
            }
        },
        Command::Connect {
            name,
            password_stdin,
            wait,
            timeout,
        } => {
            let request = connect::prepare(&name, password_stdin, &Keyring::open_default())?;
            let wait = wait.then(|| Duration::from_secs(timeout));
            block_on(connect::run(&socket, request, wait))
        }
        Command::Status { json, watch } => block_on(status(&socket, json, watch)),
        Command::Disconnect => block_on(async {
            let mut client = Client::connect(&socket).await?;
            client.disconnect().await.map_err(|e| match e {
                ipc::IpcError::Refused(reply) => Failure::error(reply.message),
                other => other.into(),
            })?;
            Ok(())
        }),
        Command::Logs { follow, since } => block_on(logs(&socket, follow, since)),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "tern", &mut std::io::stdout());
            Ok(())
        }
        Command::Man => clap_mangen::Man::new(Cli::command())
            .render(&mut std::io::stdout())
            .map_err(|e| Failure::error(format!("cannot write the man page: {e}"))),
    }
}

fn block_on<F: Future<Output = CmdResult>>(future: F) -> CmdResult {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::error(format!("cannot start: {e}")))?
        .block_on(future)
}

async fn status(socket: &Path, json: bool, watch: bool) -> CmdResult {
    let mut client = Client::connect(socket).await?;
    let status = client.status().await?;
    render::status(&status, json);
    if watch {
        client.subscribe().await?;
        loop {
            tokio::select! {
                event = client.next_event() => match event? {
                    Some(Event::Status(status)) => render::status(&status, json),
                    Some(Event::Log(_)) => {}
                    None => return Err(Failure::error("the Tern helper closed the connection")),
                },
                _ = tokio::signal::ctrl_c() => break,
            }
        }
    }
    Ok(())
}

async fn logs(socket: &Path, follow: bool, since: Option<u64>) -> CmdResult {
    let mut client = Client::connect(socket).await?;
    for line in client.logs(since, follow).await? {
        render::log_line(&line);
    }
    if follow {
        loop {
            tokio::select! {
                event = client.next_event() => match event? {
                    Some(Event::Log(line)) => render::log_line(&line),
                    Some(Event::Status(_)) => {}
                    None => return Ok(()),
                },
                _ = tokio::signal::ctrl_c() => break,
            }
        }
    }
    Ok(())
}

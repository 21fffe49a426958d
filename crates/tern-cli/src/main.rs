//! `tern`, the command-line client: imports profiles, keeps secrets in the OS keyring, and
//! drives `ternd` over IPC.
//!
//! Room and rules:
//! - Unprivileged; talks to the helper only through `ipc`.
//! - Never links the protocol cores (`ike`, `esp`).
//! - Results go to stdout (with `--json`, in the documented stable shape); errors go to stderr
//!   with a non-zero exit code.

mod cli;
mod render;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use ipc::{Client, Event};

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tern: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("tern: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, String> {
    let socket = cli.socket.clone().unwrap_or_else(ipc::default_socket_path);
    let connect = || async { Client::connect(&socket).await.map_err(|e| e.to_string()) };
    match cli.command {
        Command::Status { json, watch } => {
            let mut client = connect().await?;
            let status = client.status().await.map_err(|e| e.to_string())?;
            render::status(&status, json);
            if watch {
                client.subscribe().await.map_err(|e| e.to_string())?;
                loop {
                    tokio::select! {
                        event = client.next_event() => match event.map_err(|e| e.to_string())? {
                            Some(Event::Status(status)) => render::status(&status, json),
                            Some(Event::Log(_)) => {}
                            None => return Err("the Tern helper closed the connection".into()),
                        },
                        _ = tokio::signal::ctrl_c() => break,
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Disconnect => {
            let mut client = connect().await?;
            client.disconnect().await.map_err(|e| e.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Logs { follow, since } => {
            let mut client = connect().await?;
            for line in client
                .logs(since, follow)
                .await
                .map_err(|e| e.to_string())?
            {
                render::log_line(&line);
            }
            if follow {
                loop {
                    tokio::select! {
                        event = client.next_event() => match event.map_err(|e| e.to_string())? {
                            Some(Event::Log(line)) => render::log_line(&line),
                            Some(Event::Status(_)) => {}
                            None => return Ok(ExitCode::SUCCESS),
                        },
                        _ = tokio::signal::ctrl_c() => break,
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "tern", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command())
                .render(&mut std::io::stdout())
                .map_err(|e| format!("cannot write the man page: {e}"))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

//! `ternd-lab`: Tern's datapath with manual SAs, **for testing and benchmarking only**.
//!
//! Brings up a TUN device and the ESP datapath from a file of static SAs (see
//! `ternd::lab`), without IKE, so two Tern datapaths can face each other in the benchmark lab.
//! It is a separate binary on purpose: the `ternd` service cannot be told to do this, and no
//! profile or IPC request reaches it. Runs until SIGTERM or SIGINT.

#[cfg(target_os = "linux")]
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    use std::process::ExitCode;

    use tokio::signal::unix::{SignalKind, signal};

    let mut args = std::env::args().skip(1);
    let (Some(path), None) = (args.next(), args.next()) else {
        eprintln!("usage: ternd-lab SA-FILE   (testing and benchmarking only; see ternd::lab)");
        return ExitCode::from(2);
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TERN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let file = std::fs::read_to_string(&path)
        .map_err(|source| ternd::lab::LabError::Io {
            what: format!("reading {path}"),
            source,
        })
        .and_then(|text| ternd::lab::LabSaFile::parse(&text));
    let (file, Ok(mut terminate), Ok(mut interrupt)) = (
        file,
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("ternd-lab: cannot handle SIGTERM/SIGINT");
        return ExitCode::FAILURE;
    };
    let file = match file {
        Ok(file) => file,
        Err(error) => {
            eprintln!("ternd-lab: {error}");
            return ExitCode::FAILURE;
        }
    };
    tokio::select! {
        result = ternd::lab::run(&file) => match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("ternd-lab: {error}");
                ExitCode::FAILURE
            }
        },
        _ = terminate.recv() => ExitCode::SUCCESS,
        _ = interrupt.recv() => ExitCode::SUCCESS,
    }
}

#[cfg(not(target_os = "linux"))]
fn main() -> std::process::ExitCode {
    eprintln!("ternd-lab: Linux only");
    std::process::ExitCode::FAILURE
}

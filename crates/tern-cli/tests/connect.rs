//! `tern connect` and `tern status` against a scripted fake helper on a Unix socket in a
//! temporary directory, speaking the real frame protocol.

#![cfg(unix)]
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions may unwrap too

mod common;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Ran, Tern, fixture_arg};
use ipc::{
    ClientMessage, ConnectStage, ErrorCode, ErrorReply, Event, Failure, FailureKind,
    PROTOCOL_VERSION, ProfileSummary, Request, Response, ServerMessage, Status, TunnelState, frame,
};
use tokio::net::{UnixListener, UnixStream};

const EAP_ID: &str = "d8a0f1f5-3b6f-4c53-9a3b-4a9e2f0c7b11";

/// What the fake helper does with a connect request.
#[derive(Clone)]
enum Script {
    /// Accept it, then send these states one by one.
    States(Vec<TunnelState>),
    /// Refuse it.
    Refuse(ErrorReply),
}

/// What the fake helper was asked.
#[derive(Default, Debug)]
struct Seen {
    /// (profile id, EAP username, EAP password) of each connect.
    connects: Vec<(String, Option<String>, Option<String>)>,
    disconnects: usize,
    subscribed_before_connect: bool,
}

struct FakeHelper {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    seen: Arc<Mutex<Seen>>,
}

impl FakeHelper {
    fn start(script: Script) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("ternd.sock");
        let seen = Arc::new(Mutex::new(Seen::default()));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let listener = {
            let _guard = runtime.enter();
            UnixListener::bind(&socket).unwrap()
        };
        let shared = Arc::clone(&seen);
        // The thread ends with the test process; the socket goes with the temporary directory.
        std::thread::spawn(move || {
            runtime.block_on(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    tokio::spawn(serve(stream, script.clone(), Arc::clone(&shared)));
                }
            });
        });
        Self {
            _dir: dir,
            socket,
            seen,
        }
    }

    fn socket(&self) -> &str {
        self.socket.to_str().unwrap()
    }
}

fn connected_status() -> Status {
    Status {
        state: TunnelState::Connected,
        profile: Some(ProfileSummary {
            uuid: EAP_ID.into(),
            name: "Example Corp (EAP)".into(),
        }),
        gateway: Some("vpn.example.com".into()),
        ..Status::default()
    }
}

async fn serve(mut stream: UnixStream, script: Script, seen: Arc<Mutex<Seen>>) {
    let mut subscribed = false;
    while let Ok(Some(msg)) = frame::read::<_, ClientMessage>(&mut stream).await {
        let mut then = Vec::new();
        let mut profile = None;
        let result = match msg.request {
            Request::Hello { .. } => Ok(Response::Hello {
                version: PROTOCOL_VERSION,
                server: "fake-ternd".into(),
            }),
            Request::Status => Ok(Response::Status(Box::new(connected_status()))),
            Request::Subscribe => {
                subscribed = true;
                Ok(Response::Done)
            }
            Request::Disconnect => {
                seen.lock().unwrap().disconnects += 1;
                Ok(Response::Done)
            }
            Request::Connect(request) => {
                let mut seen = seen.lock().unwrap();
                seen.subscribed_before_connect = subscribed;
                seen.connects.push((
                    request.profile.id.to_string(),
                    request.profile.auth.eap_username().map(str::to_owned),
                    request.secrets.eap_password.clone(),
                ));
                profile = Some(ProfileSummary {
                    uuid: request.profile.id.to_string(),
                    name: request.profile.name.clone(),
                });
                match &script {
                    Script::States(states) => {
                        then.clone_from(states);
                        Ok(Response::Done)
                    }
                    Script::Refuse(reply) => Err(reply.clone()),
                }
            }
            Request::Logs { .. } => Ok(Response::Logs { lines: Vec::new() }),
            Request::SetLogLevel { .. } => Ok(Response::Done),
        };
        let reply = ServerMessage::Response { id: msg.id, result };
        if frame::write(&mut stream, &reply).await.is_err() {
            return;
        }
        for state in then.into_iter().filter(|_| subscribed) {
            tokio::time::sleep(Duration::from_millis(30)).await;
            let status = Status {
                state,
                profile: profile.clone(),
                ..Status::default()
            };
            let event = ServerMessage::Event {
                event: Event::Status(Box::new(status)),
            };
            if frame::write(&mut stream, &event).await.is_err() {
                return;
            }
        }
    }
}

fn tern_with_profile() -> Tern {
    let tern = Tern::new();
    let r = tern.run(&["import", &fixture_arg("sswan/eap.sswan"), "--yes"]);
    assert_eq!(r.code, 0, "{r:?}");
    tern
}

fn connect(tern: &Tern, helper: &FakeHelper, extra: &[&str]) -> Ran {
    let mut args = vec!["--socket", helper.socket(), "connect", "example corp (eap)"];
    args.extend_from_slice(extra);
    args.push("--password-stdin");
    tern.run_with_stdin(&args, b"s3cret\n")
}

#[test]
fn connect_wait_succeeds() {
    let tern = tern_with_profile();
    let helper = FakeHelper::start(Script::States(vec![
        TunnelState::Connecting {
            stage: ConnectStage::Resolving,
        },
        TunnelState::Connecting {
            stage: ConnectStage::Authenticating,
        },
        TunnelState::Connected,
    ]));
    let r = connect(&tern, &helper, &["--wait"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, "Connected \"Example Corp (EAP)\".\n");
    assert!(!r.stderr.contains("s3cret") && !r.stdout.contains("s3cret"));
    let seen = helper.seen.lock().unwrap();
    assert!(seen.subscribed_before_connect);
    assert_eq!(
        seen.connects,
        [(
            EAP_ID.to_owned(),
            Some("alice".to_owned()),
            Some("s3cret".to_owned())
        )]
    );
}

#[test]
fn connect_wait_reports_the_failure() {
    let tern = tern_with_profile();
    let helper = FakeHelper::start(Script::States(vec![
        TunnelState::Connecting {
            stage: ConnectStage::ContactingGateway,
        },
        TunnelState::Failed {
            failure: Failure {
                kind: FailureKind::AuthenticationFailed,
                message: "The gateway rejected the EAP password for \"alice\".".into(),
            },
        },
    ]));
    let r = connect(&tern, &helper, &["--wait", "--timeout", "10"]);
    assert_eq!(r.code, 4, "{r:?}");
    assert_eq!(
        r.stderr,
        "tern: The gateway rejected the EAP password for \"alice\"\n"
    );
    assert!(r.stdout.is_empty(), "{r:?}");
}

#[test]
fn connect_wait_times_out_and_cancels() {
    let tern = tern_with_profile();
    let helper = FakeHelper::start(Script::States(vec![TunnelState::Connecting {
        stage: ConnectStage::ContactingGateway,
    }]));
    let started = std::time::Instant::now();
    let r = connect(&tern, &helper, &["--wait", "--timeout", "1"]);
    assert_eq!(r.code, 5, "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        r.stderr,
        "tern: \"Example Corp (EAP)\" did not connect within 1 s; the attempt was cancelled\n"
    );
    assert_eq!(helper.seen.lock().unwrap().disconnects, 1);
}

#[test]
fn connect_refused_by_the_helper() {
    let tern = tern_with_profile();
    let helper = FakeHelper::start(Script::Refuse(ErrorReply {
        code: ErrorCode::AlreadyConnected,
        message: "a tunnel is already up; disconnect it first".into(),
    }));
    let r = connect(&tern, &helper, &["--wait"]);
    assert_eq!(r.code, 4, "{r:?}");
    assert_eq!(
        r.stderr,
        "tern: a tunnel is already up; disconnect it first\n"
    );
}

#[test]
fn connect_without_wait_returns_at_once() {
    let tern = tern_with_profile();
    let helper = FakeHelper::start(Script::States(Vec::new()));
    let r = connect(&tern, &helper, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.starts_with("Connecting \"Example Corp (EAP)\""),
        "{r:?}"
    );
    assert_eq!(helper.seen.lock().unwrap().connects.len(), 1);
}

#[test]
fn connect_needs_a_secret_from_somewhere() {
    let tern = tern_with_profile();
    let helper = FakeHelper::start(Script::States(Vec::new()));
    let r = tern.run(&["--socket", helper.socket(), "connect", EAP_ID]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .starts_with("tern: no keyring is reachable (TERN_KEYRING=off): store it with"),
        "{r:?}"
    );
    assert!(r.stderr.contains("--password-stdin"), "{r:?}");
    assert!(helper.seen.lock().unwrap().connects.is_empty());
}

#[test]
fn unreachable_helper_is_exit_3() {
    let tern = tern_with_profile();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("none.sock");
    let socket = socket.to_str().unwrap();
    let r = tern.run_with_stdin(
        &[
            "--socket",
            socket,
            "connect",
            "Example Corp (EAP)",
            "--password-stdin",
        ],
        b"pw",
    );
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("cannot reach the Tern helper"), "{r:?}");
    // TERN_SOCKET works like --socket.
    let status = tern
        .command(&["status"])
        .env("TERN_SOCKET", socket)
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(3));
}

#[test]
fn status_json_has_the_documented_shape() {
    let tern = Tern::new();
    let helper = FakeHelper::start(Script::States(Vec::new()));
    let r = tern.run(&["status", "--json", "--socket", helper.socket()]);
    assert_eq!(r.code, 0, "{r:?}");
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["state"]["state"], "connected");
    assert_eq!(json["profile"]["uuid"], EAP_ID);
    assert_eq!(json["profile"]["name"], "Example Corp (EAP)");
    assert_eq!(json["gateway"], "vpn.example.com");
    assert_eq!(json["traffic"]["bytes_in"], 0);
    assert_eq!(r.stdout.lines().count(), 1);
    let text = tern.run(&["status", "--socket", helper.socket()]);
    assert!(
        text.stdout.starts_with("State:      connected\n"),
        "{text:?}"
    );
}

/// The real keyring path: a private D-Bus session with GNOME Keyring's Secret Service, the
/// secret stored with `tern secret set`, read back by `tern connect`, removed by `tern delete`.
#[test]
fn secrets_round_trip_through_a_real_secret_service() {
    if common::skip_unless(
        &["dbus-run-session", "gnome-keyring-daemon"],
        "Secret Service keyring test",
    ) {
        return;
    }
    let helper = FakeHelper::start(Script::States(vec![TunnelState::Connected]));
    let config = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let script = r#"
        set -e
        # Creates and unlocks a login keyring (the default collection) in this private HOME.
        printf 'tern-test' | gnome-keyring-daemon --unlock --components=secrets >/dev/null
        "$TERN" import "$EAP_FILE" --yes >/dev/null
        printf 'kr-s3cret\n' | "$TERN" secret set "$EAP_ID" --stdin
        echo ---
        "$TERN" show "$EAP_ID" --json
        echo ---
        "$TERN" --socket "$SOCK" connect "$EAP_ID" --wait
        echo ---
        "$TERN" delete "$EAP_ID" --yes
        echo ---
        "$TERN" import "$EAP_FILE" --yes >/dev/null
        "$TERN" show "$EAP_ID" --json
        # gnome-keyring-daemon leaves with the session bus when dbus-run-session ends.
    "#;
    let output = std::process::Command::new("dbus-run-session")
        .args(["--", "sh", "-c", script])
        .env("TERN", env!("CARGO_BIN_EXE_tern"))
        .env("EAP_FILE", fixture_arg("sswan/eap.sswan"))
        .env("EAP_ID", EAP_ID)
        .env("SOCK", helper.socket())
        .env("TERN_CONFIG_DIR", config.path())
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("XDG_RUNTIME_DIR", home.path())
        .env_remove("TERN_KEYRING")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let parts: Vec<&str> = stdout.split("---\n").collect();
    assert_eq!(parts.len(), 5, "{stdout}\n{stderr}");
    assert!(
        parts[0].starts_with("Stored the EAP password of"),
        "{stdout}"
    );
    let show: serde_json::Value = serde_json::from_str(parts[1]).unwrap();
    assert_eq!(show["stored_secrets"], serde_json::json!(["eap-password"]));
    assert_eq!(parts[2], "Connected \"Example Corp (EAP)\".\n");
    assert!(
        parts[3].contains("and its EAP password from the keyring"),
        "{stdout}"
    );
    let show: serde_json::Value = serde_json::from_str(parts[4]).unwrap();
    assert_eq!(show["stored_secrets"], serde_json::json!([]));
    assert!(!stdout.contains("kr-s3cret") && !stderr.contains("kr-s3cret"));
    let seen = helper.seen.lock().unwrap();
    assert_eq!(seen.connects[0].2.as_deref(), Some("kr-s3cret"));
}

/// On a terminal, a secret the keyring does not have is asked for without echo.
#[test]
fn connect_asks_on_a_terminal() {
    if common::skip_unless(&["script"], "terminal connect test") {
        return;
    }
    let tern = tern_with_profile();
    let helper = FakeHelper::start(Script::States(vec![TunnelState::Connected]));
    let r = tern.run_in_terminal(
        &[
            "--socket",
            helper.socket(),
            "connect",
            "Example Corp (EAP)",
            "--wait",
        ],
        b"tty-s3cret\n",
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("tern: no keyring is reachable (TERN_KEYRING=off); asking instead"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("EAP password for \"Example Corp (EAP)\": "),
        "{r:?}"
    );
    // Typed without echo: the terminal transcript does not show it.
    assert!(!r.stdout.contains("tty-s3cret"), "{r:?}");
    assert!(r.stdout.contains("tern: connected"), "{r:?}");
    let seen = helper.seen.lock().unwrap();
    assert_eq!(seen.connects[0].2.as_deref(), Some("tty-s3cret"));
}

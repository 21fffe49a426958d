//! The helper's side of the local protocol: the Unix socket, who may use it, and one task pair
//! per client.
//!
//! Defences (see `docs/attack-surface.md` §2):
//! - The socket's directory is root-owned and not writable by others; the socket is `0660`,
//!   group `tern`.
//! - Every connection is checked with `SO_PEERCRED`: root and members of the allowed group may
//!   talk; anyone else gets a `PermissionDenied` answer, is logged, and is disconnected.
//! - Frames are bounded (`ipc::frame::MAX_FRAME_LEN`); a malformed frame ends that client only.
//! - Each client has a bounded outgoing queue and a write deadline: a client that does not
//!   read is dropped, it never stalls the helper or other clients.
//! - At most [`MAX_CLIENTS`] connections at once.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ipc::{
    ClientMessage, ConnectRequest, ErrorCode, ErrorReply, Event, LogLevel, PROTOCOL_VERSION,
    Request, Response, ServerMessage, Status, frame,
};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc};
use tracing::{debug, info, warn};

use crate::logbuf::LogBuffer;

/// Most clients connected at once; more are refused until one leaves.
pub const MAX_CLIENTS: usize = 32;
/// Frames queued for one client before it counts as not reading.
const CLIENT_QUEUE: usize = 64;
/// How long one frame may take to write before the client is dropped.
const WRITE_DEADLINE: Duration = Duration::from_secs(5);
/// How long a client has to say hello.
const HELLO_DEADLINE: Duration = Duration::from_secs(10);

/// What the IPC server asks of the rest of the helper (the connection controller).
pub trait Service: Send + Sync + 'static {
    /// The current status.
    fn status(&self) -> Status;
    /// Starts connecting; errors are refusals (already connected, invalid profile…).
    fn connect(&self, request: ConnectRequest) -> Result<(), ErrorReply>;
    /// Starts disconnecting.
    fn disconnect(&self) -> Result<(), ErrorReply>;
    /// Status events from now on.
    fn subscribe(&self) -> broadcast::Receiver<Event>;
    /// Changes the log level.
    fn set_log_level(&self, level: LogLevel) -> Result<(), ErrorReply>;
}

/// Where the socket lives and who may use it.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The socket path (`/run/tern/ternd.sock` by default).
    pub socket_path: PathBuf,
    /// Members of this group may connect besides root; `None`: root only.
    pub allowed_group: Option<String>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Creating the directory, binding or setting permissions failed.
    #[error("cannot set up the IPC socket at {path}: {source}")]
    Socket {
        /// The path involved.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// A bound, listening IPC server.
pub struct IpcServer {
    listener: UnixListener,
    config: ServerConfig,
    allowed_gid: Option<u32>,
}

impl IpcServer {
    /// Creates the socket's directory and binds the socket with restrictive permissions.
    pub fn bind(config: ServerConfig) -> Result<Self, ServerError> {
        let path = &config.socket_path;
        let err = |p: &Path| {
            let shown = p.display().to_string();
            move |source| ServerError::Socket {
                path: shown,
                source,
            }
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err(dir))?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
                .map_err(err(dir))?;
        }
        // A socket left by a previous run blocks bind; only ever remove a socket, never a file.
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            use std::os::unix::fs::FileTypeExt;
            if meta.file_type().is_socket() {
                std::fs::remove_file(path).map_err(err(path))?;
            }
        }
        let listener = UnixListener::bind(path).map_err(err(path))?;
        let allowed_gid = config.allowed_group.as_deref().and_then(group_id);
        if let Some(group) = &config.allowed_group
            && allowed_gid.is_none()
        {
            warn!(group = %group, "the allowed group does not exist: only root may use the helper");
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
            .map_err(err(path))?;
        if let Some(gid) = allowed_gid {
            nix::unistd::chown(path, None, Some(nix::unistd::Gid::from_raw(gid)))
                .map_err(|e| std::io::Error::from_raw_os_error(e as i32))
                .map_err(err(path))?;
        }
        info!(socket = %path.display(), "listening for clients");
        Ok(Self {
            listener,
            config,
            allowed_gid,
        })
    }

    /// Serves clients until the task is dropped.
    pub async fn serve(self, service: Arc<dyn Service>, logs: LogBuffer) {
        let clients = Arc::new(AtomicUsize::new(0));
        loop {
            let stream = match self.listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let peer = match authorize(&stream, self.allowed_gid) {
                Ok(peer) => peer,
                Err(refusal) => {
                    warn!(reason = %refusal, "refused a client");
                    tokio::spawn(refuse(stream, refusal));
                    continue;
                }
            };
            if clients.fetch_add(1, Ordering::SeqCst) >= MAX_CLIENTS {
                clients.fetch_sub(1, Ordering::SeqCst);
                warn!(%peer, "too many clients; refused one");
                tokio::spawn(refuse(stream, "too many clients are connected".into()));
                continue;
            }
            debug!(%peer, "client connected");
            let (service, logs, clients) = (service.clone(), logs.clone(), clients.clone());
            tokio::spawn(async move {
                serve_client(stream, service, logs).await;
                clients.fetch_sub(1, Ordering::SeqCst);
                debug!(%peer, "client left");
            });
        }
    }

    /// The socket path in use.
    #[must_use]
    pub fn socket_path(&self) -> &Path {
        &self.config.socket_path
    }
}

/// A checked peer, for logs.
struct Peer {
    uid: u32,
    pid: Option<i32>,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "uid {}", self.uid)?;
        if let Some(pid) = self.pid {
            write!(f, " pid {pid}")?;
        }
        Ok(())
    }
}

fn authorize(stream: &UnixStream, allowed_gid: Option<u32>) -> Result<Peer, String> {
    let cred = stream
        .peer_cred()
        .map_err(|e| format!("no peer credentials: {e}"))?;
    let peer = Peer {
        uid: cred.uid(),
        pid: cred.pid(),
    };
    if cred.uid() == 0 {
        return Ok(peer);
    }
    let Some(gid) = allowed_gid else {
        return Err(format!(
            "{peer} is not root, and no group may use the helper"
        ));
    };
    if cred.gid() == gid || peer.pid.is_some_and(|pid| process_in_group(pid, gid)) {
        return Ok(peer);
    }
    Err(format!("{peer} is neither root nor in the allowed group"))
}

/// Whether the process's supplementary groups include `gid` (Linux: `/proc/PID/status`).
fn process_in_group(pid: i32, gid: u32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("Groups:"))
        .is_some_and(|groups| groups.split_whitespace().any(|g| g.parse() == Ok(gid)))
}

fn group_id(name: &str) -> Option<u32> {
    nix::unistd::Group::from_name(name)
        .ok()
        .flatten()
        .map(|g| g.gid.as_raw())
}

async fn refuse(mut stream: UnixStream, why: String) {
    let reply = ServerMessage::Response {
        id: 0,
        result: Err(ErrorReply {
            code: ErrorCode::PermissionDenied,
            message: format!("not allowed to use the Tern helper: {why}"),
        }),
    };
    let _ = tokio::time::timeout(WRITE_DEADLINE, frame::write(&mut stream, &reply)).await;
}

async fn serve_client(stream: UnixStream, service: Arc<dyn Service>, logs: LogBuffer) {
    let (mut reader, mut writer) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<ServerMessage>(CLIENT_QUEUE);

    let writer_task = tokio::spawn(async move {
        while let Some(message) = rx.recv().await {
            match tokio::time::timeout(WRITE_DEADLINE, frame::write(&mut writer, &message)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    debug!(error = %e, "client write failed");
                    break;
                }
                Err(_) => {
                    warn!("a client stopped reading; dropping it");
                    break;
                }
            }
        }
    });

    let mut said_hello = false;
    let mut forwarders = Vec::new();
    loop {
        let next = if said_hello {
            frame::read::<_, ClientMessage>(&mut reader).await
        } else {
            match tokio::time::timeout(HELLO_DEADLINE, frame::read(&mut reader)).await {
                Ok(r) => r,
                Err(_) => break,
            }
        };
        let message = match next {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(e) => {
                debug!(error = %e, "bad frame from client; closing it");
                let reply = ServerMessage::Response {
                    id: 0,
                    result: Err(ErrorReply {
                        code: ErrorCode::InvalidRequest,
                        message: e.to_string(),
                    }),
                };
                let _ = tx.try_send(reply);
                break;
            }
        };
        let result = if said_hello {
            handle(message.request, &*service, &logs, &tx, &mut forwarders)
        } else if let Request::Hello { version, client } = message.request {
            if version == PROTOCOL_VERSION {
                said_hello = true;
                debug!(client = %client, "hello");
                Ok(Response::Hello {
                    version: PROTOCOL_VERSION,
                    server: format!("ternd {}", env!("CARGO_PKG_VERSION")),
                })
            } else {
                Err(ErrorReply {
                    code: ErrorCode::UnsupportedVersion,
                    message: format!(
                        "this helper speaks protocol version {PROTOCOL_VERSION}, the client {version}"
                    ),
                })
            }
        } else {
            Err(ErrorReply {
                code: ErrorCode::InvalidRequest,
                message: "the first request must be hello".into(),
            })
        };
        let failed_hello = !said_hello;
        // The queue being full means the client is not reading: drop it.
        if tx
            .try_send(ServerMessage::Response {
                id: message.id,
                result,
            })
            .is_err()
            || failed_hello
        {
            break;
        }
    }
    for forwarder in forwarders {
        forwarder.abort();
    }
    drop(tx);
    let _ = writer_task.await;
}

fn handle(
    request: Request,
    service: &dyn Service,
    logs: &LogBuffer,
    tx: &mpsc::Sender<ServerMessage>,
    forwarders: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Result<Response, ErrorReply> {
    match request {
        Request::Hello { .. } => Err(ErrorReply {
            code: ErrorCode::InvalidRequest,
            message: "hello was already said".into(),
        }),
        Request::Status => Ok(Response::Status(Box::new(service.status()))),
        Request::Connect(request) => service.connect(*request).map(|()| Response::Done),
        Request::Disconnect => service.disconnect().map(|()| Response::Done),
        Request::Subscribe => {
            let events = service.subscribe();
            forwarders.push(tokio::spawn(forward(events, tx.clone(), Some)));
            Ok(Response::Done)
        }
        Request::Logs { since, follow } => {
            if follow {
                forwarders.push(tokio::spawn(forward(logs.follow(), tx.clone(), |l| {
                    Some(Event::Log(l))
                })));
            }
            Ok(Response::Logs {
                lines: logs.since(since),
            })
        }
        Request::SetLogLevel { level } => service.set_log_level(level).map(|()| Response::Done),
    }
}

/// Copies a broadcast stream into a client's queue until either end goes away.
async fn forward<T: Clone>(
    mut source: broadcast::Receiver<T>,
    tx: mpsc::Sender<ServerMessage>,
    to_event: impl Fn(T) -> Option<Event>,
) {
    loop {
        match source.recv().await {
            Ok(item) => {
                let Some(event) = to_event(item) else {
                    continue;
                };
                // A full queue: the client is not reading; stop feeding it.
                if tx.try_send(ServerMessage::Event { event }).is_err() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use ipc::{Client, Secrets, TunnelState};
    use tokio::io::AsyncWriteExt;

    use super::*;

    /// A service that records what it was asked.
    struct FakeService {
        events: broadcast::Sender<Event>,
        connects: Mutex<u32>,
    }

    impl Service for FakeService {
        fn status(&self) -> Status {
            let state = if *self.connects.lock().unwrap() > 0 {
                TunnelState::Connected
            } else {
                TunnelState::Disconnected
            };
            Status {
                state,
                ..Status::default()
            }
        }
        fn connect(&self, request: ConnectRequest) -> Result<(), ErrorReply> {
            if request.secrets.psk.is_none() {
                return Err(ErrorReply {
                    code: ErrorCode::MissingSecret,
                    message: "no PSK".into(),
                });
            }
            *self.connects.lock().unwrap() += 1;
            let _ = self.events.send(Event::Status(Box::new(self.status())));
            Ok(())
        }
        fn disconnect(&self) -> Result<(), ErrorReply> {
            Err(ErrorReply {
                code: ErrorCode::NotConnected,
                message: "no tunnel".into(),
            })
        }
        fn subscribe(&self) -> broadcast::Receiver<Event> {
            self.events.subscribe()
        }
        fn set_log_level(&self, _level: LogLevel) -> Result<(), ErrorReply> {
            Ok(())
        }
    }

    async fn start() -> (tempfile::TempDir, PathBuf, LogBuffer) {
        let dir = tempfile::tempdir().unwrap();
        let socket_path = dir.path().join("run/ternd.sock");
        let server = IpcServer::bind(ServerConfig {
            socket_path: socket_path.clone(),
            allowed_group: None,
        })
        .unwrap();
        let service = Arc::new(FakeService {
            events: broadcast::channel(16).0,
            connects: Mutex::new(0),
        });
        let logs = LogBuffer::new(100);
        logs.push(LogLevel::Info, "test", "hello from the helper".into());
        tokio::spawn(server.serve(service, logs.clone()));
        (dir, socket_path, logs)
    }

    fn test_profile() -> profile::Profile {
        profile::Profile::new(
            profile::ProfileId::new_random(),
            "Test",
            profile::Gateway::new("vpn.example.org"),
            profile::AuthMethod::Psk,
        )
    }

    fn is_root() -> bool {
        nix::unistd::Uid::effective().is_root()
    }

    #[tokio::test]
    async fn a_client_connects_subscribes_and_gets_events() {
        if !is_root() {
            eprintln!("SKIPPED: the server only admits root when no group is configured");
            return;
        }
        let (_dir, path, _logs) = start().await;
        let mut client = Client::connect(&path).await.unwrap();
        assert!(client.server().starts_with("ternd "));
        assert_eq!(
            client.status().await.unwrap().state,
            TunnelState::Disconnected
        );
        client.subscribe().await.unwrap();
        let mut secrets = Secrets::default();
        secrets.psk = Some("s3cret".into());
        client
            .connect_tunnel(ConnectRequest {
                profile: test_profile(),
                secrets,
            })
            .await
            .unwrap();
        let event = client.next_event().await.unwrap().unwrap();
        assert!(matches!(event, Event::Status(s) if s.state == TunnelState::Connected));
        let err = client.disconnect().await.unwrap_err();
        assert!(err.to_string().contains("no tunnel"), "{err}");
        let lines = client.logs(None, false).await.unwrap();
        assert_eq!(lines[0].message, "hello from the helper");
    }

    #[tokio::test]
    async fn garbage_and_oversized_frames_end_only_that_client() {
        if !is_root() {
            eprintln!("SKIPPED: the server only admits root when no group is configured");
            return;
        }
        let (_dir, path, _logs) = start().await;
        let mut good = Client::connect(&path).await.unwrap();

        let mut bad = UnixStream::connect(&path).await.unwrap();
        bad.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
        let mut worse = UnixStream::connect(&path).await.unwrap();
        worse.write_all(&5u32.to_be_bytes()).await.unwrap();
        worse.write_all(b"\xff\xfe{}!").await.unwrap();
        let reply: Option<ServerMessage> = frame::read(&mut worse).await.unwrap();
        assert!(matches!(
            reply,
            Some(ServerMessage::Response {
                result: Err(ErrorReply {
                    code: ErrorCode::InvalidRequest,
                    ..
                }),
                ..
            })
        ));

        // The well-behaved client is unaffected.
        assert_eq!(
            good.status().await.unwrap().state,
            TunnelState::Disconnected
        );
    }

    #[tokio::test]
    async fn requests_before_hello_are_refused() {
        if !is_root() {
            eprintln!("SKIPPED: the server only admits root when no group is configured");
            return;
        }
        let (_dir, path, _logs) = start().await;
        let mut raw = UnixStream::connect(&path).await.unwrap();
        frame::write(
            &mut raw,
            &ClientMessage {
                id: 1,
                request: Request::Status,
            },
        )
        .await
        .unwrap();
        let reply: Option<ServerMessage> = frame::read(&mut raw).await.unwrap();
        assert!(matches!(
            reply,
            Some(ServerMessage::Response {
                id: 1,
                result: Err(ErrorReply {
                    code: ErrorCode::InvalidRequest,
                    ..
                })
            })
        ));
    }

    #[test]
    fn only_sockets_are_removed_at_bind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not-a-socket");
        std::fs::write(&path, b"keep me").unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let result = runtime.block_on(async {
            IpcServer::bind(ServerConfig {
                socket_path: path.clone(),
                allowed_group: None,
            })
        });
        assert!(result.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
    }
}

//! The client both front ends use: one connection, requests answered in order, events queued
//! while a request is outstanding.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::{
    ClientMessage, ConnectRequest, ErrorReply, Event, IpcError, LogLevel, LogLine,
    PROTOCOL_VERSION, Request, Response, ServerMessage, Status, frame,
};

/// Environment variable that overrides the helper's socket path (tests, development).
pub const SOCKET_ENV: &str = "TERN_SOCKET";

/// The helper's socket path: `$TERN_SOCKET`, or the platform default.
#[must_use]
pub fn default_socket_path() -> PathBuf {
    if let Some(path) = std::env::var_os(SOCKET_ENV) {
        return PathBuf::from(path);
    }
    PathBuf::from(platform_default_socket())
}

#[cfg(target_os = "linux")]
fn platform_default_socket() -> &'static str {
    "/run/tern/ternd.sock"
}

#[cfg(all(unix, not(target_os = "linux")))]
fn platform_default_socket() -> &'static str {
    "/var/run/tern/ternd.sock"
}

#[cfg(windows)]
fn platform_default_socket() -> &'static str {
    r"\\.\pipe\tern\ternd"
}

/// The stream type a real connection uses on this platform.
#[cfg(unix)]
pub type Stream = tokio::net::UnixStream;
/// The stream type a real connection uses on this platform.
#[cfg(windows)]
pub type Stream = tokio::net::windows::named_pipe::NamedPipeClient;

/// How long a client waits for the helper to answer one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection to `ternd`.
pub struct Client<S = Stream> {
    stream: S,
    next_id: u64,
    events: VecDeque<Event>,
    server: String,
}

impl Client<Stream> {
    /// Connects to the helper's socket and says hello.
    pub async fn connect(path: &Path) -> Result<Self, IpcError> {
        Ok(Self::connect_with(path, Vec::new()).await?.0)
    }

    /// Connects, says hello and sends `requests` in the same round trip (see
    /// [`Client::handshake_with`]); returns each request's answer in order.
    pub async fn connect_with(
        path: &Path,
        requests: Vec<Request>,
    ) -> Result<(Self, Vec<Result<Response, ErrorReply>>), IpcError> {
        let stream = open(path).await.map_err(|source| IpcError::Connect {
            path: path.display().to_string(),
            source,
        })?;
        Self::handshake_with(stream, "tern-client", requests).await
    }
}

#[cfg(unix)]
async fn open(path: &Path) -> std::io::Result<Stream> {
    tokio::net::UnixStream::connect(path).await
}

#[cfg(windows)]
async fn open(path: &Path) -> std::io::Result<Stream> {
    use tokio::net::windows::named_pipe::ClientOptions;
    // ERROR_PIPE_BUSY: every instance is taken for a moment; retry briefly.
    const ERROR_PIPE_BUSY: i32 = 231;
    let mut attempts = 0;
    loop {
        match ClientOptions::new().open(path) {
            Ok(client) => return Ok(client),
            Err(e) if e.raw_os_error() == Some(ERROR_PIPE_BUSY) && attempts < 50 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// Says hello over an already open stream and checks the helper's protocol version.
    pub async fn handshake(stream: S, client_name: &str) -> Result<Self, IpcError> {
        Ok(Self::handshake_with(stream, client_name, Vec::new())
            .await?
            .0)
    }

    /// Says hello and sends `requests` right behind it, without waiting in between (the helper
    /// answers in order), so the whole batch costs one round trip; returns each request's
    /// answer in order. Nothing but the hello is answered if the versions differ.
    pub async fn handshake_with(
        stream: S,
        client_name: &str,
        requests: Vec<Request>,
    ) -> Result<(Self, Vec<Result<Response, ErrorReply>>), IpcError> {
        let mut client = Self {
            stream,
            next_id: 1,
            events: VecDeque::new(),
            server: String::new(),
        };
        let hello = Request::Hello {
            version: PROTOCOL_VERSION,
            client: client_name.to_owned(),
        };
        let mut ids = client
            .send_all(std::iter::once(hello).chain(requests))
            .await?;
        let hello_id = ids.remove(0);
        match client.answer(hello_id).await?.map_err(IpcError::Refused)? {
            Response::Hello { version, server } if version == PROTOCOL_VERSION => {
                client.server = server;
            }
            Response::Hello { version, .. } => {
                return Err(IpcError::VersionMismatch { helper: version });
            }
            other => return Err(IpcError::Unexpected(format!("{other:?}"))),
        }
        let mut answers = Vec::with_capacity(ids.len());
        for id in ids {
            answers.push(client.answer(id).await?);
        }
        Ok((client, answers))
    }

    /// Writes each request as a frame, without waiting for answers; their ids in order.
    async fn send_all(
        &mut self,
        requests: impl IntoIterator<Item = Request>,
    ) -> Result<Vec<u64>, IpcError> {
        let mut ids = Vec::new();
        for request in requests {
            let id = self.next_id;
            self.next_id += 1;
            frame::write(&mut self.stream, &ClientMessage { id, request }).await?;
            ids.push(id);
        }
        Ok(ids)
    }

    /// Waits for the answer to request `id` (the next answer to come); events that arrive
    /// meanwhile are kept for [`Client::next_event`].
    async fn answer(&mut self, id: u64) -> Result<Result<Response, ErrorReply>, IpcError> {
        let wait = async {
            loop {
                match frame::read::<_, ServerMessage>(&mut self.stream).await? {
                    None => return Err(IpcError::Closed),
                    Some(ServerMessage::Event { event }) => self.events.push_back(event),
                    Some(ServerMessage::Response { id: got, result }) if got == id => {
                        return Ok(result);
                    }
                    Some(ServerMessage::Response { id: got, .. }) => {
                        return Err(IpcError::Unexpected(format!("answer to request {got}")));
                    }
                }
            }
        };
        tokio::time::timeout(REQUEST_TIMEOUT, wait)
            .await
            .map_err(|_| IpcError::Timeout)?
    }

    /// The helper's name and version, from its hello.
    #[must_use]
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Sends a request and waits for its answer; events that arrive meanwhile are kept for
    /// [`Client::next_event`].
    pub async fn request(&mut self, request: Request) -> Result<Response, IpcError> {
        let ids = self.send_all([request]).await?;
        let id = ids.first().copied().unwrap_or_default();
        self.answer(id).await?.map_err(IpcError::Refused)
    }

    /// The next event: a queued one, or the next to arrive; `None` when the helper closed the
    /// connection.
    pub async fn next_event(&mut self) -> Result<Option<Event>, IpcError> {
        if let Some(event) = self.events.pop_front() {
            return Ok(Some(event));
        }
        match frame::read::<_, ServerMessage>(&mut self.stream).await? {
            None => Ok(None),
            Some(ServerMessage::Event { event }) => Ok(Some(event)),
            Some(ServerMessage::Response { id, .. }) => Err(IpcError::Unexpected(format!(
                "answer to request {id} with none outstanding"
            ))),
        }
    }

    /// The current status.
    pub async fn status(&mut self) -> Result<Status, IpcError> {
        match self.request(Request::Status).await? {
            Response::Status(status) => Ok(*status),
            other => Err(IpcError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Starts a connect; progress arrives as status events after [`Client::subscribe`].
    pub async fn connect_tunnel(&mut self, request: ConnectRequest) -> Result<(), IpcError> {
        self.expect_done(Request::Connect(Box::new(request))).await
    }

    /// Starts a disconnect.
    pub async fn disconnect(&mut self) -> Result<(), IpcError> {
        self.expect_done(Request::Disconnect).await
    }

    /// Asks for status events from now on.
    pub async fn subscribe(&mut self) -> Result<(), IpcError> {
        self.expect_done(Request::Subscribe).await
    }

    /// Recent log lines; with `follow`, new ones arrive as events.
    pub async fn logs(
        &mut self,
        since: Option<u64>,
        follow: bool,
    ) -> Result<Vec<LogLine>, IpcError> {
        match self.request(Request::Logs { since, follow }).await? {
            Response::Logs { lines } => Ok(lines),
            other => Err(IpcError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Changes the helper's log level.
    pub async fn set_log_level(&mut self, level: LogLevel) -> Result<(), IpcError> {
        self.expect_done(Request::SetLogLevel { level }).await
    }

    async fn expect_done(&mut self, request: Request) -> Result<(), IpcError> {
        match self.request(request).await? {
            Response::Done => Ok(()),
            other => Err(IpcError::Unexpected(format!("{other:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorCode, ErrorReply, TunnelState};

    /// A scripted helper on the other end of an in-memory pipe.
    async fn scripted_helper(
        mut stream: tokio::io::DuplexStream,
        version: u32,
    ) -> Result<(), IpcError> {
        while let Some(msg) = frame::read::<_, ClientMessage>(&mut stream).await? {
            let result = match msg.request {
                Request::Hello { .. } => Ok(Response::Hello {
                    version,
                    server: "ternd-test".into(),
                }),
                Request::Status => {
                    // An event that races the answer must be queued, not lost.
                    let event = Event::Status(Box::default());
                    frame::write(&mut stream, &ServerMessage::Event { event }).await?;
                    Ok(Response::Status(Box::new(Status {
                        state: TunnelState::Connected,
                        ..Status::default()
                    })))
                }
                Request::Disconnect => Err(ErrorReply {
                    code: ErrorCode::NotConnected,
                    message: "no tunnel is up".into(),
                }),
                _ => Ok(Response::Done),
            };
            frame::write(&mut stream, &ServerMessage::Response { id: msg.id, result }).await?;
        }
        Ok(())
    }

    #[tokio::test]
    async fn request_answer_and_queued_events() {
        let (client_end, helper_end) = tokio::io::duplex(64 * 1024);
        let helper = tokio::spawn(scripted_helper(helper_end, PROTOCOL_VERSION));
        let mut client = Client::handshake(client_end, "test").await.unwrap();
        assert_eq!(client.server(), "ternd-test");
        assert_eq!(client.status().await.unwrap().state, TunnelState::Connected);
        let queued = client.next_event().await.unwrap().unwrap();
        assert!(matches!(queued, Event::Status(s) if s.state == TunnelState::Disconnected));
        let refused = client.disconnect().await.unwrap_err();
        assert!(
            matches!(&refused, IpcError::Refused(r) if r.code == ErrorCode::NotConnected),
            "{refused}"
        );
        drop(client);
        helper.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn requests_sent_with_the_hello_are_answered_in_order() {
        let (client_end, helper_end) = tokio::io::duplex(64 * 1024);
        let helper = tokio::spawn(scripted_helper(helper_end, PROTOCOL_VERSION));
        let (mut client, answers) = Client::handshake_with(
            client_end,
            "test",
            vec![Request::Status, Request::Subscribe, Request::Disconnect],
        )
        .await
        .unwrap();
        assert_eq!(client.server(), "ternd-test");
        assert!(
            matches!(&answers[0], Ok(Response::Status(s)) if s.state == TunnelState::Connected)
        );
        assert!(matches!(answers[1], Ok(Response::Done)));
        assert!(matches!(&answers[2], Err(r) if r.code == ErrorCode::NotConnected));
        assert_eq!(answers.len(), 3);
        // The event that raced the status answer is kept, and the client goes on working.
        assert!(client.next_event().await.unwrap().is_some());
        assert_eq!(client.status().await.unwrap().state, TunnelState::Connected);
        drop(client);
        helper.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn version_mismatch_is_reported() {
        let (client_end, helper_end) = tokio::io::duplex(64 * 1024);
        tokio::spawn(scripted_helper(helper_end, PROTOCOL_VERSION + 1));
        let err = Client::handshake(client_end, "test").await.err().unwrap();
        assert!(matches!(err, IpcError::VersionMismatch { .. }), "{err}");
    }

    #[test]
    fn socket_path_can_be_overridden() {
        // Only checks the default shape; the override is read from the environment at call time.
        let path = platform_default_socket();
        assert!(path.contains("tern"));
    }
}

//! The local protocol between `ternd` and its unprivileged clients (the `tern` CLI and the GUI),
//! and the client library both use.
//!
//! Room and rules:
//! - Versioned, typed requests, responses and events (serde JSON), each in a frame whose length
//!   is bounded ([`frame::MAX_FRAME_LEN`]) and checked before anything is allocated.
//! - The first request on a connection is `Hello`; the helper answers every request with a
//!   `Response` carrying the request's ID, and pushes `Event`s to subscribed clients.
//! - Secrets travel only inside `Connect`, in [`Secrets`], which is zeroized on drop and never
//!   printed.
//! - Depends on `profile` and `ipsec-types` for shared values; never on the protocol cores.

mod client;
pub mod frame;
mod message;

pub use client::{Client, SOCKET_ENV, Stream, default_socket_path};
pub use message::{
    ClientCertificate, ClientMessage, ConnectRequest, ConnectStage, ConnectionInfo, ErrorCode,
    ErrorReply, Event, Failure, FailureKind, LogLevel, LogLine, PROTOCOL_VERSION, ProfileSummary,
    Request, Response, Secrets, ServerMessage, Status, TrafficStats, TunnelState,
};

/// What can go wrong talking to the helper.
#[derive(Debug, thiserror::Error)]
pub enum IpcError {
    /// The socket could not be opened (helper not running, or no permission).
    #[error(
        "cannot reach the Tern helper at {path}: {source} (is ternd running, and are you in the tern group?)"
    )]
    Connect {
        /// The socket path tried.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing the socket failed.
    #[error("connection to the Tern helper failed: {0}")]
    Io(#[source] std::io::Error),
    /// The other side closed the connection.
    #[error("the Tern helper closed the connection")]
    Closed,
    /// A frame longer than the protocol allows.
    #[error("message of {len} bytes is larger than the protocol allows")]
    FrameTooLarge {
        /// The announced or encoded length.
        len: usize,
    },
    /// A frame that is not a valid message.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A message that could not be serialized.
    #[error("cannot encode message: {0}")]
    Encode(String),
    /// The helper speaks another protocol version.
    #[error(
        "the Tern helper speaks protocol version {helper}, this client {PROTOCOL_VERSION}: update both to the same release"
    )]
    VersionMismatch {
        /// The helper's version.
        helper: u32,
    },
    /// The helper refused the request.
    #[error("{0}")]
    Refused(#[source] ErrorReply),
    /// The helper answered with something that does not fit the request.
    #[error("unexpected answer from the Tern helper: {0}")]
    Unexpected(String),
    /// The helper did not answer in time.
    #[error("the Tern helper did not answer in time")]
    Timeout,
}

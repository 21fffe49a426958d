//! Framing: each message is a 4-byte big-endian length followed by that many bytes of JSON.
//!
//! The length is checked against [`MAX_FRAME_LEN`] before anything is allocated, so a hostile peer
//! cannot make either side reserve more than one bounded frame.

use serde::{Serialize, de::DeserializeOwned};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use zeroize::Zeroizing;

use crate::IpcError;

/// Largest frame either side accepts: room for a profile with a few certificates, far below
/// anything that could hurt the helper.
pub const MAX_FRAME_LEN: usize = 1024 * 1024;

/// Serializes `message` into one frame (length prefix included).
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, IpcError> {
    let mut frame = vec![0; 4];
    serde_json::to_writer(&mut frame, message).map_err(|e| IpcError::Encode(e.to_string()))?;
    let body_len = frame.len() - 4;
    if body_len > MAX_FRAME_LEN {
        return Err(IpcError::FrameTooLarge { len: body_len });
    }
    let len = u32::try_from(body_len).map_err(|_| IpcError::FrameTooLarge { len: body_len })?;
    frame[..4].copy_from_slice(&len.to_be_bytes());
    Ok(frame)
}

/// Parses one frame body (without its length prefix).
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, IpcError> {
    serde_json::from_slice(body).map_err(|e| IpcError::Malformed(e.to_string()))
}

/// Reads one frame; `Ok(None)` when the peer closed the stream cleanly between frames.
pub async fn read<R, T>(reader: &mut R) -> Result<Option<T>, IpcError>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    let mut prefix = [0u8; 4];
    match reader.read_exact(&mut prefix).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(IpcError::Io(e)),
    }
    let len = usize::try_from(u32::from_be_bytes(prefix)).unwrap_or(usize::MAX);
    if len > MAX_FRAME_LEN {
        return Err(IpcError::FrameTooLarge { len });
    }
    // A connect request carries secrets: wipe the raw frame once it is parsed.
    let mut body = Zeroizing::new(vec![0; len]);
    reader.read_exact(&mut body).await.map_err(IpcError::Io)?;
    decode(&body).map(Some)
}

/// Writes one frame and flushes it.
pub async fn write<W, T>(writer: &mut W, message: &T) -> Result<(), IpcError>
where
    W: AsyncWrite + Unpin,
    T: Serialize,
{
    let frame = Zeroizing::new(encode(message)?);
    writer.write_all(&frame).await.map_err(IpcError::Io)?;
    writer.flush().await.map_err(IpcError::Io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientMessage, Request};

    #[tokio::test]
    async fn round_trip_through_a_pipe() {
        let (mut a, mut b) = tokio::io::duplex(64 * 1024);
        let sent = ClientMessage {
            id: 7,
            request: Request::Status,
        };
        write(&mut a, &sent).await.unwrap();
        drop(a);
        let got: ClientMessage = read(&mut b).await.unwrap().unwrap();
        assert_eq!(got.id, 7);
        assert!(matches!(got.request, Request::Status));
        let end: Option<ClientMessage> = read(&mut b).await.unwrap();
        assert!(end.is_none());
    }

    #[tokio::test]
    async fn oversized_length_is_refused_before_allocating() {
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
        let err = read::<_, ClientMessage>(&mut b).await.unwrap_err();
        assert!(matches!(err, IpcError::FrameTooLarge { .. }), "{err}");
    }

    #[tokio::test]
    async fn garbage_is_a_malformed_frame() {
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&3u32.to_be_bytes()).await.unwrap();
        a.write_all(b"{x}").await.unwrap();
        let err = read::<_, ClientMessage>(&mut b).await.unwrap_err();
        assert!(matches!(err, IpcError::Malformed(_)), "{err}");
    }

    #[tokio::test]
    async fn truncated_frame_is_an_io_error() {
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&10u32.to_be_bytes()).await.unwrap();
        a.write_all(b"{}").await.unwrap();
        drop(a);
        assert!(matches!(
            read::<_, ClientMessage>(&mut b).await,
            Err(IpcError::Io(_))
        ));
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = decode::<ClientMessage>(&bytes);
            let _ = decode::<crate::ServerMessage>(&bytes);
        }
    }
}

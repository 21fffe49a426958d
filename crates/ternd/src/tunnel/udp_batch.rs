//! Batched UDP I/O on the NAT-T socket: many ESP packets per system call.
//!
//! - Send: consecutive ESP packets of equal length (the MTU-sized pieces of one TCP segment are)
//!   go out in one `sendmsg` with UDP GSO (`UDP_SEGMENT`): the kernel cuts the gathered buffers
//!   into datagrams, so they are neither copied together nor sent one by one.
//! - Receive: with UDP GRO (`UDP_GRO`) one `recvmsg` returns a train of datagrams of one size
//!   (the last may be shorter), which the caller walks segment by segment; several trains (or
//!   single datagrams) are read per wake-up.
//!
//! Each feature the kernel lacks is switched off with one log line; the fallback is one datagram
//! per call. Socket buffers are enlarged for throughput. Nothing here allocates per packet: the
//! receive areas belong to the caller (the TUN batch the packets are written on from, see
//! [`TunSendBatch`](crate::platform::batch::TunSendBatch)), the control-message space to its
//! [`UdpRecvBatch`].

use std::io::{self, IoSlice};
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Send buffer size asked for (the kernel caps it at `wmem_max` unless we may force it).
const SEND_BUFFER: usize = 4 << 20;
/// Receive buffer size asked for (capped at `rmem_max` unless forced). Larger than the send
/// side: it must hold what arrives while the receive task waits for a core. In the benchmark
/// (2 busy cores, 4 TCP streams) 4 MiB overflowed — each loss a whole GRO train, dozens of
/// TCP segments to retransmit — and 16 MiB did not.
const RECV_BUFFER: usize = 16 << 20;
/// Buffers filled per wake-up of the receive task.
pub const RECV_BUFFERS: usize = 8;
/// Each receive area holds a GRO train of up to 64 KiB.
pub const RECV_AREA_LEN: usize = 65_535;
/// Most datagrams the kernel takes in one GSO send (`UDP_MAX_SEGMENTS` is 64 on older kernels).
pub const MAX_GSO_SEGMENTS: usize = 64;
/// Largest total payload of one GSO send (an IPv4 datagram's limit).
pub const MAX_GSO_BYTES: usize = 65_507;

/// What the kernel offers on this socket; features found missing at run time are switched off.
#[derive(Debug)]
pub struct UdpOffload {
    gso: AtomicBool,
    gro: bool,
}

impl UdpOffload {
    /// For the sending task: checks for GSO and sizes the socket's buffers; says once if GSO
    /// is missing.
    pub fn for_sending(socket: &UdpSocket) -> Self {
        Self::enable(socket, false)
    }

    /// For the receiving task: enables GRO and sizes the socket's buffers; says once if GRO is
    /// missing.
    pub fn for_receiving(socket: &UdpSocket) -> Self {
        Self::enable(socket, true)
    }

    fn enable(socket: &UdpSocket, receiving: bool) -> Self {
        let (gso, gro) = if crate::platform::batch::offload_allowed() {
            imp::enable(socket, receiving)
        } else {
            (false, false)
        };
        if receiving && !gro {
            tracing::info!("UDP GRO unavailable: ESP packets are received one per datagram");
        }
        if !receiving && !gso {
            tracing::info!("UDP GSO unavailable: ESP packets are sent one per call");
        }
        Self {
            gso: AtomicBool::new(gso),
            gro,
        }
    }

    /// Whether one call may send several datagrams.
    #[must_use]
    pub fn gso(&self) -> bool {
        self.gso.load(Ordering::Relaxed)
    }

    /// Whether received buffers may hold several datagrams.
    #[must_use]
    pub fn gro(&self) -> bool {
        self.gro
    }

    /// Sends `datagrams` (all of length `size` except possibly the last, shorter one; at most
    /// [`MAX_GSO_SEGMENTS`] and [`MAX_GSO_BYTES`] in total) on the connected `socket`.
    pub async fn send(
        &self,
        socket: &UdpSocket,
        datagrams: &[IoSlice<'_>],
        size: usize,
    ) -> io::Result<()> {
        if datagrams.len() > 1 && self.gso() {
            let sent = socket
                .async_io(Interest::WRITABLE, || {
                    imp::send_gso(socket, datagrams, size)
                })
                .await;
            match sent {
                Ok(()) => return Ok(()),
                // EIO: the route's device cannot checksum for GSO; EINVAL/ENOPROTOOPT: an old
                // kernel. Either way, never again on this socket.
                Err(error) if imp::gso_unsupported(&error) => {
                    tracing::info!(%error, "UDP GSO refused by the kernel: sending one by one");
                    self.gso.store(false, Ordering::Relaxed);
                }
                // EMSGSIZE: a segment is larger than the route's MTU (a link below 1500 bytes).
                // GSO cannot fragment; single sends can, as they did before GSO. The MTU of a
                // route rarely grows back, so stay with single sends on this socket.
                Err(error) if imp::segment_exceeds_mtu(&error) => {
                    tracing::info!(
                        size,
                        "ESP packets exceed the path MTU: sending one by one (the kernel fragments them)"
                    );
                    self.gso.store(false, Ordering::Relaxed);
                }
                Err(error) => return Err(error),
            }
        }
        for datagram in datagrams {
            socket.send(datagram).await?;
        }
        Ok(())
    }

    /// Waits for datagrams and receives as many as are queued into `areas` (one datagram or
    /// GRO train per area, up to [`RECV_BUFFERS`]); `batch` says what each area got.
    pub async fn recv(
        &self,
        socket: &UdpSocket,
        areas: &mut [Vec<u8>],
        batch: &mut UdpRecvBatch,
    ) -> io::Result<usize> {
        batch.count = 0;
        let count = socket
            .async_io(Interest::READABLE, || imp::recv(socket, areas, batch))
            .await?;
        batch.count = count;
        Ok(count)
    }
}

/// What the last receive put into the receive areas (which the caller owns, so datagrams can
/// be decrypted and written on where they arrived).
#[derive(Debug)]
pub struct UdpRecvBatch {
    lens: [usize; RECV_BUFFERS],
    /// Datagram size of a GRO train (0: one datagram).
    segment: [usize; RECV_BUFFERS],
    count: usize,
    /// Control-message space for the GRO datagram size.
    cmsg: Vec<u8>,
}

impl Default for UdpRecvBatch {
    fn default() -> Self {
        Self {
            lens: [0; RECV_BUFFERS],
            segment: [0; RECV_BUFFERS],
            count: 0,
            cmsg: imp::cmsg_buffer(),
        }
    }
}

impl UdpRecvBatch {
    /// Buffers filled by the last receive.
    #[must_use]
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the last receive filled nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// How many bytes area `i` received and the size of its datagrams (the whole length if it
    /// holds one).
    #[must_use]
    pub fn received(&self, i: usize) -> (usize, usize) {
        let len = self.lens[i];
        let segment = match self.segment[i] {
            0 => len,
            size => size,
        };
        (len, segment.max(1))
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use std::io::{self, IoSlice, IoSliceMut};
    use std::os::fd::{AsFd, AsRawFd};

    use nix::errno::Errno;
    use nix::sys::socket::{
        ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg, setsockopt, sockopt,
    };
    use tokio::net::UdpSocket;

    use super::{RECV_BUFFER, RECV_BUFFERS, SEND_BUFFER, UdpRecvBatch};

    /// Room for one `UDP_GRO` control message.
    pub(super) fn cmsg_buffer() -> Vec<u8> {
        nix::cmsg_space!(i32)
    }

    pub(super) fn enable(socket: &UdpSocket, gro: bool) -> (bool, bool) {
        let fd = socket.as_fd();
        // Forcing needs CAP_NET_ADMIN (ternd has it); otherwise the capped size is fine.
        if setsockopt(&fd, sockopt::RcvBufForce, &RECV_BUFFER).is_err() {
            let _ = setsockopt(&fd, sockopt::RcvBuf, &RECV_BUFFER);
        }
        if setsockopt(&fd, sockopt::SndBufForce, &SEND_BUFFER).is_err() {
            let _ = setsockopt(&fd, sockopt::SndBuf, &SEND_BUFFER);
        }
        let gso = nix::sys::socket::getsockopt(&fd, sockopt::UdpGsoSegment).is_ok();
        let gro = gro && setsockopt(&fd, sockopt::UdpGroSegment, &true).is_ok();
        (gso, gro)
    }

    pub(super) fn gso_unsupported(error: &io::Error) -> bool {
        matches!(
            error.raw_os_error().map(Errno::from_raw),
            Some(Errno::EIO | Errno::EINVAL | Errno::ENOPROTOOPT | Errno::EOPNOTSUPP)
        )
    }

    pub(super) fn segment_exceeds_mtu(error: &io::Error) -> bool {
        error.raw_os_error().map(Errno::from_raw) == Some(Errno::EMSGSIZE)
    }

    pub(super) fn send_gso(
        socket: &UdpSocket,
        datagrams: &[IoSlice<'_>],
        size: usize,
    ) -> io::Result<()> {
        let size = u16::try_from(size).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let cmsg = [ControlMessage::UdpGsoSegments(&size)];
        sendmsg::<()>(
            socket.as_raw_fd(),
            datagrams,
            &cmsg,
            MsgFlags::empty(),
            None,
        )
        .map(drop)
        .map_err(io::Error::from)
    }

    /// Fills the batch's buffers with `recvmsg` calls until nothing is queued. (Not `recvmmsg`:
    /// nix 0.32 reuses its `recvmmsg` headers without restoring their control-message length,
    /// so GRO sizes went missing after the first call; with GRO each call returns a whole train
    /// of datagrams anyway.)
    pub(super) fn recv(
        socket: &UdpSocket,
        areas: &mut [Vec<u8>],
        batch: &mut UdpRecvBatch,
    ) -> io::Result<usize> {
        let mut count = 0;
        while count < RECV_BUFFERS.min(areas.len()) {
            let mut iov = [IoSliceMut::new(&mut areas[count])];
            let message = match recvmsg::<()>(
                socket.as_raw_fd(),
                &mut iov,
                Some(&mut batch.cmsg),
                MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(message) => message,
                // What was received so far is returned; an error shows again on the next call.
                Err(_) if count > 0 => break,
                Err(errno) => return Err(io::Error::from(errno)),
            };
            batch.lens[count] = message.bytes;
            batch.segment[count] = 0;
            if let Ok(cmsgs) = message.cmsgs() {
                for cmsg in cmsgs {
                    if let ControlMessageOwned::UdpGroSegments(size) = cmsg {
                        batch.segment[count] = usize::try_from(size).unwrap_or(0);
                    }
                }
            }
            count += 1;
        }
        Ok(count)
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::io::{self, IoSlice};

    use tokio::net::UdpSocket;

    use super::UdpRecvBatch;

    pub(super) fn cmsg_buffer() -> Vec<u8> {
        Vec::new()
    }

    pub(super) fn enable(_socket: &UdpSocket, _gro: bool) -> (bool, bool) {
        (false, false)
    }

    pub(super) fn segment_exceeds_mtu(_error: &io::Error) -> bool {
        false
    }

    pub(super) fn gso_unsupported(_error: &io::Error) -> bool {
        true
    }

    pub(super) fn send_gso(
        _socket: &UdpSocket,
        _datagrams: &[IoSlice<'_>],
        _size: usize,
    ) -> io::Result<()> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }

    pub(super) fn recv(
        socket: &UdpSocket,
        areas: &mut [Vec<u8>],
        batch: &mut UdpRecvBatch,
    ) -> io::Result<usize> {
        let Some(area) = areas.first_mut() else {
            return Ok(0);
        };
        let len = socket.try_recv(area)?;
        batch.lens[0] = len;
        batch.segment[0] = 0;
        Ok(1)
    }
}

//! Drives an [`ike::Initiator`] over the tunnel's sockets: datagrams in (from the socket reader
//! tasks, through a channel), transmits out, timers from `poll_timeout`, events to the caller.
//!
//! [`IkeDriver::next_event`] is cancel-safe: it only awaits the datagram channel and a sleep,
//! and sends with `try_send` (a datagram the kernel cannot take right now is lost like any UDP
//! datagram, and IKE's retransmission covers it). So the controller can `select!` on it together
//! with its commands without losing state.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ike::{Event, Initiator};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::sockets::TunnelSockets;

/// How many IKE datagrams may wait for the driver; more are dropped (IKE retransmits).
pub const IKE_QUEUE: usize = 32;
/// Largest datagram read from the IKE socket.
const MAX_IKE_DATAGRAM: usize = 65_535;

/// One datagram for the initiator.
#[derive(Debug)]
pub struct IkeDatagram {
    /// Where it came from.
    pub remote: SocketAddr,
    /// The local address it arrived on.
    pub local: SocketAddr,
    /// The UDP payload (non-ESP marker included on the NAT-T socket).
    pub bytes: Vec<u8>,
}

/// The initiator with its sockets.
pub struct IkeDriver {
    initiator: Initiator,
    sockets: TunnelSockets,
    datagrams: mpsc::Receiver<IkeDatagram>,
    /// Reads the IKE (port 500) socket; the NAT-T socket is read by the datapath's reader.
    ike_reader: JoinHandle<()>,
    sent: u64,
}

impl std::fmt::Debug for IkeDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IkeDriver")
            .field("initiator", &self.initiator)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

impl Drop for IkeDriver {
    fn drop(&mut self) {
        self.ike_reader.abort();
    }
}

impl IkeDriver {
    /// Wraps `initiator`; `datagrams` is fed by the NAT-T reader (and by the IKE-socket reader
    /// this starts, through `datagram_tx`).
    pub fn new(
        initiator: Initiator,
        sockets: TunnelSockets,
        datagrams: mpsc::Receiver<IkeDatagram>,
        datagram_tx: mpsc::Sender<IkeDatagram>,
    ) -> Self {
        let ike_reader = tokio::spawn(read_ike_socket(Arc::clone(&sockets.ike), datagram_tx));
        Self {
            initiator,
            sockets,
            datagrams,
            ike_reader,
            sent: 0,
        }
    }

    /// The sockets in use.
    #[must_use]
    pub fn sockets(&self) -> &TunnelSockets {
        &self.sockets
    }

    /// Sends what the initiator has queued.
    fn flush(&mut self) {
        while let Some(transmit) = self.initiator.poll_transmit() {
            let socket = if transmit.nat_t {
                &self.sockets.nat_t
            } else {
                &self.sockets.ike
            };
            match send_now(socket, &transmit.payload, transmit.destination) {
                Ok(_) => self.sent += 1,
                Err(error) => {
                    tracing::debug!(%error, destination = %transmit.destination, "IKE send failed; retransmission will retry");
                }
            }
        }
    }

    /// The next event of the initiator, driving it meanwhile. After [`Event::Closed`] it waits
    /// forever: stop calling it.
    ///
    /// Make-before-break: what the initiator queued along with an event goes out only when the
    /// caller asks for the next event, after it acted on this one. So a rekey's answer (after
    /// which the gateway sends with the new CHILD_SA) or our Delete of the old CHILD_SA (after
    /// which it stops using that one) never overtakes the installation of the new inbound SA.
    pub async fn next_event(&mut self) -> Event {
        loop {
            if let Some(event) = self.initiator.poll_event() {
                if matches!(event, Event::Closed { .. }) {
                    // Nothing follows: a last Delete must go now.
                    self.flush();
                }
                return event;
            }
            self.flush();
            let deadline = self.initiator.poll_timeout();
            tokio::select! {
                datagram = self.datagrams.recv() => match datagram {
                    Some(d) => self.initiator.handle_datagram(Instant::now(), d.remote, d.local, &d.bytes),
                    // The readers are gone (socket error): nothing will ever arrive; let the
                    // retransmission timer end the SA.
                    None => match deadline {
                        Some(deadline) => {
                            tokio::time::sleep_until(deadline.into()).await;
                            self.initiator.handle_timeout(Instant::now());
                        }
                        None => std::future::pending::<()>().await,
                    },
                },
                () = sleep_until_opt(deadline) => self.initiator.handle_timeout(Instant::now()),
            }
        }
    }

    /// Starts deleting the IKE SA (an INFORMATIONAL Delete; [`Event::Closed`] follows).
    pub fn close(&mut self) {
        self.initiator.close(Instant::now());
        self.flush();
    }

    /// Asks the gateway whether it is alive (an empty INFORMATIONAL); `false` if a request of
    /// ours is already in flight or the SA is not established.
    pub fn send_liveness_check(&mut self) -> bool {
        let sent = self.initiator.send_liveness_check(Instant::now());
        self.flush();
        sent
    }

    /// Rekeys the current CHILD_SA now (ESP volume limits); `false` unless established.
    pub fn rekey_child_sa(&mut self) -> bool {
        let started = self.initiator.rekey_child_sa(Instant::now());
        self.flush();
        started
    }

    /// Whether the gateway supports MOBIKE on this IKE SA.
    #[must_use]
    pub fn mobike_supported(&self) -> bool {
        self.initiator.mobike_supported()
    }

    /// After [`TunnelSockets::reconnect`]: announces the NAT-T socket's new address to the
    /// gateway (MOBIKE UPDATE_SA_ADDRESSES). `false` if that is not possible (then reconnect).
    pub fn update_local_address(&mut self) -> bool {
        let Ok(local) = self.sockets.nat_t.local_addr() else {
            return false;
        };
        let started = self.initiator.update_local_address(Instant::now(), local);
        self.flush();
        started
    }

    /// Closes the SA and waits at most `limit` for the gateway's answer; returns whether the
    /// close completed (gateway answered, or the initiator gave up by itself).
    pub async fn close_within(&mut self, limit: Duration) -> bool {
        self.close();
        if self.initiator.is_closed() {
            return true;
        }
        tokio::time::timeout(limit, async {
            loop {
                if let Event::Closed { .. } = self.next_event().await {
                    return;
                }
            }
        })
        .await
        .is_ok()
    }
}

/// Sends one datagram without waiting. Tokio's `try_send_to` refuses (`WouldBlock`) until the
/// reactor has seen the socket writable once, which would drop the first IKE_SA_INIT of every
/// connection; a plain non-blocking `sendto` on the descriptor has no such gap.
fn send_now(socket: &UdpSocket, payload: &[u8], destination: SocketAddr) -> std::io::Result<usize> {
    use nix::sys::socket::{MsgFlags, SockaddrIn, SockaddrIn6, sendto};
    use std::os::fd::AsRawFd;
    let fd = socket.as_raw_fd();
    match destination {
        SocketAddr::V4(a) => sendto(fd, payload, &SockaddrIn::from(a), MsgFlags::empty()),
        SocketAddr::V6(a) => sendto(fd, payload, &SockaddrIn6::from(a), MsgFlags::empty()),
    }
    .map_err(std::io::Error::from)
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}

/// Forwards datagrams from the IKE (port 500) socket to the driver.
async fn read_ike_socket(socket: Arc<UdpSocket>, tx: mpsc::Sender<IkeDatagram>) {
    let mut buf = vec![0u8; MAX_IKE_DATAGRAM];
    let Ok(local) = socket.local_addr() else {
        return;
    };
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, remote)) => {
                let datagram = IkeDatagram {
                    remote,
                    local,
                    bytes: buf[..n].to_vec(),
                };
                if tx.try_send(datagram).is_err() && tx.is_closed() {
                    return;
                }
            }
            // ICMP errors (port unreachable) surface as recv errors on connected sockets; the
            // initiator's retransmission decides when the gateway is unreachable.
            Err(error) => {
                tracing::debug!(%error, "IKE socket receive error");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

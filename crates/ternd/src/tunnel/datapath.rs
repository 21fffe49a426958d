//! The ESP datapath, two Tokio tasks per connection:
//!
//! - [`run_nat_t_reader`]: UDP 4500 → [`esp::classify`] → IKE (to the [`IkeDriver`]) |
//!   keepalive (dropped) | ESP → [`InboundSa::decapsulate`] → traffic-selector check → TUN.
//!   It runs from the first IKE datagram on (IKE floats to this socket); inbound SAs are
//!   installed into it through [`InboundControl`] messages once a CHILD_SA exists.
//! - [`run_tun_reader`]: TUN → [`OutboundSa::encapsulate`] in place → UDP 4500. The current
//!   outbound SA comes through a `watch` channel, so a rekey switches it between two packets.
//!
//! Both move packets in batches (see [`udp_batch`](super::udp_batch) and
//! [`crate::platform::batch`]); each task owns its batch buffers for its life, so nothing is
//! allocated per packet.
//!
//! [`IkeDriver`]: super::ike_driver::IkeDriver

use std::io::IoSlice;
use std::net::IpAddr;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use esp::{EspError, InboundSa, OutboundSa, UdpPayload};
use ipc::TrafficStats;
use ipsec_types::{Spi, TrafficSelector};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use super::ike_driver::IkeDatagram;
use super::udp_batch::{
    MAX_GSO_BYTES, MAX_GSO_SEGMENTS, RECV_AREA_LEN, RECV_BUFFERS, UdpOffload, UdpRecvBatch,
};
use crate::platform::TunDevice;
use crate::platform::batch::{TunRecvBatch, TunSendBatch};

/// Packets per TUN read: a 64 KiB TCP segment splits into 45 at MTU 1435, and into 128 with
/// the smallest MSS commonly seen (512; the classic default is 536).
const TUN_BATCH: usize = 128;
/// Decrypted packets queued for the TUN per receive: every datagram of full GRO trains in all
/// receive areas.
const TUN_SEND_PACKETS: usize = RECV_BUFFERS * MAX_GSO_SEGMENTS;

/// Traffic counters shared by the datapath tasks and the controller.
#[derive(Debug, Default)]
pub struct Counters {
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    packets_in: AtomicU64,
    packets_out: AtomicU64,
    dropped_in: AtomicU64,
    /// Datagrams of any kind (ESP, IKE, keepalive) received from the gateway; for liveness.
    received: AtomicU64,
}

impl Counters {
    /// The counters as the IPC protocol reports them.
    #[must_use]
    pub fn snapshot(&self) -> TrafficStats {
        TrafficStats {
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            packets_in: self.packets_in.load(Ordering::Relaxed),
            packets_out: self.packets_out.load(Ordering::Relaxed),
            dropped_in: self.dropped_in.load(Ordering::Relaxed),
        }
    }

    /// Datagrams received from the gateway so far (any kind).
    #[must_use]
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    fn count_in(&self, packets: u64, bytes: u64) {
        self.packets_in.fetch_add(packets, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes, Ordering::Relaxed);
    }

    fn count_out(&self, packets: u64, bytes: u64) {
        self.packets_out.fetch_add(packets, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes, Ordering::Relaxed);
    }

    fn drop_in(&self) {
        self.dropped_in.fetch_add(1, Ordering::Relaxed);
    }
}

/// What the TUN reader encapsulates outbound packets with: an [`OutboundSa`] in every real
/// tunnel (the lab's manual-SA mode has one more, see [`crate::lab`]).
pub trait SealOutbound: Send + Sync + 'static {
    /// Turns the inner packet at `buf[inner]` into an ESP packet in place (as
    /// [`OutboundSa::encapsulate`]).
    fn seal(&self, buf: &mut [u8], inner: Range<usize>) -> Result<esp::Encapsulated, EspError>;
}

impl SealOutbound for OutboundSa {
    fn seal(&self, buf: &mut [u8], inner: Range<usize>) -> Result<esp::Encapsulated, EspError> {
        self.encapsulate(buf, inner)
    }
}

/// What the NAT-T reader decapsulates inbound packets with: an [`InboundSa`] in every real
/// tunnel.
pub trait OpenInbound: Send + 'static {
    /// The SPI whose packets this opens.
    fn spi(&self) -> Spi;
    /// Verifies and decrypts the ESP packet in place; returns where the inner packet lies (as
    /// [`InboundSa::decapsulate`]).
    fn open(&mut self, packet: &mut [u8]) -> Result<Range<usize>, EspError>;
}

impl OpenInbound for InboundSa {
    fn spi(&self) -> Spi {
        InboundSa::spi(self)
    }

    fn open(&mut self, packet: &mut [u8]) -> Result<Range<usize>, EspError> {
        self.decapsulate(packet).map(|d| d.inner)
    }
}

/// An inbound CHILD_SA with what its packets may carry.
pub struct InboundChild<T, S = InboundSa> {
    /// The SA (our SPI).
    pub sa: S,
    /// Our side's selectors: inner destinations must be inside.
    pub ts_local: Vec<TrafficSelector>,
    /// The gateway's side: inner sources must be inside.
    pub ts_remote: Vec<TrafficSelector>,
    /// Where decrypted packets go.
    pub tun: Arc<T>,
}

/// Changes to the NAT-T reader's inbound SAs.
pub enum InboundControl<T, S = InboundSa> {
    /// Accept packets for this SA (alongside any older one, until it is removed).
    Install(Box<InboundChild<T, S>>),
    /// Forget the SA with this inbound SPI.
    Remove(Spi),
    /// Forget every SA (the connection is going down).
    Clear,
}

/// Whether an inner IP packet fits the selectors: its source (address, protocol, port) on the
/// gateway's side, its destination on ours.
fn selectors_allow(
    packet: &[u8],
    ts_local: &[TrafficSelector],
    ts_remote: &[TrafficSelector],
) -> bool {
    let Some(flow) = InnerFlow::parse(packet) else {
        return false;
    };
    ts_remote
        .iter()
        .any(|ts| flow.matches(ts, flow.source, flow.source_port))
        && ts_local
            .iter()
            .any(|ts| flow.matches(ts, flow.destination, flow.destination_port))
}

/// What the selectors look at in an inner packet.
struct InnerFlow {
    source: IpAddr,
    destination: IpAddr,
    protocol: u8,
    source_port: Option<u16>,
    destination_port: Option<u16>,
}

/// IP protocols whose first four payload bytes are source and destination ports.
const PORTED_PROTOCOLS: [u8; 4] = [6, 17, 132, 136];

impl InnerFlow {
    fn parse(packet: &[u8]) -> Option<Self> {
        let (source, destination, protocol, payload_at) = match packet.first()? >> 4 {
            4 => {
                let src: [u8; 4] = packet.get(12..16)?.try_into().ok()?;
                let dst: [u8; 4] = packet.get(16..20)?.try_into().ok()?;
                let header_len = usize::from(packet[0] & 0x0f) * 4;
                let fragment_offset =
                    u16::from_be_bytes([*packet.get(6)?, *packet.get(7)?]) & 0x1fff;
                // Only the first fragment carries the ports.
                let payload_at = (fragment_offset == 0 && header_len >= 20).then_some(header_len);
                (
                    IpAddr::from(src),
                    IpAddr::from(dst),
                    *packet.get(9)?,
                    payload_at,
                )
            }
            6 => {
                let src: [u8; 16] = packet.get(8..24)?.try_into().ok()?;
                let dst: [u8; 16] = packet.get(24..40)?.try_into().ok()?;
                // Extension headers are not walked: behind them the ports count as unknown.
                (
                    IpAddr::from(src),
                    IpAddr::from(dst),
                    *packet.get(6)?,
                    Some(40),
                )
            }
            _ => return None,
        };
        let ports = payload_at
            .filter(|_| PORTED_PROTOCOLS.contains(&protocol))
            .and_then(|at| packet.get(at..at + 4))
            .map(|p| {
                (
                    u16::from_be_bytes([p[0], p[1]]),
                    u16::from_be_bytes([p[2], p[3]]),
                )
            });
        Some(Self {
            source,
            destination,
            protocol,
            source_port: ports.map(|p| p.0),
            destination_port: ports.map(|p| p.1),
        })
    }

    /// Whether `ts` covers this flow's `addr` (one end) with `port` (that end's port).
    fn matches(&self, ts: &TrafficSelector, addr: IpAddr, port: Option<u16>) -> bool {
        if !ts.contains_addr(addr) {
            return false;
        }
        if ts.ip_protocol() != 0 && ts.ip_protocol() != self.protocol {
            return false;
        }
        if (ts.start_port(), ts.end_port()) == (0, u16::MAX) {
            return true;
        }
        port.is_some_and(|p| (ts.start_port()..=ts.end_port()).contains(&p))
    }
}

/// Reads the NAT-T socket until `control` closes: IKE to `ike`, ESP through the installed
/// inbound SAs to their TUN.
///
/// Datagrams arrive in batches (several reads per wake-up; GRO trains split here by datagram size);
/// the decrypted packets of a batch go to the TUN device together, where a device with offload
/// coalesces them.
pub async fn run_nat_t_reader<T: TunDevice + 'static, S: OpenInbound>(
    socket: Arc<UdpSocket>,
    ike: mpsc::Sender<IkeDatagram>,
    mut control: mpsc::Receiver<InboundControl<T, S>>,
    counters: Arc<Counters>,
) {
    let offload = UdpOffload::for_receiving(&socket);
    let mut datagrams = UdpRecvBatch::default();
    // Datagrams are received into this batch's areas, decrypted there and written from there.
    let mut to_tun = TunSendBatch::new(RECV_BUFFERS, RECV_AREA_LEN, TUN_SEND_PACKETS);
    let mut pending = Pending::default();
    // Usually one; two during a CHILD_SA rekey.
    let mut children: Vec<InboundChild<T, S>> = Vec::with_capacity(2);
    loop {
        let received = tokio::select! {
            biased;
            message = control.recv() => {
                match message {
                    Some(InboundControl::Install(child)) => children.push(*child),
                    Some(InboundControl::Remove(spi)) => children.retain(|c| c.sa.spi() != spi),
                    Some(InboundControl::Clear) => children.clear(),
                    None => return,
                }
                continue;
            }
            received = offload.recv(&socket, to_tun.areas_mut(), &mut datagrams) => received,
        };
        if let Err(error) = received {
            tracing::trace!(%error, "NAT-T socket receive error");
            continue;
        }
        let mut received = 0;
        for area in 0..datagrams.len() {
            let (len, size) = datagrams.received(area);
            received += len.div_ceil(size) as u64;
            let mut at = 0;
            while at < len {
                let end = (at + size).min(len);
                let payload_at = at;
                let payload = &mut to_tun.area_mut(area)[at..end];
                at = end;
                match esp::classify(payload) {
                    Ok(UdpPayload::NatKeepalive) => {}
                    Ok(UdpPayload::Ike(_)) => {
                        // Asked per IKE datagram (rare): MOBIKE may reconnect the socket.
                        let Ok(remote) = socket.peer_addr() else {
                            continue;
                        };
                        let local = socket.local_addr().ok();
                        // The initiator strips the marker itself.
                        let datagram = IkeDatagram {
                            remote,
                            local: local.unwrap_or(remote),
                            bytes: payload.to_vec(),
                        };
                        if ike.try_send(datagram).is_err() {
                            tracing::debug!("IKE queue full or closed; dropped a datagram");
                        }
                    }
                    Ok(UdpPayload::Esp(range)) => {
                        let esp_at = payload_at + range.start;
                        let packet = &mut payload[range];
                        let Some(index) = esp::packet_spi(packet)
                            .and_then(|spi| children.iter().position(|c| c.sa.spi() == spi))
                        else {
                            counters.drop_in();
                            continue;
                        };
                        let child = &mut children[index];
                        let inner = match child.sa.open(packet) {
                            Ok(inner) => inner,
                            Err(error) => {
                                tracing::trace!(%error, "dropped an inbound ESP packet");
                                counters.drop_in();
                                continue;
                            }
                        };
                        if !selectors_allow(
                            &packet[inner.clone()],
                            &child.ts_local,
                            &child.ts_remote,
                        ) {
                            tracing::trace!(
                                "dropped an inner packet outside the traffic selectors"
                            );
                            counters.drop_in();
                            continue;
                        }
                        // One batch goes to one TUN device (all children share it in practice).
                        let same_tun = pending
                            .tun
                            .as_ref()
                            .is_none_or(|tun| Arc::ptr_eq(tun, &child.tun));
                        if to_tun.is_full() || !same_tun {
                            // Writing leaves the areas as they are: the rest of this receive
                            // stays valid.
                            pending.flush(&mut to_tun, &counters).await;
                        }
                        let child = &children[index];
                        if pending.tun.is_none() {
                            pending.tun = Some(Arc::clone(&child.tun));
                        }
                        let inner_len = inner.len();
                        let inner = esp_at + inner.start..esp_at + inner.end;
                        if to_tun.push_in_place(area, inner) {
                            pending.bytes += inner_len as u64;
                        } else {
                            counters.drop_in();
                        }
                    }
                    Err(_) => counters.drop_in(),
                }
            }
        }
        counters.received.fetch_add(received, Ordering::Relaxed);
        pending.flush(&mut to_tun, &counters).await;
    }
}

/// Packets the NAT-T reader has decrypted but not yet written, and where they go.
struct Pending<T> {
    tun: Option<Arc<T>>,
    bytes: u64,
}

impl<T> Default for Pending<T> {
    fn default() -> Self {
        Self {
            tun: None,
            bytes: 0,
        }
    }
}

impl<T: TunDevice> Pending<T> {
    async fn flush(&mut self, batch: &mut TunSendBatch, counters: &Counters) {
        if let Some(tun) = self.tun.take()
            && !batch.is_empty()
        {
            let packets = batch.len() as u64;
            match tun.send_batch(batch).await {
                Ok(failed) => {
                    let failed = failed as u64;
                    counters.count_in(packets - failed.min(packets), self.bytes);
                    counters.dropped_in.fetch_add(failed, Ordering::Relaxed);
                }
                Err(error) => {
                    tracing::debug!(%error, "TUN write failed");
                    counters.dropped_in.fetch_add(packets, Ordering::Relaxed);
                }
            }
        }
        batch.clear();
        self.bytes = 0;
    }
}

/// Reads the TUN device and sends each packet, encapsulated with the current outbound SA, on
/// the (connected) NAT-T socket. Runs until the TUN fails or the task is aborted.
///
/// Packets come in batches (a device with offload hands over whole TCP segments, split here
/// into MTU-sized packets), are encrypted in place one by one, and leave in runs of equal size
/// with one UDP GSO send per run.
pub async fn run_tun_reader<T: TunDevice + 'static, S: SealOutbound>(
    tun: Arc<T>,
    socket: Arc<UdpSocket>,
    mut outbound: watch::Receiver<Arc<S>>,
    counters: Arc<Counters>,
) {
    let offload = UdpOffload::for_sending(&socket);
    // Slots fit the MTU the device has now (at least 1500); a larger MTU set later only costs
    // the packets that do not fit.
    let max_packet = tun.mtu().map_or(1500, |mtu| usize::from(mtu).max(1500));
    let headroom = esp::MAX_HEADROOM;
    let mut batch = TunRecvBatch::new(TUN_BATCH, headroom, max_packet, esp::MAX_TAILROOM);
    let mut sealed: Vec<Range<usize>> = vec![0..0; TUN_BATCH];
    let mut sa = Arc::clone(&outbound.borrow_and_update());
    loop {
        let count = match tun.recv_batch(&mut batch).await {
            Ok(count) => count,
            // Not an OS error: one read the device could not take apart (a malformed offload
            // header, or a segment with a tiny MSS splitting into more packets than the batch
            // has slots). That read is lost; the device is fine.
            Err(error)
                if error.kind() == std::io::ErrorKind::InvalidData
                    || error.raw_os_error().is_none() =>
            {
                tracing::debug!(%error, "unreadable packet from the TUN device");
                continue;
            }
            Err(error) => {
                tracing::warn!(%error, "TUN read failed; outbound datapath stops");
                return;
            }
        };
        if outbound.has_changed().unwrap_or(false) {
            sa = Arc::clone(&outbound.borrow_and_update());
        }
        let mut bytes = 0;
        for (i, range) in sealed.iter_mut().enumerate().take(count) {
            let (slot, len) = batch.slot_mut(i);
            *range = 0..0;
            if len == 0 {
                continue;
            }
            match sa.seal(slot, headroom..headroom + len) {
                Ok(encapsulated) => {
                    if let Some(event) = encapsulated.event {
                        tracing::info!(?event, "outbound SA asks for a rekey (the gateway rekeys)");
                    }
                    *range = encapsulated.packet;
                    bytes += len as u64;
                }
                Err(error) => tracing::debug!(%error, "could not encapsulate an outbound packet"),
            }
        }
        let sent = send_runs(&offload, &socket, &batch, &sealed[..count]).await;
        counters.count_out(sent, bytes);
    }
}

/// Sends the sealed packets (`ranges[i]` in slot `i`; empty ranges are skipped) in runs of equal
/// length, one GSO send per run; returns how many were handed to the kernel.
async fn send_runs(
    offload: &UdpOffload,
    socket: &UdpSocket,
    batch: &TunRecvBatch,
    ranges: &[Range<usize>],
) -> u64 {
    let mut run = [IoSlice::new(&[]); MAX_GSO_SEGMENTS];
    let (mut len, mut size, mut total) = (0, 0, 0);
    let mut sent = 0;
    for (i, range) in ranges.iter().enumerate() {
        if range.is_empty() {
            continue;
        }
        let datagram = &batch.slot(i)[range.clone()];
        // A run continues while the datagrams have its size; one shorter datagram may end it.
        let fits = len > 0
            && len < MAX_GSO_SEGMENTS
            && total + datagram.len() <= MAX_GSO_BYTES
            && datagram.len() <= size
            && run[len - 1].len() == size;
        if !fits && len > 0 {
            sent += flush_run(offload, socket, &run[..len], size).await;
            len = 0;
            total = 0;
        }
        if len == 0 {
            size = datagram.len();
        }
        run[len] = IoSlice::new(datagram);
        len += 1;
        total += datagram.len();
    }
    if len > 0 {
        sent += flush_run(offload, socket, &run[..len], size).await;
    }
    sent
}

async fn flush_run(
    offload: &UdpOffload,
    socket: &UdpSocket,
    run: &[IoSlice<'_>],
    size: usize,
) -> u64 {
    match offload.send(socket, run, size).await {
        Ok(()) => run.len() as u64,
        Err(error) => {
            tracing::debug!(%error, "ESP send failed");
            0
        }
    }
}

/// Sends one NAT keepalive (RFC 3948 §2.3) on the connected NAT-T socket.
pub fn send_keepalive(socket: &UdpSocket) {
    if let Err(error) = socket.try_send(&esp::NAT_KEEPALIVE) {
        tracing::debug!(%error, "NAT keepalive not sent");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ipsec_types::{EncrAlgorithm, EspSuite, IpPrefix};

    use super::*;
    use crate::platform::TunnelInterface;
    use crate::platform::fake::FakeTun;

    fn ipv4_packet(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0];
        p.extend(src);
        p.extend(dst);
        p.extend([0, 1, 0, 2, 0, 8, 0, 0]);
        p
    }

    fn selector(text: &str) -> TrafficSelector {
        let (addr, len) = text.split_once('/').unwrap();
        TrafficSelector::from_prefix(
            IpPrefix::new(addr.parse().unwrap(), len.parse().unwrap()).unwrap(),
        )
    }

    #[test]
    fn selectors_check_protocol_and_ports() {
        // UDP 10.99.0.2:53 -> 10.99.100.1:4000 (ipv4_packet's ports are 1 -> 2; build by hand).
        let mut packet = ipv4_packet([10, 99, 0, 2], [10, 99, 100, 1]);
        packet[20..24].copy_from_slice(&[0, 53, 0x0f, 0xa0]);
        let local = [selector("10.99.100.1/32")];
        let dns_only = |proto: u8, lo: u16, hi: u16| {
            [TrafficSelector::new(
                proto,
                lo,
                hi,
                "10.99.0.0".parse().unwrap(),
                "10.99.0.255".parse().unwrap(),
            )
            .unwrap()]
        };
        assert!(selectors_allow(&packet, &local, &dns_only(17, 53, 53)));
        assert!(selectors_allow(&packet, &local, &dns_only(0, 0, u16::MAX)));
        assert!(
            !selectors_allow(&packet, &local, &dns_only(6, 53, 53)),
            "TCP only"
        );
        assert!(
            !selectors_allow(&packet, &local, &dns_only(17, 54, 60)),
            "other ports"
        );
        // A later fragment has no ports: refused by a port-restricted selector.
        packet[6] = 0x00;
        packet[7] = 0x10;
        assert!(!selectors_allow(&packet, &local, &dns_only(17, 53, 53)));
        assert!(selectors_allow(&packet, &local, &dns_only(17, 0, u16::MAX)));
    }

    #[test]
    fn selectors_check_source_and_destination() {
        let local = [selector("10.99.100.1/32")];
        let remote = [selector("10.99.0.0/24")];
        assert!(selectors_allow(
            &ipv4_packet([10, 99, 0, 2], [10, 99, 100, 1]),
            &local,
            &remote
        ));
        assert!(!selectors_allow(
            &ipv4_packet([10, 98, 0, 2], [10, 99, 100, 1]),
            &local,
            &remote
        ));
        assert!(!selectors_allow(
            &ipv4_packet([10, 99, 0, 2], [10, 99, 100, 2]),
            &local,
            &remote
        ));
        assert!(!selectors_allow(&[0x45, 0, 0], &local, &remote));
        assert!(!selectors_allow(&[], &local, &remote));
    }

    /// Two datapaths back to back over loopback: what one side's TUN reads arrives at the
    /// other side's TUN, and a packet outside the selectors is dropped and counted.
    #[tokio::test]
    async fn packets_cross_between_two_datapaths() {
        let suite = EspSuite {
            encr: EncrAlgorithm::AesGcm16_256,
            integ: None,
            esn: true,
        };
        let spi_b = Spi::new(0x2002).unwrap();
        let key_b = [2u8; 36];
        let config = esp::EspSaConfig::default();
        // A sends with spi_b's keys to B; B sends with spi_a's keys to A.
        let a_out = OutboundSa::new(suite, &esp::manual_keys(spi_b, &key_b, &[]), &config).unwrap();
        let b_in = InboundSa::new(suite, &esp::manual_keys(spi_b, &key_b, &[]), &config).unwrap();

        let a_socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let b_socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        a_socket
            .connect(b_socket.local_addr().unwrap())
            .await
            .unwrap();
        b_socket
            .connect(a_socket.local_addr().unwrap())
            .await
            .unwrap();
        let iface = TunnelInterface {
            name: "t".into(),
            index: 1,
        };
        let (a_tun, a_peer) = FakeTun::new(iface.clone(), 1400, 8);
        let (b_tun, mut b_peer) = FakeTun::new(iface, 1400, 8);
        let (a_tun, b_tun) = (Arc::new(a_tun), Arc::new(b_tun));
        let counters_a = Arc::new(Counters::default());
        let counters_b = Arc::new(Counters::default());

        let (_out_tx, out_rx) = watch::channel(Arc::new(a_out));
        let tun_task = tokio::spawn(run_tun_reader(
            Arc::clone(&a_tun),
            Arc::clone(&a_socket),
            out_rx,
            Arc::clone(&counters_a),
        ));
        let (ike_tx, mut ike_rx) = mpsc::channel(4);
        let (control_tx, control_rx) = mpsc::channel(4);
        let reader = tokio::spawn(run_nat_t_reader(
            Arc::clone(&b_socket),
            ike_tx,
            control_rx,
            Arc::clone(&counters_b),
        ));
        control_tx
            .send(InboundControl::Install(Box::new(InboundChild {
                sa: b_in,
                ts_local: vec![selector("10.99.0.0/24")],
                ts_remote: vec![selector("10.99.100.1/32")],
                tun: Arc::clone(&b_tun),
            })))
            .await
            .unwrap();

        let good = ipv4_packet([10, 99, 100, 1], [10, 99, 0, 2]);
        a_peer.to_tunnel.send(good.clone()).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), b_peer.from_tunnel.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, good);

        let outside = ipv4_packet([10, 99, 100, 7], [10, 99, 0, 2]);
        a_peer.to_tunnel.send(outside).await.unwrap();
        // IKE on the same socket goes to the driver's channel.
        a_socket.send(&[0, 0, 0, 0, 0x80, 1, 2, 3]).await.unwrap();
        let ike = tokio::time::timeout(Duration::from_secs(5), ike_rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ike.bytes, [0, 0, 0, 0, 0x80, 1, 2, 3]);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while counters_b.snapshot().dropped_in == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the outside packet was not dropped"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(counters_b.snapshot().dropped_in, 1);
        assert_eq!(counters_b.snapshot().packets_in, 1);
        assert_eq!(counters_a.snapshot().packets_out, 2);
        tun_task.abort();
        reader.abort();
    }
}

//! The Linux TUN device, from `tun-rs` (`/dev/net/tun`, `IFF_TUN | IFF_NO_PI`), driven by Tokio.
//!
//! Offload: the device is opened with `IFF_VNET_HDR` and `TUNSETOFFLOAD` (checksum, TSO4/6, and
//! USO where the kernel has it), so the kernel hands over TCP segments of up to 64 KiB with one
//! virtio-net header. `tun-rs` splits them into MTU-sized packets with fixed IP/TCP headers and
//! checksums (`recv_multiple`) before they are encrypted one by one, and coalesces decrypted
//! TCP/UDP packets of one flow into large writes (`send_multiple`, GRO). A kernel that refuses
//! offload gets a plain device (logged once) and the same API, one packet per read.

use std::io;

use crate::platform::batch::{
    CoalescedWrite, MAX_COALESCED_SEGMENTS, TunRecvBatch, TunSendBatch, coalesce_tcp,
};
use crate::platform::{PlatformError, TunConfig, TunDevice, TunnelInterface};

/// Raw read size with offload: one virtio-net header and a segment of up to 64 KiB.
const RAW_READ_LEN: usize = tun_rs::VIRTIO_NET_HDR_LEN + 65_535;

/// A TUN device, up, with its MTU set and no addresses (the configurator adds those).
pub struct LinuxTun {
    device: tun_rs::AsyncDevice,
    interface: TunnelInterface,
    /// Whether the device carries virtio-net headers (segmentation offload).
    offload: bool,
    /// Raw buffer for single-packet reads on an offloaded device (not the datapath's path).
    single_read: tokio::sync::Mutex<Vec<u8>>,
}

impl std::fmt::Debug for LinuxTun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinuxTun")
            .field("interface", &self.interface)
            .finish_non_exhaustive()
    }
}

impl LinuxTun {
    /// Creates the device in the calling thread's network namespace and brings it up. Must run
    /// inside a Tokio runtime. The device disappears when this value is dropped, and with it
    /// every address and route on it.
    pub fn create(config: &TunConfig) -> Result<Self, PlatformError> {
        let tun_error = |what: &str| {
            let what = what.to_owned();
            move |source| PlatformError::Tun { what, source }
        };
        let build = |offload: bool| {
            let mut builder = tun_rs::DeviceBuilder::new()
                .mtu(config.mtu)
                .packet_information(false)
                .offload(offload)
                .enable(true);
            if let Some(name) = &config.name {
                builder = builder.name(name.clone());
            }
            builder.build_async()
        };
        let attempt = if crate::platform::batch::offload_allowed() {
            build(true)
        } else {
            build(false)
        };
        let (device, offload) = match attempt {
            Ok(device) => (device, crate::platform::batch::offload_allowed()),
            Err(error) => {
                tracing::info!(
                    %error,
                    "TUN segmentation offload unavailable; reading one packet at a time"
                );
                (
                    build(false).map_err(tun_error("create and bring up the device"))?,
                    false,
                )
            }
        };
        let name = device.name().map_err(tun_error("read its name"))?;
        let index = device.if_index().map_err(tun_error("read its index"))?;
        tracing::info!(%name, index, mtu = config.mtu, offload, "TUN device up");
        Ok(Self {
            device,
            interface: TunnelInterface { name, index },
            offload,
            single_read: tokio::sync::Mutex::new(Vec::new()),
        })
    }
}

impl TunDevice for LinuxTun {
    fn interface(&self) -> TunnelInterface {
        self.interface.clone()
    }

    fn mtu(&self) -> io::Result<u16> {
        self.device.mtu()
    }

    fn set_mtu(&self, mtu: u16) -> io::Result<()> {
        self.device.set_mtu(mtu)
    }

    async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.offload {
            return self.device.recv(buf).await;
        }
        // One packet only: a large segment that splits into more than one is an error here (the
        // datapath reads with `recv_batch`).
        let mut raw = self.single_read.lock().await;
        raw.resize(RAW_READ_LEN, 0);
        let mut sizes = [0];
        self.device
            .recv_multiple(&mut raw, &mut [buf], &mut sizes, 0)
            .await?;
        Ok(sizes[0])
    }

    async fn send(&self, packet: &[u8]) -> io::Result<usize> {
        if !self.offload {
            return self.device.send(packet).await;
        }
        // A zeroed virtio-net header: no offload asked for this packet.
        let header = [0u8; tun_rs::VIRTIO_NET_HDR_LEN];
        let written = self
            .device
            .send_vectored(&[io::IoSlice::new(&header), io::IoSlice::new(packet)])
            .await?;
        Ok(written.saturating_sub(header.len()))
    }

    async fn recv_batch(&self, batch: &mut TunRecvBatch) -> io::Result<usize> {
        let (scratch, slots, sizes, offset) = batch.parts_mut();
        if self.offload && scratch.len() < RAW_READ_LEN {
            scratch.resize(RAW_READ_LEN, 0);
        }
        let count = self
            .device
            .recv_multiple(scratch, slots, sizes, offset)
            .await?;
        batch.set_len(count);
        Ok(count)
    }

    async fn send_batch(&self, batch: &mut TunSendBatch) -> io::Result<usize> {
        if !self.offload {
            let mut failed = 0;
            for i in 0..batch.len() {
                if self.device.send(batch.packet(i)).await.is_err() {
                    failed += 1;
                }
            }
            return Ok(failed);
        }
        coalesce_tcp(batch);
        let mut failed = 0;
        // Each write gathers its pieces where they were decrypted: header, first packet, the
        // other packets' payloads.
        for w in 0..batch.writes.len() {
            let write = batch.writes[w];
            let header = virtio_header(&write);
            let mut pieces = [io::IoSlice::new(&[]); 1 + MAX_COALESCED_SEGMENTS];
            pieces[0] = io::IoSlice::new(&header);
            pieces[1] = io::IoSlice::new(batch.packet(write.first));
            for k in 1..write.count.min(MAX_COALESCED_SEGMENTS) {
                let packet = batch.packet(write.first + k);
                pieces[1 + k] = io::IoSlice::new(packet.get(write.headers_len..).unwrap_or(&[]));
            }
            let used = 1 + write.count.min(MAX_COALESCED_SEGMENTS);
            if let Err(error) = self.device.send_vectored(&pieces[..used]).await {
                tracing::trace!(%error, "TUN write failed");
                failed += write.count;
            }
        }
        Ok(failed)
    }
}

/// The virtio-net header of a planned write: none asked for a single packet; for a coalesced
/// one, TCP segmentation by `gso_size` with the checksum left to the kernel (`NEEDS_CSUM`, the
/// pseudo-header sum already in place).
fn virtio_header(write: &CoalescedWrite) -> [u8; tun_rs::VIRTIO_NET_HDR_LEN] {
    let mut bytes = [0u8; tun_rs::VIRTIO_NET_HDR_LEN];
    if write.count > 1 {
        // Lengths are below 64 KiB (the coalescer's limit).
        let header = tun_rs::VirtioNetHdr {
            flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
            gso_type: if write.ipv6 {
                VIRTIO_NET_HDR_GSO_TCPV6
            } else {
                VIRTIO_NET_HDR_GSO_TCPV4
            },
            hdr_len: write.headers_len as u16,
            gso_size: write.gso_size as u16,
            csum_start: write.ip_header_len as u16,
            csum_offset: 16,
        };
        // Cannot fail: the buffer has the header's length.
        let _ = header.encode(&mut bytes);
    }
    bytes
}

/// virtio-net header values (`linux/virtio_net.h`).
const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
const VIRTIO_NET_HDR_GSO_TCPV4: u8 = 1;
const VIRTIO_NET_HDR_GSO_TCPV6: u8 = 4;

#[cfg(test)]
mod tests {
    //! The segmentation the datapath relies on (tun-rs `gso_split`), checked against packets
    //! built here and checksums computed independently.

    use tun_rs::{VirtioNetHdr, gso_split};

    /// RFC 1071 one's-complement sum, folded and complemented.
    fn checksum(chunks: &[&[u8]]) -> u16 {
        let mut sum: u32 = 0;
        for chunk in chunks {
            for pair in chunk.chunks(2) {
                let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
                sum += u32::from(word);
            }
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    fn tcp_checksum_ok(packet: &[u8], v6: bool) -> bool {
        let (ip_len, pseudo) = if v6 {
            let len = (packet.len() - 40) as u32;
            let mut p = Vec::new();
            p.extend_from_slice(&packet[8..40]);
            p.extend_from_slice(&len.to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, 6]);
            (40, p)
        } else {
            let len = (packet.len() - 20) as u16;
            let mut p = Vec::new();
            p.extend_from_slice(&packet[12..20]);
            p.extend_from_slice(&[0, 6]);
            p.extend_from_slice(&len.to_be_bytes());
            (20, p)
        };
        checksum(&[&pseudo, &packet[ip_len..]]) == 0
    }

    /// A TCP segment of `payload` bytes as the kernel hands it over with TSO: lengths of the
    /// whole, the pseudo-header sum in the TCP checksum field (`NEEDS_CSUM`), PSH|ACK set.
    fn tso_segment(v6: bool, payload: usize) -> Vec<u8> {
        let mut packet = crate::platform::batch::ip_header_for_tests(v6, 20 + payload);
        let ip_len = packet.len();
        // Ports 40000 -> 5201, seq 1_000_000, ack 7, data offset 5, PSH|ACK, window 512.
        packet.extend_from_slice(&[0x9c, 0x40, 0x14, 0x51]);
        packet.extend_from_slice(&1_000_000u32.to_be_bytes());
        packet.extend_from_slice(&7u32.to_be_bytes());
        packet.extend_from_slice(&[0x50, 0x18, 0x02, 0x00, 0, 0, 0, 0]);
        packet.extend((0..payload).map(|i| (i % 251) as u8));
        // The partial checksum the kernel leaves: the pseudo-header sum, not complemented.
        let tcp_len = packet.len() - ip_len;
        let pseudo: Vec<u8> = if v6 {
            let mut p = packet[8..40].to_vec();
            p.extend_from_slice(&(tcp_len as u32).to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, 6]);
            p
        } else {
            let mut p = packet[12..20].to_vec();
            p.extend_from_slice(&[0, 6]);
            p.extend_from_slice(&(tcp_len as u16).to_be_bytes());
            p
        };
        let partial = !checksum(&[&pseudo]);
        packet[ip_len + 16..ip_len + 18].copy_from_slice(&partial.to_be_bytes());
        packet
    }

    fn split(v6: bool, payload: usize, mss: u16) -> Vec<Vec<u8>> {
        let ip_len: u16 = if v6 { 40 } else { 20 };
        let mut packet = tso_segment(v6, payload);
        let header = VirtioNetHdr {
            flags: 1, // NEEDS_CSUM
            gso_type: if v6 { 4 } else { 1 },
            hdr_len: ip_len + 20,
            gso_size: mss,
            csum_start: ip_len,
            csum_offset: 16,
        };
        let offset = 24;
        let mut bufs = vec![vec![0u8; offset + 1600]; 8];
        let mut sizes = vec![0; 8];
        let count = gso_split(&mut packet, header, &mut bufs, &mut sizes, offset, v6).unwrap();
        (0..count)
            .map(|i| bufs[i][offset..offset + sizes[i]].to_vec())
            .collect()
    }

    #[test]
    fn tso_segments_split_into_mss_sized_packets_with_fixed_headers() {
        for v6 in [false, true] {
            let ip_len = if v6 { 40 } else { 20 };
            let segments = split(v6, 3000, 1200);
            assert_eq!(segments.len(), 3, "v6={v6}");
            let mut offset = 0usize;
            for (k, segment) in segments.iter().enumerate() {
                let last = k == segments.len() - 1;
                let data = if last { 600 } else { 1200 };
                assert_eq!(segment.len(), ip_len + 20 + data, "segment {k} v6={v6}");
                if v6 {
                    assert_eq!(
                        u16::from_be_bytes([segment[4], segment[5]]) as usize,
                        20 + data
                    );
                } else {
                    assert_eq!(
                        u16::from_be_bytes([segment[2], segment[3]]) as usize,
                        segment.len()
                    );
                    assert_eq!(
                        u16::from_be_bytes([segment[4], segment[5]]),
                        0x1234 + k as u16,
                        "IPv4 ID counts up"
                    );
                    assert_eq!(checksum(&[&segment[..20]]), 0, "IPv4 header checksum");
                }
                let tcp = &segment[ip_len..];
                let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
                assert_eq!(seq as usize, 1_000_000 + offset, "sequence number");
                // PSH only on the last segment; ACK on all.
                assert_eq!(tcp[13] & 0x08 != 0, last, "PSH on segment {k}");
                assert_ne!(tcp[13] & 0x10, 0);
                assert!(tcp_checksum_ok(segment, v6), "TCP checksum of segment {k}");
                // The payload continues where the previous segment stopped.
                assert_eq!(tcp[20], (offset % 251) as u8);
                offset += data;
            }
        }
    }

    #[test]
    fn coalesced_writes_ask_for_tcp_segmentation_and_single_ones_for_nothing() {
        use super::{CoalescedWrite, virtio_header};
        let mut write = CoalescedWrite {
            first: 0,
            count: 3,
            headers_len: 52,
            ip_header_len: 20,
            gso_size: 1383,
            ipv6: false,
        };
        let header = VirtioNetHdr::decode(&virtio_header(&write)).unwrap();
        assert_eq!(
            (
                header.flags,
                header.gso_type,
                header.hdr_len,
                header.gso_size
            ),
            (1, 1, 52, 1383)
        );
        assert_eq!((header.csum_start, header.csum_offset), (20, 16));
        write.ipv6 = true;
        assert_eq!(
            VirtioNetHdr::decode(&virtio_header(&write))
                .unwrap()
                .gso_type,
            4
        );
        write.count = 1;
        assert_eq!(virtio_header(&write), [0; tun_rs::VIRTIO_NET_HDR_LEN]);
    }

    #[test]
    fn a_segment_that_fits_stays_whole_with_its_checksum_completed() {
        let segments = split(false, 500, 1200);
        assert_eq!(segments.len(), 1);
        assert_eq!(segments[0].len(), 20 + 20 + 500);
        assert!(tcp_checksum_ok(&segments[0], false));
    }
}

//! Packet batches between the datapath and a [`TunDevice`](super::TunDevice): the buffers are
//! allocated once per datapath task and reused for every batch, so nothing is allocated per
//! packet.
//!
//! - [`TunRecvBatch`]: what one read from the TUN device yields. Each packet starts at the same
//!   `offset` in its own slot, leaving headroom in front (for the ESP header, written in place)
//!   and tailroom behind (ESP trailer and ICV). A device with segmentation offload hands over
//!   one large TCP segment, which it splits into MTU-sized packets across the slots.
//! - [`TunSendBatch`]: decrypted packets on their way to the TUN device; a device with offload
//!   may coalesce consecutive TCP segments of one flow into one write (GRO), which is why each
//!   buffer has room for a whole 64 KiB packet.

/// The environment variable that turns every offload off (`TERN_OFFLOAD=off`): the datapath
/// then moves one packet per system call, as on a kernel without offloads. For diagnosis and for
/// the benchmark's before/after comparison.
pub const OFFLOAD_ENV: &str = "TERN_OFFLOAD";

/// Whether segmentation offload, GSO and GRO may be used (see [`OFFLOAD_ENV`]); read once.
#[must_use]
pub fn offload_allowed() -> bool {
    static ALLOWED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ALLOWED.get_or_init(|| {
        let allowed = std::env::var(OFFLOAD_ENV).map_or(true, |v| v != "off");
        if !allowed {
            tracing::info!("{OFFLOAD_ENV}=off: TUN and UDP offloads are not used");
        }
        allowed
    })
}

/// Packets read from the TUN device in one go.
#[derive(Debug)]
pub struct TunRecvBatch {
    slots: Vec<Vec<u8>>,
    sizes: Vec<usize>,
    count: usize,
    offset: usize,
    /// The device's raw read (a virtio header and one unsplit segment of up to 64 KiB);
    /// allocated by the device on first use, only if it needs one.
    pub(crate) scratch: Vec<u8>,
}

impl TunRecvBatch {
    /// `slots` packets of up to `max_packet` bytes each, starting `headroom` bytes into their
    /// slot, with `tailroom` bytes spare behind.
    #[must_use]
    pub fn new(slots: usize, headroom: usize, max_packet: usize, tailroom: usize) -> Self {
        let slot_len = headroom + max_packet + tailroom;
        Self {
            slots: (0..slots.max(1)).map(|_| vec![0; slot_len]).collect(),
            sizes: vec![0; slots.max(1)],
            count: 0,
            offset: headroom,
            scratch: Vec::new(),
        }
    }

    /// How many packets the last read produced.
    #[must_use]
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the last read produced nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Where packets start in their slot.
    #[must_use]
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The slot of packet `i` (whole, with headroom and tailroom) and the packet's length.
    pub fn slot_mut(&mut self, i: usize) -> (&mut [u8], usize) {
        (&mut self.slots[i], self.sizes[i])
    }

    /// The slot of packet `i` (read-only).
    #[must_use]
    pub fn slot(&self, i: usize) -> &[u8] {
        &self.slots[i]
    }

    /// For devices: the scratch buffer, the slots, their sizes and the offset, to fill.
    pub(crate) fn parts_mut(&mut self) -> (&mut Vec<u8>, &mut [Vec<u8>], &mut [usize], usize) {
        (
            &mut self.scratch,
            &mut self.slots,
            &mut self.sizes,
            self.offset,
        )
    }

    /// For devices: how many slots the read filled.
    pub(crate) fn set_len(&mut self, count: usize) {
        self.count = count.min(self.slots.len());
    }
}

/// Decrypted packets waiting to be written to the TUN device, **where they were decrypted**.
///
/// The batch owns the NAT-T reader's receive areas: datagrams are received into them, decrypted
/// in place, and queued here as ranges, so a packet is never copied between the socket and the
/// TUN write. [`coalesce_tcp`] then turns consecutive TCP segments of one flow into one large
/// segment (GRO), written with one gathered `writev` of the pieces (see the Linux device).
#[derive(Debug)]
pub struct TunSendBatch {
    areas: Vec<Vec<u8>>,
    packets: Vec<PacketAt>,
    /// The writes [`coalesce_tcp`] planned for the queued packets.
    pub(crate) writes: Vec<CoalescedWrite>,
}

/// Where a queued packet lies.
#[derive(Clone, Copy, Debug, Default)]
struct PacketAt {
    area: u32,
    start: u32,
    len: u32,
}

impl TunSendBatch {
    /// `areas` receive areas of `area_len` bytes each, and room for `capacity` queued packets.
    #[must_use]
    pub fn new(areas: usize, area_len: usize, capacity: usize) -> Self {
        Self {
            areas: (0..areas.max(1)).map(|_| vec![0; area_len]).collect(),
            packets: Vec::with_capacity(capacity.max(1)),
            writes: Vec::with_capacity(capacity.max(1)),
        }
    }

    /// The receive areas, to receive into. Received bytes stay valid until the next receive.
    pub fn areas_mut(&mut self) -> &mut [Vec<u8>] {
        &mut self.areas
    }

    /// Receive area `i`.
    pub fn area_mut(&mut self, i: usize) -> &mut [u8] {
        &mut self.areas[i]
    }

    /// Packets queued.
    #[must_use]
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// Whether nothing is queued.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// Whether another packet fits.
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.packets.len() == self.packets.capacity()
    }

    /// Queues the packet at `area_mut(area)[range]` (no copy; no allocation: the queue keeps its
    /// capacity). Refuses ranges outside the area, and any packet when full.
    pub fn push_in_place(&mut self, area: usize, range: std::ops::Range<usize>) -> bool {
        let fits = self
            .areas
            .get(area)
            .is_some_and(|a| range.start <= range.end && range.end <= a.len());
        let (Ok(area), Ok(start), Ok(len)) = (
            u32::try_from(area),
            u32::try_from(range.start),
            u32::try_from(range.len()),
        ) else {
            return false;
        };
        if !fits || self.is_full() {
            return false;
        }
        self.packets.push(PacketAt { area, start, len });
        true
    }

    /// Packet `i` as queued (or as [`coalesce_tcp`] rewrote its headers).
    #[must_use]
    pub fn packet(&self, i: usize) -> &[u8] {
        let at = self.packets[i];
        let start = at.start as usize;
        &self.areas[at.area as usize][start..start + at.len as usize]
    }

    fn packet_mut(&mut self, i: usize) -> &mut [u8] {
        let at = self.packets[i];
        let start = at.start as usize;
        &mut self.areas[at.area as usize][start..start + at.len as usize]
    }

    /// Forgets the queued packets (keeps the areas and the queue's capacity).
    pub fn clear(&mut self) {
        self.packets.clear();
        self.writes.clear();
    }
}

/// One write to the TUN device: packets `first..first + count` of a [`TunSendBatch`]. With
/// `count > 1` they are one TCP flow's consecutive segments, written as one segment: the first
/// packet whole (its IP and TCP headers already rewritten for the whole), then the payloads of
/// the others behind it, with a virtio-net header asking for segmentation by `gso_size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CoalescedWrite {
    pub first: usize,
    pub count: usize,
    /// IP plus TCP header length (each later packet's payload starts there).
    pub headers_len: usize,
    /// IP header length (where the TCP checksum's coverage starts).
    pub ip_header_len: usize,
    /// Payload length of every segment but the last.
    pub gso_size: usize,
    pub ipv6: bool,
}

/// What makes consecutive TCP segments one flow's neighbours, read from a packet.
#[derive(Clone, Copy)]
struct TcpSegment {
    ipv6: bool,
    ip_header_len: usize,
    headers_len: usize,
    payload_len: usize,
    seq: u32,
    psh: bool,
}

const TCP_PSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;

/// Largest coalesced packet (the IPv4 total length field; IPv6 without jumbograms likewise).
const MAX_COALESCED_LEN: usize = 65_535;
/// Most segments in one coalesced write (the kernel's GSO limit on older kernels).
pub(crate) const MAX_COALESCED_SEGMENTS: usize = 64;

impl TcpSegment {
    /// A TCP segment that may take part in coalescing: IPv4 without options or fragmentation,
    /// or IPv6 with TCP as first next header; only ACK (and PSH) set; a payload.
    fn parse(packet: &[u8]) -> Option<Self> {
        let (ipv6, ip_header_len, ip_len) = match packet.first()? >> 4 {
            4 => {
                let header = packet.get(..20)?;
                let fragmented = u16::from_be_bytes([header[6], header[7]]) & 0x3fff != 0;
                if header[0] != 0x45 || header[9] != 6 || fragmented {
                    return None;
                }
                (
                    false,
                    20,
                    usize::from(u16::from_be_bytes([header[2], header[3]])),
                )
            }
            6 => {
                let header = packet.get(..40)?;
                if header[6] != 6 {
                    return None;
                }
                let payload = usize::from(u16::from_be_bytes([header[4], header[5]]));
                (true, 40, 40 + payload)
            }
            _ => return None,
        };
        if ip_len != packet.len() {
            return None;
        }
        let tcp = packet.get(ip_header_len..ip_header_len + 20)?;
        let tcp_header_len = usize::from(tcp[12] >> 4) * 4;
        let flags = tcp[13];
        let headers_len = ip_header_len + tcp_header_len;
        if tcp_header_len < 20
            || headers_len >= packet.len()
            || flags & !(TCP_ACK | TCP_PSH) != 0
            || flags & TCP_ACK == 0
        {
            return None;
        }
        Some(Self {
            ipv6,
            ip_header_len,
            headers_len,
            payload_len: packet.len() - headers_len,
            seq: u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]),
            psh: flags & TCP_PSH != 0,
        })
    }
}

/// Whether `next` continues `first`'s flow right where `last` ended: same addresses, ports,
/// acknowledgement, window, options and IP fields that GRO keeps (RFC-wise what Linux GRO
/// checks), in sequence.
fn continues(first: &[u8], head: &TcpSegment, last: &TcpSegment, next: &[u8]) -> bool {
    let Some(segment) = TcpSegment::parse(next) else {
        return false;
    };
    if segment.ipv6 != head.ipv6
        || segment.headers_len != head.headers_len
        || segment.payload_len > head.payload_len
        || last.payload_len != head.payload_len
        || last.psh
        || segment.seq != last.seq.wrapping_add(last.payload_len as u32)
    {
        return false;
    }
    let same = |range: std::ops::Range<usize>| first.get(range.clone()) == next.get(range);
    let ip_same = if head.ipv6 {
        // Version, traffic class, flow label; next header, hop limit, addresses.
        same(0..4) && same(6..40)
    } else {
        // Version/IHL, TOS; flags (DF); TTL, protocol; addresses.
        same(0..2) && first[6] & 0xe0 == next[6] & 0xe0 && same(8..10) && same(12..20)
    };
    let tcp = head.ip_header_len;
    // Ports; acknowledgement; data offset, flags but PSH, window; options.
    ip_same
        && same(tcp..tcp + 4)
        && same(tcp + 8..tcp + 13)
        && first[tcp + 13] & !TCP_PSH == next[tcp + 13] & !TCP_PSH
        && same(tcp + 14..tcp + 16)
        && same(tcp + 20..head.headers_len)
}

/// Plans the writes for the queued packets into `batch.writes`: runs of consecutive TCP
/// segments of one flow become one write each (their first packet's headers rewritten in place
/// to describe the whole: lengths, IPv4 header checksum, PSH of the last, and the pseudo-header
/// sum in the TCP checksum field that a virtio-net `NEEDS_CSUM` header expects); anything else
/// is a write of its own. Nothing is copied.
///
/// The kernel does not verify checksums of a coalesced write (it takes them as computed by
/// "hardware"), which is what an authenticated packet deserves: ESP's integrity check already
/// proved these bytes are what the peer sent, as Linux WireGuard reasons for its packets.
pub(crate) fn coalesce_tcp(batch: &mut TunSendBatch) {
    batch.writes.clear();
    let mut i = 0;
    while i < batch.len() {
        let Some(head) = TcpSegment::parse(batch.packet(i)) else {
            batch.writes.push(single(i));
            i += 1;
            continue;
        };
        let mut last = head;
        let mut count = 1;
        let mut total = batch.packet(i).len();
        while i + count < batch.len() && count < MAX_COALESCED_SEGMENTS {
            let next = batch.packet(i + count);
            if total + next.len() - head.headers_len > MAX_COALESCED_LEN
                || !continues(batch.packet(i), &head, &last, next)
            {
                break;
            }
            let Some(segment) = TcpSegment::parse(next) else {
                break;
            };
            total += segment.payload_len;
            last = segment;
            count += 1;
        }
        if count == 1 {
            batch.writes.push(single(i));
        } else {
            rewrite_head(batch.packet_mut(i), &head, total, last.psh);
            batch.writes.push(CoalescedWrite {
                first: i,
                count,
                headers_len: head.headers_len,
                ip_header_len: head.ip_header_len,
                gso_size: head.payload_len,
                ipv6: head.ipv6,
            });
        }
        i += count;
    }
}

/// Plans the TUN writes of the queued packets ([`coalesce_tcp`], otherwise internal) and
/// returns how many packets each write carries, in order; for the `tun_coalesce` fuzz target.
#[doc(hidden)]
pub fn coalesce_for_fuzzing(batch: &mut TunSendBatch) -> Vec<usize> {
    coalesce_tcp(batch);
    batch.writes.iter().map(|w| w.count).collect()
}

fn single(i: usize) -> CoalescedWrite {
    CoalescedWrite {
        first: i,
        count: 1,
        headers_len: 0,
        ip_header_len: 0,
        gso_size: 0,
        ipv6: false,
    }
}

/// Rewrites the first segment's headers for a coalesced packet of `total` bytes.
fn rewrite_head(packet: &mut [u8], head: &TcpSegment, total: usize, psh: bool) {
    let tcp = head.ip_header_len;
    let tcp_len = total - tcp;
    // `total` is at most MAX_COALESCED_LEN, so the length fields hold it.
    let (src, dst) = if head.ipv6 {
        packet[4..6].copy_from_slice(&(tcp_len as u16).to_be_bytes());
        (8..24, 24..40)
    } else {
        packet[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        packet[10..12].fill(0);
        let sum = !fold(checksum_sum(&packet[..20], 0));
        packet[10..12].copy_from_slice(&sum.to_be_bytes());
        (12..16, 16..20)
    };
    if psh {
        packet[tcp + 13] |= TCP_PSH;
    }
    let mut pseudo = checksum_sum(&packet[src], 0);
    pseudo = checksum_sum(&packet[dst], pseudo);
    pseudo += 6 + tcp_len as u64;
    packet[tcp + 16..tcp + 18].copy_from_slice(&fold(pseudo).to_be_bytes());
}

/// The one's-complement sum (RFC 1071) of `bytes` as big-endian 16-bit words added to
/// `initial`, not yet folded. For headers only: a few dozen bytes.
fn checksum_sum(bytes: &[u8], initial: u64) -> u64 {
    let mut sum = initial;
    let mut words = bytes.chunks_exact(2);
    for word in &mut words {
        sum += u64::from(u16::from_be_bytes([word[0], word[1]]));
    }
    if let [last] = words.remainder() {
        sum += u64::from(*last) << 8;
    }
    sum
}

/// Folds a one's-complement sum into 16 bits.
fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// An IPv4 (with its header checksum) or IPv6 header between fixed lab addresses, for a TCP
/// segment of `tcp_len` bytes; for the tests here and of the devices.
#[cfg(test)]
pub(crate) fn ip_header_for_tests(v6: bool, tcp_len: usize) -> Vec<u8> {
    if v6 {
        let mut h = vec![0x60, 0, 0, 0];
        h.extend_from_slice(&(tcp_len as u16).to_be_bytes());
        h.extend_from_slice(&[6, 64]);
        h.extend_from_slice(&[0xfd, 0, 0, 0x99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        h.extend_from_slice(&[0xfd, 0, 0, 0x99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        h
    } else {
        let mut h = vec![0x45, 0];
        h.extend_from_slice(&((20 + tcp_len) as u16).to_be_bytes());
        h.extend_from_slice(&[0x12, 0x34, 0x40, 0, 64, 6, 0, 0]);
        h.extend_from_slice(&[10, 201, 0, 1, 10, 201, 0, 2]);
        let sum = !fold(checksum_sum(&h, 0));
        h[10..12].copy_from_slice(&sum.to_be_bytes());
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP_FIN: u8 = 0x01;
    const TCP_SYN: u8 = 0x02;
    const TCP_RST: u8 = 0x04;

    /// A TCP segment of `payload` bytes (filled with `fill`) from port 40000 to 5201 at `seq`.
    fn tcp(v6: bool, seq: u32, payload: usize, flags: u8, fill: u8) -> Vec<u8> {
        let mut p = ip_header_for_tests(v6, 32 + payload);
        // Ports, seq, ack 7, data offset 8 (12 bytes of timestamp option), flags, window 512.
        p.extend_from_slice(&[0x9c, 0x40, 0x14, 0x51]);
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&7u32.to_be_bytes());
        p.extend_from_slice(&[0x80, flags, 0x02, 0x00, 0xab, 0xcd, 0, 0]);
        p.extend_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
        p.extend(std::iter::repeat_n(fill, payload));
        p
    }

    fn batch_of(packets: &[Vec<u8>]) -> TunSendBatch {
        let mut batch = TunSendBatch::new(2, 65_535, 16);
        let mut at = 0;
        for packet in packets {
            batch.area_mut(1)[at..at + packet.len()].copy_from_slice(packet);
            assert!(batch.push_in_place(1, at..at + packet.len()));
            at += packet.len() + 3;
        }
        batch
    }

    fn counts(batch: &TunSendBatch) -> Vec<usize> {
        batch.writes.iter().map(|w| w.count).collect()
    }

    #[test]
    fn queue_refers_to_the_areas_and_keeps_its_capacity() {
        let mut batch = TunSendBatch::new(2, 100, 2);
        batch.area_mut(0)[..3].copy_from_slice(&[1, 2, 3]);
        assert!(batch.push_in_place(0, 0..3));
        assert!(!batch.push_in_place(1, 90..101), "outside the area");
        assert!(!batch.push_in_place(5, 0..1), "no such area");
        assert!(batch.push_in_place(1, 10..10));
        assert!(batch.is_full());
        assert!(!batch.push_in_place(0, 0..1));
        assert_eq!(batch.packet(0), &[1, 2, 3]);
        let capacity = batch.packets.capacity();
        batch.clear();
        assert!(batch.is_empty());
        assert_eq!(batch.packets.capacity(), capacity, "no reallocation");
    }

    #[test]
    fn consecutive_segments_of_a_flow_coalesce_with_rewritten_headers() {
        for v6 in [false, true] {
            let ip = if v6 { 40 } else { 20 };
            let packets = [
                tcp(v6, 1000, 1200, TCP_ACK, 1),
                tcp(v6, 2200, 1200, TCP_ACK, 2),
                tcp(v6, 3400, 500, TCP_ACK | TCP_PSH, 3),
            ];
            let mut batch = batch_of(&packets);
            coalesce_tcp(&mut batch);
            assert_eq!(
                batch.writes,
                [CoalescedWrite {
                    first: 0,
                    count: 3,
                    headers_len: ip + 32,
                    ip_header_len: ip,
                    gso_size: 1200,
                    ipv6: v6,
                }],
                "v6={v6}"
            );
            let head = batch.packet(0);
            let total = ip + 32 + 2900;
            if v6 {
                assert_eq!(
                    usize::from(u16::from_be_bytes([head[4], head[5]])),
                    total - 40
                );
            } else {
                assert_eq!(usize::from(u16::from_be_bytes([head[2], head[3]])), total);
                assert_eq!(fold(checksum_sum(&head[..20], 0)), 0xffff, "IPv4 checksum");
            }
            assert_ne!(head[ip + 13] & TCP_PSH, 0, "the last segment's PSH");
            // The pseudo-header sum (not complemented) in the TCP checksum field.
            let (src, dst) = if v6 {
                (8..24, 24..40)
            } else {
                (12..16, 16..20)
            };
            let pseudo = checksum_sum(&head[dst], checksum_sum(&head[src], 0)) + 6;
            let expected = fold(pseudo + (total - ip) as u64);
            assert_eq!(u16::from_be_bytes([head[ip + 16], head[ip + 17]]), expected);
            // The later packets stay as they were.
            assert_eq!(batch.packet(1), &packets[1][..]);
        }
    }

    #[test]
    fn runs_break_where_the_flow_does_not_continue() {
        let v4 = |seq, len, flags| tcp(false, seq, len, flags, 0);
        let mut other_port = v4(2200, 1200, TCP_ACK);
        other_port[21] ^= 1;
        let mut other_window = v4(2200, 1200, TCP_ACK);
        other_window[35] ^= 1;
        let mut other_option = v4(2200, 1200, TCP_ACK);
        other_option[50] ^= 1;
        let mut udp = v4(2200, 1200, TCP_ACK);
        udp[9] = 17;
        let mut fragment = v4(2200, 1200, TCP_ACK);
        fragment[6] = 0x20;
        // What, the packets, and how many each write takes.
        type Case = (&'static str, Vec<Vec<u8>>, Vec<usize>);
        let cases: [Case; 10] = [
            (
                "gap",
                vec![v4(1000, 1200, TCP_ACK), v4(2300, 1200, TCP_ACK)],
                vec![1, 1],
            ),
            (
                "port",
                vec![v4(1000, 1200, TCP_ACK), other_port],
                vec![1, 1],
            ),
            (
                "window",
                vec![v4(1000, 1200, TCP_ACK), other_window],
                vec![1, 1],
            ),
            (
                "option",
                vec![v4(1000, 1200, TCP_ACK), other_option],
                vec![1, 1],
            ),
            ("udp", vec![v4(1000, 1200, TCP_ACK), udp], vec![1, 1]),
            (
                "fragment",
                vec![v4(1000, 1200, TCP_ACK), fragment],
                vec![1, 1],
            ),
            (
                "psh ends a run",
                vec![
                    v4(1000, 1200, TCP_ACK | TCP_PSH),
                    v4(2200, 1200, TCP_ACK),
                    v4(3400, 1200, TCP_ACK),
                ],
                vec![1, 2],
            ),
            (
                "a short segment ends a run",
                vec![
                    v4(1000, 1200, TCP_ACK),
                    v4(2200, 600, TCP_ACK),
                    v4(2800, 600, TCP_ACK),
                ],
                vec![2, 1],
            ),
            (
                "a longer segment does not join",
                vec![v4(1000, 600, TCP_ACK), v4(1600, 1200, TCP_ACK)],
                vec![1, 1],
            ),
            (
                "fin, syn and pure acks stay alone",
                vec![
                    v4(1000, 1200, TCP_ACK | TCP_FIN),
                    v4(2200, 1200, TCP_SYN | TCP_ACK),
                    v4(3400, 0, TCP_ACK),
                    v4(3400, 0, TCP_ACK | TCP_RST),
                ],
                vec![1, 1, 1, 1],
            ),
        ];
        for (what, packets, expected) in cases {
            let mut batch = batch_of(&packets);
            let before: Vec<Vec<u8>> = (0..batch.len()).map(|i| batch.packet(i).to_vec()).collect();
            coalesce_tcp(&mut batch);
            assert_eq!(counts(&batch), expected, "{what}");
            if expected.iter().all(|&c| c == 1) {
                let after: Vec<Vec<u8>> =
                    (0..batch.len()).map(|i| batch.packet(i).to_vec()).collect();
                assert_eq!(before, after, "{what}: single packets are left alone");
            }
        }
    }

    #[test]
    fn coalesced_packets_stay_within_64_kib_and_64_segments() {
        let packets: Vec<Vec<u8>> = (0..70)
            .map(|i| tcp(false, 1000 + i * 1000, 1000, TCP_ACK, 0))
            .collect();
        let mut batch = TunSendBatch::new(2, 65_535, 80);
        for (i, packet) in packets.iter().enumerate() {
            let area = i / 55;
            let at = (i % 55) * 1100;
            batch.area_mut(area)[at..at + packet.len()].copy_from_slice(packet);
            assert!(batch.push_in_place(area, at..at + packet.len()));
        }
        coalesce_tcp(&mut batch);
        // 64 segments of 1000 bytes fit 64 KiB; the segment limit cuts the run.
        let written: usize = counts(&batch).iter().sum();
        assert_eq!(written, 70);
        for write in &batch.writes {
            let len = batch.packet(write.first).len() + (write.count - 1) * 1000;
            assert!(write.count <= MAX_COALESCED_SEGMENTS);
            assert!(len <= MAX_COALESCED_LEN, "{len}");
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut batch = TunSendBatch::new(1, 256, 64);
        for seed in 0u8..=255 {
            for (i, b) in batch.area_mut(0).iter_mut().enumerate() {
                *b = (i as u8).wrapping_mul(seed).wrapping_add(seed);
            }
            batch.area_mut(0)[0] = 0x40 | (seed & 0x2f);
            batch.clear();
            for len in [0, 1, 19, 20, 39, 40, 60, 61, 100] {
                assert!(batch.push_in_place(0, 0..len));
            }
            coalesce_tcp(&mut batch);
        }
    }

    /// Valid segments with a few bytes changed at random (a fixed-seed xorshift): coalescing
    /// never panics, and every packet is written exactly once.
    #[test]
    fn mutated_segments_never_panic_and_are_each_written_once() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2000 {
            let v6 = next() % 2 == 0;
            let packets: Vec<Vec<u8>> = (0..6u32)
                .map(|k| {
                    let mut p = tcp(v6, 1000 + k * 100, 100, TCP_ACK, k as u8);
                    for _ in 0..next() % 3 {
                        let at = (next() % p.len() as u64) as usize;
                        p[at] = next() as u8;
                    }
                    let cut = (next() % 8) as usize;
                    p.truncate(p.len() - if cut < 2 { cut * 30 } else { 0 });
                    p
                })
                .collect();
            let mut batch = batch_of(&packets);
            coalesce_tcp(&mut batch);
            let mut covered = 0;
            for write in &batch.writes {
                assert_eq!(write.first, covered);
                covered += write.count;
            }
            assert_eq!(covered, packets.len());
        }
    }
}

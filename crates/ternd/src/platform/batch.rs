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

/// Decrypted packets waiting to be written to the TUN device.
#[derive(Debug)]
pub struct TunSendBatch {
    bufs: Vec<Vec<u8>>,
    count: usize,
    offset: usize,
}

/// Bytes in front of each packet of a [`TunSendBatch`]: room for a virtio-net header.
pub const SEND_OFFSET: usize = 16;

/// Largest packet (or coalesced packet) a [`TunSendBatch`] buffer holds.
const MAX_COALESCED: usize = 65_535;

impl TunSendBatch {
    /// Room for `capacity` packets. Each buffer reserves 64 KiB but is only touched as far as
    /// packets (or coalesced packets) reach.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            bufs: (0..capacity.max(1))
                .map(|_| Vec::with_capacity(2 * SEND_OFFSET + MAX_COALESCED))
                .collect(),
            count: 0,
            offset: SEND_OFFSET,
        }
    }

    /// Packets queued.
    #[must_use]
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether nothing is queued.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether another packet fits.
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.count == self.bufs.len()
    }

    /// Queues a copy of `packet` (no allocation: the buffers keep their capacity). Packets
    /// longer than 64 KiB cannot exist and are refused.
    pub fn push(&mut self, packet: &[u8]) -> bool {
        if self.is_full() || packet.len() > MAX_COALESCED {
            return false;
        }
        let buf = &mut self.bufs[self.count];
        buf.clear();
        buf.resize(self.offset, 0);
        buf.extend_from_slice(packet);
        self.count += 1;
        true
    }

    /// Packet `i` as queued.
    #[must_use]
    pub fn packet(&self, i: usize) -> &[u8] {
        &self.bufs[i][self.offset..]
    }

    /// Empties the batch (keeps the buffers).
    pub fn clear(&mut self) {
        self.count = 0;
    }

    /// For devices: the queued buffers (each packet at [`SEND_OFFSET`]) and the offset.
    pub(crate) fn parts_mut(&mut self) -> (&mut [Vec<u8>], usize) {
        (&mut self.bufs[..self.count], self.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_batch_reuses_its_buffers() {
        let mut batch = TunSendBatch::new(2);
        assert!(batch.push(&[1, 2, 3]));
        assert!(batch.push(&[4]));
        assert!(batch.is_full());
        assert!(!batch.push(&[5]));
        assert_eq!(batch.packet(0), &[1, 2, 3]);
        let capacity = batch.bufs[0].capacity();
        batch.clear();
        assert!(batch.push(&[9; 1400]));
        assert_eq!(batch.packet(0).len(), 1400);
        assert_eq!(batch.bufs[0].capacity(), capacity, "no reallocation");
    }
}

//! Manual keying for the benchmark lab: **testing and benchmarking only**.
//!
//! RFC 4301 §4.5 manual SAs: two Tern datapaths face each other with static keys from a file,
//! without IKE, so `cargo xtask bench` can measure the datapath alone. Only the separate
//! `ternd-lab` binary reaches this module: the `ternd` service, its profiles and its IPC API never
//! do, and nothing else can build the lab's transforms.
//!
//! Besides the real ESP suites, the lab knows `null`: ESP framing (SPI, sequence number, padding,
//! next header) with neither encryption nor integrity, the I/O ceiling of the datapath. It is a
//! type private to this module ([`NullSeal`]/[`NullOpen`]), not an [`ipsec_types::EncrAlgorithm`],
//! so no profile or negotiation can ever select it.
//!
//! The file is `key = value` lines (`#` starts a comment):
//!
//! ```text
//! local    = 198.51.100.2:4500    # bound
//! remote   = 198.51.100.1:4500    # connected
//! tun      = tlab0                # TUN device name
//! suite    = aes128gcm            # aes128gcm | aes256gcm | chacha20poly1305 | null
//! out_spi  = 0x00001001
//! out_key  = 00112233…            # hex: key and 4-byte salt (empty for null)
//! in_spi   = 0x00001002
//! in_key   = 44556677…
//! mtu      = 1400                 # optional: default as in production (1500 path MTU)
//! ```

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use esp::{Encapsulated, EspError, EspSaConfig, InboundSa, OutboundSa};
use ipsec_types::{EncrAlgorithm, EspSuite, IpPrefix, Spi, TrafficSelector};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use zeroize::Zeroizing;

use crate::platform::TunConfig;
use crate::platform::linux::LinuxTun;
use crate::tunnel::datapath::{
    self, Counters, InboundChild, InboundControl, OpenInbound, SealOutbound,
};

/// Why a lab SA file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A line is not `key = value`, or a value does not parse.
    #[error("lab SA file, line {line}: {message}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A required key is missing.
    #[error("lab SA file: `{0}` is missing")]
    Missing(&'static str),
    /// The keys do not fit the suite.
    #[error("lab SA file: {0}")]
    Keys(#[from] esp::KeyError),
    /// Reading the file, the socket or the TUN device failed.
    #[error("{what}: {source}")]
    Io {
        /// The step that failed.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The TUN device could not be created.
    #[error(transparent)]
    Platform(#[from] crate::platform::PlatformError),
}

/// The cipher of a lab SA pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabSuite {
    /// A real ESP suite.
    Esp(EspSuite),
    /// ESP framing without encryption or integrity (lab only).
    Null,
}

/// A parsed lab SA file. Keys are zeroized on drop.
pub struct LabSaFile {
    /// Local UDP address (bound).
    pub local: SocketAddr,
    /// The peer's UDP address (connected).
    pub remote: SocketAddr,
    /// TUN device name.
    pub tun: String,
    /// The suite of both directions.
    pub suite: LabSuite,
    /// Outbound SPI.
    pub out_spi: Spi,
    /// Outbound key material (key plus salt).
    pub out_key: Zeroizing<Vec<u8>>,
    /// Inbound SPI.
    pub in_spi: Spi,
    /// Inbound key material.
    pub in_key: Zeroizing<Vec<u8>>,
    /// TUN MTU; `None`: path MTU 1500 minus the worst-case overhead, as in production.
    pub mtu: Option<u16>,
}

impl std::fmt::Debug for LabSaFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabSaFile")
            .field("local", &self.local)
            .field("remote", &self.remote)
            .field("tun", &self.tun)
            .field("suite", &self.suite)
            .field("out_spi", &self.out_spi)
            .field("in_spi", &self.in_spi)
            .field("mtu", &self.mtu)
            .finish_non_exhaustive()
    }
}

fn parse_suite(name: &str) -> Option<LabSuite> {
    let aead = |encr| {
        Some(LabSuite::Esp(EspSuite {
            encr,
            integ: None,
            esn: true,
        }))
    };
    match name {
        "aes128gcm" => aead(EncrAlgorithm::AesGcm16_128),
        "aes256gcm" => aead(EncrAlgorithm::AesGcm16_256),
        "chacha20poly1305" => aead(EncrAlgorithm::ChaCha20Poly1305),
        "null" => Some(LabSuite::Null),
        _ => None,
    }
}

fn parse_spi(text: &str) -> Option<Spi> {
    let value = match text.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
        None => text.parse().ok()?,
    };
    Spi::new(value)
}

impl LabSaFile {
    /// Parses the file's text.
    pub fn parse(text: &str) -> Result<Self, LabError> {
        let mut local = None;
        let mut remote = None;
        let mut tun = None;
        let mut suite = None;
        let mut out_spi = None;
        let mut in_spi = None;
        let mut out_key = None;
        let mut in_key = None;
        let mut mtu = None;
        for (n, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let bad = |message: &str| LabError::Syntax {
                line: n + 1,
                message: message.to_owned(),
            };
            let (key, value) = line
                .split_once('=')
                .map(|(k, v)| (k.trim(), v.trim()))
                .ok_or_else(|| bad("expected `key = value`"))?;
            match key {
                "local" => local = Some(value.parse().map_err(|_| bad("not an address:port"))?),
                "remote" => remote = Some(value.parse().map_err(|_| bad("not an address:port"))?),
                "tun" => tun = Some(value.to_owned()),
                "suite" => suite = Some(parse_suite(value).ok_or_else(|| bad("unknown suite"))?),
                "out_spi" => out_spi = Some(parse_spi(value).ok_or_else(|| bad("bad SPI"))?),
                "in_spi" => in_spi = Some(parse_spi(value).ok_or_else(|| bad("bad SPI"))?),
                "out_key" => {
                    out_key = Some(Zeroizing::new(
                        hex::decode(value).map_err(|_| bad("not hex"))?,
                    ));
                }
                "in_key" => {
                    in_key = Some(Zeroizing::new(
                        hex::decode(value).map_err(|_| bad("not hex"))?,
                    ));
                }
                "mtu" => mtu = Some(value.parse().map_err(|_| bad("not an MTU"))?),
                _ => return Err(bad("unknown key")),
            }
        }
        Ok(Self {
            local: local.ok_or(LabError::Missing("local"))?,
            remote: remote.ok_or(LabError::Missing("remote"))?,
            tun: tun.ok_or(LabError::Missing("tun"))?,
            suite: suite.ok_or(LabError::Missing("suite"))?,
            out_spi: out_spi.ok_or(LabError::Missing("out_spi"))?,
            out_key: out_key.unwrap_or_default(),
            in_spi: in_spi.ok_or(LabError::Missing("in_spi"))?,
            in_key: in_key.unwrap_or_default(),
            mtu,
        })
    }

    /// The TUN MTU: as given, or as production computes it for a 1500-byte path.
    #[must_use]
    pub fn tun_mtu(&self) -> u16 {
        if let Some(mtu) = self.mtu {
            return mtu;
        }
        let ip_header = if self.remote.is_ipv4() { 20 } else { 40 };
        let esp_overhead = match self.suite {
            LabSuite::Esp(suite) => esp::max_overhead(&suite),
            LabSuite::Null => NULL_HEADROOM + NULL_MAX_TAILROOM,
        };
        let overhead = ip_header + esp::UDP_HEADER_LEN + esp_overhead;
        u16::try_from(1500 - overhead).unwrap_or(1280)
    }
}

/// SPI and sequence number.
const NULL_HEADROOM: usize = 8;
/// Up to 3 bytes of padding (4-byte alignment), pad length, next header; no ICV.
const NULL_MAX_TAILROOM: usize = 5;

/// The lab's null transform, outbound: ESP framing without encryption or integrity.
pub struct NullSeal {
    spi: Spi,
    seq: AtomicU64,
}

impl SealOutbound for NullSeal {
    fn seal(&self, buf: &mut [u8], inner: Range<usize>) -> Result<Encapsulated, EspError> {
        let next_header = match buf.get(inner.start).map(|b| b >> 4) {
            Some(4) => esp::NEXT_HEADER_IPV4,
            Some(6) => esp::NEXT_HEADER_IPV6,
            other => {
                return Err(EspError::UnsupportedInnerPacket {
                    version: other.unwrap_or(0),
                });
            }
        };
        let plain_len = (inner.len() + 2).next_multiple_of(4);
        let pad_len = plain_len - inner.len() - 2;
        if inner.start < NULL_HEADROOM || buf.len() < inner.start + plain_len {
            return Err(EspError::BufferTooSmall {
                headroom: NULL_HEADROOM,
                tailroom: plain_len - inner.len(),
            });
        }
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let start = inner.start - NULL_HEADROOM;
        buf[start..start + 4].copy_from_slice(&self.spi.get().to_be_bytes());
        buf[start + 4..start + 8].copy_from_slice(&(seq as u32).to_be_bytes());
        let trailer = inner.end;
        for i in 0..pad_len {
            buf[trailer + i] = (i + 1) as u8;
        }
        buf[trailer + pad_len] = pad_len as u8;
        buf[trailer + pad_len + 1] = next_header;
        Ok(Encapsulated {
            packet: start..trailer + pad_len + 2,
            seq,
            event: None,
        })
    }
}

/// The lab's null transform, inbound: strips the ESP framing (no replay window either).
pub struct NullOpen {
    spi: Spi,
}

impl OpenInbound for NullOpen {
    fn spi(&self) -> Spi {
        self.spi
    }

    fn open(&mut self, packet: &mut [u8]) -> Result<Range<usize>, EspError> {
        let min = NULL_HEADROOM + 2;
        if packet.len() < min {
            return Err(EspError::Truncated {
                len: packet.len(),
                min,
            });
        }
        let pad_len = usize::from(packet[packet.len() - 2]);
        let end = packet
            .len()
            .checked_sub(2 + pad_len)
            .filter(|&end| end >= NULL_HEADROOM)
            .ok_or(EspError::BadPadding)?;
        Ok(NULL_HEADROOM..end)
    }
}

/// Selectors that let everything through: the lab has no policy.
fn any_selectors() -> Vec<TrafficSelector> {
    [
        IpPrefix::new([0u8; 4].into(), 0),
        IpPrefix::new([0u16; 8].into(), 0),
    ]
    .into_iter()
    .flatten()
    .map(TrafficSelector::from_prefix)
    .collect()
}

/// Brings up the TUN device and the datapath described by `file` and runs it until the task is
/// cancelled (SIGTERM/SIGINT in `ternd-lab`). Must run inside a Tokio runtime.
pub async fn run(file: &LabSaFile) -> Result<(), LabError> {
    let io = |what: &str| {
        let what = what.to_owned();
        move |source| LabError::Io { what, source }
    };
    let tun = Arc::new(LinuxTun::create(&TunConfig {
        name: Some(file.tun.clone()),
        mtu: file.tun_mtu(),
    })?);
    let socket = std::net::UdpSocket::bind(file.local).map_err(io("binding the UDP socket"))?;
    socket
        .connect(file.remote)
        .map_err(io("connecting the UDP socket"))?;
    socket
        .set_nonblocking(true)
        .map_err(io("configuring the UDP socket"))?;
    let socket = Arc::new(UdpSocket::from_std(socket).map_err(io("registering the socket"))?);
    let counters = Arc::new(Counters::default());
    let config = EspSaConfig::default();
    match file.suite {
        LabSuite::Esp(suite) => {
            let out = OutboundSa::new(
                suite,
                &esp::manual_keys(file.out_spi, &file.out_key, &[]),
                &config,
            )?;
            let inb = InboundSa::new(
                suite,
                &esp::manual_keys(file.in_spi, &file.in_key, &[]),
                &config,
            )?;
            tracing::warn!(%suite, "LAB MODE: manual SAs, for testing and benchmarking only");
            serve(tun, socket, out, inb, counters).await
        }
        LabSuite::Null => {
            tracing::warn!("LAB MODE: null cipher, no encryption and no integrity");
            let out = NullSeal {
                spi: file.out_spi,
                seq: AtomicU64::new(0),
            };
            let inb = NullOpen { spi: file.in_spi };
            serve(tun, socket, out, inb, counters).await
        }
    }
}

async fn serve<O: SealOutbound, I: OpenInbound>(
    tun: Arc<LinuxTun>,
    socket: Arc<UdpSocket>,
    outbound: O,
    inbound: I,
    counters: Arc<Counters>,
) -> Result<(), LabError> {
    // IKE never runs here; the reader's IKE queue only drains what arrives.
    let (ike_tx, mut ike_rx) = mpsc::channel(1);
    let (control_tx, control_rx) = mpsc::channel::<InboundControl<LinuxTun, I>>(1);
    let reader = tokio::spawn(datapath::run_nat_t_reader(
        Arc::clone(&socket),
        ike_tx,
        control_rx,
        Arc::clone(&counters),
    ));
    let child = InboundChild {
        sa: inbound,
        ts_local: any_selectors(),
        ts_remote: any_selectors(),
        tun: Arc::clone(&tun),
    };
    if control_tx
        .send(InboundControl::Install(Box::new(child)))
        .await
        .is_err()
    {
        return Err(LabError::Io {
            what: "starting the receive task".into(),
            source: std::io::Error::other("the task ended"),
        });
    }
    let (_outbound_tx, outbound_rx) = watch::channel(Arc::new(outbound));
    let writer = tokio::spawn(datapath::run_tun_reader(
        Arc::clone(&tun),
        socket,
        outbound_rx,
        Arc::clone(&counters),
    ));
    tracing::info!("lab datapath running");
    while ike_rx.recv().await.is_some() {}
    reader.abort();
    writer.abort();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
        # lab\n\
        local = 198.51.100.2:4500\n\
        remote = 198.51.100.1:4500 # peer\n\
        tun = tlab0\n\
        suite = aes128gcm\n\
        out_spi = 0x1001\n\
        out_key = 000102030405060708090a0b0c0d0e0f10111213\n\
        in_spi = 4098\n\
        in_key = 000102030405060708090a0b0c0d0e0f10111213\n";

    #[test]
    fn parses_a_file_and_derives_the_production_mtu() {
        let file = LabSaFile::parse(FILE).unwrap();
        assert_eq!(file.out_spi.get(), 0x1001);
        assert_eq!(file.in_spi.get(), 4098);
        assert_eq!(file.out_key.len(), 20);
        // 1500 - 20 (IP) - 8 (UDP) - 16 (ESP header + IV) - 3 - 2 - 16 (padding, trailer, ICV).
        assert_eq!(file.tun_mtu(), 1435);
        assert!(
            !format!("{file:?}").contains("0001020304"),
            "keys stay out of Debug"
        );
    }

    #[test]
    fn rejects_unknown_keys_suites_and_missing_fields() {
        assert!(matches!(
            LabSaFile::parse("colour = blue"),
            Err(LabError::Syntax { line: 1, .. })
        ));
        assert!(LabSaFile::parse(&FILE.replace("aes128gcm", "rot13")).is_err());
        assert!(matches!(
            LabSaFile::parse(&FILE.replace("tun = tlab0", "")),
            Err(LabError::Missing("tun"))
        ));
    }

    #[test]
    fn null_transform_round_trips() {
        let seal = NullSeal {
            spi: Spi::new(7).unwrap(),
            seq: AtomicU64::new(0),
        };
        let mut open = NullOpen {
            spi: Spi::new(7).unwrap(),
        };
        let inner = [
            0x45u8, 0, 0, 21, 0, 0, 0, 0, 64, 17, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
        ];
        let mut buf = [0u8; 64];
        buf[8..8 + inner.len()].copy_from_slice(&inner);
        let sealed = seal.seal(&mut buf, 8..8 + inner.len()).unwrap();
        assert_eq!(sealed.packet.len() % 4, 0);
        assert_eq!(
            esp::packet_spi(&buf[sealed.packet.clone()]),
            Some(open.spi())
        );
        let range = open.open(&mut buf[sealed.packet.clone()]).unwrap();
        assert_eq!(&buf[sealed.packet][range], &inner);
    }
}

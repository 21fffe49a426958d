//! The tunnel's two UDP sockets: one for IKE to the gateway's IKE port (normally 500), and the
//! NAT-T socket to the gateway's port 4500, which carries IKE after the float and all ESP.
//!
//! Both are set up (firewall mark on Linux) *before* they are connected or send anything, so
//! their packets are routed around the tunnel from the first datagram on; both use ephemeral
//! local ports, so no privilege is needed to bind them and nothing clashes with another IKE
//! daemon on the machine (the gateway sees NAT-T in any case, as we force UDP encapsulation).

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;

use tokio::net::UdpSocket;

/// The NAT-T port (RFC 3948).
pub const NAT_T_PORT: u16 = esp::NAT_T_PORT;

/// The tunnel's sockets, connected to the gateway.
#[derive(Debug, Clone)]
pub struct TunnelSockets {
    /// Connected to the gateway's IKE port.
    pub ike: Arc<UdpSocket>,
    /// Connected to the gateway's port 4500: IKE after the float, and ESP-in-UDP.
    pub nat_t: Arc<UdpSocket>,
}

impl TunnelSockets {
    /// Opens both sockets for `gateway` (its IKE address and port). `prepare` runs on each
    /// socket before it is connected (it sets the bypass mark); must run inside a Tokio runtime.
    pub fn open(
        gateway: SocketAddr,
        prepare: &dyn Fn(BorrowedFd<'_>) -> io::Result<()>,
    ) -> io::Result<Self> {
        let open = |remote: SocketAddr| -> io::Result<Arc<UdpSocket>> {
            let unspecified: SocketAddr = if remote.is_ipv4() {
                (Ipv4Addr::UNSPECIFIED, 0).into()
            } else {
                (Ipv6Addr::UNSPECIFIED, 0).into()
            };
            let socket = std::net::UdpSocket::bind(unspecified)?;
            prepare(socket.as_fd())?;
            socket.connect(remote)?;
            socket.set_nonblocking(true)?;
            Ok(Arc::new(UdpSocket::from_std(socket)?))
        };
        Ok(Self {
            ike: open(gateway)?,
            nat_t: open(SocketAddr::new(gateway.ip(), NAT_T_PORT))?,
        })
    }

    /// Runs `prepare` again on both sockets (when the platform asks for another bypass after
    /// the network was configured).
    pub fn reprepare(&self, prepare: &dyn Fn(BorrowedFd<'_>) -> io::Result<()>) -> io::Result<()> {
        prepare(self.ike.as_fd())?;
        prepare(self.nat_t.as_fd())
    }
}

impl TunnelSockets {
    /// Connects both sockets to the gateway again, so that the kernel picks their source
    /// address anew after our address or our route to the gateway changed (MOBIKE). A connected
    /// UDP socket keeps the source address of its first connect, so each is first dissolved
    /// (AF_UNSPEC); its local port may change.
    pub fn reconnect(&self) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        for socket in [&self.ike, &self.nat_t] {
            let peer = socket.peer_addr()?;
            disconnect(socket.as_fd())?;
            let fd = socket.as_raw_fd();
            match peer {
                SocketAddr::V4(a) => {
                    nix::sys::socket::connect(fd, &nix::sys::socket::SockaddrIn::from(a))
                }
                SocketAddr::V6(a) => {
                    nix::sys::socket::connect(fd, &nix::sys::socket::SockaddrIn6::from(a))
                }
            }
            .map_err(io::Error::from)?;
        }
        Ok(())
    }
}

/// Dissolves a UDP socket's association (connect to an AF_UNSPEC address, POSIX).
#[allow(unsafe_code)]
fn disconnect(socket: BorrowedFd<'_>) -> io::Result<()> {
    use nix::libc;
    use std::os::fd::AsRawFd;
    let unspecified = libc::sockaddr {
        sa_family: libc::sa_family_t::try_from(libc::AF_UNSPEC).unwrap_or_default(),
        sa_data: [0; 14],
    };
    let len = libc::socklen_t::try_from(size_of::<libc::sockaddr>()).unwrap_or_default();
    // SAFETY: `unspecified` is a valid, initialized sockaddr of `len` bytes that outlives the
    // call, and `socket` is an open descriptor borrowed for the call.
    let rc = unsafe { libc::connect(socket.as_raw_fd(), &raw const unspecified, len) };
    // Linux answers 0; some systems report the dissolved association as EAFNOSUPPORT.
    if rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EAFNOSUPPORT) {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

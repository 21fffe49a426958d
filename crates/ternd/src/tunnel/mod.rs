//! The I/O of one connection: the UDP sockets shared by IKE and ESP ([`sockets`]), the task that
//! drives the sans-IO IKE initiator over them ([`ike_driver`]), and the ESP datapath between the
//! TUN device and the NAT-T socket ([`datapath`]).
//!
//! Room and rules:
//! - No policy here: the connection controller decides when to connect, what to configure and
//!   when to give up; this module only moves bytes and reports what happened.
//! - No allocation per ESP packet: each datapath task owns its batch buffers for its whole life.

pub mod datapath;
pub mod ike_driver;
pub mod sockets;
pub mod udp_batch;

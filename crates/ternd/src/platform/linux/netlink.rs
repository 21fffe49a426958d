//! Making and unmaking [`Change`]s over rtnetlink. Deleting something that is already gone
//! succeeds, so undo is idempotent.

use std::io;
use std::net::IpAddr;

use futures::TryStreamExt;
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::packet_route::link::LinkAttribute;
use rtnetlink::packet_route::route::{RouteMessage, RouteScope, RouteType};
use rtnetlink::packet_route::rule::{RuleAction, RuleAttribute, RuleFlags, RuleMessage};
use rtnetlink::{Handle, RouteMessageBuilder};

use super::{Change, Family, RouteSpec, RouteTarget, RuleMatch, RuleSpec};
use crate::platform::PlatformError;

/// A connection to the kernel's routing netlink, in the network namespace of the thread that
/// opened it.
#[derive(Debug)]
pub(super) struct Netlink {
    handle: Handle,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Netlink {
    /// Opens the socket and spawns its driver on the current Tokio runtime.
    pub(super) fn connect() -> io::Result<Self> {
        let (connection, handle, _) = rtnetlink::new_connection()?;
        let task = tokio::spawn(connection);
        Ok(Self { handle, task })
    }

    /// Makes a network change.
    pub(super) async fn add(&self, change: &Change) -> Result<(), PlatformError> {
        let result = match change {
            Change::Address { index, address, .. } => {
                self.handle
                    .address()
                    .add(*index, address.addr, address.prefix_len)
                    .execute()
                    .await
            }
            Change::Route(route) => {
                self.handle
                    .route()
                    .add(route_message(route))
                    .execute()
                    .await
            }
            Change::Rule(rule) => {
                let mut request = self.handle.rule().add();
                *request.message_mut() = rule_message(rule);
                request.execute().await
            }
            Change::ResolvedLink { .. } | Change::ResolvConf { .. } => return Ok(()),
        };
        result.map_err(|source| PlatformError::Network {
            what: format!("add {change}"),
            source: Box::new(source),
        })
    }

    /// Makes several changes with their requests pipelined: all are queued before the first
    /// answer is awaited, and the kernel still handles them in order. One result per change.
    pub(super) async fn add_all(&self, changes: &[Change]) -> Vec<Result<(), PlatformError>> {
        futures::future::join_all(changes.iter().map(|change| self.add(change))).await
    }

    /// Undoes a network change; "no such route/rule/address/device" counts as done.
    pub(super) async fn remove(&self, change: &Change) -> Result<(), PlatformError> {
        let result = match change {
            Change::Address { index, address, .. } => {
                let message = match address.addr {
                    IpAddr::V4(addr) => {
                        rtnetlink::AddressMessageBuilder::<std::net::Ipv4Addr>::new()
                            .index(*index)
                            .address(addr, address.prefix_len)
                            .build()
                    }
                    IpAddr::V6(addr) => {
                        rtnetlink::AddressMessageBuilder::<std::net::Ipv6Addr>::new()
                            .index(*index)
                            .address(addr, address.prefix_len)
                            .build()
                    }
                };
                self.handle.address().del(message).execute().await
            }
            Change::Route(route) => {
                let mut message = route_message(route);
                // Scope "universe" is the kernel's wildcard when matching a route to delete.
                message.header.scope = RouteScope::Universe;
                self.handle.route().del(message).execute().await
            }
            Change::Rule(rule) => self.handle.rule().del(rule_message(rule)).execute().await,
            Change::ResolvedLink { .. } | Change::ResolvConf { .. } => return Ok(()),
        };
        match result {
            Ok(()) => Ok(()),
            Err(error) if already_gone(&error) => {
                tracing::debug!(%change, "already gone");
                Ok(())
            }
            Err(source) => Err(PlatformError::Network {
                what: format!("remove {change}"),
                source: Box::new(source),
            }),
        }
    }
}

impl Netlink {
    /// The name of the interface with this index, or `None` if there is none.
    pub(super) async fn link_name(&self, index: u32) -> Result<Option<String>, PlatformError> {
        let mut links = self.handle.link().get().match_index(index).execute();
        match links.try_next().await {
            Ok(Some(link)) => Ok(link.attributes.into_iter().find_map(|a| match a {
                LinkAttribute::IfName(name) => Some(name),
                _ => None,
            })),
            Ok(None) => Ok(None),
            Err(error) if already_gone(&error) => Ok(None),
            Err(source) => Err(PlatformError::Network {
                what: format!("look up interface {index}"),
                source: Box::new(source),
            }),
        }
    }
}

/// Errors that mean "the thing to delete does not exist (any more)".
fn already_gone(error: &rtnetlink::Error) -> bool {
    let rtnetlink::Error::NetlinkError(message) = error else {
        return false;
    };
    let errno = message.raw_code().abs();
    [
        nix::libc::ENOENT,        // rule, and IPv6 route
        nix::libc::ESRCH,         // IPv4 route
        nix::libc::ENODEV,        // the interface is gone, and everything on it
        nix::libc::EADDRNOTAVAIL, // address
    ]
    .contains(&errno)
}

/// The netlink message for a route; the same one adds and (with a wildcard scope) deletes it.
pub(super) fn route_message(route: &RouteSpec) -> RouteMessage {
    let mut builder = RouteMessageBuilder::<IpAddr>::new();
    // `destination_prefix` only fails for a family/length mismatch, which `RouteSpec` values from
    // the planner never have; fall back to filling the header by hand rather than panicking.
    builder = match builder
        .clone()
        .destination_prefix(route.destination, route.prefix_len)
    {
        Ok(b) => b,
        Err(error) => {
            tracing::error!(%error, "malformed route destination");
            builder
        }
    };
    builder = builder.table_id(route.table);
    match route.target {
        RouteTarget::Interface { index } => {
            builder = builder.output_interface(index).scope(RouteScope::Link);
        }
        RouteTarget::Unreachable => {
            builder = builder.kind(RouteType::Unreachable);
        }
    }
    builder.build()
}

/// The netlink message for a rule; the same one adds and deletes it.
pub(super) fn rule_message(rule: &RuleSpec) -> RuleMessage {
    let mut message = RuleMessage::default();
    message.header.family = match rule.family {
        Family::V4 => AddressFamily::Inet,
        Family::V6 => AddressFamily::Inet6,
    };
    message.header.action = RuleAction::ToTable;
    if let Ok(table) = u8::try_from(rule.table) {
        message.header.table = table;
    } else {
        message.header.table = 0; // RT_TABLE_UNSPEC: the attribute carries the real id.
        message.attributes.push(RuleAttribute::Table(rule.table));
    }
    message
        .attributes
        .push(RuleAttribute::Priority(rule.priority));
    match rule.matcher {
        RuleMatch::NotFwmark(mark) => {
            message.header.flags |= RuleFlags::Invert;
            message.attributes.push(RuleAttribute::FwMark(mark));
            message.attributes.push(RuleAttribute::FwMask(u32::MAX));
        }
        RuleMatch::SuppressPrefixLength(len) => {
            message
                .attributes
                .push(RuleAttribute::SuppressPrefixLen(len));
        }
        RuleMatch::To {
            destination,
            prefix_len,
        } => {
            message.header.dst_len = prefix_len;
            message
                .attributes
                .push(RuleAttribute::Destination(destination));
        }
    }
    message
}

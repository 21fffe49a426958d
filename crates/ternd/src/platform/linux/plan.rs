//! From a platform-neutral [`TunnelNetworkPlan`] to the exact list of Linux changes: addresses,
//! routes in the tunnel's own table, and the policy rules that send traffic to that table.
//! Pure: no I/O, so every case is unit-tested without root.
//!
//! # Why policy routing (wg-quick style) and not `0.0.0.0/1` + `128.0.0.0/1` + a gateway route
//!
//! The full tunnel puts `default dev tun` in a dedicated table and sends every packet *not*
//! carrying the tunnel's firewall mark there (`not fwmark M lookup T`), after a
//! `lookup main suppress_prefixlength 0` rule that lets the main table's specific routes (the LAN,
//! link-local) win over its default route. The tunnel's own sockets carry `SO_MARK` = M and so
//! keep using the main table, whatever the gateway's address is.
//!
//! The alternative, two half-default routes plus a host route to the gateway via the original
//! default route, copies a route we do not own: it goes stale when the uplink changes (Wi-Fi to
//! Ethernet, DHCP renewal, a new default gateway) while we are connected, needs to be re-derived
//! on every such change and on MOBIKE address updates, and a leftover copy after a crash points
//! at a gateway that may no longer exist. Policy routing never names the uplink: the marked
//! sockets follow whatever the main table says at the moment, and the main table is left alone
//! (the rules and the tunnel table are all we add, so restoring is deleting exactly those).
//!
//! One more rule, `to <gateway> lookup main`, runs first: it keeps strict reverse-path filtering
//! (`rp_filter=1`) from dropping the gateway's replies (their reverse lookup carries no mark and
//! would otherwise resolve to the tunnel), and it keeps an IKE socket working even before it is
//! marked. Non-IPsec traffic to the gateway host itself goes around the tunnel, as with every
//! IPsec client's bypass route.
//!
//! IPv6 in a full tunnel with no IPv6 virtual address is blocked, not leaked: the tunnel table
//! holds `unreachable ::/0` and the same two rules send unmarked IPv6 there. Split tunnels use the
//! same table and `not fwmark` rule with only the selector prefixes in it, so a selector that
//! contains the gateway cannot loop the tunnel's own packets either; there is no suppress rule,
//! so the negotiated prefixes win over more specific main-table routes, as the selectors say.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Change, Family, LinuxConfig, RouteSpec, RouteTarget, RuleMatch, RuleSpec};
use crate::platform::{PlatformError, RoutingMode, TunnelNetworkPlan};

/// The changes `plan` needs, in the order they are to be made (undo runs them backwards).
///
/// Order: addresses, then routes (so a rule never points at a half-filled table), then rules:
/// gateway exception first, suppress rule second, the catch-all `not fwmark` rule last.
pub fn network_changes(
    plan: &TunnelNetworkPlan,
    config: &LinuxConfig,
) -> Result<Vec<Change>, PlatformError> {
    validate(plan)?;
    let index = plan.interface.index;
    let mut changes: Vec<Change> = plan
        .addresses
        .iter()
        .map(|address| Change::Address {
            interface: plan.interface.name.clone(),
            index,
            address: *address,
        })
        .collect();

    let has_address = |family: Family| plan.addresses.iter().any(|a| Family::of(a.addr) == family);
    let route = |destination: IpAddr, prefix_len: u8, target: RouteTarget| {
        Change::Route(RouteSpec {
            destination,
            prefix_len,
            table: config.table,
            target,
        })
    };

    // Which families get rules, and whether each gets the suppress rule (full tunnel only).
    let mut families: Vec<(Family, bool)> = Vec::new();
    match &plan.routing {
        RoutingMode::Full => {
            for family in [Family::V4, Family::V6] {
                let target = if has_address(family) {
                    RouteTarget::Interface { index }
                } else {
                    // No tunnel address for this family: block it while connected.
                    RouteTarget::Unreachable
                };
                changes.push(route(family.unspecified(), 0, target));
                families.push((family, true));
            }
        }
        RoutingMode::Split { prefixes } => {
            for prefix in prefixes {
                changes.push(route(
                    prefix.addr(),
                    prefix.prefix_len(),
                    RouteTarget::Interface { index },
                ));
                let family = Family::of(prefix.addr());
                if !families.iter().any(|(f, _)| *f == family) {
                    families.push((family, false));
                }
            }
        }
    }
    // Rules in a fixed family order so the journal reads the same every time.
    families.sort_by_key(|(family, _)| *family);

    let gateway_family = Family::of(plan.gateway);
    for &(family, suppress) in &families {
        if family == gateway_family {
            changes.push(Change::Rule(RuleSpec {
                family,
                priority: config.rule_priority,
                table: MAIN_TABLE,
                matcher: RuleMatch::To {
                    destination: plan.gateway,
                    prefix_len: family.host_len(),
                },
            }));
        }
        if suppress {
            changes.push(Change::Rule(RuleSpec {
                family,
                priority: config.rule_priority.saturating_add(1),
                table: MAIN_TABLE,
                matcher: RuleMatch::SuppressPrefixLength(0),
            }));
        }
        changes.push(Change::Rule(RuleSpec {
            family,
            priority: config.rule_priority.saturating_add(2),
            table: config.table,
            matcher: RuleMatch::NotFwmark(config.fwmark),
        }));
    }
    Ok(changes)
}

/// The kernel's main routing table.
pub const MAIN_TABLE: u32 = 254;

fn validate(plan: &TunnelNetworkPlan) -> Result<(), PlatformError> {
    if plan.interface.index == 0 {
        return Err(PlatformError::InvalidPlan(
            "the tunnel interface has no index".into(),
        ));
    }
    if plan.gateway.is_unspecified() || plan.gateway.is_loopback() {
        return Err(PlatformError::InvalidPlan(format!(
            "gateway address {} cannot be a tunnel peer",
            plan.gateway
        )));
    }
    for address in &plan.addresses {
        let max = Family::of(address.addr).host_len();
        if address.prefix_len > max || address.addr.is_unspecified() {
            return Err(PlatformError::InvalidPlan(format!(
                "virtual address {}/{} is not usable",
                address.addr, address.prefix_len
            )));
        }
    }
    if let RoutingMode::Split { prefixes } = &plan.routing
        && prefixes.is_empty()
    {
        return Err(PlatformError::InvalidPlan(
            "a split tunnel needs at least one prefix".into(),
        ));
    }
    Ok(())
}

impl Family {
    /// The family of an address.
    #[must_use]
    pub fn of(addr: IpAddr) -> Self {
        if addr.is_ipv4() { Self::V4 } else { Self::V6 }
    }

    /// `0.0.0.0` or `::`.
    #[must_use]
    pub fn unspecified(self) -> IpAddr {
        match self {
            Self::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Self::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        }
    }

    /// Prefix length of a single host: 32 or 128.
    #[must_use]
    pub fn host_len(self) -> u8 {
        match self {
            Self::V4 => 32,
            Self::V6 => 128,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::{InterfaceAddress, TunnelInterface};
    use ipsec_types::{IpPrefix, TrafficSelector};

    const TABLE: u32 = 0x7465_726e;

    fn config() -> LinuxConfig {
        LinuxConfig::default()
    }

    fn plan(routing: RoutingMode, addresses: &[&str]) -> TunnelNetworkPlan {
        TunnelNetworkPlan {
            interface: TunnelInterface {
                name: "tern0".into(),
                index: 9,
            },
            addresses: addresses
                .iter()
                .map(|a| {
                    let (addr, len) = a.split_once('/').unwrap();
                    InterfaceAddress::new(addr.parse().unwrap(), len.parse().unwrap()).unwrap()
                })
                .collect(),
            gateway: "198.51.100.7".parse().unwrap(),
            routing,
            dns: None,
        }
    }

    fn prefix(s: &str) -> IpPrefix {
        let (addr, len) = s.split_once('/').unwrap();
        IpPrefix::new(addr.parse().unwrap(), len.parse().unwrap()).unwrap()
    }

    /// A compact, readable rendering of the changes, like `ip` would print them.
    fn render(changes: &[Change]) -> Vec<String> {
        changes.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn defaults_are_tern_in_ascii() {
        let c = config();
        assert_eq!(c.table, TABLE);
        assert_eq!(c.fwmark, TABLE);
        assert!(c.rule_priority + 2 < 32766, "rules must run before main");
    }

    #[test]
    fn full_tunnel_ipv4_only_blocks_ipv6() {
        let changes =
            network_changes(&plan(RoutingMode::Full, &["10.9.0.2/32"]), &config()).unwrap();
        assert_eq!(
            render(&changes),
            [
                "address 10.9.0.2/32 dev tern0 (9)",
                "route 0.0.0.0/0 dev 9 table 1952805486",
                "route unreachable ::/0 table 1952805486",
                "rule v4 pref 31000 to 198.51.100.7/32 lookup 254",
                "rule v4 pref 31001 suppress_prefixlength 0 lookup 254",
                "rule v4 pref 31002 not fwmark 0x7465726e lookup 1952805486",
                "rule v6 pref 31001 suppress_prefixlength 0 lookup 254",
                "rule v6 pref 31002 not fwmark 0x7465726e lookup 1952805486",
            ]
        );
    }

    #[test]
    fn full_tunnel_dual_stack_routes_both_families() {
        let changes = network_changes(
            &plan(RoutingMode::Full, &["10.9.0.2/24", "fd00:9::2/64"]),
            &config(),
        )
        .unwrap();
        let text = render(&changes);
        assert!(text.contains(&"route ::/0 dev 9 table 1952805486".to_string()));
        assert!(text.contains(&"route 0.0.0.0/0 dev 9 table 1952805486".to_string()));
        assert!(!text.iter().any(|t| t.contains("unreachable")));
        assert_eq!(
            changes
                .iter()
                .filter(|c| matches!(c, Change::Rule(_)))
                .count(),
            5
        );
    }

    #[test]
    fn ipv6_gateway_gets_its_exception_in_ipv6() {
        let mut p = plan(RoutingMode::Full, &["10.9.0.2/32"]);
        p.gateway = "2001:db8::1".parse().unwrap();
        let text = render(&network_changes(&p, &config()).unwrap());
        assert!(text.contains(&"rule v6 pref 31000 to 2001:db8::1/128 lookup 254".to_string()));
        assert!(!text.iter().any(|t| t.starts_with("rule v4 pref 31000")));
    }

    #[test]
    fn split_tunnel_routes_only_selector_prefixes() {
        let routing = RoutingMode::Split {
            prefixes: vec![prefix("10.0.0.0/8"), prefix("192.168.50.0/24")],
        };
        let changes = network_changes(&plan(routing, &["10.9.0.2/32"]), &config()).unwrap();
        assert_eq!(
            render(&changes),
            [
                "address 10.9.0.2/32 dev tern0 (9)",
                "route 10.0.0.0/8 dev 9 table 1952805486",
                "route 192.168.50.0/24 dev 9 table 1952805486",
                "rule v4 pref 31000 to 198.51.100.7/32 lookup 254",
                "rule v4 pref 31002 not fwmark 0x7465726e lookup 1952805486",
            ]
        );
    }

    #[test]
    fn split_tunnel_ipv6_prefix_gets_ipv6_rule_only() {
        let routing = RoutingMode::Split {
            prefixes: vec![prefix("fd00:1::/48")],
        };
        let text = render(&network_changes(&plan(routing, &["fd00:9::2/128"]), &config()).unwrap());
        assert_eq!(
            text,
            [
                "address fd00:9::2/128 dev tern0 (9)",
                "route fd00:1::/48 dev 9 table 1952805486",
                "rule v6 pref 31002 not fwmark 0x7465726e lookup 1952805486",
            ]
        );
    }

    #[test]
    fn selectors_to_routing_mode() {
        let any = TrafficSelector::ipv4_any();
        assert_eq!(RoutingMode::from_selectors(&[any]), RoutingMode::Full);
        let ts = TrafficSelector::new(
            0,
            0,
            u16::MAX,
            "10.1.0.0".parse().unwrap(),
            "10.1.2.255".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(
            RoutingMode::from_selectors(&[ts, ts]),
            RoutingMode::Split {
                prefixes: vec![prefix("10.1.0.0/23"), prefix("10.1.2.0/24")]
            }
        );
    }

    #[test]
    fn configurable_table_mark_and_priority() {
        let c = LinuxConfig {
            table: 51820,
            fwmark: 0xca6c,
            rule_priority: 100,
            ..LinuxConfig::default()
        };
        let text =
            render(&network_changes(&plan(RoutingMode::Full, &["10.9.0.2/32"]), &c).unwrap());
        assert!(text.contains(&"rule v4 pref 102 not fwmark 0xca6c lookup 51820".to_string()));
        assert!(text.contains(&"route 0.0.0.0/0 dev 9 table 51820".to_string()));
    }

    #[test]
    fn bad_plans_are_refused() {
        let mut p = plan(RoutingMode::Full, &["10.9.0.2/32"]);
        p.interface.index = 0;
        assert!(network_changes(&p, &config()).is_err());
        let mut p = plan(RoutingMode::Full, &["10.9.0.2/32"]);
        p.gateway = "0.0.0.0".parse().unwrap();
        assert!(network_changes(&p, &config()).is_err());
        let p = plan(RoutingMode::Split { prefixes: vec![] }, &["10.9.0.2/32"]);
        assert!(network_changes(&p, &config()).is_err());
        let mut p = plan(RoutingMode::Full, &["10.9.0.2/32"]);
        p.addresses[0].prefix_len = 33;
        assert!(network_changes(&p, &config()).is_err());
        assert!(InterfaceAddress::new("10.0.0.1".parse().unwrap(), 33).is_err());
    }

    #[test]
    fn changes_survive_a_journal_round_trip() {
        let changes = network_changes(
            &plan(RoutingMode::Full, &["10.9.0.2/24", "fd00:9::2/64"]),
            &config(),
        )
        .unwrap();
        for change in changes {
            let json = serde_json::to_string(&change).unwrap();
            assert_eq!(
                serde_json::from_str::<Change>(&json).unwrap(),
                change,
                "{json}"
            );
        }
    }
}

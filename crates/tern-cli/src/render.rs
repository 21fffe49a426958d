//! How results look: text for people, JSON (the `ipc` types' stable serde form) for scripts.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ipc::{ConnectStage, LogLine, Status, TunnelState};

/// Prints a status as text or as one line of JSON.
pub fn status(status: &Status, json: bool) {
    if json {
        match serde_json::to_string(status) {
            Ok(line) => println!("{line}"),
            Err(e) => eprintln!("tern: cannot encode status: {e}"),
        }
    } else {
        print!("{}", status_text(status, SystemTime::now()));
    }
}

/// The text form of a status, one `Label: value` per line.
pub fn status_text(status: &Status, now: SystemTime) -> String {
    let mut out = String::new();
    let mut row = |label: &str, value: &str| {
        let _ = writeln!(out, "{:<12}{value}", format!("{label}:"));
    };
    row("State", &state_text(&status.state));
    if let Some(profile) = &status.profile {
        row("Profile", &profile.name);
    }
    if let Some(gateway) = &status.gateway {
        row("Gateway", gateway);
    }
    if let Some(conn) = &status.connection {
        row("Address", &join(&conn.virtual_ips));
        if !conn.dns_servers.is_empty() {
            let mut dns = join(&conn.dns_servers);
            if !conn.dns_domains.is_empty() {
                let _ = write!(dns, " ({})", conn.dns_domains.join(", "));
            }
            row("DNS", &dns);
        }
        row("Routes", &conn.routes.join(", "));
        row("IKE", &conn.ike_suite);
        row("ESP", &conn.esp_suite);
        let nat = match (conn.local_behind_nat, conn.remote_behind_nat) {
            (false, false) => "none detected",
            (true, false) => "this machine is behind NAT",
            (false, true) => "the gateway is behind NAT",
            (true, true) => "both sides are behind NAT",
        };
        row("NAT", nat);
        let since = UNIX_EPOCH + Duration::from_millis(conn.connected_at_unix_ms);
        if let Ok(up) = now.duration_since(since) {
            row("Uptime", &duration_text(up));
        }
        let t = &status.traffic;
        row(
            "Traffic",
            &format!(
                "received {} ({} packets), sent {} ({} packets)",
                bytes_text(t.bytes_in),
                t.packets_in,
                bytes_text(t.bytes_out),
                t.packets_out
            ),
        );
    }
    out
}

fn state_text(state: &TunnelState) -> String {
    match state {
        TunnelState::Disconnected => "disconnected".into(),
        TunnelState::Connecting { stage } => format!("connecting ({})", stage_text(*stage)),
        TunnelState::Connected => "connected".into(),
        TunnelState::Reconnecting { attempt, reason } => {
            format!("reconnecting (attempt {attempt}: {reason})")
        }
        TunnelState::Disconnecting => "disconnecting".into(),
        TunnelState::Failed { failure } => format!("failed: {}", failure.message),
    }
}

/// What a connect stage is doing, in words.
#[must_use]
pub const fn stage_text(stage: ConnectStage) -> &'static str {
    match stage {
        ConnectStage::Resolving => "looking up the gateway",
        ConnectStage::ContactingGateway => "contacting the gateway",
        ConnectStage::Authenticating => "authenticating",
        ConnectStage::ConfiguringNetwork => "configuring the network",
    }
}

fn join<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn duration_text(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, min, sec) => format!("{min}m {sec:02}s"),
        (h, min, sec) => format!("{h}h {min:02}m {sec:02}s"),
    }
}

fn bytes_text(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n;
    let mut unit = 0;
    let mut tenths = 0;
    while value >= 1024 && unit < UNITS.len() - 1 {
        tenths = (value % 1024) * 10 / 1024;
        value /= 1024;
        unit += 1;
    }
    if unit == 0 {
        format!("{value} B")
    } else {
        format!("{value}.{tenths} {}", UNITS[unit])
    }
}

/// Prints one log line: time, level, target, message.
pub fn log_line(line: &LogLine) {
    let secs = line.unix_ms / 1000;
    let (h, m, s) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
    println!(
        "{h:02}:{m:02}:{s:02}.{:03} {:<5} {}: {}",
        line.unix_ms % 1000,
        format!("{:?}", line.level).to_uppercase(),
        line.target,
        line.message
    );
}

#[cfg(test)]
mod tests {
    use ipc::{ConnectionInfo, ProfileSummary, TrafficStats};

    use super::*;

    #[test]
    fn connected_status_reads_well() {
        let status = Status {
            state: TunnelState::Connected,
            profile: Some(ProfileSummary {
                uuid: "u".into(),
                name: "Work".into(),
            }),
            gateway: Some("vpn.example.org".into()),
            connection: Some(ConnectionInfo {
                virtual_ips: vec!["10.3.0.2".parse().unwrap()],
                dns_servers: vec!["10.3.0.1".parse().unwrap()],
                dns_domains: vec!["corp.example".into()],
                routes: vec!["0.0.0.0/0".into()],
                ike_suite: "aes256gcm16-prfsha384-curve25519".into(),
                esp_suite: "aes256gcm16".into(),
                local_behind_nat: true,
                connected_at_unix_ms: 1_000_000,
                ..ConnectionInfo::default()
            }),
            traffic: TrafficStats {
                bytes_in: 3 * 1024 * 1024 + 512 * 1024,
                ..TrafficStats::default()
            },
        };
        let text = status_text(
            &status,
            UNIX_EPOCH + Duration::from_millis(1_000_000 + 3_723_000),
        );
        assert!(text.contains("State:      connected\n"), "{text}");
        assert!(
            text.contains("DNS:        10.3.0.1 (corp.example)"),
            "{text}"
        );
        assert!(
            text.contains("NAT:        this machine is behind NAT"),
            "{text}"
        );
        assert!(text.contains("Uptime:     1h 02m 03s"), "{text}");
        assert!(text.contains("received 3.5 MiB"), "{text}");
    }

    #[test]
    fn byte_units() {
        assert_eq!(bytes_text(0), "0 B");
        assert_eq!(bytes_text(1023), "1023 B");
        assert_eq!(bytes_text(1536), "1.5 KiB");
    }
}

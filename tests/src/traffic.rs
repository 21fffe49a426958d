//! Traffic through the lab: pings and an iperf3 TCP transfer from the client namespace to the
//! LAN host, the proof that a tunnel carries data.

use std::net::IpAddr;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::{Lab, LabError, Ns, Result, addr};

/// Whether `count` pings from the client namespace to `target` all get their reply (2 s each).
///
/// # Errors
/// Only when `ping` cannot be started.
pub fn ping(lab: &Lab, target: IpAddr, count: u32) -> Result<bool> {
    let count = count.to_string();
    let target = target.to_string();
    let out = lab.exec_output(Ns::Client, &["ping", "-c", &count, "-W", "2", &target])?;
    Ok(out.status.success())
}

/// One completed iperf3 transfer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transfer {
    /// Bytes sent (the receiver's own count may miss the last moments of the test).
    pub bytes: u64,
    /// How long it took, in seconds.
    pub seconds: f64,
    /// Receiver-side throughput in Mbit/s.
    pub mbit_per_s: f64,
}

/// Whether iperf3 is installed (the demo does without it; the test suite installs it).
#[must_use]
pub fn iperf3_available() -> bool {
    std::process::Command::new("iperf3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Sends `bytes` over TCP with iperf3 from the client namespace to a one-shot iperf3 server on
/// the LAN host ([`addr::LAN_HOST_V4`]), through whatever route the client has (the tunnel).
///
/// # Errors
/// When iperf3 cannot start, the transfer fails or takes longer than `timeout`.
pub fn iperf3_transfer(lab: &Lab, bytes: u64, timeout: Duration) -> Result<Transfer> {
    let lan_host = addr::LAN_HOST_V4.to_string();
    let server = lab
        .command(Ns::Lan, "iperf3", &["-s", "-1", "-B", &lan_host])?
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|source| LabError::Spawn {
            command: "iperf3 -s".into(),
            source,
        })?;
    let _server = KillOnDrop(server);
    let amount = bytes.to_string();
    let started = Instant::now();
    // The server needs a moment to listen: retry while the connection is refused.
    let json = loop {
        let out = lab.exec_output(
            Ns::Client,
            &[
                "iperf3",
                "-c",
                &lan_host,
                "-n",
                &amount,
                "-J",
                "--connect-timeout",
                "3000",
            ],
        )?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        // With -J, iperf3 3.12 reports a refused connection in the JSON's `error`, and may
        // still exit 0.
        let refused = text.contains("Connection refused");
        if out.status.success() && !refused {
            break text;
        }
        if !refused || started.elapsed() > timeout {
            return Err(LabError::CommandFailed {
                command: format!("iperf3 -c {lan_host} -n {amount} -J"),
                status: out.status.to_string(),
                stdout: text,
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    parse_iperf3(&json)
}

fn parse_iperf3(json: &str) -> Result<Transfer> {
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| LabError::Invalid(format!("iperf3 printed no JSON ({e}): {json}")))?;
    if let Some(error) = value["error"].as_str() {
        return Err(LabError::Invalid(format!("iperf3: {error}")));
    }
    let received = &value["end"]["sum_received"];
    match (
        value["end"]["sum_sent"]["bytes"].as_u64(),
        received["seconds"].as_f64(),
        received["bits_per_second"].as_f64(),
    ) {
        (Some(bytes), Some(seconds), Some(bits)) => Ok(Transfer {
            bytes,
            seconds,
            mbit_per_s: bits / 1e6,
        }),
        _ => Err(LabError::Invalid(format!(
            "iperf3's JSON has no end.sum_sent and end.sum_received: {json}"
        ))),
    }
}

/// A child process killed (and reaped) on drop.
#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::parse_iperf3;

    #[test]
    fn reads_the_receiver_side() {
        let json = r#"{"start":{},"end":{"sum_sent":{"bytes":20971520},
            "sum_received":{"start":0,"end":0.5,"seconds":0.5,"bytes":20971520,
            "bits_per_second":335544320}}}"#;
        let t = parse_iperf3(json).unwrap();
        assert_eq!(t.bytes, 20_971_520);
        assert!((t.mbit_per_s - 335.544_32).abs() < 1e-6);
        assert!(parse_iperf3("{}").is_err());
        assert!(parse_iperf3("not json").is_err());
    }
}

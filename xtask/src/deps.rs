//! Enforces the dependency directions of ARCHITECTURE.md on the resolved graph from
//! `cargo metadata` (normal and build dependencies, all targets; dev-dependencies are free).

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

/// Crates that talk to the OS or an async runtime: the protocol cores must never reach them.
const IO_CRATES: &[&str] = &[
    "tokio",
    "mio",
    "async-std",
    "rtnetlink",
    "netlink-sys",
    "netlink-proto",
    "zbus",
    "tun-rs",
    "wintun",
    "keyring",
    "tauri",
];

/// (crate, forbidden dependency, why).
fn rules() -> Vec<(&'static str, &'static str, &'static str)> {
    let mut rules = vec![
        (
            "ike",
            "esp",
            "the IKE and ESP cores are independent; ternd joins them",
        ),
        (
            "esp",
            "ike",
            "the IKE and ESP cores are independent; ternd joins them",
        ),
        ("tern-cli", "ike", "clients never link the protocol cores"),
        ("tern-cli", "esp", "clients never link the protocol cores"),
        ("tern-gui", "ike", "clients never link the protocol cores"),
        ("tern-gui", "esp", "clients never link the protocol cores"),
        (
            "ipc",
            "ike",
            "the IPC protocol carries values, not protocol machinery",
        ),
        (
            "ipc",
            "esp",
            "the IPC protocol carries values, not protocol machinery",
        ),
        (
            "profile",
            "ike",
            "profiles are data; the helper maps them onto IKE",
        ),
        (
            "profile",
            "esp",
            "profiles are data; the helper maps them onto ESP",
        ),
    ];
    for core in ["ipsec-types", "esp", "ike"] {
        for io in IO_CRATES {
            rules.push((core, io, "protocol cores are sans-IO"));
        }
    }
    rules
}

/// Checks every rule; the error lists each violation with the path that causes it.
pub fn check() -> Result<(), String> {
    let json = crate::system::output(
        "cargo",
        &[
            "metadata",
            "--format-version",
            "1",
            "--all-features",
            "--locked",
        ],
    )
    .or_else(|_| {
        crate::system::output(
            "cargo",
            &["metadata", "--format-version", "1", "--all-features"],
        )
    })?;
    let metadata: Value =
        serde_json::from_str(&json).map_err(|e| format!("cargo metadata is not JSON: {e}"))?;
    let graph = Graph::from_metadata(&metadata)?;
    let mut violations = Vec::new();
    for (krate, forbidden, why) in rules() {
        if let Some(path) = graph.path(krate, forbidden) {
            violations.push(format!(
                "  {krate} -> {forbidden} ({why}): {}",
                path.join(" -> ")
            ));
        }
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "dependency rules broken:\n{}",
            violations.join("\n")
        ))
    }
}

/// Package name → names of its normal/build dependencies.
struct Graph {
    edges: HashMap<String, BTreeSet<String>>,
}

impl Graph {
    fn from_metadata(metadata: &Value) -> Result<Self, String> {
        let mut names = HashMap::new();
        for package in metadata["packages"]
            .as_array()
            .ok_or("metadata has no packages")?
        {
            if let (Some(id), Some(name)) = (package["id"].as_str(), package["name"].as_str()) {
                names.insert(id.to_owned(), name.to_owned());
            }
        }
        let mut edges: HashMap<String, BTreeSet<String>> = HashMap::new();
        let nodes = metadata["resolve"]["nodes"]
            .as_array()
            .ok_or("metadata has no resolve graph")?;
        for node in nodes {
            let Some(from) = node["id"].as_str().and_then(|id| names.get(id)) else {
                continue;
            };
            let entry = edges.entry(from.clone()).or_default();
            for dep in node["deps"].as_array().into_iter().flatten() {
                let non_dev = dep["dep_kinds"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|k| k["kind"].as_str() != Some("dev"));
                if let Some(to) = dep["pkg"].as_str().and_then(|id| names.get(id))
                    && non_dev
                {
                    entry.insert(to.clone());
                }
            }
        }
        Ok(Self { edges })
    }

    /// A dependency path from `from` to `to`, if there is one (breadth-first, so the shortest).
    fn path(&self, from: &str, to: &str) -> Option<Vec<String>> {
        let mut previous: HashMap<&str, &str> = HashMap::new();
        let mut queue = std::collections::VecDeque::from([from]);
        while let Some(current) = queue.pop_front() {
            for next in self.edges.get(current).into_iter().flatten() {
                if next == from || previous.contains_key(next.as_str()) {
                    continue;
                }
                previous.insert(next, current);
                if next == to {
                    let mut path = vec![to.to_owned()];
                    let mut at = to;
                    while let Some(&p) = previous.get(at) {
                        path.push(p.to_owned());
                        at = p;
                    }
                    path.reverse();
                    return Some(path);
                }
                queue.push_back(next);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_transitive_paths_and_ignores_dev_dependencies() {
        let metadata = serde_json::json!({
            "packages": [
                {"id": "a", "name": "ike"}, {"id": "b", "name": "helper"},
                {"id": "c", "name": "tokio"}, {"id": "d", "name": "esp"}
            ],
            "resolve": {"nodes": [
                {"id": "a", "deps": [
                    {"pkg": "b", "dep_kinds": [{"kind": null}]},
                    {"pkg": "d", "dep_kinds": [{"kind": "dev"}]}
                ]},
                {"id": "b", "deps": [{"pkg": "c", "dep_kinds": [{"kind": "build"}]}]}
            ]}
        });
        let graph = Graph::from_metadata(&metadata).unwrap();
        assert_eq!(
            graph.path("ike", "tokio").unwrap(),
            ["ike", "helper", "tokio"]
        );
        assert!(graph.path("ike", "esp").is_none());
        assert!(graph.path("esp", "tokio").is_none());
    }
}

//! The interop matrix's machine-readable summary: one JSON file per row, written when the row
//! ends (also when it fails), merged by `cargo xtask test` into `summary.json` and a markdown
//! table.
//!
//! Rows run on parallel test threads, so each writes only its own file,
//! `<dir>/rows/<row>.json`, where `<dir>` is `$TERN_INTEROP_DIR`, else `interop/` in the cargo
//! target directory (`$CARGO_TARGET_DIR`, else found from the test binary's path). A file:
//!
//! ```json
//! {"order": 0, "row": "psk_mobileconfig", "result": "passed", "connect_ms": 31,
//!  "throughput_mbit_s": 412.5, "detail": ""}
//! ```
//!
//! `result` is `passed`, `failed`, `skipped` (the lab cannot run here) or `ignored` (the row
//! waits for a feature; `detail` says which).

use std::path::PathBuf;

use crate::{Result, io_err};

/// Names the summary directory (`cargo xtask test` sets it).
pub const INTEROP_DIR_ENV: &str = "TERN_INTEROP_DIR";

/// The summary directory: see the module documentation.
#[must_use]
pub fn interop_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(INTEROP_DIR_ENV) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir).join("interop");
    }
    // A test binary lives in <target>/<profile>/deps/.
    let from_exe = std::env::current_exe().ok().and_then(|exe| {
        let deps = exe.parent()?;
        (deps.file_name()? == "deps").then_some(())?;
        Some(deps.parent()?.parent()?.join("interop"))
    });
    from_exe.unwrap_or_else(|| std::env::temp_dir().join("tern-interop"))
}

/// How a row ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowResult {
    /// It ran and every check held.
    Passed,
    /// It ran and a check failed (or it panicked).
    Failed,
    /// The lab cannot run on this machine.
    Skipped,
    /// Marked `#[ignore]`: it waits for a feature.
    Ignored,
}

impl RowResult {
    /// The word in the JSON file.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            RowResult::Passed => "passed",
            RowResult::Failed => "failed",
            RowResult::Skipped => "skipped",
            RowResult::Ignored => "ignored",
        }
    }
}

/// One row's record.
#[derive(Debug, Clone, PartialEq)]
pub struct RowRecord {
    /// The row's position in the matrix (the table keeps this order).
    pub order: usize,
    /// The row's name (its test function).
    pub row: String,
    /// How it ended.
    pub result: RowResult,
    /// Wall time of `tern connect --wait`, when it connected.
    pub connect_ms: Option<u64>,
    /// Throughput of the transfer through the tunnel, when there was one.
    pub throughput_mbit_s: Option<f64>,
    /// Why it was skipped or ignored, what failed, or what else was measured.
    pub detail: String,
}

impl RowRecord {
    /// Writes `rows/<row>.json` in [`interop_dir`].
    ///
    /// # Errors
    /// When the directory or file cannot be written.
    pub fn write(&self) -> Result<()> {
        let dir = interop_dir().join("rows");
        std::fs::create_dir_all(&dir).map_err(io_err("creating directory", &dir))?;
        let json = serde_json::json!({
            "order": self.order,
            "row": self.row,
            "result": self.result.as_str(),
            "connect_ms": self.connect_ms,
            "throughput_mbit_s": self.throughput_mbit_s,
            "detail": self.detail,
        });
        let path = dir.join(format!("{}.json", self.row));
        std::fs::write(&path, format!("{json}\n")).map_err(io_err("writing", &path))
    }
}

/// Records one row while it runs: starts as `failed`, so a row that panics is recorded as
/// failed when the recorder drops; [`RowRecorder::pass`] or [`RowRecorder::skip`] change that.
#[derive(Debug)]
pub struct RowRecorder {
    record: RowRecord,
}

impl RowRecorder {
    /// Starts recording row `row` at position `order`.
    #[must_use]
    pub fn start(order: usize, row: &str) -> RowRecorder {
        RowRecorder {
            record: RowRecord {
                order,
                row: row.to_owned(),
                result: RowResult::Failed,
                connect_ms: None,
                throughput_mbit_s: None,
                detail: String::new(),
            },
        }
    }

    /// Notes the connect time.
    pub fn connect_ms(&mut self, ms: u64) {
        self.record.connect_ms = Some(ms);
    }

    /// Notes the throughput.
    pub fn throughput(&mut self, mbit_per_s: f64) {
        self.record.throughput_mbit_s = Some(mbit_per_s);
    }

    /// Adds a remark (`; `-separated).
    pub fn note(&mut self, text: &str) {
        if !self.record.detail.is_empty() {
            self.record.detail.push_str("; ");
        }
        self.record.detail.push_str(text);
    }

    /// The row passed.
    pub fn pass(&mut self) {
        self.record.result = RowResult::Passed;
    }

    /// The row could not run here.
    pub fn skip(&mut self, why: &str) {
        self.record.result = RowResult::Skipped;
        self.note(why);
    }
}

impl Drop for RowRecorder {
    fn drop(&mut self) {
        if let Err(e) = self.record.write() {
            eprintln!("tern-e2e: could not record row {}: {e}", self.record.row);
        }
    }
}

//! A write-ahead journal of system changes: one JSON document per line, appended and fsynced
//! *before* the change it describes is made.
//!
//! Because an entry is durable before its change exists, after a crash the journal lists a
//! superset of what is applied: every entry is either applied or never happened, and undoing
//! something that never happened is a no-op for the undo code. A crash in the middle of writing an
//! entry leaves a torn last line whose change was never started, so it is skipped.
//!
//! The entry type is the platform's (`linux::Change`); this file only knows JSON lines.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::PlatformError;

/// Upper bound on a journal file we are willing to read (a real one is a few kilobytes); a bigger
/// file is not ours or is damaged, and reading it must not exhaust memory.
pub const MAX_JOURNAL_BYTES: u64 = 4 * 1024 * 1024;

/// Upper bound on one line, for the same reason.
const MAX_LINE_BYTES: usize = 256 * 1024;

/// An append-only journal file of `T` entries.
#[derive(Debug)]
pub struct Journal<T> {
    path: PathBuf,
    _entry: core::marker::PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> Journal<T> {
    /// A journal at `path`; nothing is touched until the first write or read.
    #[must_use]
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            _entry: core::marker::PhantomData,
        }
    }

    /// The journal file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, source: io::Error) -> PlatformError {
        PlatformError::Journal {
            path: self.path.clone(),
            source,
        }
    }

    /// Appends one entry and waits until it is on disk. Creates the file (and its directory,
    /// mode 0700) on first use.
    pub fn record(&self, entry: &T) -> Result<(), PlatformError> {
        self.record_all(core::slice::from_ref(entry))
    }

    /// Appends several entries with one write and waits until they are on disk: a batch of
    /// changes is journaled with one sync, before the first of them is made. The caller takes
    /// back out (with [`Self::replace`]) whatever it then fails to make. Nothing is written for
    /// an empty batch.
    pub fn record_all(&self, entries: &[T]) -> Result<(), PlatformError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut text = Vec::new();
        for entry in entries {
            serde_json::to_writer(&mut text, entry).map_err(|e| self.error(io::Error::other(e)))?;
            text.push(b'\n');
        }
        let created = !self.path.exists();
        if created {
            self.create_dir()?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| self.error(e))?;
        if !ends_with_newline(&mut file).map_err(|e| self.error(e))? {
            // A torn entry from a crash: end its line so ours stays readable.
            text.insert(0, b'\n');
        }
        file.write_all(&text).map_err(|e| self.error(e))?;
        file.sync_all().map_err(|e| self.error(e))?;
        if created {
            // The new directory entry must be durable too, or a crash could lose the whole file.
            self.sync_dir()?;
        }
        Ok(())
    }

    /// Every readable entry, oldest first. A line that does not parse (a torn write, or damage)
    /// is skipped with a warning: its change was never made, or cannot be undone from it anyway.
    pub fn entries(&self) -> Result<Vec<T>, PlatformError> {
        let file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.error(e)),
        };
        let len = file.metadata().map_err(|e| self.error(e))?.len();
        if len > MAX_JOURNAL_BYTES {
            return Err(self.error(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("journal is {len} bytes, more than the {MAX_JOURNAL_BYTES} allowed"),
            )));
        }
        let mut reader = BufReader::new(file.take(MAX_JOURNAL_BYTES));
        let mut entries = Vec::new();
        let mut line = Vec::new();
        let mut number = 0usize;
        loop {
            line.clear();
            let read = reader
                .by_ref()
                .take(MAX_LINE_BYTES as u64 + 1)
                .read_until(b'\n', &mut line)
                .map_err(|e| self.error(e))?;
            if read == 0 {
                break;
            }
            number += 1;
            if line.len() > MAX_LINE_BYTES {
                tracing::warn!(path = %self.path.display(), line = number, "journal line too long, skipped");
                // Drain the rest of the over-long line.
                let mut rest = Vec::new();
                reader
                    .read_until(b'\n', &mut rest)
                    .map_err(|e| self.error(e))?;
                continue;
            }
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<T>(text) {
                Ok(entry) => entries.push(entry),
                Err(error) => tracing::warn!(
                    path = %self.path.display(),
                    line = number,
                    %error,
                    "unreadable journal line skipped (torn write or damage)"
                ),
            }
        }
        Ok(entries)
    }

    /// Replaces the journal with exactly these entries, atomically (write a temporary file,
    /// fsync, rename over). An empty list removes the file.
    pub fn replace(&self, entries: &[T]) -> Result<(), PlatformError> {
        if entries.is_empty() {
            return self.clear();
        }
        self.create_dir()?;
        let mut text = Vec::new();
        for entry in entries {
            serde_json::to_writer(&mut text, entry).map_err(|e| self.error(io::Error::other(e)))?;
            text.push(b'\n');
        }
        let tmp = self.path.with_extension("jsonl.tmp");
        {
            let mut file = File::create(&tmp).map_err(|e| self.error(e))?;
            file.write_all(&text).map_err(|e| self.error(e))?;
            file.sync_all().map_err(|e| self.error(e))?;
        }
        fs::rename(&tmp, &self.path).map_err(|e| self.error(e))?;
        self.sync_dir()
    }

    /// Removes the journal: nothing is applied any more.
    pub fn clear(&self) -> Result<(), PlatformError> {
        match fs::remove_file(&self.path) {
            Ok(()) => self.sync_dir(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.error(e)),
        }
    }

    fn create_dir(&self) -> Result<(), PlatformError> {
        let Some(dir) = self.path.parent() else {
            return Ok(());
        };
        if dir.as_os_str().is_empty() || dir.exists() {
            return Ok(());
        }
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(|e| self.error(e))
    }

    fn sync_dir(&self) -> Result<(), PlatformError> {
        let Some(dir) = self.path.parent() else {
            return Ok(());
        };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        // Directories can be fsynced on Unix; elsewhere the rename's durability is the OS's.
        #[cfg(unix)]
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| self.error(e))?;
        #[cfg(not(unix))]
        let _ = dir;
        Ok(())
    }
}

/// Whether the file is empty or its last byte is a newline.
fn ends_with_newline(file: &mut File) -> io::Result<bool> {
    use std::io::{Seek, SeekFrom};
    if file.metadata()?.len() == 0 {
        return Ok(true);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    enum Entry {
        Route(String),
        Rule(u32),
    }

    fn journal(dir: &tempfile::TempDir) -> Journal<Entry> {
        Journal::new(dir.path().join("state/journal.jsonl"))
    }

    #[test]
    fn missing_journal_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(journal(&dir).entries().unwrap().is_empty());
        journal(&dir).clear().unwrap();
    }

    #[test]
    fn records_are_replayed_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let j = journal(&dir);
        j.record(&Entry::Route("0.0.0.0/0".into())).unwrap();
        j.record(&Entry::Rule(7)).unwrap();
        // A fresh handle (a restarted daemon) sees the same entries.
        assert_eq!(
            journal(&dir).entries().unwrap(),
            vec![Entry::Route("0.0.0.0/0".into()), Entry::Rule(7)]
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("state"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700);
        }
    }

    #[test]
    fn a_batch_is_recorded_in_order_after_earlier_entries() {
        let dir = tempfile::tempdir().unwrap();
        let j = journal(&dir);
        j.record_all(&[]).unwrap();
        assert!(!j.path().exists());
        j.record(&Entry::Rule(1)).unwrap();
        j.record_all(&[Entry::Route("::/0".into()), Entry::Rule(2)])
            .unwrap();
        assert_eq!(
            journal(&dir).entries().unwrap(),
            vec![Entry::Rule(1), Entry::Route("::/0".into()), Entry::Rule(2)]
        );
    }

    #[test]
    fn torn_last_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let j = journal(&dir);
        j.record(&Entry::Rule(1)).unwrap();
        let mut f = OpenOptions::new().append(true).open(j.path()).unwrap();
        f.write_all(br#"{"Route":"10.0"#).unwrap();
        assert_eq!(j.entries().unwrap(), vec![Entry::Rule(1)]);
        // An entry appended after the torn one starts on a line of its own.
        j.record(&Entry::Rule(2)).unwrap();
        assert_eq!(j.entries().unwrap(), vec![Entry::Rule(1), Entry::Rule(2)]);
    }

    #[test]
    fn damaged_middle_line_does_not_hide_later_entries() {
        let dir = tempfile::tempdir().unwrap();
        let j = journal(&dir);
        fs::create_dir_all(j.path().parent().unwrap()).unwrap();
        fs::write(j.path(), b"{\"Rule\":1}\n\xff\xfegarbage\n\n{\"Rule\":3}\n").unwrap();
        assert_eq!(j.entries().unwrap(), vec![Entry::Rule(1), Entry::Rule(3)]);
    }

    #[test]
    fn replace_and_clear() {
        let dir = tempfile::tempdir().unwrap();
        let j = journal(&dir);
        for n in 0..4 {
            j.record(&Entry::Rule(n)).unwrap();
        }
        j.replace(&[Entry::Rule(2)]).unwrap();
        assert_eq!(j.entries().unwrap(), vec![Entry::Rule(2)]);
        assert!(!j.path().with_extension("jsonl.tmp").exists());
        j.replace(&[]).unwrap();
        assert!(!j.path().exists());
        j.clear().unwrap();
    }

    #[test]
    fn oversized_journal_is_an_error_not_an_allocation() {
        let dir = tempfile::tempdir().unwrap();
        let j = journal(&dir);
        fs::create_dir_all(j.path().parent().unwrap()).unwrap();
        let f = File::create(j.path()).unwrap();
        f.set_len(MAX_JOURNAL_BYTES + 1).unwrap();
        assert!(matches!(j.entries(), Err(PlatformError::Journal { .. })));
    }

    #[test]
    fn overlong_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let j = journal(&dir);
        fs::create_dir_all(j.path().parent().unwrap()).unwrap();
        let mut text = vec![b'x'; MAX_LINE_BYTES + 10];
        text.extend_from_slice(b"\n{\"Rule\":9}\n");
        fs::write(j.path(), text).unwrap();
        assert_eq!(j.entries().unwrap(), vec![Entry::Rule(9)]);
    }
}

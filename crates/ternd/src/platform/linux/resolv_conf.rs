//! resolv.conf without systemd-resolved: snapshot the file exactly (contents and mode, or the
//! symlink it was), write ours atomically, and put the snapshot back on restore.
//!
//! The snapshot travels inside the journal entry, so the journal itself is the backup: it is
//! fsynced before the file is touched.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::platform::{DnsSettings, PlatformError};

/// A resolv.conf bigger than this is not one (and must not make us allocate without bound).
pub const MAX_RESOLV_CONF_BYTES: u64 = 64 * 1024;

/// What a path held before we rewrote it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FileState {
    /// Nothing: restore removes our file.
    Missing,
    /// A regular file.
    File {
        /// Its text.
        contents: String,
        /// Its permission bits.
        mode: u32,
    },
    /// A symbolic link (`/etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf`); our
    /// rewrite replaces the link, not its target.
    Symlink {
        /// Where it pointed.
        target: PathBuf,
        /// The text it resolved to, if any (for carrying `options` over; not restored).
        contents: Option<String>,
    },
}

impl FileState {
    /// The text the resolver was reading, if any.
    #[must_use]
    pub fn contents(&self) -> Option<&str> {
        match self {
            Self::Missing => None,
            Self::File { contents, .. } => Some(contents),
            Self::Symlink { contents, .. } => contents.as_deref(),
        }
    }
}

fn error(path: &Path, what: &str) -> impl FnOnce(io::Error) -> PlatformError {
    let path = path.to_path_buf();
    let what = what.to_owned();
    move |source| PlatformError::ResolvConf { path, what, source }
}

fn read_text(path: &Path) -> io::Result<String> {
    let file = fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_RESOLV_CONF_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_RESOLV_CONF_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {MAX_RESOLV_CONF_BYTES} bytes"),
        ));
    }
    String::from_utf8(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// Records exactly what `path` is now.
pub fn snapshot(path: &Path) -> Result<FileState, PlatformError> {
    let metadata = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(FileState::Missing),
        Err(e) => return Err(error(path, "inspect")(e)),
    };
    if metadata.file_type().is_symlink() {
        let target = fs::read_link(path).map_err(error(path, "read the symlink"))?;
        return Ok(FileState::Symlink {
            target,
            contents: read_text(path).ok(),
        });
    }
    let contents = read_text(path).map_err(error(path, "read"))?;
    Ok(FileState::File {
        contents,
        mode: metadata.permissions().mode() & 0o7777,
    })
}

/// Whether glibc reaches systemd-resolved through this resolv.conf (a link to resolved's files,
/// or its stub listener as the nameserver); only then do per-link settings in resolved matter.
#[must_use]
pub fn points_at_resolved(path: &Path) -> bool {
    if let Ok(target) = fs::read_link(path)
        && target.to_string_lossy().contains("systemd/resolve")
    {
        return true;
    }
    read_text(path).is_ok_and(|text| {
        text.lines().any(|line| {
            let mut words = line.split_whitespace();
            words.next() == Some("nameserver")
                && matches!(words.next(), Some("127.0.0.53" | "127.0.0.54"))
        })
    })
}

/// The resolv.conf we write.
///
/// Full tunnel: only the tunnel's servers, the pushed domains as search list. Split tunnel (where
/// resolv.conf cannot do split DNS): the tunnel's servers first, then the original ones, and the
/// pushed domains before the original search list. `options` lines are kept in both cases.
#[must_use]
pub fn render(dns: &DnsSettings, original: Option<&str>, full: bool) -> String {
    let mut out = String::from(
        "# Written by ternd while the Tern VPN is connected; the previous file is restored on\n\
         # disconnect.\n",
    );
    let mut servers: Vec<String> = dns.servers.iter().map(ToString::to_string).collect();
    let mut search: Vec<String> = dns.domains.clone();
    let mut options = Vec::new();
    for line in original.unwrap_or_default().lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("options") => options.push(line.trim().to_owned()),
            Some("nameserver") if !full => {
                if let Some(server) = words.next()
                    && !servers.iter().any(|s| s == server)
                {
                    servers.push(server.to_owned());
                }
            }
            Some("search" | "domain") if !full => {
                for domain in words {
                    if !search.iter().any(|d| d == domain) {
                        search.push(domain.to_owned());
                    }
                }
            }
            _ => {}
        }
    }
    for server in servers {
        out.push_str("nameserver ");
        out.push_str(&server);
        out.push('\n');
    }
    if !search.is_empty() {
        out.push_str("search ");
        out.push_str(&search.join(" "));
        out.push('\n');
    }
    for option in options {
        out.push_str(&option);
        out.push('\n');
    }
    out
}

/// Replaces `path` with `contents` (mode 0644): a temporary file in the same directory, fsynced,
/// renamed over. When `path` is a mount point (a bind-mounted resolv.conf in a container), where
/// rename fails, the file is rewritten in place instead.
pub fn write(path: &Path, contents: &str) -> Result<(), PlatformError> {
    write_file(path, contents.as_bytes(), 0o644, Rename::MayBeLost).map_err(error(path, "write"))
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.ternd-tmp"))
}

fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => fs::File::open(dir)?.sync_all(),
        _ => Ok(()),
    }
}

/// Whether the rename that puts a new file in place must be durable before we go on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rename {
    /// Restoring: the journal entry is removed next, so the restored file must stay.
    Durable,
    /// Our rewrite while connecting: if a crash loses the rename, the original file is simply
    /// still there, which undoing its journal entry accepts. One directory sync less per
    /// connect; the new contents are still synced before the rename, so no crash can leave a
    /// torn file in place.
    MayBeLost,
}

fn write_file(path: &Path, bytes: &[u8], mode: u32, rename: Rename) -> io::Result<()> {
    let tmp = temp_path(path);
    let _ = fs::remove_file(&tmp);
    {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(bytes)?;
        // `mode` above is filtered by the umask; set it exactly.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.sync_all()?;
    }
    match fs::rename(&tmp, path) {
        Ok(()) if rename == Rename::Durable => sync_parent(path),
        Ok(()) => Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(nix::libc::EBUSY | nix::libc::EXDEV)) => {
            let _ = fs::remove_file(&tmp);
            tracing::debug!(path = %path.display(), "rename refused (mount point); writing in place");
            let mut file = fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(path)?;
            file.write_all(bytes)?;
            file.sync_all()
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn write_symlink(path: &Path, target: &Path) -> io::Result<()> {
    let tmp = temp_path(path);
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_parent(path)
}

/// Puts `original` back, if the file still holds what we `written`. If someone else rewrote it
/// since, theirs is newer than our backup and is left alone. Already restored counts as done.
pub fn restore(path: &Path, original: &FileState, written: &str) -> Result<(), PlatformError> {
    let current = snapshot(path)?;
    if current == *original {
        return Ok(());
    }
    let ours = matches!(&current, FileState::File { contents, .. } if contents == written);
    if !ours {
        tracing::warn!(
            path = %path.display(),
            "resolv.conf was changed by someone else after we wrote it; leaving it as it is"
        );
        return Ok(());
    }
    let result = match original {
        FileState::Missing => fs::remove_file(path).and_then(|()| sync_parent(path)),
        FileState::File { contents, mode } => {
            write_file(path, contents.as_bytes(), *mode, Rename::Durable)
        }
        FileState::Symlink { target, .. } => write_symlink(path, target),
    };
    result.map_err(error(path, "restore"))?;
    tracing::info!(path = %path.display(), "resolv.conf restored");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dns() -> DnsSettings {
        DnsSettings {
            servers: vec!["10.9.0.1".parse().unwrap(), "fd00:9::1".parse().unwrap()],
            domains: vec!["corp.example".into()],
        }
    }

    const ORIGINAL: &str =
        "# from DHCP\nnameserver 192.168.1.1\nsearch home.arpa\noptions edns0 trust-ad\n";

    #[test]
    fn full_tunnel_uses_only_tunnel_servers_and_keeps_options() {
        let text = render(&dns(), Some(ORIGINAL), true);
        assert!(text.starts_with("# Written by ternd"));
        assert!(text.ends_with(
            "nameserver 10.9.0.1\nnameserver fd00:9::1\nsearch corp.example\noptions edns0 trust-ad\n"
        ));
        assert!(!text.contains("192.168.1.1"));
    }

    #[test]
    fn split_tunnel_puts_tunnel_servers_first_and_keeps_the_rest() {
        let text = render(&dns(), Some(ORIGINAL), false);
        assert!(text.contains(
            "nameserver 10.9.0.1\nnameserver fd00:9::1\nnameserver 192.168.1.1\nsearch corp.example home.arpa\n"
        ));
    }

    #[test]
    fn rewrite_and_restore_a_regular_file_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resolv.conf");
        fs::write(&path, ORIGINAL).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let original = snapshot(&path).unwrap();
        assert_eq!(
            original,
            FileState::File {
                contents: ORIGINAL.into(),
                mode: 0o640
            }
        );
        let written = render(&dns(), original.contents(), true);
        write(&path, &written).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), written);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );
        restore(&path, &original, &written).unwrap();
        assert_eq!(snapshot(&path).unwrap(), original);
        // Twice is fine.
        restore(&path, &original, &written).unwrap();
        assert_eq!(snapshot(&path).unwrap(), original);
        assert!(!temp_path(&path).exists());
    }

    #[test]
    fn symlink_is_restored_as_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("stub-resolv.conf");
        fs::write(&target, "nameserver 127.0.0.53\n").unwrap();
        let path = dir.path().join("resolv.conf");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(points_at_resolved(&path));
        let original = snapshot(&path).unwrap();
        let written = render(&dns(), original.contents(), true);
        write(&path, &written).unwrap();
        assert!(
            !fs::symlink_metadata(&path)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        // The link's target was not touched.
        assert_eq!(
            fs::read_to_string(&target).unwrap(),
            "nameserver 127.0.0.53\n"
        );
        restore(&path, &original, &written).unwrap();
        assert_eq!(fs::read_link(&path).unwrap(), target);
    }

    #[test]
    fn missing_file_is_removed_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resolv.conf");
        let original = snapshot(&path).unwrap();
        assert_eq!(original, FileState::Missing);
        let written = render(&dns(), None, true);
        write(&path, &written).unwrap();
        restore(&path, &original, &written).unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn someone_elses_newer_file_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resolv.conf");
        fs::write(&path, ORIGINAL).unwrap();
        let original = snapshot(&path).unwrap();
        let written = render(&dns(), original.contents(), true);
        write(&path, &written).unwrap();
        fs::write(&path, "nameserver 192.0.2.53\n").unwrap();
        restore(&path, &original, &written).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "nameserver 192.0.2.53\n"
        );
    }

    #[test]
    fn oversized_or_binary_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resolv.conf");
        fs::write(&path, vec![b'#'; MAX_RESOLV_CONF_BYTES as usize + 1]).unwrap();
        assert!(snapshot(&path).is_err());
        fs::write(&path, b"nameserver \xff\n").unwrap();
        assert!(snapshot(&path).is_err());
        assert!(!points_at_resolved(&path));
    }
}

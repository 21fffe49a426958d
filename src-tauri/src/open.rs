//! What the app is asked to open: files given on the command line (file associations, a second
//! instance) and `tern://import?…` links.
//!
//! A link carries the profile itself, base64url-encoded in `data` (`tern://import?data=…`,
//! optionally `&name=office.sswan` for the preview's title). Links never name local files: a web
//! page must not be able to make Tern read a path of its choosing.

use base64::Engine as _;

use crate::error::{ErrorKind, UiError};

/// Something to import.
#[derive(Debug, PartialEq, Eq)]
pub enum ImportSource {
    /// A file on disk.
    File(std::path::PathBuf),
    /// The bytes of a profile carried by a link, with the name to show.
    Link {
        /// What to call it in the preview.
        name: String,
        /// The file's content.
        bytes: Vec<u8>,
    },
}

/// The scheme Tern registers.
pub const SCHEME: &str = "tern";

/// Sorts command-line arguments (after the program name) into import sources; options are
/// skipped.
#[must_use]
pub fn sources_from_args(
    args: &[String],
    cwd: &std::path::Path,
) -> Vec<Result<ImportSource, UiError>> {
    args.iter()
        .filter(|arg| !arg.starts_with('-'))
        .map(|arg| {
            if arg.starts_with(&format!("{SCHEME}:")) {
                parse_link(arg)
            } else {
                let path = arg.strip_prefix("file://").unwrap_or(arg);
                let path = std::path::Path::new(path);
                Ok(ImportSource::File(if path.is_absolute() {
                    path.to_owned()
                } else {
                    cwd.join(path)
                }))
            }
        })
        .collect()
}

/// Parses `tern://import?data=<base64url>[&name=<text>]`.
pub fn parse_link(link: &str) -> Result<ImportSource, UiError> {
    let invalid = |why: &str| {
        UiError::with_code(
            ErrorKind::Invalid,
            "bad_link",
            format!("{why}: the link must look like tern://import?data=…"),
        )
    };
    // The largest profile, base64-encoded, plus room for the name.
    let max_len = profile::MAX_FILE_BYTES / 3 * 4 + 1024;
    if link.len() > max_len {
        return Err(invalid("the link is too long"));
    }
    let url = tauri::Url::parse(link).map_err(|e| invalid(&e.to_string()))?;
    if url.scheme() != SCHEME {
        return Err(invalid("not a tern: link"));
    }
    // `tern://import?…` puts "import" in the host; `tern:import?…` in the path.
    let action = url
        .host_str()
        .unwrap_or_else(|| url.path().trim_matches('/'));
    if action != "import" {
        return Err(invalid(&format!("unknown action `{action}`")));
    }
    let mut data = None;
    let mut name = None;
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            "data" => data = Some(value.into_owned()),
            "name" => name = Some(value.into_owned()),
            _ => {}
        }
    }
    let data = data.ok_or_else(|| invalid("the link carries no profile (no data=)"))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(data.trim_end_matches('='))
        .map_err(|e| invalid(&format!("data= is not base64url: {e}")))?;
    let name = name
        .filter(|n| !n.is_empty() && n.len() <= 128 && !n.chars().any(char::is_control))
        .unwrap_or_else(|| "profile from a link".to_owned());
    Ok(ImportSource::Link { name, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_links_from_the_command_line() {
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b"{\"a\":1}");
        let args = vec![
            "--flag".to_owned(),
            "office.sswan".to_owned(),
            "/tmp/home.mobileconfig".to_owned(),
            "file:///tmp/x.ternprofile".to_owned(),
            format!("tern://import?data={encoded}&name=Office"),
        ];
        let sources: Vec<_> = sources_from_args(&args, std::path::Path::new("/home/a"))
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            sources,
            vec![
                ImportSource::File("/home/a/office.sswan".into()),
                ImportSource::File("/tmp/home.mobileconfig".into()),
                ImportSource::File("/tmp/x.ternprofile".into()),
                ImportSource::Link {
                    name: "Office".into(),
                    bytes: b"{\"a\":1}".to_vec()
                },
            ]
        );
    }

    #[test]
    fn bad_links_are_refused() {
        for link in [
            "tern://delete?data=e30",
            "tern://import",
            "tern://import?data=***",
            "http://import?data=e30",
        ] {
            let error = parse_link(link).unwrap_err();
            assert_eq!(error.code.as_deref(), Some("bad_link"), "{link}");
        }
        let long = format!(
            "tern://import?data={}",
            "A".repeat(2 * profile::MAX_FILE_BYTES)
        );
        assert!(parse_link(&long).is_err());
        assert!(matches!(
            parse_link("tern:import?data=e30"),
            Ok(ImportSource::Link { .. })
        ));
    }
}

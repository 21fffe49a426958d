//! Talking to the person at the terminal: confirmations, choices, and secrets typed without
//! echo. Prompts go to stderr (or the terminal itself), so stdout stays clean for results.

use std::io::{self, BufRead as _, IsTerminal as _, Read as _, Write as _};

use zeroize::Zeroizing;

use crate::failure::{CmdResult, Failure};

/// Largest secret accepted on stdin (a PKCS#12 bundle is a few KiB).
pub const MAX_STDIN_SECRET: usize = 256 * 1024;

/// Whether stdin is a terminal someone can answer on.
#[must_use]
pub fn stdin_is_terminal() -> bool {
    io::stdin().is_terminal()
}

/// Whether stderr is a terminal (for progress output).
#[must_use]
pub fn stderr_is_terminal() -> bool {
    io::stderr().is_terminal()
}

/// Asks a yes/no question on stderr; only `y`/`yes` is yes.
pub fn confirm(question: &str) -> CmdResult<bool> {
    let line = ask_line(&format!("{question} [y/N] "))?;
    Ok(matches!(line.trim().to_lowercase().as_str(), "y" | "yes"))
}

/// Asks for one line of visible text (a username, a menu choice).
pub fn ask_line(prompt: &str) -> CmdResult<String> {
    let mut stderr = io::stderr();
    let _ = write!(stderr, "{prompt}");
    let _ = stderr.flush();
    let mut line = String::new();
    io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::error(format!("cannot read the answer: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Asks for a secret on the terminal without echo.
pub fn ask_secret(prompt: &str) -> CmdResult<Zeroizing<String>> {
    rpassword::prompt_password(prompt)
        .map(Zeroizing::new)
        .map_err(|e| Failure::error(format!("cannot read from the terminal: {e}")))
}

/// Reads a secret from stdin: everything up to EOF, without one trailing newline.
pub fn read_stdin_secret() -> CmdResult<Zeroizing<Vec<u8>>> {
    let mut bytes = Zeroizing::new(Vec::new());
    io::stdin()
        .lock()
        .take(MAX_STDIN_SECRET as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::error(format!("cannot read stdin: {e}")))?;
    if bytes.len() > MAX_STDIN_SECRET {
        return Err(Failure::error(format!(
            "the secret on stdin is longer than {MAX_STDIN_SECRET} bytes"
        )));
    }
    strip_one_newline(&mut bytes);
    Ok(bytes)
}

/// Removes one trailing `\n` or `\r\n` (what `echo` and editors add), nothing else: a secret
/// may legitimately end in spaces.
pub fn strip_one_newline(bytes: &mut Vec<u8>) {
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
}

/// Turns secret bytes into text, zeroizing the bytes.
pub fn secret_text(bytes: Zeroizing<Vec<u8>>, what: &str) -> CmdResult<Zeroizing<String>> {
    match String::from_utf8(bytes.to_vec()) {
        Ok(text) => Ok(Zeroizing::new(text)),
        Err(e) => {
            // The copy inside the error holds the secret too.
            let mut rejected = e.into_bytes();
            zeroize::Zeroize::zeroize(&mut rejected);
            Err(Failure::error(format!("the {what} is not UTF-8 text")))
        }
    }
}

/// Asks the user to pick one of `options` by number; `None` for an empty answer.
pub fn choose<T: Copy + std::fmt::Display>(question: &str, options: &[T]) -> CmdResult<T> {
    let mut stderr = io::stderr();
    let _ = writeln!(stderr, "{question}");
    for (i, option) in options.iter().enumerate() {
        let _ = writeln!(stderr, "  {}) {option}", i + 1);
    }
    let answer = ask_line("Number: ")?;
    answer
        .trim()
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_sub(1))
        .and_then(|i| options.get(i).copied())
        .ok_or_else(|| Failure::usage(format!("\"{}\" is not one of the numbers", answer.trim())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_newline_is_stripped() {
        let mut b = b"pass \n\n".to_vec();
        strip_one_newline(&mut b);
        assert_eq!(b, b"pass \n");
        let mut b = b"pass\r\n".to_vec();
        strip_one_newline(&mut b);
        assert_eq!(b, b"pass");
        let mut b = b"pass".to_vec();
        strip_one_newline(&mut b);
        assert_eq!(b, b"pass");
    }

    #[test]
    fn non_utf8_secret_is_refused_without_showing_it() {
        let err =
            secret_text(Zeroizing::new(b"\xffhunter2".to_vec()), "pre-shared key").unwrap_err();
        assert_eq!(err.message, "the pre-shared key is not UTF-8 text");
    }
}

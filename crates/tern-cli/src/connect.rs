//! `tern connect`: gather the profile's secrets (keyring, stdin or terminal), send `Connect`,
//! and with `--wait` follow the helper's status events until the tunnel is up or has failed.

use std::path::Path;
use std::time::Duration;

use ipc::{
    Client, ConnectRequest, Event, Failure as TunnelFailure, Request, Response, TunnelState,
};
use profile::{AuthMethod, Profile, SecretKind};
use zeroize::Zeroizing;

use crate::client_key;
use crate::failure::{CmdResult, Exit, Failure};
use crate::keyring::{Keyring, KeyringError};
use crate::profiles::{find, open_store};
use crate::resolve::label;
use crate::{prompt, render};

/// The secrets `Connect` carries, in the order `--password-stdin` picks the one it reads.
const SENDABLE: [SecretKind; 3] = [
    SecretKind::EapPassword,
    SecretKind::PreSharedKey,
    SecretKind::Pkcs12Passphrase,
];

/// Where the secrets come from besides the keyring.
struct Sources {
    /// The secret read with `--password-stdin`, and its kind.
    stdin: Option<(SecretKind, Zeroizing<String>)>,
    /// Whether missing secrets may be asked for on the terminal.
    interactive: bool,
    /// Whether the "no keyring" note was shown already.
    told_no_keyring: bool,
}

/// Loads the profile `query` names and builds the connect request with its secrets.
pub fn prepare(query: &str, password_stdin: bool, keyring: &Keyring) -> CmdResult<ConnectRequest> {
    let store = open_store()?;
    let mut profile = find(&store, query)?;
    if profile.auth.uses_client_certificate() && !store.has_client_key(profile.id) {
        // Said before asking for the passphrase of a certificate that is not there.
        return Err(client_key::not_stored(&label(&profile)));
    }
    let required = profile.required_secrets();
    let sendable: Vec<SecretKind> = SENDABLE
        .into_iter()
        .filter(|k| required.contains(k))
        .collect();
    let stdin = if password_stdin {
        let Some(&primary) = sendable.first() else {
            return Err(Failure::usage(format!(
                "{} needs no password; leave out --password-stdin",
                label(&profile)
            )));
        };
        let text = prompt::secret_text(prompt::read_stdin_secret()?, &primary.to_string())?;
        Some((primary, text))
    } else {
        None
    };
    let mut sources = Sources {
        stdin,
        interactive: !password_stdin && prompt::stdin_is_terminal(),
        told_no_keyring: false,
    };
    let mut secrets = ipc::Secrets::default();
    for kind in sendable {
        let mut value = secret_for(&profile, kind, keyring, &mut sources)?;
        let slot = match kind {
            SecretKind::PreSharedKey => &mut secrets.psk,
            SecretKind::EapPassword => &mut secrets.eap_password,
            SecretKind::Pkcs12Passphrase | SecretKind::PrivateKey => {
                // The helper gets the opened key and chain, never the bundle.
                let key = client_key::open_stored(&store, profile.id, &label(&profile), &value)?;
                secrets.client_certificate = Some(ipc::ClientCertificate::from_key(&key));
                continue;
            }
        };
        // Moves the text into `Secrets` (zeroized on drop) without leaving a copy behind.
        *slot = Some(std::mem::take(&mut *value));
    }
    fill_username(&mut profile, sources.interactive)?;
    Ok(ConnectRequest { profile, secrets })
}

fn secret_for(
    profile: &Profile,
    kind: SecretKind,
    keyring: &Keyring,
    sources: &mut Sources,
) -> CmdResult<Zeroizing<String>> {
    if let Some((stdin_kind, _)) = &sources.stdin
        && *stdin_kind == kind
        && let Some((_, text)) = sources.stdin.take()
    {
        return Ok(text);
    }
    let why = match keyring.get(profile.id, kind) {
        Ok(Some(bytes)) => return prompt::secret_text(bytes, &format!("stored {kind}")),
        Ok(None) => format!("the keyring holds no {kind} for {}", label(profile)),
        Err(e @ KeyringError::Unavailable(_)) => {
            if !sources.told_no_keyring && sources.interactive {
                eprintln!("tern: {e}; asking instead");
            }
            sources.told_no_keyring = true;
            e.to_string()
        }
        Err(e) => {
            eprintln!("tern: {e}");
            e.to_string()
        }
    };
    if !sources.interactive {
        return Err(Failure::error(format!(
            "{why}: store it with `tern secret set`, pass it with --password-stdin, or run \
             on a terminal to be asked"
        )));
    }
    prompt::ask_secret(&format!("{kind} for \"{}\": ", profile.name))
}

/// Asks for the EAP username when the profile left it out (it is sent, not saved).
fn fill_username(profile: &mut Profile, interactive: bool) -> CmdResult {
    let (AuthMethod::EapMschapv2 { username } | AuthMethod::CertificateEap { username, .. }) =
        &mut profile.auth
    else {
        return Ok(());
    };
    if username.is_some() {
        return Ok(());
    }
    if !interactive {
        return Err(Failure::error(format!(
            "{} has no EAP username; run on a terminal to be asked, or re-import the profile \
             with one",
            label(profile)
        )));
    }
    let name = prompt::ask_line("EAP username: ")?;
    if name.trim().is_empty() {
        return Err(Failure::usage("an EAP username is needed"));
    }
    *username = Some(name.trim().to_owned());
    Ok(())
}

/// Sends the connect request; with `wait`, follows the tunnel until it is up, has failed, or
/// the time is up.
pub async fn run(socket: &Path, request: ConnectRequest, wait: Option<Duration>) -> CmdResult {
    let id = request.profile.id.to_string();
    let name = request.profile.name.clone();
    let Some(timeout) = wait else {
        let mut client = Client::connect(socket).await?;
        client.connect_tunnel(request).await.map_err(refused)?;
        println!("Connecting \"{name}\"; `tern status` shows how it goes.");
        return Ok(());
    };
    // In one round trip with the hello (the helper answers in order): the state before this
    // attempt, so a failure left over from an earlier one is not taken for this attempt's;
    // the subscription, before the connect, so no event of this attempt can be missed.
    let (mut client, answers) = Client::connect_with(
        socket,
        vec![
            Request::Status,
            Request::Subscribe,
            Request::Connect(Box::new(request)),
        ],
    )
    .await?;
    let [status, subscribed, connected] = <[_; 3]>::try_from(answers)
        .map_err(|_| Failure::error("the Tern helper left a request unanswered"))?;
    let before = match status.map_err(ipc::IpcError::Refused)? {
        Response::Status(status) => status.state,
        other => return Err(ipc::IpcError::Unexpected(format!("{other:?}")).into()),
    };
    subscribed.map_err(ipc::IpcError::Refused)?;
    connected.map_err(|reply| refused(ipc::IpcError::Refused(reply)))?;
    let progress = prompt::stderr_is_terminal();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut follow = Follow::new(before);
    loop {
        let Ok(event) = tokio::time::timeout_at(deadline, client.next_event()).await else {
            // The stream may be mid-frame: cancel on a fresh connection.
            let cancelled = match Client::connect(socket).await {
                Ok(mut fresh) => fresh.disconnect().await.is_ok(),
                Err(_) => false,
            };
            return Err(Failure::with_exit(
                Exit::Timeout,
                format!(
                    "\"{name}\" did not connect within {} s{}",
                    timeout.as_secs(),
                    if cancelled {
                        "; the attempt was cancelled"
                    } else {
                        "; `tern disconnect` stops the attempt"
                    }
                ),
            ));
        };
        let status = match event? {
            None => {
                return Err(Failure::error(
                    "the Tern helper closed the connection before the tunnel came up",
                ));
            }
            Some(Event::Log(_)) => continue,
            Some(Event::Status(status)) => status,
        };
        if status.profile.as_ref().is_some_and(|p| p.uuid != id) {
            continue; // another client's attempt
        }
        match follow.step(&status.state) {
            Step::Progress(text) if progress => eprintln!("tern: {text}…"),
            Step::Progress(_) | Step::Nothing => {}
            Step::Connected => {
                if progress {
                    eprintln!("tern: connected");
                }
                println!("Connected \"{name}\".");
                return Ok(());
            }
            Step::Failed(message) => return Err(Failure::with_exit(Exit::ConnectFailed, message)),
        }
    }
}

/// The helper refusing the connect is a failed connect (exit 4); other IPC errors keep their
/// own exit codes.
fn refused(error: ipc::IpcError) -> Failure {
    match error {
        ipc::IpcError::Refused(reply) => Failure::with_exit(Exit::ConnectFailed, reply.message),
        other => other.into(),
    }
}

/// What one status means for a waiting connect.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing to report.
    Nothing,
    /// A new stage, in words.
    Progress(String),
    /// The tunnel is up.
    Connected,
    /// The attempt failed, with the helper's sentence.
    Failed(String),
}

/// Follows the states of one connect attempt.
#[derive(Debug)]
pub struct Follow {
    before: TunnelState,
    started: bool,
    last: Option<TunnelState>,
}

impl Follow {
    /// Starts following; `before` is the state seen before the attempt was sent.
    #[must_use]
    pub const fn new(before: TunnelState) -> Self {
        Self {
            before,
            started: false,
            last: None,
        }
    }

    /// Interprets the next state.
    pub fn step(&mut self, state: &TunnelState) -> Step {
        if self.last.as_ref() == Some(state) {
            return Step::Nothing; // a traffic refresh, not a change
        }
        self.last = Some(state.clone());
        match state {
            TunnelState::Connecting { stage } => {
                self.started = true;
                Step::Progress(render::stage_text(*stage).to_owned())
            }
            TunnelState::Reconnecting { attempt, reason } => {
                self.started = true;
                Step::Progress(format!("reconnecting (attempt {attempt}: {reason})"))
            }
            TunnelState::Connected => Step::Connected,
            TunnelState::Failed { failure } if self.started || *state != self.before => {
                Step::Failed(failure_sentence(failure))
            }
            TunnelState::Disconnected if self.started => {
                Step::Failed("the tunnel went down before it came up".to_owned())
            }
            _ => Step::Nothing,
        }
    }
}

fn failure_sentence(failure: &TunnelFailure) -> String {
    failure.message.trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use ipc::{ConnectStage, FailureKind};

    use super::*;

    fn failed(message: &str) -> TunnelState {
        TunnelState::Failed {
            failure: TunnelFailure {
                kind: FailureKind::AuthenticationFailed,
                message: message.into(),
            },
        }
    }

    #[test]
    fn stages_then_connected() {
        let mut follow = Follow::new(TunnelState::Disconnected);
        let resolving = TunnelState::Connecting {
            stage: ConnectStage::Resolving,
        };
        assert_eq!(
            follow.step(&resolving),
            Step::Progress("looking up the gateway".into())
        );
        assert_eq!(follow.step(&resolving), Step::Nothing);
        assert_eq!(follow.step(&TunnelState::Connected), Step::Connected);
    }

    #[test]
    fn a_stale_failure_is_not_this_attempts() {
        let mut follow = Follow::new(failed("old"));
        assert_eq!(follow.step(&failed("old")), Step::Nothing);
        assert_eq!(
            follow.step(&failed("The gateway rejected the password.")),
            Step::Failed("The gateway rejected the password".into())
        );
        // After progress, even the same sentence is this attempt's.
        let mut follow = Follow::new(failed("old"));
        follow.step(&TunnelState::Connecting {
            stage: ConnectStage::Authenticating,
        });
        assert_eq!(follow.step(&failed("old")), Step::Failed("old".into()));
    }

    #[test]
    fn going_down_after_starting_is_a_failure() {
        let mut follow = Follow::new(TunnelState::Disconnected);
        assert_eq!(follow.step(&TunnelState::Disconnected), Step::Nothing);
        follow.step(&TunnelState::Connecting {
            stage: ConnectStage::ContactingGateway,
        });
        assert!(matches!(
            follow.step(&TunnelState::Disconnected),
            Step::Failed(_)
        ));
    }
}

#[cfg(test)]
mod secret_tests {
    use profile::{Gateway, ProfileId};

    use super::*;

    fn eap_profile() -> Profile {
        Profile::new(
            ProfileId::new_random(),
            "Work",
            Gateway::new("vpn.example.org"),
            AuthMethod::EapMschapv2 {
                username: Some("alice".into()),
            },
        )
    }

    fn non_interactive() -> Sources {
        Sources {
            stdin: None,
            interactive: false,
            told_no_keyring: false,
        }
    }

    #[test]
    fn secrets_come_from_the_keyring() {
        let keyring = Keyring::with_store(keyring_core::mock::Store::new().unwrap());
        let profile = eap_profile();
        keyring
            .set(profile.id, SecretKind::EapPassword, b"from-keyring")
            .unwrap();
        let secret = secret_for(
            &profile,
            SecretKind::EapPassword,
            &keyring,
            &mut non_interactive(),
        )
        .unwrap();
        assert_eq!(secret.as_str(), "from-keyring");
    }

    #[test]
    fn stdin_wins_over_the_keyring_for_its_kind_only() {
        let keyring = Keyring::with_store(keyring_core::mock::Store::new().unwrap());
        let profile = eap_profile();
        keyring
            .set(profile.id, SecretKind::EapPassword, b"from-keyring")
            .unwrap();
        let mut sources = Sources {
            stdin: Some((SecretKind::EapPassword, Zeroizing::new("from-stdin".into()))),
            ..non_interactive()
        };
        let secret = secret_for(&profile, SecretKind::EapPassword, &keyring, &mut sources);
        assert_eq!(secret.unwrap().as_str(), "from-stdin");
        assert!(sources.stdin.is_none());
        // Another kind is not taken from stdin.
        let mut sources = Sources {
            stdin: Some((SecretKind::PreSharedKey, Zeroizing::new("psk".into()))),
            ..non_interactive()
        };
        let secret = secret_for(&profile, SecretKind::EapPassword, &keyring, &mut sources);
        assert_eq!(secret.unwrap().as_str(), "from-keyring");
    }

    #[test]
    fn a_missing_secret_without_a_terminal_says_how_to_give_it() {
        let keyring = Keyring::with_store(keyring_core::mock::Store::new().unwrap());
        let profile = eap_profile();
        let err = secret_for(
            &profile,
            SecretKind::EapPassword,
            &keyring,
            &mut non_interactive(),
        )
        .unwrap_err();
        assert_eq!(err.exit, Exit::Error);
        assert!(
            err.message.starts_with(&format!(
                "the keyring holds no EAP password for \"Work\" ({}): store it with `tern secret set`",
                profile.id
            )),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_missing_username_needs_a_terminal() {
        let mut profile = eap_profile();
        fill_username(&mut profile, false).unwrap();
        profile.auth = AuthMethod::EapMschapv2 { username: None };
        let err = fill_username(&mut profile, false).unwrap_err();
        assert!(
            err.message.contains("has no EAP username"),
            "{}",
            err.message
        );
    }
}

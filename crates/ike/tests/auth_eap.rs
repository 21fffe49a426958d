//! EAP-MSCHAPv2: the RFC 2759 §9.2 / RFC 3079 known-answer vector from
//! `tests/vectors/eap-mschapv2_rfc2759.txt`, and transcript-style runs of [`EapClient`] against a
//! scripted server (success, wrong password, early success, impostor, Nak, refusal before the
//! server is authenticated).

// Test helpers panic on bad fixtures, like the tests themselves.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use ike::crypto::{CryptoError, Random};
use ike::eap::mschapv2::{self, FailureMessage};
use ike::eap::{EapClient, EapError, EapMethod, EapPacket, EapStep, EapType};
use zeroize::Zeroizing;

fn vector() -> HashMap<String, String> {
    let path = format!(
        "{}/../../tests/vectors/eap-mschapv2_rfc2759.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
        .collect()
}

fn hex<const N: usize>(v: &HashMap<String, String>, field: &str) -> [u8; N] {
    hex::decode(&v[field]).unwrap().try_into().unwrap()
}

#[test]
fn rfc2759_section_9_2_and_rfc3079_keys() {
    let v = vector();
    let (user, password) = (&v["StrUserName"], &v["StrPassword"]);
    let auth_challenge: [u8; 16] = hex(&v, "AuthenticatorChallenge");
    let peer_challenge: [u8; 16] = hex(&v, "PeerChallenge");
    assert_eq!(
        mschapv2::challenge_hash(&peer_challenge, &auth_challenge, user),
        hex::<8>(&v, "Challenge")
    );
    let hash = mschapv2::nt_password_hash(password).unwrap();
    assert_eq!(*hash, hex::<16>(&v, "PasswordHash"));
    let hash_hash = mschapv2::hash_nt_password_hash(&hash);
    assert_eq!(*hash_hash, hex::<16>(&v, "PasswordHashHash"));
    let nt =
        mschapv2::generate_nt_response(&auth_challenge, &peer_challenge, user, password).unwrap();
    assert_eq!(nt, hex::<24>(&v, "NTResponse"));
    let auth =
        mschapv2::authenticator_response(password, &nt, &peer_challenge, &auth_challenge, user)
            .unwrap();
    assert_eq!(
        format!("S={}", hex::encode_upper(auth)),
        v["StrAuthenticatorResponse"]
    );
    let master = mschapv2::master_key(&hash_hash, &nt);
    assert_eq!(*master, hex::<16>(&v, "MasterKey"));
    assert_eq!(
        *mschapv2::client_start_key(&master, true),
        hex::<16>(&v, "KeyMagic2ClientSend")
    );
    assert_eq!(
        *mschapv2::client_start_key(&master, false),
        hex::<16>(&v, "KeyMagic3ClientReceive")
    );
    let msk = mschapv2::msk(password, &nt).unwrap();
    assert_eq!(*msk, hex::<64>(&v, "MSKStrongSwanLayout"));
    // A DOMAIN\ prefix is not part of the challenge hash.
    assert_eq!(
        mschapv2::challenge_hash(&peer_challenge, &auth_challenge, "CORP\\User"),
        hex::<8>(&v, "Challenge")
    );
}

/// Hands out the RFC's PeerChallenge, then zeros.
struct FixedRandom(Vec<u8>);

impl Random for FixedRandom {
    fn fill(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
        for b in out.iter_mut() {
            *b = if self.0.is_empty() {
                0
            } else {
                self.0.remove(0)
            };
        }
        Ok(())
    }
}

fn request(id: u8, ty: EapType, data: &[u8]) -> Vec<u8> {
    EapPacket {
        code: ike::eap::EapCode::Request,
        identifier: id,
        body: Some((ty, data)),
    }
    .to_vec()
    .unwrap()
}

fn mschap_request(id: u8, opcode: u8, ms_id: u8, payload: &[u8]) -> Vec<u8> {
    let mut data = vec![opcode, ms_id];
    data.extend_from_slice(&u16::try_from(4 + payload.len()).unwrap().to_be_bytes());
    data.extend_from_slice(payload);
    request(id, EapType::MSCHAPV2, &data)
}

fn challenge_request(id: u8, auth_challenge: &[u8; 16]) -> Vec<u8> {
    let mut payload = vec![16];
    payload.extend_from_slice(auth_challenge);
    payload.extend_from_slice(b"gateway");
    mschap_request(id, 1, 0x42, &payload)
}

const SUCCESS: [u8; 4] = [3, 9, 0, 4];
const FAILURE: [u8; 4] = [4, 9, 0, 4];

fn client(v: &HashMap<String, String>) -> EapClient {
    EapClient::new(
        "alice@example.com",
        EapMethod::MsChapV2 {
            user_name: v["StrUserName"].clone(),
            password: Zeroizing::new(v["StrPassword"].clone()),
        },
    )
}

fn respond(step: EapStep) -> Vec<u8> {
    match step {
        EapStep::Respond(bytes) => bytes,
        other => panic!("expected a response, got {other:?}"),
    }
}

#[test]
fn full_exchange_reproduces_the_rfc_values() {
    let v = vector();
    let auth_challenge: [u8; 16] = hex(&v, "AuthenticatorChallenge");
    let mut rng = FixedRandom(hex::<16>(&v, "PeerChallenge").to_vec());
    let mut c = client(&v);

    // Identity is answered even before the server is authenticated.
    let out = respond(
        c.handle(&request(1, EapType::IDENTITY, &[]), &mut rng)
            .unwrap(),
    );
    assert_eq!(out, b"\x02\x01\x00\x16\x01alice@example.com");

    c.server_authenticated();
    let out = respond(
        c.handle(&challenge_request(2, &auth_challenge), &mut rng)
            .unwrap(),
    );
    let p = EapPacket::parse(&out).unwrap();
    assert_eq!(p.identifier, 2);
    let (ty, data) = p.body.unwrap();
    assert_eq!(ty, EapType::MSCHAPV2);
    // OpCode 2, same MS-CHAPv2-ID, MS-Length, Value-Size 49, PeerChallenge, 8 zeros,
    // NT-Response, Flags 0, Name.
    assert_eq!(&data[..5], &[2, 0x42, 0, 58, 49]);
    assert_eq!(&data[5..21], &hex::<16>(&v, "PeerChallenge"));
    assert_eq!(&data[21..29], &[0; 8]);
    assert_eq!(&data[29..53], &hex::<24>(&v, "NTResponse"));
    assert_eq!(&data[53..], b"\0User");

    let success = format!("{} M=Welcome", v["StrAuthenticatorResponse"]);
    let out = respond(
        c.handle(&mschap_request(3, 3, 0x42, success.as_bytes()), &mut rng)
            .unwrap(),
    );
    assert_eq!(out, [2, 3, 0, 6, 26, 3]);
    match c.handle(&SUCCESS, &mut rng).unwrap() {
        EapStep::Success { msk: Some(msk) } => {
            assert_eq!(*msk, hex::<64>(&v, "MSKStrongSwanLayout"));
        }
        other => panic!("{other:?}"),
    }
    assert!(c.is_finished());
    assert!(c.handle(&SUCCESS, &mut rng).is_err());
}

#[test]
fn refuses_to_answer_before_the_server_is_authenticated() {
    let v = vector();
    let mut rng = FixedRandom(vec![]);
    let mut c = client(&v);
    let err = c
        .handle(&challenge_request(2, &[1; 16]), &mut rng)
        .unwrap_err();
    assert_eq!(err, EapError::ServerNotAuthenticated);
}

#[test]
fn early_success_is_refused() {
    let v = vector();
    let mut rng = FixedRandom(vec![]);
    let mut c = client(&v);
    c.server_authenticated();
    assert_eq!(
        c.handle(&SUCCESS, &mut rng).unwrap_err(),
        EapError::EarlySuccess
    );
    // Also after the challenge was answered but before the server proved the password.
    let mut c = client(&v);
    c.server_authenticated();
    respond(c.handle(&challenge_request(2, &[1; 16]), &mut rng).unwrap());
    assert_eq!(
        c.handle(&SUCCESS, &mut rng).unwrap_err(),
        EapError::EarlySuccess
    );
    assert!(c.is_finished());
}

#[test]
fn impostor_without_the_password_is_detected() {
    let v = vector();
    let mut rng = FixedRandom(vec![]);
    let mut c = client(&v);
    c.server_authenticated();
    respond(c.handle(&challenge_request(2, &[1; 16]), &mut rng).unwrap());
    let forged = b"S=0000000000000000000000000000000000000000 M=ok";
    assert_eq!(
        c.handle(&mschap_request(3, 3, 0x42, forged), &mut rng)
            .unwrap_err(),
        EapError::AuthenticatorMismatch
    );
    assert!(c.is_finished());
}

#[test]
fn wrong_password_failure_is_reported() {
    let v = vector();
    let mut rng = FixedRandom(vec![]);
    let mut c = client(&v);
    c.server_authenticated();
    respond(c.handle(&challenge_request(2, &[1; 16]), &mut rng).unwrap());
    let failure = b"E=691 R=0 C=00000000000000000000000000000000 V=3 M=Authentication failed";
    let out = respond(
        c.handle(&mschap_request(3, 4, 0x42, failure), &mut rng)
            .unwrap(),
    );
    assert_eq!(out, [2, 3, 0, 6, 26, 4]);
    match c.handle(&FAILURE, &mut rng).unwrap() {
        EapStep::Failure(reason) => {
            assert_eq!(reason.mschapv2.as_ref().map(|m| m.error), Some(691));
            assert_eq!(
                reason.to_string(),
                "the server refused the login: the user name or password is wrong (server says: Authentication failed) [error 691]"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(FailureMessage::parse(failure).unwrap().challenge.is_some());
}

#[test]
fn other_methods_are_naked_then_refused() {
    let v = vector();
    let mut rng = FixedRandom(vec![]);
    let mut c = client(&v);
    c.server_authenticated();
    let out = respond(
        c.handle(&request(5, EapType::MD5_CHALLENGE, &[16; 17]), &mut rng)
            .unwrap(),
    );
    assert_eq!(out, [2, 5, 0, 6, 3, 26]);
    // Notification is acknowledged.
    let out = respond(
        c.handle(&request(6, EapType::NOTIFICATION, b"hello"), &mut rng)
            .unwrap(),
    );
    assert_eq!(out, [2, 6, 0, 5, 2]);
    // After the method started, another method is an error.
    respond(c.handle(&challenge_request(7, &[1; 16]), &mut rng).unwrap());
    assert_eq!(
        c.handle(&request(8, EapType::TLS, &[0x20]), &mut rng)
            .unwrap_err(),
        EapError::UnsupportedMethod(13)
    );
}

#[test]
fn malformed_and_out_of_order_messages() {
    let v = vector();
    let mut rng = FixedRandom(vec![]);
    let mut c = client(&v);
    c.server_authenticated();
    for bad in [
        &[][..],
        &[1, 1, 0, 4],
        &[2, 1, 0, 5, 1],
        &[1, 1, 0, 9, 26, 1, 0, 0, 4],
    ] {
        assert!(c.handle(bad, &mut rng).is_err(), "{bad:?}");
    }
    // Success before a challenge is out of order.
    let mut c = client(&v);
    c.server_authenticated();
    assert!(matches!(
        c.handle(
            &mschap_request(3, 3, 0, b"S=0000000000000000000000000000000000000000"),
            &mut rng
        ),
        Err(EapError::Unexpected(_))
    ));
    // Debug output never shows the password.
    let c = client(&v);
    assert!(!format!("{c:?}").contains("clientPass"));
}

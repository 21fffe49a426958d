//! Tern VPN profiles: the model, its validation, and import of `.sswan`, `.mobileconfig` and
//! Tern's own format.
//!
//! Room and rules:
//! - Pure data and parsing; the only I/O is the profile store in the user's config directory.
//! - Never holds secrets in files: those live in the OS keyring. Importers hand the secrets
//!   they find to the caller in [`ImportedSecrets`], apart from the profile.
//! - Depends on `ipsec-types` at most among our crates; never on the protocol cores.
//!
//! The flow: `import_*` turns a file into an [`ImportPreview`] (profile, secrets, warnings); the
//! caller shows it, stores the secrets in the keyring and the profile with
//! [`ProfileStore::import`].

mod credential;
mod import;
mod model;
mod proposal;
mod secrets;
mod serde_helpers;
mod store;
mod validate;

pub use credential::{
    ClientKey, CredentialError, MAX_CLIENT_CHAIN_LEN, MAX_PEM_BYTES, MAX_PKCS12_BYTES,
    MAX_PRIVATE_KEY_BYTES, random_passphrase,
};
pub use import::{
    ImportError, ImportFormat, ImportPreview, ImportWarning, MAX_FILE_BYTES, MAX_NESTING,
    TERN_FORMAT_NAME, TERN_FORMAT_VERSION, WarningKind, detect_format, export_tern, import_any,
    import_mobileconfig, import_sswan, import_tern,
};
pub use model::{
    AuthMethod, Certificate, CertificateChecks, DEFAULT_DPD_INTERVAL_SECS, DEFAULT_IKE_PORT,
    DnsOverride, Dpd, Gateway, Identity, IdentityKind, Ipv6Policy, Lifetimes, Profile, ProfileId,
    Routing, ServerTrust,
};
pub use proposal::{
    EsnMode, EspProposal, IkeProposal, MAX_PROPOSALS, ParsedProposals, ProposalError,
    parse_esp_proposals, parse_ike_proposals,
};
pub use secrets::{ImportedSecrets, SecretKind};
pub use store::{CONFIG_DIR_ENV, ProfileStore, SaveOutcome, StoreError};
pub use validate::{Problem, ValidationError};

/// Limits the validator enforces, for callers that want to check input early.
pub mod limits {
    pub use crate::validate::{
        DPD_RANGE, LIFETIME_RANGE, MAX_CA_CERTIFICATES, MAX_CERTIFICATE_BYTES, MAX_DNS_SERVERS,
        MAX_HOST_LEN, MAX_IDENTITY_LEN, MAX_NAME_CHARS, MAX_PREFIXES, MAX_SEARCH_DOMAINS,
        MTU_RANGE, NAT_KEEPALIVE_RANGE,
    };
}

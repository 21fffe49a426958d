// Every failure the helper or the app reports, in one sentence a person understands, with what to
// do about it. The technical detail stays available one click away.
import type { Failure, FailureKind, SecretKind, UiError } from './api';

export interface Explained {
  /** One sentence: what happened. */
  summary: string;
  /** What to do about it. */
  fix: string;
  /** The technical detail (shown behind "Details"). */
  detail: string;
}

const GROUP_FIX =
  'Add yourself to the group tern (sudo usermod -aG tern $USER), then log out and back in.';
const START_HELPER_FIX = 'Start the helper with: sudo systemctl enable --now ternd — then try again.';
const SAME_RELEASE_FIX = 'Install the same release of the Tern app and its helper (ternd).';
const LOG_FIX = 'Open the Log tab for details and try again; if it keeps failing, send the log to your administrator.';

const REFUSALS: Record<string, [string, string]> = {
  unsupported_version: ['The Tern helper and this app are from different releases.', SAME_RELEASE_FIX],
  invalid_request: ['The Tern helper did not accept the request.', 'Try again. If it repeats, report a bug with the details below.'],
  invalid_profile: [
    'This profile cannot be used as it is.',
    'Edit the profile and check the server address and identities, or import the file again.',
  ],
  missing_secret: ['A password or key this profile needs was not sent.', 'Enter it again with “Password…” on the profile, then connect.'],
  not_connected: ['There is no VPN connection to disconnect.', 'Nothing to do: you are already disconnected.'],
  already_connected: ['A VPN connection is already up or coming up.', 'Disconnect first, then connect the other profile.'],
  permission_denied: ['You are not allowed to change the VPN connection.', GROUP_FIX],
  internal: ['Something failed inside the Tern helper.', LOG_FIX],
};

const UNREADABLE: [string, string] = [
  'This file is not a VPN profile Tern can read.',
  'Tern opens .sswan, .mobileconfig and .ternprofile files. Ask whoever sent it for one of those.',
];
const BAD_SETTING: [string, string] = [
  'This profile contains a setting Tern cannot use.',
  'Ask whoever sent the profile for a corrected one; the details name the setting.',
];

const IMPORTS: Record<string, [string, string]> = {
  too_large: ['This file is too large to be a VPN profile.', 'Check that you picked the right file.'],
  not_utf8: UNREADABLE,
  malformed: UNREADABLE,
  too_deep: UNREADABLE,
  unknown_format: UNREADABLE,
  missing_field: BAD_SETTING,
  wrong_type: BAD_SETTING,
  invalid_value: BAD_SETTING,
  too_many: BAD_SETTING,
  proposal: BAD_SETTING,
  invalid: BAD_SETTING,
  unsupported: [
    'This profile asks for something Tern does not support.',
    'Ask your administrator for a profile without it; the details say what it is.',
  ],
  unsupported_version: ['This profile was made by a newer version of Tern.', 'Update Tern, then open the file again.'],
};

/** The stored or typed passphrase does not open the client certificate. */
export const WRONG_PASSPHRASE = 'That passphrase does not open your client certificate.';

const STORES: Record<string, [string, string]> = {
  wrong_passphrase: [WRONG_PASSPHRASE, 'Type the passphrase you were given with the certificate.'],
  client_certificate: [
    'That file does not hold a client certificate Tern can use.',
    'Pick the .p12 or .pfx file your administrator gave you; the details say what is wrong with this one.',
  ],
  not_found: ['This profile no longer exists.', 'It may have been deleted elsewhere; the list has been refreshed.'],
  invalid: ['The profile was not saved because one of its fields is not valid.', 'Correct the field named in the details and save again.'],
  corrupt: ['One of your saved profiles is damaged.', 'Delete it and import it again.'],
  no_config_dir: ['Tern cannot find a folder to keep your profiles in.', 'Set the TERN_CONFIG_DIR environment variable, or check your home folder.'],
  io: ['Tern could not read or save your profiles.', 'Check that your home folder is writable and not full.'],
};

const INVALIDS: Record<string, [string, string]> = {
  bad_link: ['This link does not carry a Tern profile.', 'Ask for the profile file instead, and open it with Tern.'],
  bad_id: ['That profile could not be found.', 'Reload the profile list and try again.'],
  bad_auth: ['That sign-in method can only come from an imported file.', 'Import the profile file your administrator gave you.'],
  no_client_certificate: ['This profile does not sign in with a certificate.', 'Enter its password instead.'],
  too_large: ['That file is too large to be a key bundle.', 'Pick the .p12 or .pfx file your administrator gave you.'],
};

function pick(table: Record<string, [string, string]>, code: string | null, fallback: [string, string]) {
  return (code && table[code]) || fallback;
}

/** Words an error from a command or an event. */
export function explainError(error: UiError): Explained {
  const detail = error.detail;
  const out = (pair: [string, string]): Explained => ({ summary: pair[0], fix: pair[1], detail });
  switch (error.kind) {
    case 'helper_not_running':
      return out(['The Tern helper is not running, so Tern cannot connect.', START_HELPER_FIX]);
    case 'helper_permission':
      return out(['You are not allowed to talk to the Tern helper.', GROUP_FIX]);
    case 'helper_unreachable':
      return out(['Tern cannot reach its helper.', 'Check that it is running (systemctl status ternd); ' + GROUP_FIX]);
    case 'helper_connection_lost':
      return out([
        'The connection to the Tern helper was lost.',
        'Tern reconnects by itself. If this keeps happening, restart it: sudo systemctl restart ternd',
      ]);
    case 'helper_version':
      return out(['The Tern helper and this app are from different releases.', SAME_RELEASE_FIX]);
    case 'helper_timeout':
      return out(['The Tern helper did not answer in time.', 'Try again. If it keeps happening, restart it: sudo systemctl restart ternd']);
    case 'helper_protocol':
      return out(['The Tern helper sent an answer this app does not understand.', SAME_RELEASE_FIX]);
    case 'refused':
      return out(pick(REFUSALS, error.code, ['The Tern helper refused the request.', LOG_FIX]));
    case 'import':
      return out(pick(IMPORTS, error.code, UNREADABLE));
    case 'store':
      return out(pick(STORES, error.code, STORES.io!));
    case 'keyring':
      return out([
        'Tern could not use the system keyring, where it keeps your passwords.',
        'Make sure a keyring (GNOME Keyring, KWallet or KeePassXC) is running and unlocked, then try again.',
      ]);
    case 'missing_secret':
      if (error.code === 'wrong_passphrase') {
        return out([WRONG_PASSPHRASE, 'Type the passphrase you were given with the certificate.']);
      }
      return out([
        `Tern needs your ${secretList(error.secrets ?? [])} to connect.`,
        'Enter it once; Tern keeps it in the system keyring.',
      ]);
    case 'not_found':
      return out(['That import is no longer open.', 'Open the file again.']);
    case 'invalid':
      return out(pick(INVALIDS, error.code, ['Tern did not accept that.', 'Check the value and try again.']));
    case 'io':
      return out(['Tern could not read or write a file.', 'Check that the file exists and that you may read or write it.']);
  }
}

const FAILURES: Record<FailureKind, [string, string]> = {
  gateway_unreachable: [
    'The VPN server did not answer.',
    'Check your internet connection and the server address. The server may be down, or this network may block VPNs.',
  ],
  authentication_failed: [
    'The VPN server did not accept your sign-in.',
    'Check your username and password (“Password…” on the profile) and connect again.',
  ],
  server_certificate_rejected: [
    'The VPN server’s certificate could not be trusted for this profile.',
    'Do not connect from this network until your administrator confirms the server; ask them for an updated profile.',
  ],
  no_common_proposal: [
    'Tern and the VPN server have no encryption settings in common.',
    'Ask your administrator for a profile that allows modern algorithms (for example AES-GCM).',
  ],
  protocol_error: ['The VPN server answered in a way Tern does not understand.', LOG_FIX],
  local_system: [
    'Your computer refused a network change the VPN needs.',
    'Another VPN or a firewall may be in the way; close it and try again. The Log tab has details.',
  ],
  invalid_profile: [
    'This profile cannot be used as it is.',
    'Edit the profile and check the server address and identities, or import the file again.',
  ],
  internal: ['Something failed inside the Tern helper.', LOG_FIX],
};

/** Words a failed connection attempt. */
export function explainFailure(failure: Failure): Explained {
  const [summary, fix] = FAILURES[failure.kind] ?? FAILURES.internal;
  return { summary, fix, detail: failure.message };
}

export const SECRET_LABELS: Record<SecretKind, string> = {
  'pre-shared-key': 'pre-shared key',
  'eap-password': 'password',
  'pkcs12-passphrase': 'certificate passphrase',
  'private-key': 'certificate file (.p12)',
};

export function secretList(kinds: SecretKind[]): string {
  const names = kinds.map((k) => SECRET_LABELS[k]);
  if (names.length === 0) return 'password';
  if (names.length === 1) return names[0]!;
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

// The UI in headless Chromium against a scripted backend: import preview, connect flow, every
// error state, status updates, the log viewer, profile actions and keyboard use.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ErrorKind, FailureKind, UiError } from '../src/api';
import { explainError, explainFailure } from '../src/errors';
import { openApp, screenshot, startHarness, type AppPage, type Harness } from './browser';
import { HOME_ID, IMPORT_VIEW, LOG_LINES, OFFICE, OFFICE_ID, STATUS, snapshot } from './fixtures';

let harness: Harness;

beforeAll(async () => {
  harness = await startHarness();
});

afterAll(async () => {
  await harness?.close();
});

async function withApp(replies: Parameters<typeof openApp>[1], body: (app: AppPage) => Promise<void>, colorScheme?: 'light' | 'dark') {
  const app = await openApp(harness, replies, { colorScheme });
  try {
    await body(app);
  } finally {
    await app.close();
  }
}

async function waitForCall(app: AppPage, cmd: string, count = 1) {
  await expect.poll(async () => (await app.calls(cmd)).length, { timeout: 5000 }).toBeGreaterThanOrEqual(count);
  const calls = await app.calls(cmd);
  return calls[count - 1]!;
}

/** A file with a client certificate whose passphrase it does not carry. */
const CERT_IMPORT_VIEW = {
  ...IMPORT_VIEW,
  source: 'corp.sswan',
  profile: { ...OFFICE, auth: { method: 'certificate', label: 'Certificate', username: null } },
  secretsInFile: ['private-key' as const],
  missingSecrets: ['pkcs12-passphrase' as const],
};
const WRONG_PASSPHRASE_REPLY = {
  error: { kind: 'missing_secret' as const, code: 'wrong_passphrase', detail: 'does not open', secrets: ['pkcs12-passphrase' as const] },
};

describe('import preview', () => {
  test('shows everything the file contains and what Tern cannot honour, then saves with the password', async () => {
    await withApp(
      {
        snapshot: { value: snapshot({ pendingImports: [IMPORT_VIEW] }) },
        confirm_import: { value: OFFICE },
        list_profiles: { value: [OFFICE] },
      },
      async (app) => {
        const dialog = app.page.getByTestId('import-dialog');
        await dialog.waitFor();
        const text = await dialog.innerText();
        expect(text).toContain('Import office.sswan');
        expect(text).toContain('strongSwan profile (.sswan)');
        expect(text).toContain('Nothing is saved until you choose Import');
        expect(await app.page.getByTestId('fact-server').innerText()).toBe('vpn.example.com');
        expect(await app.page.getByTestId('fact-auth').innerText()).toContain('Username and password (EAP) as alice');
        const certs = await app.page.getByTestId('certificates').innerText();
        expect(certs).toContain('CN=Example Root CA, O=Example Corp');
        expect(certs).toContain('SHA-256 AB:CD:EF:01');
        expect(certs).toContain('valid until');
        const routes = await app.page.getByTestId('fact-routes').innerText();
        expect(routes).toContain('Only 10.0.0.0/8, 192.168.50.0/24 goes through the VPN');
        expect(routes).toContain('never 10.9.0.0/16');
        expect(await app.page.getByTestId('fact-dns').innerText()).toContain('10.0.0.53 (search corp.example.com)');
        const warnings = await app.page.getByTestId('import-warnings').innerText();
        expect(warnings).toContain('What Tern will not do as the file asks');
        expect(warnings).toContain('`3des` is not implemented by Tern');
        expect(await app.calls('confirm_import')).toHaveLength(0);
        await screenshot(app.page, 'import-preview');

        await app.page.getByTestId('import-name').fill('Office VPN');
        await app.page.getByTestId('secret-eap-password').fill('correct horse');
        await app.page.getByTestId('import-confirm').click();
        const call = await waitForCall(app, 'confirm_import');
        expect(call.args).toEqual({ token: 'import-1', name: 'Office VPN', secrets: { 'eap-password': 'correct horse' } });
        await dialog.waitFor({ state: 'detached' });
        await waitForCall(app, 'list_profiles');
        expect(await app.page.getByTestId('announcement').innerText()).toContain('Imported Office');
      },
    );
  });

  test('a file with a client certificate asks only for its passphrase and says where the certificate goes', async () => {
    await withApp(
      {
        snapshot: { value: snapshot({ pendingImports: [CERT_IMPORT_VIEW] }) },
        confirm_import: WRONG_PASSPHRASE_REPLY,
        list_profiles: { value: [OFFICE] },
      },
      async (app) => {
        const dialog = app.page.getByTestId('import-dialog');
        await dialog.waitFor();
        expect(await app.page.getByTestId('certificate-in-file').innerText()).toContain('keeps it encrypted');
        expect(await app.page.getByTestId('secrets-in-file').count()).toBe(0);
        expect(await dialog.innerText()).not.toContain('leave empty');
        // The file's certificate cannot be kept without its passphrase: no "Import without password".
        expect(await app.page.getByTestId('import-confirm').isDisabled()).toBe(true);
        expect(await app.page.getByTestId('import-confirm').innerText()).toBe('Import');
        await app.page.getByTestId('secret-pkcs12-passphrase').fill('wrong');
        await app.page.getByTestId('import-confirm').click();
        await waitForCall(app, 'confirm_import');
        expect(await app.page.getByTestId('import-error').innerText()).toContain('That passphrase does not open your client certificate');
        await app.reply('confirm_import', { value: OFFICE });
        await app.page.getByTestId('secret-pkcs12-passphrase').fill('tern-test');
        await app.page.getByTestId('import-confirm').click();
        const call = await waitForCall(app, 'confirm_import', 2);
        expect(call.args).toEqual({ token: 'import-1', name: 'Office', secrets: { 'pkcs12-passphrase': 'tern-test' } });
        await dialog.waitFor({ state: 'detached' });
      },
    );
  });

  test('a preview taller than the window keeps its buttons in reach, the content scrolling under them', async () => {
    // With the file's warnings and the certificate's passphrase, taller than the window.
    await withApp(
      {
        snapshot: { value: snapshot({ pendingImports: [CERT_IMPORT_VIEW] }) },
        confirm_import: WRONG_PASSPHRASE_REPLY,
      },
      async (app) => {
        const dialog = app.page.getByTestId('import-dialog');
        await dialog.waitFor();
        // Without scrolling (the real window's WebDriver does not scroll inside the dialog, and a
        // user should not have to look for the button).
        const boxes = await app.page.evaluate(() => {
          const box = (css: string) => document.querySelector(css)!.getBoundingClientRect();
          const d = document.querySelector('[data-testid="import-dialog"]')!;
          return { dialog: box('[data-testid="import-dialog"]'), button: box('[data-testid="import-confirm"]'), scrolls: d.scrollHeight > d.clientHeight };
        });
        expect(boxes.scrolls, 'the preview is taller than the window here').toBe(true);
        expect(boxes.button.top).toBeGreaterThanOrEqual(boxes.dialog.top);
        expect(boxes.button.bottom).toBeLessThanOrEqual(boxes.dialog.bottom);
        expect(boxes.button.bottom).toBeLessThanOrEqual(700);
        // A problem shown after Import is scrolled into view above the buttons, not under them.
        await app.page.getByTestId('secret-pkcs12-passphrase').fill('wrong');
        await app.page.getByTestId('import-confirm').click();
        await app.page.getByTestId('import-error').waitFor();
        await expect
          .poll(() =>
            app.page.evaluate(() => {
              const problem = document.querySelector('[data-testid="import-error"]')!.getBoundingClientRect();
              const buttons = document.querySelector('[data-testid="import-dialog"] .buttons')!.getBoundingClientRect();
              return problem.bottom <= buttons.top;
            }),
          )
          .toBe(true);
      },
    );
  });

  test('a file opened while the app runs arrives as an event; cancel saves nothing', async () => {
    await withApp({ snapshot: { value: snapshot() } }, async (app) => {
      await app.emit('tern://import', { ...IMPORT_VIEW, token: 'import-7', secretsInFile: ['eap-password'], missingSecrets: [], warnings: [], replaces: 'Office' });
      const dialog = app.page.getByTestId('import-dialog');
      await dialog.waitFor();
      expect(await dialog.innerText()).toContain('This replaces your profile “Office”');
      expect(await app.page.getByTestId('secrets-in-file').innerText()).toContain('moves it to the system keyring');
      expect(await app.page.getByTestId('import-warnings').count()).toBe(0);
      await app.page.getByRole('button', { name: 'Cancel' }).click();
      expect((await waitForCall(app, 'cancel_import')).args).toEqual({ token: 'import-7' });
      await dialog.waitFor({ state: 'detached' });
      expect(await app.calls('confirm_import')).toHaveLength(0);
    });
  });

  test('Import… picks a file and a file Tern cannot read is explained', async () => {
    await withApp(
      {
        snapshot: { value: snapshot() },
        'plugin:dialog|open': { value: '/home/alice/Downloads/notes.txt' },
        open_import: { error: { kind: 'import', code: 'unknown_format', detail: 'the file is not a .sswan, .mobileconfig or Tern profile' } },
      },
      async (app) => {
        await app.page.getByTestId('import-button').click();
        expect((await waitForCall(app, 'open_import')).args).toEqual({ path: '/home/alice/Downloads/notes.txt' });
        const problem = app.page.getByTestId('error');
        await problem.waitFor();
        expect(await problem.innerText()).toContain('This file is not a VPN profile Tern can read.');
        expect(await problem.innerText()).toContain('.sswan, .mobileconfig and .ternprofile');
      },
    );
  });

  test('a keyring failure on save keeps the import open and says what to do', async () => {
    await withApp(
      {
        snapshot: { value: snapshot({ pendingImports: [IMPORT_VIEW] }) },
        confirm_import: { error: { kind: 'keyring', code: 'no_storage_access', detail: 'Couldn’t access platform storage: locked' } },
      },
      async (app) => {
        await app.page.getByTestId('secret-eap-password').fill('pw');
        await app.page.getByTestId('import-confirm').click();
        const problem = app.page.getByTestId('import-error');
        await problem.waitFor();
        expect(await problem.innerText()).toContain('system keyring');
        expect(await app.page.getByTestId('import-dialog').isVisible()).toBe(true);
      },
    );
  });
});

describe('connect flow', () => {
  test('switch on, stages, connected with details, switch off', async () => {
    await withApp({ snapshot: { value: snapshot() } }, async (app) => {
      const badge = app.page.getByTestId('protection-badge');
      expect(await badge.innerText()).toBe('Not protected');
      const toggle = app.page.getByRole('switch', { name: 'Connect Office' });
      expect(await toggle.getAttribute('aria-checked')).toBe('false');
      await toggle.click();
      expect((await waitForCall(app, 'connect')).args).toEqual({ id: OFFICE_ID });

      for (const [stage, words] of [
        ['resolving', 'Looking up the server'],
        ['contacting_gateway', 'Contacting the server'],
        ['authenticating', 'Signing in'],
        ['configuring_network', 'Setting up the network'],
      ] as const) {
        await app.emit('tern://status', STATUS.connecting(stage));
        await expect.poll(() => app.page.getByTestId('status-headline').innerText()).toContain(words);
      }
      await app.emit('tern://status', STATUS.connected(1000, 500));
      await expect.poll(() => badge.innerText()).toBe('Protected');
      expect(await app.page.getByTestId('status-headline').innerText()).toBe('Connected — you are protected');
      expect(await app.page.getByTestId('status-gateway').innerText()).toBe('198.51.100.10');
      expect(await app.page.getByTestId('status-vip').innerText()).toBe('10.10.0.2');
      expect(await app.page.getByTestId('status-dns').innerText()).toContain('10.0.0.53 (corp.example.com)');
      expect(await app.page.getByTestId('status-suites').innerText()).toBe('IKE aes256gcm16-prfsha384-curve25519; ESP aes256gcm16');
      expect(await app.page.getByTestId('status-uptime').innerText()).toMatch(/^1:0\d$/);
      await expect.poll(async () => (await app.notifications()).map((n) => n.title)).toEqual(['Connected']);
      const on = app.page.getByRole('switch', { name: 'Disconnect Office' });
      expect(await on.getAttribute('aria-checked')).toBe('true');
      await screenshot(app.page, 'connected');

      await on.click();
      await waitForCall(app, 'disconnect');
      await app.emit('tern://status', STATUS.disconnected());
      await expect.poll(() => badge.innerText()).toBe('Not protected');
      // Going down because the user asked is not "unexpected".
      expect((await app.notifications()).map((n) => n.title)).toEqual(['Connected']);
    });
  });

  test('a missing password is asked for once, stored, then the connect goes ahead', async () => {
    await withApp(
      {
        snapshot: { value: snapshot() },
        connect: { error: { kind: 'missing_secret', code: null, detail: 'no password', secrets: ['eap-password'] } },
      },
      async (app) => {
        await app.page.getByRole('switch', { name: 'Connect Office' }).click();
        const dialog = app.page.getByTestId('secrets-dialog');
        await dialog.waitFor();
        expect(await dialog.innerText()).toContain('Sign in to Office');
        await app.reply('connect', { value: null });
        await app.page.getByTestId('secret-eap-password').fill('hunter2');
        await app.page.getByTestId('secrets-save').click();
        expect((await waitForCall(app, 'save_secrets')).args).toEqual({ id: OFFICE_ID, secrets: { 'eap-password': 'hunter2' } });
        await waitForCall(app, 'connect', 2);
        await dialog.waitFor({ state: 'detached' });
      },
    );
  });

  test('a certificate passphrase that no longer fits is asked for again; a new certificate file may have none', async () => {
    await withApp(
      {
        snapshot: { value: snapshot() },
        connect: WRONG_PASSPHRASE_REPLY,
      },
      async (app) => {
        await app.page.getByRole('switch', { name: 'Connect Office' }).click();
        const dialog = app.page.getByTestId('secrets-dialog');
        await dialog.waitFor();
        expect(await app.page.getByTestId('secrets-reason').innerText()).toContain('does not open your client certificate');
        expect(await app.page.getByTestId('secrets-save').isDisabled()).toBe(true);
        await app.page.getByTestId('secret-pkcs12-passphrase').fill('tern-test');
        await app.reply('connect', { value: null });
        await app.page.getByTestId('secrets-save').click();
        expect((await waitForCall(app, 'save_secrets')).args).toEqual({ id: OFFICE_ID, secrets: { 'pkcs12-passphrase': 'tern-test' } });
        await waitForCall(app, 'connect', 2);
        await dialog.waitFor({ state: 'detached' });
      },
    );
    await withApp({ snapshot: { value: snapshot() } }, async (app) => {
      await app.emit('tern://need-secrets', { profileId: OFFICE_ID, secrets: ['private-key', 'pkcs12-passphrase'] });
      const dialog = app.page.getByTestId('secrets-dialog');
      await dialog.waitFor();
      expect(await dialog.innerText()).toContain('Certificate file (.p12)');
      expect(await dialog.innerText()).toContain('leave empty if it has none');
      // The file must be chosen; the passphrase may stay empty.
      expect(await app.page.getByTestId('secrets-save').isDisabled()).toBe(true);
    });
  });

  test('a tray action that needs a password opens the prompt', async () => {
    await withApp({ snapshot: { value: snapshot() } }, async (app) => {
      await app.emit('tern://need-secrets', { profileId: HOME_ID, secrets: ['pre-shared-key'] });
      const dialog = app.page.getByTestId('secrets-dialog');
      await dialog.waitFor();
      expect(await dialog.innerText()).toContain('Sign in to Home lab');
      expect(await dialog.innerText()).toContain('Pre-shared key');
    });
  });

  test('connect on start, once the helper is reachable', async () => {
    const settings = { launchAtLogin: false, connectOnStart: HOME_ID, reconnect: 'automatically', notifications: true };
    await withApp({ snapshot: { value: snapshot({ settings: settings as never }) } }, async (app) => {
      expect((await waitForCall(app, 'connect')).args).toEqual({ id: HOME_ID });
    });
  });
});

const ALL_ERRORS: UiError[] = [
  { kind: 'helper_not_running', code: null, detail: 'cannot reach the Tern helper at /run/tern/ternd.sock: No such file or directory' },
  { kind: 'helper_permission', code: null, detail: 'cannot reach the Tern helper at /run/tern/ternd.sock: Permission denied' },
  { kind: 'helper_unreachable', code: null, detail: 'cannot reach the Tern helper: Connection reset' },
  { kind: 'helper_connection_lost', code: null, detail: 'the Tern helper closed the connection' },
  { kind: 'helper_version', code: null, detail: 'the Tern helper speaks protocol version 2, this client 1' },
  { kind: 'helper_timeout', code: null, detail: 'the Tern helper did not answer in time' },
  { kind: 'helper_protocol', code: null, detail: 'malformed message: expected value' },
  ...['unsupported_version', 'invalid_request', 'invalid_profile', 'missing_secret', 'not_connected', 'already_connected', 'permission_denied', 'internal'].map(
    (code): UiError => ({ kind: 'refused', code, detail: `refused: ${code}` }),
  ),
  { kind: 'import', code: 'unsupported_version', detail: 'format version 9' },
  { kind: 'store', code: 'io', detail: 'writing /home/alice/.config/tern/profiles/x.json: No space left on device' },
  { kind: 'store', code: 'not_found', detail: 'no profile with id x' },
  { kind: 'keyring', code: 'platform_failure', detail: 'Platform failure: org.freedesktop.DBus.Error.ServiceUnknown' },
  { kind: 'not_found', code: 'import_gone', detail: 'no pending import import-3' },
  { kind: 'invalid', code: 'bad_link', detail: 'the link carries no profile' },
  { kind: 'io', code: null, detail: 'reading /tmp/x: Permission denied' },
];

describe('every error state', () => {
  test('every kind of error has a sentence and a fix', () => {
    const kinds: ErrorKind[] = [
      'helper_not_running', 'helper_permission', 'helper_unreachable', 'helper_connection_lost', 'helper_version', 'helper_timeout',
      'helper_protocol', 'refused', 'import', 'store', 'keyring', 'missing_secret', 'not_found', 'invalid', 'io',
    ];
    for (const kind of kinds) {
      const e = explainError({ kind, code: 'something_new', detail: 'd' });
      expect(e.summary.length, kind).toBeGreaterThan(10);
      expect(e.fix.length, kind).toBeGreaterThan(10);
      expect(e.detail).toBe('d');
    }
  });

  test('command failures are shown in words, with the detail behind "Details"', async () => {
    await withApp({ snapshot: { value: snapshot() } }, async (app) => {
      for (const error of ALL_ERRORS) {
        await app.reply('connect', { error });
        await app.page.getByRole('switch', { name: 'Connect Office' }).click();
        const problem = app.page.getByTestId('error');
        const expected = explainError(error);
        await expect.poll(() => problem.innerText(), { timeout: 5000 }).toContain(expected.summary);
        const text = await problem.innerText();
        expect(text, error.kind).toContain(expected.fix);
        expect(await problem.locator('.problem-detail').isVisible()).toBe(false);
        await problem.locator('summary').click();
        expect(await problem.locator('.problem-detail').innerText()).toBe(error.detail);
        if (error.kind === 'helper_permission') {
          expect(text).toContain('group tern');
          await screenshot(app.page, 'error-permission');
        }
        await problem.getByRole('button', { name: 'Dismiss' }).click();
        await problem.waitFor({ state: 'detached' });
      }
    });
  });

  test('a helper that is not running or not reachable is explained with its fix', async () => {
    for (const [kind, words] of [
      ['helper_not_running', 'systemctl enable --now ternd'],
      ['helper_permission', 'Add yourself to the group tern'],
    ] as const) {
      const helper = { reachable: false, server: null, error: { kind, code: null, detail: 'cannot reach the Tern helper' } };
      await withApp({ snapshot: { value: snapshot({ helper, status: null }) } }, async (app) => {
        const banner = app.page.getByTestId('helper-problem');
        await banner.waitFor();
        expect(await banner.innerText()).toContain(words);
        expect(await app.page.getByRole('switch').isDisabled()).toBe(true);
        if (kind === 'helper_not_running') await screenshot(app.page, 'helper-not-running');
        // The helper comes up: the banner goes away and the switch works.
        await app.emit('tern://helper', { reachable: true, server: 'ternd 0.1.0', error: null });
        await banner.waitFor({ state: 'detached' });
        expect(await app.page.getByRole('switch').isDisabled()).toBe(false);
      });
    }
  });

  test('every connection failure is worded, and notified', async () => {
    const kinds: FailureKind[] = [
      'gateway_unreachable', 'authentication_failed', 'server_certificate_rejected', 'no_common_proposal',
      'protocol_error', 'local_system', 'invalid_profile', 'internal',
    ];
    await withApp({ snapshot: { value: snapshot() } }, async (app) => {
      for (const kind of kinds) {
        await app.emit('tern://status', STATUS.connecting('contacting_gateway'));
        await app.emit('tern://status', STATUS.failed(kind, `helper says: ${kind}`));
        const expected = explainFailure({ kind, message: `helper says: ${kind}` });
        const failure = app.page.getByTestId('failure');
        await expect.poll(() => failure.innerText()).toContain(expected.summary);
        expect(await failure.innerText()).toContain(expected.fix);
        expect(await app.page.getByTestId('status-headline').innerText()).toContain(expected.summary);
        if (kind === 'authentication_failed') await screenshot(app.page, 'failed-authentication');
      }
      const notes = await app.notifications();
      expect(notes).toHaveLength(kinds.length);
      expect(notes.every((n) => n.title === 'Could not connect')).toBe(true);
    });
  });

  test('a refused sign-in offers to enter the password again, which stores it and reconnects', async () => {
    await withApp({ snapshot: { value: snapshot() }, connect: { value: null } }, async (app) => {
      await app.emit('tern://status', STATUS.connecting('authenticating'));
      await app.emit('tern://status', { ...STATUS.failed('authentication_failed', 'EAP failure'), profile: { uuid: OFFICE_ID, name: 'Office' } });
      await app.page.getByTestId('failure-password').click();
      const dialog = app.page.getByTestId('secrets-dialog');
      await dialog.waitFor();
      expect(await dialog.innerText()).toContain('Sign in to Office');
      await app.page.getByTestId('secret-eap-password').fill('the right one');
      await app.page.getByTestId('secrets-save').click();
      expect((await waitForCall(app, 'save_secrets')).args).toEqual({ id: OFFICE_ID, secrets: { 'eap-password': 'the right one' } });
      expect((await waitForCall(app, 'connect')).args).toEqual({ id: OFFICE_ID });
      // Other failures are not about the password: no such button.
      await app.emit('tern://status', STATUS.failed('gateway_unreachable', 'no answer'));
      await expect.poll(() => app.page.getByTestId('failure').innerText()).toContain(explainFailure({ kind: 'gateway_unreachable', message: '' }).summary);
      expect(await app.page.getByTestId('failure-password').count()).toBe(0);
      // No live graph without a tunnel.
      expect(await app.page.getByTestId('traffic-graph').count()).toBe(0);
    });
  });

  test('errors reported outside a command (tray, files) are shown too', async () => {
    await withApp({ snapshot: { value: snapshot() } }, async (app) => {
      await app.emit('tern://error', { kind: 'io', code: null, detail: 'reading /tmp/gone.sswan: No such file or directory' });
      const problem = app.page.getByTestId('error');
      await problem.waitFor();
      expect(await problem.innerText()).toContain('Tern could not read or write a file.');
    });
  });
});

describe('status updates', () => {
  test('traffic, rates and the live graph follow the helper; drops and reconnects are notified', async () => {
    await withApp({ snapshot: { value: snapshot({ status: STATUS.connected(0, 0) }) } }, async (app) => {
      expect(await app.page.getByTestId('protection-badge').innerText()).toBe('Protected');
      for (let i = 1; i <= 4; i++) {
        await app.page.waitForTimeout(250);
        await app.emit('tern://status', STATUS.connected(i * 150_000, i * 20_000));
      }
      await expect.poll(() => app.page.getByTestId('status-traffic').innerText()).toContain('↓ 600 KB in · ↑ 80 KB out');
      expect(await app.page.getByTestId('status-rate').innerText()).toMatch(/now ↓ [\d.]+ KB\/s/);
      const points = await app.page.locator('[data-testid=traffic-graph] polyline.rx').getAttribute('points');
      expect(points?.split(' ').length).toBe(4);
      await screenshot(app.page, 'status-traffic');

      await app.emit('tern://status', STATUS.reconnecting());
      await expect.poll(() => app.page.getByTestId('status-headline').innerText()).toContain('Connection lost — reconnecting (attempt 1)');
      expect(await app.page.getByTestId('protection-badge').innerText()).toBe('Not protected');
      await app.emit('tern://status', STATUS.connected(0, 0));
      await expect.poll(async () => (await app.notifications()).map((n) => n.title)).toEqual(['VPN disconnected unexpectedly', 'Reconnected']);
    });
  });

  test('a drop the helper gives up on is reconnected by the app when the user wants that', async () => {
    await withApp({ snapshot: { value: snapshot({ status: STATUS.connected(0, 0) }) } }, async (app) => {
      await app.emit('tern://status', STATUS.failed('gateway_unreachable', 'the gateway stopped answering'));
      await expect.poll(async () => (await app.notifications())[0]?.title).toBe('VPN disconnected unexpectedly');
      // The app's own retry comes after a short pause.
      expect((await waitForCall(app, 'connect')).args).toEqual({ id: OFFICE_ID });
      await app.emit('tern://status', STATUS.connecting('authenticating'));
      await app.emit('tern://status', STATUS.connected(0, 0));
      await expect.poll(async () => (await app.notifications()).map((n) => n.title)).toEqual(['VPN disconnected unexpectedly', 'Reconnected']);
    });
  });

  test('with reconnect off, a drop is only reported', async () => {
    const settings = { launchAtLogin: false, connectOnStart: null, reconnect: 'never', notifications: true };
    await withApp({ snapshot: { value: snapshot({ status: STATUS.connected(0, 0), settings: settings as never }) } }, async (app) => {
      await app.emit('tern://status', STATUS.disconnected());
      await expect.poll(async () => (await app.notifications())[0]?.title).toBe('VPN disconnected unexpectedly');
      await app.page.waitForTimeout(2500);
      expect(await app.calls('connect')).toHaveLength(0);
    });
  });
});

describe('log viewer', () => {
  test('shows the helper log with a level filter, follows new lines, copies and exports', async () => {
    await withApp(
      {
        snapshot: { value: snapshot() },
        logs: { value: LOG_LINES },
        'plugin:dialog|save': { value: '/home/alice/tern-log.txt' },
        save_text: { value: null },
      },
      async (app) => {
        await app.page.getByRole('tab', { name: 'Log' }).click();
        const lines = app.page.getByTestId('log-lines');
        await expect.poll(() => lines.innerText()).toContain('connecting profile Office');
        let text = await lines.innerText();
        expect(text).not.toContain('sent IKE_SA_INIT'); // debug is hidden at "information"
        expect(text).toContain('retransmitting IKE_SA_INIT');
        await app.page.getByTestId('log-level').selectOption('error');
        text = await lines.innerText();
        expect(text).toContain('gateway did not answer');
        expect(text).not.toContain('retransmitting');
        await app.page.getByTestId('log-level').selectOption('trace');
        expect(await lines.innerText()).toContain('sent IKE_SA_INIT');

        await app.emit('tern://log', [{ seq: 5, unix_ms: 1_764_300_002_000, level: 'info', target: 'ternd::controller', message: 'tunnel up' }]);
        await expect.poll(() => lines.innerText()).toContain('tunnel up');
        // A line seen before is not shown twice.
        await app.emit('tern://log', [LOG_LINES[3]]);
        await app.page.waitForTimeout(100);
        expect((await lines.innerText()).split('gateway did not answer').length).toBe(2);
        await screenshot(app.page, 'log');

        await app.page.getByTestId('log-copy').click();
        await expect.poll(async () => (await app.clipboard()).length).toBe(1);
        const copied = (await app.clipboard())[0]!;
        expect(copied.split('\n')).toHaveLength(5);
        expect(copied).toContain('ERROR ternd::ike: gateway did not answer');

        await app.page.getByTestId('log-export').click();
        const save = await waitForCall(app, 'save_text');
        expect(save.args.path).toBe('/home/alice/tern-log.txt');
        expect(save.args.contents).toBe(copied);
        await expect.poll(() => app.page.getByTestId('log-message').innerText()).toContain('Saved 5 lines');
      },
    );
  });

  test('a log that cannot be loaded says why', async () => {
    await withApp(
      { snapshot: { value: snapshot() }, logs: { error: { kind: 'helper_permission', code: null, detail: 'Permission denied' } } },
      async (app) => {
        await app.page.getByRole('tab', { name: 'Log' }).click();
        await expect.poll(() => app.page.locator('.log').innerText()).toContain('group tern');
      },
    );
  });
});

describe('profiles, settings and keyboard', () => {
  test('add, edit, duplicate, export and delete', async () => {
    const copy = { ...OFFICE, id: '11111111-2222-4333-8444-555555555555', name: 'Office (copy)' };
    await withApp(
      {
        snapshot: { value: snapshot() },
        list_profiles: { value: [OFFICE] },
        create_profile: { value: OFFICE },
        update_profile: { value: OFFICE },
        duplicate_profile: { value: copy },
        delete_profile: { value: null },
        export_profile: { value: null },
        'plugin:dialog|save': { value: '/home/alice/Office.ternprofile' },
      },
      async (app) => {
        await app.page.getByTestId('add-button').click();
        await app.page.getByTestId('edit-name').fill('Lab');
        await app.page.getByTestId('edit-gateway').fill('vpn.lab.example');
        await app.page.getByTestId('edit-username').fill('bob');
        await app.page.getByTestId('edit-save').click();
        const created = await waitForCall(app, 'create_profile');
        expect(created.args.draft).toMatchObject({ name: 'Lab', gateway: 'vpn.lab.example', auth: 'eap-mschapv2', username: 'bob', port: 500 });

        await app.page.getByRole('tab', { name: 'Profile' }).click();
        await app.page.getByTestId('edit-button').click();
        await app.page.getByTestId('edit-name').fill('Office 2');
        await app.page.getByTestId('edit-save').click();
        const updated = await waitForCall(app, 'update_profile');
        expect(updated.args).toMatchObject({ id: OFFICE_ID, draft: { name: 'Office 2' } });

        await app.reply('list_profiles', { value: [OFFICE, copy] });
        await app.page.getByTestId('duplicate-button').click();
        expect((await waitForCall(app, 'duplicate_profile')).args).toEqual({ id: OFFICE_ID });
        await app.page.getByTestId('export-button').click();
        expect((await waitForCall(app, 'export_profile')).args).toEqual({ id: copy.id, path: '/home/alice/Office.ternprofile' });

        await app.page.getByTestId('delete-button').click();
        await app.page.getByTestId('confirm-delete-yes').click();
        expect((await waitForCall(app, 'delete_profile')).args).toEqual({ id: copy.id });
      },
    );
  });

  test('settings are saved as they change', async () => {
    await withApp(
      { snapshot: { value: snapshot() }, set_settings: { value: { launchAtLogin: true, connectOnStart: null, reconnect: 'automatically', notifications: true } } },
      async (app) => {
        await app.page.getByRole('tab', { name: 'Settings' }).click();
        await app.page.getByTestId('set-autostart').check();
        const call = await waitForCall(app, 'set_settings');
        expect(call.args.settings).toMatchObject({ launchAtLogin: true });
        await screenshot(app.page, 'settings');
      },
    );
  });

  test('keyboard: tabs with arrow keys, profiles with arrow keys, Enter connects', async () => {
    await withApp({ snapshot: { value: snapshot() } }, async (app) => {
      const page = app.page;
      await page.getByRole('tab', { name: 'Status' }).focus();
      await page.keyboard.press('ArrowRight');
      expect(await page.getByRole('tab', { name: 'Profile' }).getAttribute('aria-selected')).toBe('true');
      await page.keyboard.press('ArrowLeft');
      expect(await page.getByRole('tab', { name: 'Status' }).getAttribute('aria-selected')).toBe('true');
      await page.locator(`#profile-${OFFICE_ID}`).focus();
      await page.keyboard.press('ArrowDown');
      expect(await page.evaluate(() => document.activeElement?.id)).toBe(`profile-${HOME_ID}`);
      const toggle = page.getByRole('switch', { name: 'Connect Home lab' });
      await toggle.focus();
      await page.keyboard.press('Enter');
      expect((await waitForCall(app, 'connect')).args).toEqual({ id: HOME_ID });
    });
  });

  test('dark theme follows the OS', async () => {
    await withApp(
      { snapshot: { value: snapshot({ status: STATUS.connected(0, 0) }) } },
      async (app) => {
        const bg = await app.page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--bg').trim());
        expect(bg).toBe('#111418');
        await screenshot(app.page, 'connected-dark');
      },
      'dark',
    );
  });
});

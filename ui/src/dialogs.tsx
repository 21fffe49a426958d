// The import preview, the password prompt and the profile editor.
import { open } from '@tauri-apps/plugin-dialog';
import { useState } from 'preact/hooks';
import { api, asUiError, type EnteredSecrets, type ImportView, type ProfileDetails, type ProfileDraft, type SecretKind, type UiError } from './api';
import { SECRET_LABELS } from './errors';
import { ErrorNotice, Modal } from './widgets';

const FORMAT_NAMES: Record<ImportView['format'], string> = {
  sswan: 'strongSwan profile (.sswan)',
  mobileconfig: 'Apple configuration profile (.mobileconfig)',
  tern: 'Tern profile',
};

/**
 * Whether a secret may be left empty: the passphrase that goes with a newly chosen certificate file
 * (many bundles have none; Tern tries without one).
 */
export function optionalSecret(kind: SecretKind, kinds: SecretKind[]): boolean {
  return kind === 'pkcs12-passphrase' && kinds.includes('private-key');
}

/** Inputs for the secrets a profile needs; the values are kept only until submitted. */
function SecretFields(props: { kinds: SecretKind[]; values: EnteredSecrets; onChange: (v: EnteredSecrets) => void }) {
  const set = (kind: SecretKind, value: string) => props.onChange({ ...props.values, [kind]: value });
  return (
    <>
      {props.kinds.map((kind) =>
        kind === 'private-key' ? (
          <div class="field" key={kind}>
            <span class="label" id={`secret-${kind}-label`}>
              {capitalize(SECRET_LABELS[kind])}
            </span>
            <button
              type="button"
              aria-describedby={`secret-${kind}-label`}
              onClick={async () => {
                const path = await open({ multiple: false, directory: false, filters: [{ name: 'PKCS#12 bundle', extensions: ['p12', 'pfx'] }] });
                if (typeof path === 'string') set(kind, path);
              }}
            >
              {props.values[kind] ? `Chosen: ${basename(props.values[kind]!)}` : 'Choose file…'}
            </button>
          </div>
        ) : (
          <label class="field" key={kind}>
            <span class="label">
              {capitalize(SECRET_LABELS[kind])}
              {optionalSecret(kind, props.kinds) && <span class="muted"> (leave empty if it has none)</span>}
            </span>
            <input
              type="password"
              autocomplete="off"
              name={kind}
              data-testid={`secret-${kind}`}
              value={props.values[kind] ?? ''}
              onInput={(e) => set(kind, (e.target as HTMLInputElement).value)}
            />
          </label>
        ),
      )}
    </>
  );
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function basename(path: string): string {
  return path.split(/[\\/]/).pop() ?? path;
}

/** Everything a profile contains, as a definition list. */
export function ProfileFacts(props: { profile: ProfileDetails }) {
  const p = props.profile;
  const routes = p.routes;
  return (
    <dl class="facts" data-testid="profile-facts">
      <dt>Server</dt>
      <dd data-testid="fact-server">
        {p.gateway}
        {p.port !== 500 ? `:${p.port}` : ''}
      </dd>
      <dt>Server identity</dt>
      <dd>{p.remoteIdentity ?? 'the server address'}</dd>
      {p.serverName && (
        <>
          <dt>Server certificate name</dt>
          <dd>{p.serverName}</dd>
        </>
      )}
      <dt>Your identity</dt>
      <dd>{p.localIdentity ?? (p.auth.username ? p.auth.username : 'from your credentials')}</dd>
      <dt>Sign-in</dt>
      <dd data-testid="fact-auth">
        {p.auth.label}
        {p.auth.username ? ` as ${p.auth.username}` : ''}
      </dd>
      <dt>Certificates</dt>
      <dd>
        {p.certificates.length === 0 ? (
          'the system’s trusted authorities'
        ) : (
          <ul class="certs" data-testid="certificates">
            {p.certificates.map((c) => (
              <li key={c.sha256}>
                <span class="cert-role">{c.role === 'ca' ? 'Trusted authority' : 'Pinned server certificate'}: </span>
                <span class="cert-subject">{c.subject ?? 'unreadable certificate'}</span>
                {c.notAfter && <span class="cert-expiry"> (valid until {c.notAfter})</span>}
                <br />
                <span class="fingerprint" aria-label="SHA-256 fingerprint">
                  SHA-256 {c.sha256}
                </span>
                {c.problem && <span class="cert-problem"> — {c.problem}</span>}
              </li>
            ))}
          </ul>
        )}
      </dd>
      <dt>Routes</dt>
      <dd data-testid="fact-routes">
        {routes.fullTunnel ? 'All traffic goes through the VPN' : `Only ${routes.include.join(', ')} goes through the VPN`}
        {routes.exclude.length > 0 && `; never ${routes.exclude.join(', ')}`}
        {routes.ipv6 !== 'tunnel' && `; IPv6 is ${routes.ipv6 === 'block' ? 'blocked' : 'left outside the VPN'}`}
      </dd>
      <dt>DNS</dt>
      <dd data-testid="fact-dns">
        {p.dns.servers.length > 0 ? p.dns.servers.join(', ') : 'from the server'}
        {p.dns.searchDomains.length > 0 && ` (search ${p.dns.searchDomains.join(', ')})`}
      </dd>
    </dl>
  );
}

/** The import screen: what the file contains and what Tern cannot honour, before anything is saved. */
export function ImportDialog(props: { view: ImportView; onDone: (saved: ProfileDetails | null) => void }) {
  const { view } = props;
  const [name, setName] = useState(view.profile.name);
  const [secrets, setSecrets] = useState<EnteredSecrets>({});
  const [error, setError] = useState<UiError | null>(null);
  const [busy, setBusy] = useState(false);
  const missing = view.missingSecrets.filter((k) => !secrets[k] && !optionalSecret(k, view.missingSecrets));
  const moved = view.secretsInFile.filter((k) => k !== 'private-key' && k !== 'pkcs12-passphrase');
  const carriesCertificate = view.secretsInFile.includes('private-key');
  // The certificate the file carries cannot be kept without its passphrase (the file had none
  // that opens it), so there is no importing without it.
  const needsPassphrase = carriesCertificate && missing.includes('pkcs12-passphrase');
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      const saved = await api.confirmImport(view.token, name.trim() || null, secrets);
      setSecrets({});
      props.onDone(saved);
    } catch (err) {
      setError(asUiError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal
      title={`Import ${view.source}`}
      wide
      testId="import-dialog"
      onClose={() => {
        void api.cancelImport(view.token);
        props.onDone(null);
      }}
    >
      <form onSubmit={submit}>
        <p class="muted">
          {FORMAT_NAMES[view.format]}. Nothing is saved until you choose Import.
          {view.replaces && <strong> This replaces your profile “{view.replaces}”.</strong>}
        </p>
        <label class="field">
          <span class="label">Name</span>
          <input value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} data-testid="import-name" />
        </label>
        <ProfileFacts profile={view.profile} />
        {view.warnings.length > 0 && (
          <section class="warnings" aria-labelledby="warnings-title" data-testid="import-warnings">
            <h3 id="warnings-title">What Tern will not do as the file asks</h3>
            <ul>
              {view.warnings.map((w, i) => (
                <li key={i}>{w.text}</li>
              ))}
            </ul>
          </section>
        )}
        {moved.length > 0 && (
          <p class="muted" data-testid="secrets-in-file">
            The file contains your {moved.map((k) => SECRET_LABELS[k]).join(' and ')}; Tern moves it to the system keyring.
          </p>
        )}
        {carriesCertificate && (
          <p class="muted" data-testid="certificate-in-file">
            The file contains your client certificate. Tern keeps it encrypted with your profiles, under a key held in the system
            keyring.
          </p>
        )}
        {view.missingSecrets.length > 0 && (
          <fieldset>
            <legend>Enter once — Tern keeps it in the system keyring</legend>
            <SecretFields kinds={view.missingSecrets} values={secrets} onChange={setSecrets} />
          </fieldset>
        )}
        {error && <ErrorNotice error={error} testId="import-error" />}
        <div class="buttons">
          <button
            type="button"
            onClick={() => {
              void api.cancelImport(view.token);
              props.onDone(null);
            }}
          >
            Cancel
          </button>
          <button type="submit" class="primary" disabled={busy || needsPassphrase} data-testid="import-confirm">
            {missing.length > 0 && !needsPassphrase ? 'Import without password' : 'Import'}
          </button>
        </div>
      </form>
    </Modal>
  );
}

/** Asks for the secrets a profile lacks, stores them, then (optionally) connects. */
export function SecretsDialog(props: { profile: ProfileDetails; kinds: SecretKind[]; reason?: string | null; onDone: (saved: boolean) => void }) {
  const [secrets, setSecrets] = useState<EnteredSecrets>({});
  const [error, setError] = useState<UiError | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      await api.saveSecrets(props.profile.id, secrets);
      setSecrets({});
      props.onDone(true);
    } catch (err) {
      setError(asUiError(err));
    }
  };
  return (
    <Modal title={`Sign in to ${props.profile.name}`} onClose={() => props.onDone(false)} testId="secrets-dialog">
      <form onSubmit={submit}>
        {props.reason && (
          <p class="warnings" role="alert" data-testid="secrets-reason">
            {props.reason}
          </p>
        )}
        <p class="muted">Enter it once; Tern keeps it in the system keyring.</p>
        <SecretFields kinds={props.kinds} values={secrets} onChange={setSecrets} />
        {error && <ErrorNotice error={error} />}
        <div class="buttons">
          <button type="button" onClick={() => props.onDone(false)}>
            Cancel
          </button>
          <button type="submit" class="primary" data-testid="secrets-save" disabled={props.kinds.some((k) => !secrets[k] && !optionalSecret(k, props.kinds))}>
            Save and connect
          </button>
        </div>
      </form>
    </Modal>
  );
}

/** Add or edit a profile. */
export function ProfileEditor(props: { profile: ProfileDetails | null; onDone: (saved: ProfileDetails | null) => void }) {
  const p = props.profile;
  const [draft, setDraft] = useState<ProfileDraft>({
    name: p?.name ?? '',
    gateway: p?.gateway ?? '',
    port: p?.port ?? 500,
    remoteIdentity: p?.remoteIdentity ?? '',
    auth: (p?.auth.method as ProfileDraft['auth']) ?? 'eap-mschapv2',
    username: p?.auth.username ?? '',
  });
  const [error, setError] = useState<UiError | null>(null);
  const set = (patch: Partial<ProfileDraft>) => setDraft({ ...draft, ...patch });
  const usesUsername = draft.auth === 'eap-mschapv2' || p?.auth.method === 'certificate-eap';
  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      const saved = p ? await api.updateProfile(p.id, draft) : await api.createProfile(draft);
      props.onDone(saved);
    } catch (err) {
      setError(asUiError(err));
    }
  };
  return (
    <Modal title={p ? `Edit ${p.name}` : 'Add a profile'} onClose={() => props.onDone(null)} testId="profile-editor">
      <form onSubmit={submit}>
        <label class="field">
          <span class="label">Name</span>
          <input required value={draft.name} onInput={(e) => set({ name: (e.target as HTMLInputElement).value })} data-testid="edit-name" />
        </label>
        <label class="field">
          <span class="label">Server address</span>
          <input required value={draft.gateway} onInput={(e) => set({ gateway: (e.target as HTMLInputElement).value })} data-testid="edit-gateway" />
        </label>
        <label class="field">
          <span class="label">Port</span>
          <input type="number" min={1} max={65535} value={draft.port ?? 500} onInput={(e) => set({ port: Number((e.target as HTMLInputElement).value) || null })} />
        </label>
        <label class="field">
          <span class="label">Server identity (optional)</span>
          <input value={draft.remoteIdentity ?? ''} onInput={(e) => set({ remoteIdentity: (e.target as HTMLInputElement).value })} />
        </label>
        {!p && (
          <label class="field">
            <span class="label">Sign-in</span>
            <select value={draft.auth} onChange={(e) => set({ auth: (e.target as HTMLSelectElement).value as ProfileDraft['auth'] })}>
              <option value="eap-mschapv2">Username and password</option>
              <option value="psk">Pre-shared key</option>
            </select>
          </label>
        )}
        {usesUsername && (
          <label class="field">
            <span class="label">Username</span>
            <input value={draft.username ?? ''} onInput={(e) => set({ username: (e.target as HTMLInputElement).value })} data-testid="edit-username" />
          </label>
        )}
        {error && <ErrorNotice error={error} />}
        <div class="buttons">
          <button type="button" onClick={() => props.onDone(null)}>
            Cancel
          </button>
          <button type="submit" class="primary" data-testid="edit-save">
            Save
          </button>
        </div>
      </form>
    </Modal>
  );
}

/** Asks before deleting. */
export function ConfirmDelete(props: { profile: ProfileDetails; onDone: (confirmed: boolean) => void }) {
  return (
    <Modal title={`Delete ${props.profile.name}?`} onClose={() => props.onDone(false)} testId="confirm-delete">
      <p>The profile and its saved password are removed from this computer.</p>
      <div class="buttons">
        <button type="button" onClick={() => props.onDone(false)}>
          Keep
        </button>
        <button type="button" class="danger" onClick={() => props.onDone(true)} data-testid="confirm-delete-yes">
          Delete
        </button>
      </div>
    </Modal>
  );
}

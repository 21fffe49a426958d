// The main window: profile list, connect switch and live status, log, settings; import and
// password dialogs; plain-words errors; notifications on status changes.
import { open, save } from '@tauri-apps/plugin-dialog';
import { isPermissionGranted, requestPermission } from '@tauri-apps/plugin-notification';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import {
  api,
  asUiError,
  subscribe,
  type HelperView,
  type ImportView,
  type LogLine,
  type ProfileDetails,
  type SecretKind,
  type Settings,
  type Status,
  type UiError,
} from './api';
import { ConfirmDelete, ImportDialog, ProfileEditor, ProfileFacts, SecretsDialog } from './dialogs';
import { WRONG_PASSPHRASE } from './errors';
import { isActive, isProtected, noticeFor, type Notice } from './format';
import { LogView, SettingsView, StatusView, type Sample } from './views';
import { ErrorNotice } from './widgets';

type Tab = 'status' | 'profile' | 'log' | 'settings';
const TABS: { id: Tab; label: string }[] = [
  { id: 'status', label: 'Status' },
  { id: 'profile', label: 'Profile' },
  { id: 'log', label: 'Log' },
  { id: 'settings', label: 'Settings' },
];
const MAX_LOG_LINES = 5000;
const MAX_RECONNECTS = 3;

const DEFAULT_SETTINGS: Settings = { launchAtLogin: false, connectOnStart: null, reconnect: 'automatically', notifications: true };

async function notify(notice: Notice) {
  try {
    let granted = await isPermissionGranted();
    if (!granted) granted = (await requestPermission()) === 'granted';
    if (granted) await api.showNotification(notice.title, notice.body);
  } catch {
    // Notifications are a courtesy; the window shows the same state.
  }
}

export function App() {
  const [loaded, setLoaded] = useState(false);
  const [helper, setHelper] = useState<HelperView>({ reachable: false, server: null, error: null });
  const [status, setStatus] = useState<Status | null>(null);
  const [profiles, setProfiles] = useState<ProfileDetails[]>([]);
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [settings, setSettings] = useState<Settings>(DEFAULT_SETTINGS);
  const [version, setVersion] = useState('');
  const [imports, setImports] = useState<ImportView[]>([]);
  const [logs, setLogs] = useState<LogLine[]>([]);
  const [logError, setLogError] = useState<UiError | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [secretsPrompt, setSecretsPrompt] = useState<{ profileId: string; kinds: SecretKind[]; reason?: string | null } | null>(null);
  const [editor, setEditor] = useState<{ profile: ProfileDetails | null } | null>(null);
  const [deleting, setDeleting] = useState<ProfileDetails | null>(null);
  const [tab, setTab] = useState<Tab>('status');
  const [busy, setBusy] = useState(false);
  const [samples, setSamples] = useState<Sample[]>([]);
  const [announcement, setAnnouncement] = useState('');

  // What the status-change logic needs between events, without re-rendering.
  const prevStatus = useRef<Status | null>(null);
  const userStopped = useRef(false);
  const lost = useRef(false);
  const lastProfileId = useRef<string | null>(null);
  const reconnects = useRef(0);
  const lastTraffic = useRef<{ t: number; rx: number; tx: number } | null>(null);
  const settingsRef = useRef(settings);
  settingsRef.current = settings;
  const startedConnect = useRef(false);

  const reloadProfiles = useCallback(async () => {
    try {
      const list = await api.listProfiles();
      setProfiles(list);
      setSelectedId((current) => (current && list.some((p) => p.id === current) ? current : (list[0]?.id ?? null)));
    } catch (e) {
      setError(asUiError(e));
    }
  }, []);

  const connectProfile = useCallback(async (id: string) => {
    setBusy(true);
    userStopped.current = false;
    lastProfileId.current = id;
    try {
      await api.connect(id);
    } catch (e) {
      const err = asUiError(e);
      if (err.kind === 'missing_secret') {
        setSecretsPrompt({ profileId: id, kinds: err.secrets ?? [], reason: err.code === 'wrong_passphrase' ? WRONG_PASSPHRASE : null });
      } else {
        setError(err);
      }
    } finally {
      setBusy(false);
    }
  }, []);

  const onStatus = useCallback(
    (next: Status, initial = false) => {
      const prev = prevStatus.current;
      // The state found at start-up is not news: no notification for it.
      const notice = initial ? null : noticeFor(prev, next, userStopped.current, lost.current);
      if (notice) {
        setAnnouncement(`${notice.title}. ${notice.body}`);
        if (settingsRef.current.notifications) void notify(notice);
      }
      const to = next.state.state;
      if (next.profile) lastProfileId.current = next.profile.uuid;
      if (to === 'connected') {
        lost.current = false;
        reconnects.current = 0;
      } else if (notice?.kind === 'dropped') {
        lost.current = true;
      }
      // The helper retries by itself while "reconnecting"; when it gives up (or the tunnel just
      // went down), the app tries again if the user wants that.
      if (lost.current && !userStopped.current && (to === 'disconnected' || to === 'failed')) {
        const id = lastProfileId.current;
        if (settingsRef.current.reconnect === 'automatically' && id && reconnects.current < MAX_RECONNECTS) {
          reconnects.current += 1;
          const delay = 2000 * reconnects.current;
          setTimeout(() => void connectProfile(id), delay);
        } else {
          lost.current = false;
        }
      }
      if (to === 'disconnected') userStopped.current = false;
      // Traffic rates for the graph.
      const now = Date.now();
      const t = next.traffic;
      const last = lastTraffic.current;
      if (to === 'connected') {
        if (last && now > last.t && t.bytes_in >= last.rx && t.bytes_out >= last.tx) {
          const secs = (now - last.t) / 1000;
          setSamples((s) => [...s.slice(-59), { rx: (t.bytes_in - last.rx) / secs, tx: (t.bytes_out - last.tx) / secs }]);
        }
        lastTraffic.current = { t: now, rx: t.bytes_in, tx: t.bytes_out };
      } else {
        lastTraffic.current = null;
        if (to === 'disconnected') setSamples([]);
      }
      prevStatus.current = next;
      setStatus(next);
    },
    [connectProfile],
  );

  useEffect(() => {
    let unsubscribe: (() => void) | null = null;
    let cancelled = false;
    (async () => {
      unsubscribe = await subscribe({
        status: (next) => onStatus(next),
        helper: setHelper,
        log: (lines) =>
          setLogs((current) => {
            const lastSeq = current[current.length - 1]?.seq ?? -1;
            const fresh = lines.filter((l) => l.seq > lastSeq);
            return fresh.length ? [...current, ...fresh].slice(-MAX_LOG_LINES) : current;
          }),
        import: (view) => setImports((q) => [...q.filter((v) => v.token !== view.token), view]),
        error: setError,
        profiles: () => void reloadProfiles(),
        needSecrets: (req) => setSecretsPrompt({ profileId: req.profileId, kinds: req.secrets }),
      });
      if (cancelled) {
        unsubscribe();
        return;
      }
      try {
        const snap = await api.snapshot();
        setHelper(snap.helper);
        if (snap.status) onStatus(snap.status, prevStatus.current === null);
        setProfiles(snap.profiles);
        setSelectedId(snap.status?.profile?.uuid ?? snap.profiles[0]?.id ?? null);
        setSettings(snap.settings);
        setVersion(snap.version);
        setImports((q) => [...snap.pendingImports, ...q.filter((v) => !snap.pendingImports.some((p) => p.token === v.token))]);
      } catch (e) {
        setError(asUiError(e));
      }
      try {
        const backlog = await api.logs(null);
        setLogs((current) => {
          const seen = new Set(current.map((l) => l.seq));
          return [...backlog.filter((l) => !seen.has(l.seq)), ...current].sort((a, b) => a.seq - b.seq).slice(-MAX_LOG_LINES);
        });
      } catch (e) {
        setLogError(asUiError(e));
      }
      setLoaded(true);
    })();
    return () => {
      cancelled = true;
      unsubscribe?.();
    };
  }, [onStatus, reloadProfiles]);

  // "Connect when Tern starts": once, when the helper is first reachable.
  useEffect(() => {
    if (!loaded || startedConnect.current || !helper.reachable) return;
    startedConnect.current = true;
    const id = settings.connectOnStart;
    if (id && !isActive(status?.state) && profiles.some((p) => p.id === id)) void connectProfile(id);
  }, [loaded, helper.reachable, settings.connectOnStart, status, profiles, connectProfile]);

  const selected = profiles.find((p) => p.id === selectedId) ?? null;

  const toggle = async () => {
    if (isActive(status?.state)) {
      userStopped.current = true;
      lost.current = false;
      setBusy(true);
      try {
        await api.disconnect();
      } catch (e) {
        setError(asUiError(e));
      } finally {
        setBusy(false);
      }
    } else if (selected) {
      await connectProfile(selected.id);
    }
  };

  const importFile = async () => {
    const path = await open({
      multiple: false,
      directory: false,
      filters: [{ name: 'VPN profiles', extensions: ['sswan', 'mobileconfig', 'ternprofile', 'json'] }],
    });
    if (typeof path !== 'string') return;
    try {
      const view = await api.openImport(path);
      setImports((q) => [...q, view]);
    } catch (e) {
      setError(asUiError(e));
    }
  };

  const run = async (action: () => Promise<unknown>) => {
    try {
      await action();
    } catch (e) {
      setError(asUiError(e));
    }
  };

  const exportSelected = async () => {
    if (!selected) return;
    const path = await save({ defaultPath: `${selected.name}.ternprofile`, filters: [{ name: 'Tern profile', extensions: ['ternprofile'] }] });
    if (path) await run(() => api.exportProfile(selected.id, path));
  };

  const changeSettings = async (next: Settings) => {
    setSettings(next);
    try {
      setSettings(await api.setSettings(next));
    } catch (e) {
      setError(asUiError(e));
    }
  };

  const onListKey = (e: KeyboardEvent) => {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    e.preventDefault();
    const index = profiles.findIndex((p) => p.id === selectedId);
    const nextIndex = Math.min(profiles.length - 1, Math.max(0, index + (e.key === 'ArrowDown' ? 1 : -1)));
    const next = profiles[nextIndex];
    if (next) {
      setSelectedId(next.id);
      document.getElementById(`profile-${next.id}`)?.focus();
    }
  };

  const onTabKey = (e: KeyboardEvent) => {
    if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
    const index = TABS.findIndex((t) => t.id === tab);
    const next = TABS[(index + (e.key === 'ArrowRight' ? 1 : TABS.length - 1)) % TABS.length]!;
    setTab(next.id);
    document.getElementById(`tab-${next.id}`)?.focus();
  };

  const protectedNow = isProtected(status?.state);
  const activeId = isActive(status?.state) ? status?.profile?.uuid : null;
  const currentImport = imports[0];
  // The profile whose connection just failed (the helper names it), for "Enter the password again…".
  const failedProfile = status?.state.state === 'failed' ? (profiles.find((p) => p.id === status.profile?.uuid) ?? selected) : null;
  const promptProfile = secretsPrompt ? profiles.find((p) => p.id === secretsPrompt.profileId) : null;

  return (
    <div class="app">
      <header class="topbar">
        <h1>Tern</h1>
        <span class={`badge ${protectedNow ? 'protected' : 'unprotected'}`} data-testid="protection-badge">
          {protectedNow ? 'Protected' : 'Not protected'}
        </span>
        <div role="status" class="sr-only" aria-live="polite" data-testid="announcement">
          {announcement}
        </div>
      </header>
      {loaded && !helper.reachable && helper.error && <ErrorNotice error={helper.error} testId="helper-problem" />}
      {error && <ErrorNotice error={error} onDismiss={() => setError(null)} testId="error" />}
      <div class="body">
        <nav class="sidebar" aria-label="Profiles">
          <h2 class="sidebar-title">Profiles</h2>
          <ul class="profiles" onKeyDown={onListKey} data-testid="profile-list">
            {profiles.map((p) => (
              <li key={p.id}>
                <button
                  type="button"
                  id={`profile-${p.id}`}
                  class={p.id === selectedId ? 'profile selected' : 'profile'}
                  aria-current={p.id === selectedId ? 'true' : undefined}
                  tabIndex={p.id === selectedId || (!selectedId && p === profiles[0]) ? 0 : -1}
                  onClick={() => setSelectedId(p.id)}
                  onDblClick={() => void connectProfile(p.id)}
                >
                  <span class="profile-name">{p.name}</span>
                  <span class="profile-host">{p.gateway}</span>
                  {p.id === activeId && <span class="dot" aria-label="in use" />}
                </button>
              </li>
            ))}
          </ul>
          {profiles.length === 0 && loaded && <p class="muted">No profiles yet. Open a .sswan or .mobileconfig file, or add one.</p>}
          <div class="sidebar-buttons">
            <button type="button" onClick={() => void importFile()} data-testid="import-button">
              Import…
            </button>
            <button type="button" onClick={() => setEditor({ profile: null })} data-testid="add-button">
              Add…
            </button>
          </div>
        </nav>
        <main class="main">
          <div role="tablist" aria-label="Views" class="tabs" onKeyDown={onTabKey}>
            {TABS.map((t) => (
              <button
                type="button"
                role="tab"
                id={`tab-${t.id}`}
                key={t.id}
                aria-selected={tab === t.id}
                aria-controls={`panel-${t.id}`}
                tabIndex={tab === t.id ? 0 : -1}
                onClick={() => setTab(t.id)}
              >
                {t.label}
              </button>
            ))}
          </div>
          <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`} class="panel">
            {tab === 'status' && (
              <StatusView
                status={status}
                profile={selected}
                helperReachable={helper.reachable}
                busy={busy}
                samples={samples}
                onToggle={() => void toggle()}
                onEnterSecrets={failedProfile ? () => setSecretsPrompt({ profileId: failedProfile.id, kinds: failedProfile.requiredSecrets }) : undefined}
              />
            )}
            {tab === 'profile' &&
              (selected ? (
                <section aria-label={`Profile ${selected.name}`}>
                  <div class="toolbar">
                    <button type="button" onClick={() => setEditor({ profile: selected })} data-testid="edit-button">
                      Edit…
                    </button>
                    <button
                      type="button"
                      onClick={() => void api.missingSecrets(selected.id).then((kinds) => setSecretsPrompt({ profileId: selected.id, kinds: kinds.length ? kinds : selected.requiredSecrets }), (e) => setError(asUiError(e)))}
                    >
                      Password…
                    </button>
                    <button type="button" onClick={() =>
                        void run(async () => {
                          const copy = await api.duplicateProfile(selected.id);
                          await reloadProfiles();
                          setSelectedId(copy.id);
                        })
                      } data-testid="duplicate-button">
                      Duplicate
                    </button>
                    <button type="button" onClick={() => void exportSelected()} data-testid="export-button">
                      Export…
                    </button>
                    <button type="button" class="danger" onClick={() => setDeleting(selected)} data-testid="delete-button">
                      Delete…
                    </button>
                  </div>
                  <ProfileFacts profile={selected} />
                </section>
              ) : (
                <p class="muted">No profile selected.</p>
              ))}
            {tab === 'log' && <LogView lines={logs} loadError={logError} />}
            {tab === 'settings' && <SettingsView settings={settings} profiles={profiles} onChange={(s) => void changeSettings(s)} version={version} />}
          </div>
        </main>
      </div>
      {currentImport && (
        <ImportDialog
          key={currentImport.token}
          view={currentImport}
          onDone={(saved) => {
            setImports((q) => q.slice(1));
            if (saved) {
              void reloadProfiles().then(() => setSelectedId(saved.id));
              setAnnouncement(`Imported ${saved.name}.`);
            }
          }}
        />
      )}
      {!currentImport && secretsPrompt && promptProfile && (
        <SecretsDialog
          profile={promptProfile}
          kinds={secretsPrompt.kinds}
          reason={secretsPrompt.reason}
          onDone={(saved) => {
            const id = secretsPrompt.profileId;
            setSecretsPrompt(null);
            if (saved) void connectProfile(id);
          }}
        />
      )}
      {editor && (
        <ProfileEditor
          profile={editor.profile}
          onDone={(saved) => {
            setEditor(null);
            if (saved) void reloadProfiles().then(() => setSelectedId(saved.id));
          }}
        />
      )}
      {deleting && (
        <ConfirmDelete
          profile={deleting}
          onDone={(yes) => {
            const id = deleting.id;
            setDeleting(null);
            if (yes) void run(async () => { await api.deleteProfile(id); await reloadProfiles(); });
          }}
        />
      )}
    </div>
  );
}

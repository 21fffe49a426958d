// The UI test harness: the real app, with the Tauri backend replaced by a scripted one
// (@tauri-apps/api/mocks). Tests set `window.__scenario` before the page loads and drive the
// backend through `window.__mock` (replies, events, and a record of every call).
import { emit } from '@tauri-apps/api/event';
import { mockIPC } from '@tauri-apps/api/mocks';

export interface Reply {
  value?: unknown;
  error?: unknown;
}

export interface MockControl {
  calls: { cmd: string; args: Record<string, unknown> }[];
  replies: Record<string, Reply>;
  notifications: { title: string; body?: string }[];
  clipboard: string[];
  emit: (event: string, payload: unknown) => Promise<void>;
  reply: (cmd: string, reply: Reply) => void;
}

declare global {
  interface Window {
    __scenario?: { replies?: Record<string, Reply> };
    __mock: MockControl;
  }
}

const defaults: Record<string, Reply> = {
  snapshot: {
    value: {
      helper: { reachable: true, server: 'ternd 0.1.0', error: null },
      status: null,
      profiles: [],
      pendingImports: [],
      settings: { launchAtLogin: false, connectOnStart: null, reconnect: 'automatically', notifications: true },
      version: '0.1.0',
    },
  },
  list_profiles: { value: [] },
  logs: { value: [] },
  connect: { value: null },
  disconnect: { value: null },
};

const control: MockControl = {
  calls: [],
  replies: { ...defaults, ...(window.__scenario?.replies ?? {}) },
  notifications: [],
  clipboard: [],
  emit: (event, payload) => emit(event, payload),
  reply: (cmd, reply) => {
    control.replies[cmd] = reply;
  },
};
window.__mock = control;

mockIPC(
  async (cmd, args) => {
    control.calls.push({ cmd, args: (args ?? {}) as Record<string, unknown> });
    if (cmd === 'show_notification') {
      const { title, body } = args as { title: string; body: string | null };
      control.notifications.push({ title, body: body ?? undefined });
      return null;
    }
    const reply = control.replies[cmd];
    if (!reply) return null;
    if ('error' in reply) throw reply.error;
    return reply.value;
  },
  { shouldMockEvents: true },
);

// The web notification permission the plugin's `isPermissionGranted` reads, and the clipboard;
// notifications themselves are recorded from the `show_notification` command above.
class RecordedNotification {
  static permission = 'granted';
  static requestPermission = async () => 'granted';
}
Object.defineProperty(window, 'Notification', { value: RecordedNotification, configurable: true });
Object.defineProperty(navigator, 'clipboard', {
  value: { writeText: async (text: string) => void control.clipboard.push(text) },
  configurable: true,
});

await import('../src/main');

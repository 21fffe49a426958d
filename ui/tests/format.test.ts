// Pure functions: wording of states and notifications, numbers.
import { describe, expect, test } from 'vitest';
import { formatBytes, formatDuration, noticeFor, stateHeadline } from '../src/format';
import { explainFailure, secretList } from '../src/errors';
import { STATUS } from './fixtures';

describe('notifications for status changes', () => {
  test('connected, dropped, reconnected, failed', () => {
    expect(noticeFor(STATUS.connecting('authenticating'), STATUS.connected(), false, false)?.kind).toBe('connected');
    expect(noticeFor(STATUS.connected(), STATUS.reconnecting(), false, false)?.kind).toBe('dropped');
    expect(noticeFor(STATUS.reconnecting(), STATUS.connected(), false, false)?.kind).toBe('reconnected');
    expect(noticeFor(STATUS.connecting('authenticating'), STATUS.connected(), false, true)?.kind).toBe('reconnected');
    expect(noticeFor(STATUS.connecting('resolving'), STATUS.failed('gateway_unreachable', 'x'), false, false)?.kind).toBe('failed');
    expect(noticeFor(STATUS.connected(), STATUS.failed('gateway_unreachable', 'x'), false, false)?.kind).toBe('dropped');
  });

  test('nothing when the user disconnected or nothing changed', () => {
    expect(noticeFor(STATUS.connected(), STATUS.disconnected(), true, false)).toBeNull();
    expect(noticeFor(STATUS.connected(1), STATUS.connected(2), false, false)).toBeNull();
    expect(noticeFor(null, STATUS.disconnected(), false, false)).toBeNull();
  });
});

test('headlines and numbers', () => {
  expect(stateHeadline(undefined)).toBe('Not connected');
  expect(stateHeadline(STATUS.connecting('contacting_gateway').state)).toBe('Connecting — Contacting the server…');
  expect(stateHeadline(STATUS.failed('authentication_failed', 'x').state)).toContain(explainFailure({ kind: 'authentication_failed', message: '' }).summary);
  expect(formatBytes(999)).toBe('999 B');
  expect(formatBytes(1_500_000)).toBe('1.5 MB');
  expect(formatDuration(3_725_000)).toBe('1:02:05');
  expect(formatDuration(65_000)).toBe('1:05');
  expect(secretList(['pkcs12-passphrase', 'private-key'])).toBe('certificate passphrase and certificate file (.p12)');
});

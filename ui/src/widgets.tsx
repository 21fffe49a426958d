// Small building blocks: modal dialog, error notice, switch, traffic graph.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import type { UiError } from './api';
import { explainError, type Explained } from './errors';

/** A modal dialog (native <dialog>: focus stays inside, Escape closes). */
export function Modal(props: { title: string; onClose: () => void; children: ComponentChildren; wide?: boolean; testId?: string }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
  }, []);
  return (
    <dialog
      ref={ref}
      class={props.wide ? 'modal wide' : 'modal'}
      aria-labelledby="modal-title"
      data-testid={props.testId}
      onCancel={(e) => {
        e.preventDefault();
        props.onClose();
      }}
    >
      <h2 id="modal-title">{props.title}</h2>
      {props.children}
    </dialog>
  );
}

/** A problem in words: the sentence, the fix, and the technical detail one click away. */
/** A button that fixes the problem where it is shown (for example "Enter the password again…"). */
export interface ProblemAction {
  label: string;
  run: () => void;
  testId?: string;
}

export function Problem(props: { explained: Explained; onDismiss?: () => void; testId?: string; tone?: 'error' | 'warning'; action?: ProblemAction }) {
  const { summary, fix, detail } = props.explained;
  const ref = useRef<HTMLDivElement>(null);
  // A problem that appears below the fold (in a long dialog) is brought into view.
  useEffect(() => ref.current?.scrollIntoView?.({ block: 'nearest' }), [summary]);
  return (
    <div ref={ref} class={`problem ${props.tone ?? 'error'}`} role="alert" data-testid={props.testId ?? 'problem'}>
      <div class="problem-text">
        <strong class="problem-summary">{summary}</strong>
        <span class="problem-fix">{fix}</span>
        {props.action && (
          <span>
            <button type="button" class="primary" onClick={props.action.run} data-testid={props.action.testId}>
              {props.action.label}
            </button>
          </span>
        )}
        {detail && (
          <details>
            <summary>Details</summary>
            <code class="problem-detail">{detail}</code>
          </details>
        )}
      </div>
      {props.onDismiss && (
        <button type="button" class="icon-button" aria-label="Dismiss" onClick={props.onDismiss}>
          ×
        </button>
      )}
    </div>
  );
}

export function ErrorNotice(props: { error: UiError; onDismiss?: () => void; testId?: string }) {
  return <Problem explained={explainError(props.error)} onDismiss={props.onDismiss} testId={props.testId} />;
}

/** The large connect switch. */
export function Switch(props: { on: boolean; busy: boolean; disabled: boolean; label: string; onToggle: () => void }) {
  return (
    <button
      type="button"
      role="switch"
      class={`big-switch ${props.on ? 'on' : 'off'} ${props.busy ? 'busy' : ''}`}
      aria-checked={props.on}
      aria-label={props.label}
      disabled={props.disabled}
      onClick={props.onToggle}
      data-testid="connect-switch"
    >
      <span class="knob" />
    </button>
  );
}

/** A small live graph of the last minute of traffic. */
export function TrafficGraph(props: { samples: { rx: number; tx: number }[] }) {
  const width = 240;
  const height = 56;
  const n = 60;
  const samples = props.samples.slice(-n);
  const max = Math.max(1, ...samples.map((s) => Math.max(s.rx, s.tx)));
  const line = (pick: (s: { rx: number; tx: number }) => number) =>
    samples
      .map((s, i) => {
        const x = ((n - samples.length + i) / (n - 1)) * width;
        const y = height - 2 - (pick(s) / max) * (height - 4);
        return `${x.toFixed(1)},${y.toFixed(1)}`;
      })
      .join(' ');
  return (
    <svg class="graph" viewBox={`0 0 ${width} ${height}`} width={width} height={height} role="img" aria-label="Traffic over the last minute" data-testid="traffic-graph">
      <polyline class="rx" points={line((s) => s.rx)} fill="none" />
      <polyline class="tx" points={line((s) => s.tx)} fill="none" />
    </svg>
  );
}

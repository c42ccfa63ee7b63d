import { button, el, replace } from './dom.js';

/** The box under a list's toolbar where a row's action (a form, a result) opens; one at a time. */
export class Panel {
  readonly element = el('section', { class: 'panel', hidden: true, 'aria-live': 'polite' });

  open(title: string, ...content: (Node | string)[]): void {
    replace(this.element, el('header', {}, el('h3', {}, title), button('Close', () => this.close(), { class: 'quiet', 'aria-label': 'Close this panel' })), ...content);
    this.element.hidden = false;
  }

  close(): void {
    this.element.hidden = true;
    this.element.replaceChildren();
  }
}

/** A line saying how an action went, set from its outcome. */
export function outcome(): { element: HTMLElement; ok(text: string): void; failed(error: unknown): void; clear(): void } {
  const element = el('p', { class: 'outcome', role: 'status' });
  return {
    element,
    ok(text) {
      element.className = 'outcome ok';
      element.textContent = text;
    },
    failed(error) {
      element.className = 'outcome failed';
      element.textContent = errorText(error);
    },
    clear() {
      element.className = 'outcome';
      element.textContent = '';
    },
  };
}

/** What went wrong, in the API's words when it answered. */
export function errorText(error: unknown): string {
  const failure = error as { status?: number; reason?: string; message?: string };
  if (failure.status !== undefined) return `${failure.status}: ${failure.reason ?? ''}`;
  return failure.message ?? String(error);
}

/** A form whose submit runs `action` (the page never posts anywhere: its CSP says form-action 'none'). */
export function form(action: () => Promise<void>, ...content: (Node | string)[]): HTMLFormElement {
  const element = el('form', {}, ...content);
  element.addEventListener('submit', (event) => {
    event.preventDefault();
    const submit = element.querySelector<HTMLButtonElement>('button[type=submit]');
    if (submit) submit.disabled = true;
    void action().finally(() => {
      if (submit) submit.disabled = false;
    });
  });
  return element;
}

/**
 * Building the page: every text goes in with textContent (queue names, payloads and reasons are
 * user data), never as markup. Nothing in the dashboard sets innerHTML.
 */

type Child = Node | string | number | null | undefined | false;

/** Attributes set with setAttribute (no event handlers: those are added with `on`). */
export type Attributes = Record<string, string | number | boolean | undefined>;

/** An element with attributes and children; strings and numbers become text nodes. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (name.startsWith('on')) throw new Error(`set ${name} with addEventListener`);
    element.setAttribute(name, value === true ? '' : String(value));
  }
  append(element, ...children);
  return element;
}

/** Appends children, strings as text nodes. */
export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

/** A button that runs `action` when clicked. */
export function button(label: string, action: () => void, attributes: Attributes = {}): HTMLButtonElement {
  const element = el('button', { type: 'button', ...attributes }, label);
  element.addEventListener('click', action);
  return element;
}

/** A labelled input. */
export function field(label: string, input: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement): HTMLLabelElement {
  return el('label', {}, el('span', {}, label), input);
}

/** A count as the table shows it: digits grouped. */
export function count(value: unknown): string {
  return typeof value === 'number' ? value.toLocaleString('en') : '';
}

const BYTE_UNITS = ['KiB', 'MiB', 'GiB', 'TiB'] as const;

/** A size in bytes for a person: B below 1 KiB, then KiB, MiB, GiB or TiB with one decimal at most. */
export function bytes(value: number): string {
  if (value < 1024) return `${value.toLocaleString('en')} B`;
  let size = value / 1024;
  let unit = 0;
  while (size >= 1024 && unit < BYTE_UNITS.length - 1) {
    size /= 1024;
    unit++;
  }
  return `${size.toLocaleString('en', { maximumFractionDigits: 1 })} ${BYTE_UNITS[unit]}`;
}

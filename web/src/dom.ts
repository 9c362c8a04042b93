// A few helpers to build the DOM without a framework and without HTML
// strings (so user text is never parsed as markup, and no inline style
// ever needs a CSP exception).

export type Child = Node | string | number | null | undefined | false | Child[];

type Handler = (event: any) => void;
export type Props = Record<string, string | number | boolean | Handler | null | undefined>;

/** `h('button', {class: 'primary', onclick: go}, 'Play')`. Keys starting
 * with `on` add listeners; `class`, `for` and `text` are shorthands;
 * booleans set or clear an attribute; other values become attributes
 * (`value` and `checked` are set as properties). */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith('on') && typeof value === 'function') {
        el.addEventListener(key.slice(2), value as EventListener);
      } else if (key === 'class') {
        el.className = String(value);
      } else if (key === 'text') {
        el.textContent = String(value);
      } else if (key === 'value' || key === 'checked') {
        (el as any)[key] = value;
      } else if (value === true) {
        el.setAttribute(key === 'for' ? 'for' : key, '');
      } else {
        el.setAttribute(key, String(value));
      }
    }
  }
  append(el, children);
  return el;
}

export function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else if (child instanceof Node) parent.appendChild(child);
    else parent.appendChild(document.createTextNode(String(child)));
  }
}

/** Replaces every child of `el`. An element that had the focus and is
 * put back (a form kept across renders) keeps it. */
export function mount(el: Element, ...children: Child[]): void {
  const focused = document.activeElement;
  el.replaceChildren();
  append(el, children);
  if (focused instanceof HTMLElement && focused !== document.body && focused.isConnected && document.activeElement !== focused) {
    focused.focus({ preventScroll: true });
  }
}

let toastSeq = 0;
/** A short message in the polite live region (screen readers hear it). */
export function toast(message: string, kind: 'info' | 'error' = 'info', action?: { label: string; run: () => void }): void {
  const box = document.getElementById('toasts');
  if (!box) return;
  const id = `toast-${++toastSeq}`;
  const item = h('div', { class: `toast ${kind}`, id, 'data-testid': 'toast' },
    h('span', null, message),
    action ? h('button', { class: 'link', onclick: () => { item.remove(); action.run(); } }, action.label) : null,
    h('button', { class: 'close', 'aria-label': 'Dismiss', onclick: () => item.remove() }, '×'),
  );
  box.appendChild(item);
  // Gone after a while, but not from under the keyboard focus.
  const expire = () => (item.contains(document.activeElement) ? setTimeout(expire, 3000) : item.remove());
  setTimeout(expire, action ? 15000 : 6000);
}

/** A labelled input: `field('Username', input)`. */
export function field(label: string, control: HTMLElement, hint?: string): HTMLElement {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  const hintEl = hint ? h('small', { id: `${id}-hint`, class: 'hint' }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hintEl);
}

/** A form whose submit runs `onsubmit` with the button disabled, and
 * shows an error next to it instead of throwing. */
export function form(
  props: Props,
  onsubmit: (form: HTMLFormElement) => Promise<void>,
  ...children: Child[]
): HTMLFormElement {
  const error = h('p', { class: 'error', role: 'alert' });
  const el: HTMLFormElement = h('form', props, ...children, error);
  el.addEventListener('submit', async (event) => {
    event.preventDefault();
    const buttons = el.querySelectorAll('button');
    buttons.forEach((b) => (b.disabled = true));
    error.textContent = '';
    try {
      await onsubmit(el);
    } catch (e) {
      error.textContent = errorText(e);
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  });
  return el;
}

export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

export function timeAgo(iso: string | null | undefined): string {
  if (!iso) return '';
  const secs = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (secs < 60) return 'just now';
  if (secs < 3600) return `${Math.floor(secs / 60)} min ago`;
  if (secs < 86400) return `${Math.floor(secs / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

export function input(props: Props): HTMLInputElement {
  return h('input', props);
}

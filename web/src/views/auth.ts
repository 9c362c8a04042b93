// Register, log in (with the TOTP step), and sign in with 42.

import { ApiError, acceptTokens, api, type Challenge, type TokenPair } from '../api';
import { field, form, h, input, mount } from '../dom';
import { store } from '../state';

type Done = () => Promise<void>;

function twoFactorStep(challenge: Challenge, done: Done): HTMLElement {
  const code = input({ name: 'code', autocomplete: 'one-time-code', inputmode: 'numeric', required: true, maxlength: '11' });
  const el = form({ class: 'card', 'aria-labelledby': 'tfa-title' }, async () => {
    const pair = await api<TokenPair>('POST', '/api/auth/login/2fa', { challenge: challenge.challenge, code: code.value.trim() }, { anonymous: true });
    acceptTokens(pair);
    await done();
  },
    h('h1', { id: 'tfa-title' }, 'Two-factor authentication'),
    h('p', null, 'Enter the 6-digit code from your authenticator app, or one of your recovery codes.'),
    field('Code', code),
    h('button', { class: 'primary', type: 'submit' }, 'Verify'),
  );
  queueMicrotask(() => code.focus());
  return el;
}

async function signIn(login: string, password: string, container: HTMLElement, done: Done): Promise<void> {
  const reply = await api<TokenPair | Challenge>('POST', '/api/auth/login', { login, password }, { anonymous: true });
  if ('two_factor_required' in reply) {
    mount(container, twoFactorStep(reply, done));
    return;
  }
  acceptTokens(reply);
  await done();
}

function oauthButton(): HTMLElement | null {
  if (!store.oauth42) return null;
  return h('p', { class: 'oauth' },
    h('a', { class: 'button', href: '/api/auth/oauth/42/authorize', 'data-testid': 'login-42' }, 'Log in with 42'));
}

export function authView(mode: 'login' | 'register', done: Done): HTMLElement {
  const container = h('div', { class: 'auth' });
  const title = h('p', { class: 'brand big' }, 'transcendence');
  if (mode === 'login') {
    const login = input({ name: 'login', autocomplete: 'username', required: true });
    const password = input({ name: 'password', type: 'password', autocomplete: 'current-password', required: true });
    mount(container, title, form({ class: 'card', 'aria-labelledby': 'login-title' }, () => signIn(login.value.trim(), password.value, container, done),
      h('h1', { id: 'login-title' }, 'Log in'),
      field('Username or email', login),
      field('Password', password),
      h('button', { class: 'primary', type: 'submit' }, 'Log in'),
      oauthButton(),
      h('p', null, 'No account yet? ', h('a', { href: '#/register' }, 'Create one')),
    ));
    queueMicrotask(() => login.focus());
  } else {
    const username = input({ name: 'username', autocomplete: 'username', required: true, minlength: '3', maxlength: '20', pattern: '[A-Za-z0-9_\\-]+' });
    const email = input({ name: 'email', type: 'email', autocomplete: 'email', required: true });
    const password = input({ name: 'password', type: 'password', autocomplete: 'new-password', required: true, minlength: '8' });
    mount(container, title, form({ class: 'card', 'aria-labelledby': 'register-title' }, async () => {
      await api('POST', '/api/auth/register', { username: username.value.trim(), email: email.value.trim(), password: password.value }, { anonymous: true });
      await signIn(username.value.trim(), password.value, container, done);
    },
      h('h1', { id: 'register-title' }, 'Create an account'),
      field('Username', username, '3–20 letters, digits, _ or -'),
      field('Email', email),
      field('Password', password, 'At least 8 characters'),
      h('button', { class: 'primary', type: 'submit' }, 'Create account'),
      oauthButton(),
      h('p', null, 'Already registered? ', h('a', { href: '#/login' }, 'Log in')),
    ));
    queueMicrotask(() => username.focus());
  }
  return container;
}

/** Finishes a 42 sign-in (the provider sent the browser to `/oauth/42`
 * with `code` and `state`). True when signed in (or linked) with nothing
 * left to ask; otherwise it shows the 2FA step or the error itself. */
export async function finishOAuth(app: HTMLElement, query: string, done: Done): Promise<boolean> {
  const container = h('div', { class: 'auth' });
  mount(app, h('main', { id: 'main', class: 'auth-page' }, container));
  mount(container, h('p', { role: 'status' }, 'Signing in with 42…'));
  try {
    // The state cookie (set when the sign-in started) identifies this browser.
    const reply = await api<TokenPair | Challenge | { linked: true; login: string }>('GET', `/api/auth/oauth/42/callback${query}`, undefined, { anonymous: true });
    if ('linked' in reply) return true;
    if ('two_factor_required' in reply) {
      mount(container, twoFactorStep(reply, done));
      return false;
    }
    acceptTokens(reply);
    return true;
  } catch (e) {
    const message = e instanceof ApiError ? e.message : String(e);
    mount(container, h('div', { class: 'card', role: 'alert' },
      h('h1', null, '42 sign-in failed'),
      h('p', null, message),
      h('button', { class: 'primary', onclick: () => { location.hash = '/login'; location.reload(); } }, 'Back to the login page')));
    return false;
  }
}

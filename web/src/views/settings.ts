// Your profile and account: display name, bio, language, avatar, 2FA
// (QR code and recovery codes), linking 42, logging out.

import { api, logout } from '../api';
import { errorText, field, form, h, input, mount, toast } from '../dom';
import { loadMe, store } from '../state';
import { historyTable } from './common';

function profileForm(): HTMLElement {
  const me = store.me!;
  const name = input({ name: 'display_name', value: me.display_name, maxlength: '32', required: true });
  const bio = h('textarea', { name: 'bio', maxlength: '500', rows: '3' });
  bio.value = me.bio;
  const language = h('select', { name: 'language' }, ...me.languages.map((l) => h('option', { value: l }, l)));
  language.value = me.language;
  return form({ class: 'card', 'aria-labelledby': 'profile-title' }, async () => {
    await api('PATCH', '/api/users/me', { display_name: name.value.trim(), bio: bio.value, language: language.value });
    await loadMe();
    toast('Profile saved.');
  },
    h('h2', { id: 'profile-title' }, 'Profile'),
    field('Display name', name),
    field('Bio', bio),
    field('Language', language),
    h('button', { class: 'primary', type: 'submit' }, 'Save'),
  );
}

function avatarForm(): HTMLElement {
  const me = store.me!;
  const preview = h('img', { src: me.avatar_url, alt: 'Your avatar', class: 'avatar large', 'data-testid': 'avatar' });
  const file = input({ type: 'file', name: 'avatar', accept: 'image/png,image/jpeg,image/webp,image/gif' });
  file.addEventListener('change', () => {
    const chosen = file.files?.[0];
    if (preview.src.startsWith('blob:')) URL.revokeObjectURL(preview.src);
    if (chosen) preview.src = URL.createObjectURL(chosen);
  });
  return form({ class: 'card', 'aria-labelledby': 'avatar-title' }, async () => {
    const chosen = file.files?.[0];
    if (!chosen) throw new Error('Choose an image first.');
    if (chosen.size > 2 * 1024 * 1024) throw new Error('The image is larger than 2 MiB.');
    await api('PUT', '/api/users/me/avatar', undefined, { raw: { body: chosen, type: chosen.type || 'application/octet-stream' } });
    await loadMe();
    preview.src = store.me!.avatar_url;
    toast('Avatar updated.');
  },
    h('h2', { id: 'avatar-title' }, 'Avatar'),
    preview,
    field('Image (PNG, JPEG, WebP or GIF, up to 2 MiB)', file),
    h('div', { class: 'row' },
      h('button', { class: 'primary', type: 'submit' }, 'Upload'),
      h('button', { type: 'button', onclick: async () => {
        try {
          await api('DELETE', '/api/users/me/avatar');
          await loadMe();
          preview.src = store.me!.avatar_url;
        } catch (e) {
          toast(errorText(e), 'error');
        }
      } }, 'Use the default')),
  );
}

function twoFactorCard(): HTMLElement {
  const card = h('section', { class: 'card', 'aria-labelledby': 'tfa-title', 'data-testid': 'tfa' });
  const render = () => {
    const me = store.me!;
    if (me.two_factor_enabled) {
      const code = input({ name: 'code', autocomplete: 'one-time-code', required: true });
      mount(card, h('h2', { id: 'tfa-title' }, 'Two-factor authentication'),
        h('p', null, 'On. Logging in asks for a code from your authenticator app.'),
        form({}, async () => {
          await api('POST', '/api/auth/2fa/disable', { code: code.value.trim() });
          await loadMe();
          toast('Two-factor authentication is off.');
          render();
        }, field('Code (or a recovery code) to turn it off', code), h('button', { type: 'submit' }, 'Turn off')));
      return;
    }
    mount(card, h('h2', { id: 'tfa-title' }, 'Two-factor authentication'),
      h('p', null, 'Off. Turn it on to ask for a code from an authenticator app at each login.'),
      h('button', { class: 'primary', onclick: async () => {
        try {
          const setup = await api<{ secret: string; qr_code: string; otpauth_uri: string }>('POST', '/api/auth/2fa/setup');
          const code = input({ name: 'code', autocomplete: 'one-time-code', inputmode: 'numeric', required: true, maxlength: '6', 'data-testid': 'tfa-code' });
          mount(card, h('h2', { id: 'tfa-title' }, 'Set up two-factor authentication'),
            h('p', null, 'Scan this code with your authenticator app, then enter the code it shows.'),
            h('img', { src: setup.qr_code, alt: 'QR code to scan with an authenticator app', class: 'qr', 'data-testid': 'tfa-qr' }),
            h('p', null, 'Or enter this key by hand: ', h('code', { 'data-testid': 'tfa-secret' }, setup.secret)),
            form({}, async () => {
              const done = await api<{ recovery_codes: string[] }>('POST', '/api/auth/2fa/enable', { code: code.value.trim() });
              await loadMe();
              mount(card, h('h2', { id: 'tfa-title' }, 'Two-factor authentication is on'),
                h('p', null, 'Keep these recovery codes somewhere safe. Each works once, if you lose your device. They are shown only now.'),
                h('ul', { class: 'codes', 'data-testid': 'recovery-codes' }, done.recovery_codes.map((c) => h('li', null, h('code', null, c)))),
                h('button', { onclick: render }, 'I have saved them'));
            }, field('Code', code), h('button', { class: 'primary', type: 'submit' }, 'Turn on')));
          code.focus();
        } catch (e) {
          toast(errorText(e), 'error');
        }
      } }, 'Set up'));
  };
  render();
  return card;
}

function accountCard(): HTMLElement {
  const me = store.me!;
  const linked = me.oauth_accounts.find((a) => a.provider === '42');
  return h('section', { class: 'card', 'aria-labelledby': 'account-title' },
    h('h2', { id: 'account-title' }, 'Account'),
    h('p', null, `Signed in as @${me.username} (${me.email}).`),
    linked ? h('p', null, `Linked to the 42 account ${linked.login}.`) : store.oauth42 ? h('button', { onclick: async () => {
      try {
        const { authorize_url } = await api<{ authorize_url: string }>('POST', '/api/auth/oauth/42/link');
        location.href = authorize_url;
      } catch (e) {
        toast(errorText(e), 'error');
      }
    } }, 'Link your 42 account') : null,
    h('div', { class: 'row' },
      h('button', { onclick: () => void logout(false), 'data-testid': 'logout' }, 'Log out'),
      h('button', { class: 'danger', onclick: () => void logout(true), 'data-testid': 'logout-all' }, 'Log out everywhere')),
  );
}

export function settingsView(root: HTMLElement): void {
  const me = store.me;
  if (!me) {
    mount(root, h('p', { role: 'status' }, 'Loading…'));
    void loadMe().then(() => settingsView(root), (e) => mount(root, h('p', { class: 'error' }, errorText(e))));
    return;
  }
  mount(root,
    h('h1', null, 'Your account'),
    h('p', null, h('a', { href: `#/users/${me.id}` }, 'See your public profile')),
    h('div', { class: 'columns' }, profileForm(), avatarForm()),
    h('div', { class: 'columns' }, twoFactorCard(), accountCard()),
    h('h2', null, 'Your matches'),
    historyTable(me.id),
  );
}

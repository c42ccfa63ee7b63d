import { Api, ApiFailure } from './api.js';
import { el, field, replace } from './dom.js';
import { errorText, form } from './panel.js';
import { basicAuthorization, bearerAuthorization, type Session } from './session.js';

/**
 * The sign-in form: a management user's name and password (HTTP basic), or a token (Bearer). The
 * credentials are checked with /api/whoami before they are kept.
 */
export function signInView(reason: string | null, signedIn: (session: Session, tags: string[]) => void): HTMLElement {
  const user = el('input', { type: 'text', name: 'username', autocomplete: 'username', required: true });
  const password = el('input', { type: 'password', name: 'password', autocomplete: 'current-password' });
  const token = el('textarea', { name: 'token', rows: 4, spellcheck: 'false' });
  const userMode = el('input', { type: 'radio', name: 'mode', value: 'user', checked: true });
  const tokenMode = el('input', { type: 'radio', name: 'mode', value: 'token' });
  const userFields = el('div', {}, field('User', user), field('Password', password));
  const tokenFields = el('div', { hidden: true }, field('Token (JWT)', token));
  const message = el('p', { class: 'outcome failed', role: 'alert' }, reason ?? '');
  const switchMode = () => {
    userFields.hidden = !userMode.checked;
    tokenFields.hidden = userMode.checked;
    user.required = userMode.checked;
    token.required = !userMode.checked;
  };
  userMode.addEventListener('change', switchMode);
  tokenMode.addEventListener('change', switchMode);

  const submit = async () => {
    const authorization = userMode.checked ? basicAuthorization(user.value, password.value) : bearerAuthorization(token.value);
    try {
      const whoami = await new Api(authorization, () => undefined).request<{ name: string; tags: string[] | string }>('/whoami');
      const tags = Array.isArray(whoami.tags) ? whoami.tags : String(whoami.tags).split(',');
      signedIn({ name: whoami.name, authorization }, tags);
    } catch (error) {
      replace(message, error instanceof ApiFailure ? error.reason : `The broker did not answer: ${errorText(error)}`);
    }
  };

  return el(
    'main',
    { class: 'sign-in' },
    el('h1', {}, 'Warren'),
    el('p', { class: 'hint' }, 'Sign in with a management user or a token.'),
    message,
    form(
      submit,
      el('fieldset', { class: 'modes' }, el('legend', {}, 'Sign in with'), el('label', { class: 'inline' }, userMode, 'Management user'), el('label', { class: 'inline' }, tokenMode, 'Token')),
      userFields,
      tokenFields,
      el('button', { type: 'submit' }, 'Sign in'),
    ),
  );
}

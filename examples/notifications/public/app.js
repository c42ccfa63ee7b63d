/* global document, fetch, Option */
// The notification page (docs/notifications-example.md): sign in as a user id, get a token for it
// from the web app's backend, connect to Warren with it, and show that user's notifications as the
// broker pushes them. Everything shown is set with textContent.
import { connect } from '/warren/index.js';

/** The notifications kept on the page; older ones are dropped from it (the count goes on). */
const KEEP = 100;
/** The exchange the worker forwards to, and the browsers bind from. */
const EXCHANGE = 'notifications';

const $ = (id) => document.getElementById(id);
const config = await getJson('/config.json');
$('users-hint').textContent = `The services notify users ${config.users.join(', ')}. Open a second window as another user.`;
for (const id of config.users) $('known-users').append(new Option(id));

/** The signed-in user's connection, queue and counters; null when signed out. */
let session = null;

$('sign-in').addEventListener('submit', (event) => {
  event.preventDefault();
  void signIn($('user').value.trim());
});
$('sign-out').addEventListener('click', () => void signOut());
$('peek').addEventListener('submit', (event) => {
  event.preventDefault();
  void peek($('peek-user').value.trim());
});

async function signIn(user) {
  const button = $('sign-in').querySelector('button');
  button.disabled = true;
  $('sign-in-error').textContent = '';
  const current = { user, client: null, queue: '', received: 0, tokens: 0, timer: 0 };
  try {
    // Called before the first connect, before every reconnect, and a little before the token
    // expires, when the client sends the new one with auth.refresh on its own.
    const getToken = async () => {
      const { token } = await postJson('/token', { user });
      current.tokens++;
      return token;
    };
    current.client = await connect(config.brokerUrl, { getToken, reconnect: true, clientName: `notifications page (user-${user})` });
    session = current;
    watch(current);
    await subscribe(current);
    $('who').textContent = `Notifications for user-${user}`;
    $('sign-in').hidden = true;
    $('inbox').hidden = false;
    setState(current, 'connected', 'Connected: notifications arrive as the worker forwards them.');
    current.timer = setInterval(() => showToken(current), 1000);
    showToken(current);
  } catch (error) {
    $('sign-in-error').textContent = describe(error);
    await current.client?.close();
    if (session === current) session = null;
  } finally {
    button.disabled = false;
  }
}

/** A server-named queue of this connection's own, bound to the user's keys, consumed. */
async function subscribe(current) {
  const { client, user } = current;
  const { queue } = await client.declareQueue('', { exclusive: true, durable: false });
  await client.bindQueue(queue, EXCHANGE, `user.${user}.#`);
  await client.consume(
    queue,
    (message) => {
      show(current, message);
      message.ack();
    },
    { prefetch: 20 },
  );
  current.queue = queue;
  $('queue').textContent = `${queue}, bound from ${EXCHANGE} with user.${user}.#`;
}

function watch(current) {
  const { client } = current;
  client.on('disconnect', (event) => setState(current, 'reconnecting', `Connection lost (${event.code}); reconnecting...`));
  client.on('reconnect', () => {
    // The exclusive queue went with the old connection (its consumer could not be restored): a new one.
    subscribe(current).then(
      () => setState(current, 'connected', 'Connected again.'),
      (error) => setState(current, 'error', describe(error)),
    );
  });
  client.on('cancelled', (event) => {
    if (event.reason === 'permission') setState(current, 'error', 'The new token may no longer read this queue.');
  });
  client.on('error', (error) => {
    // After a reconnect the old consumer's restore fails (its queue is gone); subscribe() makes a new one.
    if (error.code !== 'NOT_FOUND') setState(current, current.state, describe(error));
  });
  client.on('close', (event) => {
    if (!event.byClient) setState(current, 'closed', `Disconnected: ${event.reason}. Sign out and in again.`);
  });
}

function show(current, message) {
  if (session !== current) return;
  const notification = message.payload ?? {};
  const item = document.createElement('li');
  item.dataset.routingKey = message.routingKey;
  const waited = (Number(notification.handledAt) - Number(notification.publishedAt)) / 1000;
  item.append(
    span('kind', String(notification.kind ?? '')),
    span('text', String(notification.text ?? '')),
    span('meta', `${notification.service ?? ''} · ${message.routingKey} · waited ${waited.toFixed(1)} s in notify.work · ${new Date().toLocaleTimeString()}`),
  );
  const list = $('notifications');
  list.prepend(item);
  while (list.children.length > KEEP) list.lastElementChild.remove();
  current.received++;
  $('count').textContent = String(current.received);
}

/** What a bind of another user's key gets: ACCESS_REFUSED, the token's topic permission at work. */
async function peek(other) {
  const output = $('peek-result');
  const key = `user.${other}.#`;
  try {
    await session.client.bindQueue(session.queue, EXCHANGE, key);
    output.className = 'allowed';
    output.textContent = `Bound ${key}: ${other === session.user ? 'that is your own key' : 'the token allowed it'}.`;
  } catch (error) {
    output.className = 'refused';
    output.textContent = describe(error);
  }
}

async function signOut() {
  const current = session;
  session = null;
  clearInterval(current?.timer);
  $('notifications').replaceChildren();
  $('count').textContent = '0';
  $('peek-result').textContent = '';
  $('inbox').hidden = true;
  $('sign-in').hidden = false;
  // The broker deletes the exclusive queue with the connection.
  await current?.client.close();
}

function setState(current, state, text) {
  if (session !== current) return;
  current.state = state;
  $('inbox').dataset.state = state;
  $('status').textContent = text;
}

function showToken(current) {
  const expiresAt = current.client.expiresAt;
  if (expiresAt === undefined) return;
  const left = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
  const token = $('token');
  token.dataset.tokens = String(current.tokens);
  token.textContent = `for user-${current.user}, expires in ${left} s; ${current.tokens} fetched so far (the client refreshes it before it expires)`;
}

function span(className, text) {
  const element = document.createElement('span');
  element.className = className;
  element.textContent = text;
  return element;
}

function describe(error) {
  return error.code ? `${error.code}: ${error.message}` : error.message;
}

async function getJson(path) {
  const response = await fetch(path, { credentials: 'same-origin' });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

async function postJson(path, body) {
  const response = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error ?? `${path}: HTTP ${response.status}`);
  return answer;
}

import { Api, ApiFailure } from './api.js';
import { ConnectionsView } from './connections.js';
import { append, button, el, replace } from './dom.js';
import { ExchangesView } from './exchanges.js';
import { OverviewView, type OverviewAnswer } from './overview.js';
import { errorText } from './panel.js';
import { QueuesView } from './queues.js';
import { clearSession, loadSession, saveSession, type Session } from './session.js';
import { signInView } from './sign-in.js';

/**
 * The dashboard (docs/dashboard.md): sign-in, then the overview and the lists, polled every
 * POLL_MS while the tab is visible. Only the API's own answers are shown, built with textContent.
 */

/** How often the page asks the API again; rates are 5-second samples (docs/management.md). */
const POLL_MS = 3000;

interface View {
  readonly element: HTMLElement;
  refresh(): Promise<void>;
}

const TABS = ['overview', 'queues', 'exchanges', 'connections'] as const;
type Tab = (typeof TABS)[number];

function currentTab(): Tab {
  const name = location.hash.slice(1);
  return (TABS as readonly string[]).includes(name) ? (name as Tab) : 'overview';
}

/** The signed-in dashboard; `stop` ends its polling. */
function startDashboard(session: Session, tags: string[] | null, signOut: (reason: string | null) => void): { stop(): void } {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  /** A round in flight, and whether another was asked for meanwhile (an action's refresh). */
  let polling = false;
  let again = false;
  /** Removes this dashboard's window listeners when it stops. */
  const listening = new AbortController();
  // The requests of a round can all be refused at once: the first one signs out.
  const api = new Api(session.authorization, (reason) => {
    if (!stopped) signOut(reason);
  });

  const alarm = el('div', { class: 'alarm', role: 'alert', hidden: true });
  const status = el('p', { class: 'status', role: 'status' });
  const version = el('span', { class: 'version' });
  const who = el('span', { class: 'who' }, session.name, tags && tags.length > 0 ? ` (${tags.join(', ')})` : '');
  const overview = new OverviewView(listening.signal);
  const views: Record<Tab, View> = {
    overview: { element: overview.element, refresh: async () => undefined },
    queues: new QueuesView(api, poll),
    exchanges: new ExchangesView(api, poll),
    connections: new ConnectionsView(api, poll),
  };
  const links = TABS.map((tab) => el('a', { href: `#${tab}`, 'data-tab': tab }, tab[0].toUpperCase() + tab.slice(1)));
  const main = el('main', {}, ...TABS.map((tab) => views[tab].element));

  const show = () => {
    const active = currentTab();
    for (const tab of TABS) views[tab].element.hidden = tab !== active;
    for (const link of links) {
      if (link.dataset.tab === active) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    if (active === 'overview') overview.fit();
  };

  replace(
    document.body,
    el(
      'header',
      { class: 'top' },
      el('h1', {}, 'Warren'),
      version,
      el('nav', {}, ...links),
      el('span', { class: 'spacer' }),
      who,
      button('Sign out', () => signOut(null), { class: 'quiet' }),
    ),
    alarm,
    status,
    main,
  );

  /**
   * Polls now, then every POLL_MS. Rounds never overlap: one asked for during another runs right
   * after it, so an older answer never overwrites the state an action just changed.
   */
  function poll(): void {
    clearTimeout(timer);
    if (stopped) return;
    if (polling) {
      again = true;
      return;
    }
    polling = true;
    void round().finally(() => {
      polling = false;
      if (stopped) return;
      if (again) {
        again = false;
        poll();
      } else {
        timer = setTimeout(poll, POLL_MS);
      }
    });
  }

  /** One round: the overview (always, for the charts' history), the alarms and the tab shown. */
  async function round(): Promise<void> {
    if (document.hidden) return;
    const results = await Promise.allSettled([
      api.request<OverviewAnswer>('/overview').then((answer) => {
        overview.update(answer);
        replace(version, `${answer.product_version}${answer.node ? ` on ${answer.node}` : ''}`);
      }),
      checkAlarms(),
      views[currentTab()].refresh(),
    ]);
    if (stopped) return;
    const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    replace(status, failure ? `Could not refresh: ${errorText(failure.reason)}` : '');
    status.classList.toggle('failed', failure !== undefined);
  }

  /** /api/health/checks/alarms: 503 while a memory or disk alarm is in force, with its reason. */
  async function checkAlarms(): Promise<void> {
    try {
      await api.request('/health/checks/alarms');
      alarm.hidden = true;
    } catch (error) {
      if (!(error instanceof ApiFailure) || error.status !== 503) throw error;
      replace(alarm, el('strong', {}, 'Alarm: '), error.reason, ' Publishing is refused until it clears.');
      alarm.hidden = false;
    }
  }

  addEventListener(
    'hashchange',
    () => {
      show();
      poll();
    },
    { signal: listening.signal },
  );
  document.addEventListener(
    'visibilitychange',
    () => {
      if (!document.hidden) poll();
    },
    { signal: listening.signal },
  );
  if (!tags) {
    // Restored from sessionStorage: the tags come from whoami (a refusal signs out, as any 401).
    api.request<{ tags: string[] | string }>('/whoami').then(
      (whoami) => append(who, ` (${(Array.isArray(whoami.tags) ? whoami.tags : String(whoami.tags).split(',')).join(', ')})`),
      () => undefined,
    );
  }
  show();
  poll();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      listening.abort();
    },
  };
}

function main(): void {
  let running: { stop(): void } | null = null;
  const signOut = (reason: string | null) => {
    running?.stop();
    running = null;
    clearSession();
    replace(document.body, signInView(reason, signedIn));
  };
  const signedIn = (session: Session, tags: string[] | null) => {
    saveSession(session);
    running = startDashboard(session, tags, signOut);
  };
  const session = loadSession();
  if (session) signedIn(session, null);
  else replace(document.body, signInView(null, signedIn));
}

main();

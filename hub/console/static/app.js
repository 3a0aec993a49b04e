// Switchboard console: sign-in, role-based tabs, and the three views
// (failures.js, health.js, transferlog.js). Vanilla ES modules, no build
// step; every value from the hub is inserted with textContent (dom.js).
//
// Stable element ids and data-testid values, for browser tests (the hub's
// end-to-end test drives the console by these; keep them stable):
//
// Sign-in and session
//   #signin-form #signin-token (password) #signin-submit #signin-error
//   #whoami #whoami-name #whoami-role #signout #status
//   #panel-signin #panel-norole #norole-text
// Tabs (hidden unless the role has them: admin -> failures, health, queue;
// auditor -> log). The active tab has aria-current="page".
//   #tabs #tab-failures #tab-health #tab-queue (a link to /admin/queue/) #tab-log
// Failed syncs (#panel-failures)
//   filter: #failures-filter #f-destination #f-error-class #f-resource-type
//           #f-since #f-until (datetime-local) #failures-apply #failures-reset
//   #failures-table #failures-body #failures-select-all #failures-count
//   #failures-empty #failures-more (Load more) #failures-result #failures-error
//   #replay-selected #discard-selected #replay-all ("Replay all matching filter")
//   rows: tr[data-testid=failure-row][data-id=<failure id>], in each:
//         [data-testid=failure-select] (checkbox), [data-testid=failure-details],
//         [data-testid=failure-replay], [data-testid=failure-discard]
//   details modal: [data-testid=failure-facts], [data-testid=history-table],
//                  [data-testid=history-row]
//   replay preview modal: [data-testid=dry-run-fields],
//                  [data-testid=dry-run-field][data-status=changed|unchanged|...]
// Health (#panel-health)
//   #health-cards #health-refresh #health-window #health-updated #health-result
//   #health-error #health-empty
//   cards: article[data-testid=health-card][data-destination=<name>]
//          [data-breaker=closed|half-open|open|unknown][data-paused=true|false], in each:
//          [data-testid=breaker] [data-testid=paused] [data-testid=success-rate]
//          [data-testid=delivered] [data-testid=failed] [data-testid=retrying]
//          [data-testid=queue-depth] [data-testid=last-error]
//          [data-testid=health-pause] / [data-testid=health-resume]
// Transfer log (#panel-log)
//   filter: #log-filter #l-from #l-to (datetime-local) #l-connector
//           #l-resource-type #l-outcome (select) #l-event (select) #l-actor
//           #l-subject #l-transfer-id #log-apply #log-reset
//   #log-table #log-body #log-count #log-empty #log-more #log-error
//   rows: tr[data-testid=log-row][data-seq=<seq>]
//   #log-export-ndjson #log-export-csv
//   #log-export-status (text "Saved <file> (<size>)."; data-bytes, data-filename)
//   #log-verify #log-verify-result (data-ok=true|false)
// Modal (confirmations, details, previews: a <dialog>, not window.confirm)
//   #modal #modal-title #modal-body #modal-confirm #modal-cancel
//
// Bulk replay: "Replay all matching filter" (or "Replay selected") POSTs
// /admin/replay with dry_run=true, opens #modal titled "Replay N failed
// syncs?", and on #modal-confirm POSTs again without dry_run, writes
// "Done: replayed N, gone N." to #failures-result and reloads the table.

import { api, session, token } from './api.js';
import { $ } from './dom.js';
import { initModal, closeModal } from './modal.js';
import { initFailures, showFailures, resetFailures } from './failures.js';
import { initHealth, startHealth, stopHealth, resetHealth } from './health.js';
import { initLog, showLog, resetLog } from './transferlog.js';

// Which tabs each role sees; the hub enforces the same split on its API.
const ROLE_TABS = { admin: ['failures', 'health', 'queue'], auditor: ['log'] };
const TABS = {
  failures: { panel: 'panel-failures', show: showFailures },
  health: { panel: 'panel-health', show: startHealth },
  log: { panel: 'panel-log', show: showLog },
};

let principal = null;

function init() {
  initModal();
  initFailures();
  initHealth();
  initLog();
  $('signin-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const value = $('signin-token').value.trim();
    if (!value) {
      $('signin-error').textContent = 'Enter a token.';
      $('signin-token').focus();
      return;
    }
    signIn(value);
  });
  $('signout').addEventListener('click', () => signOut(''));
  for (const tab of document.querySelectorAll('#tabs button.tab')) {
    tab.addEventListener('click', () => selectTab(tab.dataset.tab));
  }
  window.addEventListener('sb:unauthorized', (e) => {
    if (principal) signOut(`Signed out: ${e.detail}`);
  });
  if (token.get()) signIn(token.get());
  else showSignIn('');
}

async function signIn(value) {
  token.set(value);
  $('signin-submit').disabled = true;
  $('signin-error').textContent = '';
  let who;
  try {
    who = await api('GET', '/auth/whoami');
  } catch (err) {
    token.clear();
    showSignIn('');
    $('signin-error').textContent = err.status === 401 || err.status === 403
      ? `That token was not accepted: ${err.message}`
      : err.message;
    return;
  } finally {
    $('signin-submit').disabled = false;
  }
  principal = who;
  $('signin-token').value = '';
  // River UI's own fetches cannot send our bearer header; the hub turns it
  // into an HttpOnly cookie scoped to /admin/queue.
  session('POST');
  showSignedIn();
}

async function signOut(message) {
  const bearer = token.get();
  principal = null;
  token.clear();
  closeModal();
  stopHealth();
  resetFailures();
  resetHealth();
  resetLog();
  showSignIn(message);
  if (bearer) await session('DELETE', bearer);
}

function showSignIn(message) {
  $('whoami').hidden = true;
  $('tabs').hidden = true;
  for (const id of ['panel-norole', 'panel-failures', 'panel-health', 'panel-log']) $(id).hidden = true;
  for (const tab of document.querySelectorAll('#tabs .tab')) tab.hidden = true;
  $('panel-signin').hidden = false;
  $('status').textContent = message;
  $('signin-token').focus();
}

function showSignedIn() {
  const allowed = ROLE_TABS[principal.role] || [];
  $('panel-signin').hidden = true;
  $('status').textContent = '';
  $('whoami-name').textContent = principal.name || principal.id || '';
  $('whoami-role').textContent = principal.role || 'no role';
  $('whoami').hidden = false;
  for (const tab of document.querySelectorAll('#tabs .tab')) {
    tab.hidden = !allowed.includes(tab.id.replace('tab-', ''));
  }
  const views = allowed.filter((name) => TABS[name]);
  $('tabs').hidden = allowed.length === 0;
  if (views.length === 0) {
    $('norole-text').textContent = `This token's role (${principal.role || 'none'}) has no console views. Sign in with an admin or auditor token.`;
    $('panel-norole').hidden = false;
    return;
  }
  selectTab(views[0]);
}

function selectTab(name) {
  if (!principal || !(ROLE_TABS[principal.role] || []).includes(name)) return;
  stopHealth();
  for (const [key, tab] of Object.entries(TABS)) {
    $(tab.panel).hidden = key !== name;
    const button = $(`tab-${key}`);
    if (key === name) button.setAttribute('aria-current', 'page');
    else button.removeAttribute('aria-current');
  }
  TABS[name].show();
}

init();

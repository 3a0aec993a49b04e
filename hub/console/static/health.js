// Destination health: one card per destination, refreshed every 10 s while
// the tab is shown, with Pause and Resume.

import { api } from './api.js';
import { $, el, clear, dash, fmtTime } from './dom.js';
import { openModal } from './modal.js';

const REFRESH_MS = 10_000;
const BREAKER_STATES = ['closed', 'half-open', 'open'];

let timer = null;
let generation = 0;

export function initHealth() {
  $('health-refresh').addEventListener('click', () => refresh());
}

/** startHealth loads now and every 10 s until stopHealth. */
export function startHealth() {
  stopHealth();
  timer = setInterval(() => {
    if (!document.hidden) refresh();
  }, REFRESH_MS);
  return refresh();
}

export function stopHealth() {
  if (timer !== null) clearInterval(timer);
  timer = null;
}

/** resetHealth forgets everything shown (sign-out). */
export function resetHealth() {
  stopHealth();
  generation++;
  clear($('health-cards'));
  for (const id of ['health-window', 'health-updated', 'health-result', 'health-error']) $(id).textContent = '';
  $('health-empty').hidden = true;
}

async function refresh() {
  const mine = ++generation;
  $('panel-health').setAttribute('aria-busy', 'true');
  try {
    const health = await api('GET', '/admin/health');
    if (mine !== generation) return;
    render(health);
    $('health-error').textContent = '';
    $('health-updated').textContent = `Updated ${fmtTime(new Date().toISOString()).slice(11)}.`;
  } catch (err) {
    if (mine === generation) $('health-error').textContent = err.message;
  } finally {
    if (mine === generation) $('panel-health').removeAttribute('aria-busy');
  }
}

function render(health) {
  const destinations = health.destinations || [];
  $('health-window').textContent = health.window ? `Counts over the last ${health.window}.` : '';
  clear($('health-cards'));
  $('health-cards').append(...destinations.map(card));
  $('health-empty').hidden = destinations.length > 0;
}

function card(d) {
  const breaker = BREAKER_STATES.includes(d.breaker) ? d.breaker : 'unknown';
  const rate = typeof d.success_rate === 'number' ? `${(d.success_rate * 100).toFixed(1)}%` : '\u2014';
  const stat = (label, value, testid) => [el('dt', {}, label), el('dd', { 'data-testid': testid }, value)];
  return el('article', {
    class: `card health-card breaker-${breaker}${d.paused ? ' is-paused' : ''}`,
    'data-testid': 'health-card', 'data-destination': d.name, 'data-breaker': breaker, 'data-paused': String(Boolean(d.paused)),
  },
  el('header', { class: 'health-head' },
    el('h2', {}, d.name),
    el('span', { class: 'muted' }, dash(d.type))),
  el('p', { class: 'badges' },
    el('span', { class: `badge breaker breaker-${breaker}`, 'data-testid': 'breaker' }, `Breaker ${breaker}`),
    d.paused ? el('span', { class: 'badge badge-paused', 'data-testid': 'paused' }, 'Paused') : null),
  el('dl', { class: 'stats' },
    stat('Success rate', rate, 'success-rate'),
    stat('Delivered', dash(d.delivered), 'delivered'),
    stat('Failed', dash(d.failed), 'failed'),
    stat('Retrying', dash(d.retrying), 'retrying'),
    stat('Queue depth', dash(d.queue_depth), 'queue-depth'),
    stat('Last error', d.last_error_class ? `${d.last_error_class} at ${fmtTime(d.last_error_at)}` : 'none', 'last-error')),
  d.paused
    ? el('button', { type: 'button', class: 'btn', 'data-testid': 'health-resume', onclick: () => setPaused(d.name, false) }, 'Resume')
    : el('button', { type: 'button', class: 'btn', 'data-testid': 'health-pause', onclick: () => setPaused(d.name, true) }, 'Pause'));
}

async function setPaused(name, pause) {
  $('health-result').textContent = '';
  if (pause) {
    const ok = await openModal({
      title: `Pause deliveries to ${name}?`,
      confirmLabel: 'Pause',
      body: [el('p', {}, 'New syncs for this destination wait in the queue until you resume it. Nothing is dropped.')],
    });
    if (!ok) return;
  }
  try {
    const action = pause ? 'pause' : 'resume';
    await api('POST', `/admin/destinations/${encodeURIComponent(name)}/${action}`);
    $('health-result').textContent = pause ? `Paused ${name}.` : `Resumed ${name}.`;
  } catch (err) {
    $('health-error').textContent = err.message;
  }
  await refresh();
}

// Failed syncs: list, filter, page, inspect, replay and discard.
//
// Bulk actions always ask the hub first with dry_run=true, so the modal
// states the count the hub will act on ("Replay 50 failed syncs?"), then
// send the same body without dry_run.

import { api } from './api.js';
import { $, el, clear, dash, fmtTime, toRFC3339, plural } from './dom.js';
import { openModal } from './modal.js';

const PAGE_SIZE = 50;
const PURGED_HINT = 'The payload was purged after the replay window; the source must send it again.';

let applied = {}; // the filter the table shows; "Replay all" acts on it, not on unsaved edits
let next = '';
let generation = 0; // discards answers to superseded loads

export function initFailures() {
  $('failures-filter').addEventListener('submit', (e) => {
    e.preventDefault();
    showFailures();
  });
  // reset fires before the fields clear; load once they have.
  $('failures-filter').addEventListener('reset', () => setTimeout(showFailures));
  $('failures-more').addEventListener('click', () => load(false));
  $('failures-select-all').addEventListener('change', (e) => {
    for (const box of rowBoxes()) box.checked = e.target.checked;
    updateSelection();
  });
  $('failures-body').addEventListener('change', (e) => {
    if (e.target.matches('[data-testid="failure-select"]')) updateSelection();
  });
  $('replay-selected').addEventListener('click', () => bulk('replay', { ids: selectedIds() }));
  $('discard-selected').addEventListener('click', () => bulk('discard', { ids: selectedIds() }));
  $('replay-all').addEventListener('click', async () => {
    // Act on what the form says and the table shows: apply unsaved edits first.
    if (JSON.stringify(readFilter()) !== JSON.stringify(applied)) await showFailures();
    bulk('replay', { filter: { ...applied } });
  });
}

/** showFailures applies the filter form and loads the first page. */
export function showFailures() {
  applied = readFilter();
  return load(true);
}

/** resetFailures forgets everything shown (sign-out). */
export function resetFailures() {
  generation++;
  $('failures-filter').reset();
  clear($('failures-body'));
  applied = {};
  next = '';
  for (const id of ['failures-result', 'failures-error', 'failures-count']) $(id).textContent = '';
  $('failures-more').hidden = true;
  $('failures-empty').hidden = true;
  updateSelection();
}

function readFilter() {
  const f = {};
  const text = (id) => $(id).value.trim();
  if (text('f-destination')) f.destination = text('f-destination');
  if (text('f-error-class')) f.error_class = text('f-error-class');
  if (text('f-resource-type')) f.resource_type = text('f-resource-type');
  if (toRFC3339($('f-since').value)) f.since = toRFC3339($('f-since').value);
  if (toRFC3339($('f-until').value)) f.until = toRFC3339($('f-until').value);
  return f;
}

async function load(fresh) {
  if (!fresh && !next) return;
  const mine = ++generation;
  const query = { ...applied, limit: PAGE_SIZE };
  if (!fresh) query.cursor = next;
  $('failures-error').textContent = '';
  $('panel-failures').setAttribute('aria-busy', 'true');
  $('failures-more').disabled = true;
  try {
    const page = await api('GET', '/admin/failures', { query });
    if (mine !== generation) return;
    if (fresh) {
      clear($('failures-body'));
      $('failures-select-all').checked = false;
    }
    $('failures-body').append(...(page.items || []).map(row));
    next = page.next || '';
  } catch (err) {
    if (mine !== generation) return;
    $('failures-error').textContent = err.message;
  } finally {
    if (mine === generation) {
      $('panel-failures').removeAttribute('aria-busy');
      $('failures-more').disabled = false;
      $('failures-more').hidden = !next;
      const shown = rowBoxes().length;
      $('failures-empty').hidden = shown > 0 || $('failures-error').textContent !== '';
      $('failures-count').textContent = shown ? `${plural(shown, 'failed sync', 'failed syncs')} shown${next ? ' (more available)' : ''}` : '';
      updateSelection();
    }
  }
}

function row(f) {
  const purged = f.payload === 'purged';
  const payload = purged
    ? el('span', { class: 'badge badge-muted', title: PURGED_HINT }, 'purged')
    : el('span', { class: 'badge badge-ok', title: f.purge_after ? `Kept until ${fmtTime(f.purge_after)}` : null }, 'kept');
  return el('tr', { 'data-testid': 'failure-row', 'data-id': f.id },
    el('td', {}, el('input', { type: 'checkbox', 'data-testid': 'failure-select', value: f.id, 'aria-label': `Select ${f.id}` })),
    el('td', { class: 'mono wrap' }, f.id),
    el('td', {}, dash(f.destination)),
    el('td', {}, dash(f.resource_type)),
    el('td', {}, dash(f.interaction)),
    el('td', {}, el('span', { class: 'err-class' }, dash(f.error_class)), f.error_code ? el('span', { class: 'muted' }, ` / ${f.error_code}`) : null),
    el('td', { class: 'num' }, dash(f.http_status)),
    el('td', { class: 'num' }, dash(f.attempts)),
    el('td', { class: 'num' }, dash(f.replays)),
    el('td', { class: 'nowrap' }, fmtTime(f.failed_at)),
    el('td', {}, payload),
    el('td', { class: 'row-actions' },
      el('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'failure-details', onclick: () => details(f.id) }, 'Details'),
      el('button', {
        type: 'button', class: 'btn btn-small', 'data-testid': 'failure-replay', disabled: purged,
        title: purged ? PURGED_HINT : null, onclick: () => replayOne(f.id),
      }, 'Replay'),
      el('button', { type: 'button', class: 'btn btn-small btn-danger-quiet', 'data-testid': 'failure-discard', onclick: () => discardOne(f.id) }, 'Discard'),
    ),
  );
}

function rowBoxes() {
  return [...$('failures-body').querySelectorAll('[data-testid="failure-select"]')];
}

function selectedIds() {
  return rowBoxes().filter((b) => b.checked).map((b) => b.value);
}

function updateSelection() {
  const n = selectedIds().length;
  $('replay-selected').disabled = n === 0;
  $('discard-selected').disabled = n === 0;
  $('replay-selected').textContent = n ? `Replay selected (${n})` : 'Replay selected';
  $('discard-selected').textContent = n ? `Discard selected (${n})` : 'Discard selected';
}

// Ids are "<transfer_id>:<entry>:<destination>"; ':' is legal in a path
// segment, so keep it readable and escape only what must be.
function idPath(id) {
  return encodeURIComponent(id).replace(/%3A/gi, ':');
}

function say(text) {
  $('failures-error').textContent = '';
  $('failures-result').textContent = text;
}

function fail(err) {
  $('failures-result').textContent = '';
  $('failures-error').textContent = err.message;
}

/** bulk replays or discards target ({ids} or {filter}) after a dry run and a confirmation. */
async function bulk(kind, target) {
  const path = kind === 'replay' ? '/admin/replay' : '/admin/discard';
  const verb = kind === 'replay' ? 'Replay' : 'Discard';
  say('');
  let preview;
  try {
    preview = await api('POST', path, { body: { ...target, dry_run: true } });
  } catch (err) {
    fail(err);
    return;
  }
  const n = preview.matched || 0;
  if (n === 0) {
    say(`No failed syncs match; nothing to ${kind}.`);
    return;
  }
  const ok = await openModal({
    title: `${verb} ${plural(n, 'failed sync', 'failed syncs')}?`,
    body: describeTarget(kind, target),
    confirmLabel: `${verb} ${n}`,
    danger: kind === 'discard',
  });
  if (!ok) return;
  try {
    const res = await api('POST', path, { body: { ...target, dry_run: false } });
    say(kind === 'replay'
      ? `Done: replayed ${res.replayed ?? 0}, gone ${res.gone ?? 0}.`
      : `Done: discarded ${res.discarded ?? 0}.`);
  } catch (err) {
    fail(err);
  }
  await load(true);
}

function describeTarget(kind, target) {
  const nodes = [];
  if (target.ids) {
    nodes.push(el('p', {}, `The ${plural(target.ids.length, 'selected failed sync', 'selected failed syncs')}.`));
  } else {
    const entries = Object.entries(target.filter || {});
    if (entries.length === 0) {
      nodes.push(el('p', { class: 'warn' }, 'No filter is set: this matches every failed sync.'));
    } else {
      nodes.push(el('p', {}, 'Every failed sync matching the filter:'));
      nodes.push(el('ul', { class: 'filter-list' }, entries.map(([k, v]) => el('li', {}, el('span', { class: 'mono' }, k), ' = ', v))));
    }
  }
  nodes.push(el('p', { class: 'muted' }, kind === 'replay'
    ? 'They are queued for delivery again. Those whose payload was purged cannot be replayed and are counted as gone.'
    : 'Discarded syncs are never retried. The transfer log keeps a record of the discard.'));
  return nodes;
}

async function details(id) {
  let f;
  try {
    f = await api('GET', `/admin/failures/${idPath(id)}`);
  } catch (err) {
    fail(err);
    return;
  }
  const facts = [
    ['Transfer', f.transfer_id], ['Entry', f.entry], ['Destination', f.destination],
    ['Resource type', f.resource_type], ['Interaction', f.interaction],
    ['Error class', f.error_class], ['Error code', f.error_code], ['HTTP status', f.http_status],
    ['Attempts', f.attempts], ['Replays', f.replays],
    ['Created', fmtTime(f.created_at)], ['Failed', fmtTime(f.failed_at)],
    ['Payload', f.payload === 'purged' ? 'purged' : `kept until ${fmtTime(f.purge_after)}`],
  ];
  const history = f.history || [];
  openModal({
    title: 'Failed sync',
    wide: true,
    confirm: false,
    body: [
      el('p', { class: 'mono wrap' }, id),
      el('dl', { class: 'facts', 'data-testid': 'failure-facts' }, facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, dash(v))])),
      el('h3', {}, 'History'),
      history.length === 0 ? el('p', { class: 'muted' }, 'No history recorded.') : el('div', { class: 'table-wrap' },
        el('table', { 'data-testid': 'history-table' },
          el('thead', {}, el('tr', {}, ['At', 'Event', 'Attempt', 'Outcome', 'HTTP', 'Error class', 'Latency', 'Actor'].map((h) => el('th', { scope: 'col' }, h)))),
          el('tbody', {}, history.map((h) => el('tr', { 'data-testid': 'history-row' },
            el('td', { class: 'nowrap' }, fmtTime(h.at)), el('td', {}, dash(h.event)), el('td', { class: 'num' }, dash(h.attempt)),
            el('td', {}, dash(h.outcome)), el('td', { class: 'num' }, dash(h.http_status)), el('td', {}, dash(h.error_class)),
            el('td', { class: 'num' }, h.latency_ms === undefined ? '\u2014' : `${h.latency_ms} ms`), el('td', {}, dash(h.actor)),
          ))),
        )),
    ],
  });
}

async function replayOne(id) {
  say('');
  let preview;
  try {
    preview = await api('POST', `/admin/failures/${idPath(id)}/replay`, { query: { dry_run: 'true' } });
  } catch (err) {
    fail(err);
    return;
  }
  const fields = preview.fields || [];
  const ok = await openModal({
    title: 'Replay this failed sync?',
    wide: true,
    confirmLabel: 'Replay',
    body: [
      el('p', { class: 'mono wrap' }, id),
      el('p', {}, `The hub will ${dash(preview.operation)} at ${dash(preview.destination)}.`),
      fields.length === 0 ? el('p', { class: 'muted' }, 'No field-level preview is available for this destination.') : el('div', { class: 'table-wrap' },
        el('table', { 'data-testid': 'dry-run-fields' },
          el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Field'), el('th', { scope: 'col' }, 'Status'))),
          el('tbody', {}, fields.map((fl) => el('tr', { 'data-testid': 'dry-run-field', 'data-status': fl.status },
            el('td', { class: 'mono' }, fl.name),
            el('td', {}, el('span', { class: `badge field-${fieldStatusClass(fl.status)}` }, dash(fl.status))),
          ))),
        )),
    ],
  });
  if (!ok) return;
  try {
    const res = await api('POST', `/admin/failures/${idPath(id)}/replay`);
    say(`Done: replayed ${res.replayed ?? 0}${res.key_generation !== undefined ? ` (key generation ${res.key_generation})` : ''}.`);
  } catch (err) {
    fail(err);
  }
  await load(true);
}

function fieldStatusClass(status) {
  return ['changed', 'unchanged', 'added', 'removed'].includes(status) ? status : 'unknown';
}

async function discardOne(id) {
  say('');
  const ok = await openModal({
    title: 'Discard this failed sync?',
    confirmLabel: 'Discard',
    danger: true,
    body: [
      el('p', { class: 'mono wrap' }, id),
      el('p', { class: 'muted' }, 'It will never be retried. The transfer log keeps a record of the discard.'),
    ],
  });
  if (!ok) return;
  try {
    const res = await api('POST', `/admin/failures/${idPath(id)}/discard`);
    say(`Done: discarded ${res.discarded ?? 0}.`);
  } catch (err) {
    fail(err);
  }
  await load(true);
}

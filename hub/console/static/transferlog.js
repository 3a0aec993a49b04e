// Transfer log (auditors): filter, page, export and verify the hash chain.

import { api, download } from './api.js';
import { $, el, clear, dash, breakable, fmtTime, fmtBytes, toRFC3339, plural } from './dom.js';

const PAGE_SIZE = 100;
const TEXT_FILTERS = [
  ['l-connector', 'connector'], ['l-resource-type', 'resource_type'], ['l-outcome', 'outcome'],
  ['l-event', 'event'], ['l-actor', 'actor'], ['l-subject', 'subject'], ['l-transfer-id', 'transfer_id'],
];

let applied = {};
let next = '';
let generation = 0;

export function initLog() {
  $('log-filter').addEventListener('submit', (e) => {
    e.preventDefault();
    showLog();
  });
  $('log-filter').addEventListener('reset', () => setTimeout(showLog));
  $('log-more').addEventListener('click', () => load(false));
  $('log-export-ndjson').addEventListener('click', () => exportRows('ndjson'));
  $('log-export-csv').addEventListener('click', () => exportRows('csv'));
  $('log-verify').addEventListener('click', verify);
}

/** showLog applies the filter form and loads the first page. */
export function showLog() {
  applied = readFilter();
  return load(true);
}

/** resetLog forgets everything shown (sign-out). */
export function resetLog() {
  generation++;
  $('log-filter').reset();
  clear($('log-body'));
  applied = {};
  next = '';
  for (const id of ['log-count', 'log-export-status', 'log-verify-result', 'log-error']) $(id).textContent = '';
  $('log-verify-result').removeAttribute('data-ok');
  $('log-more').hidden = true;
  $('log-empty').hidden = true;
}

function readFilter() {
  const f = {};
  if (toRFC3339($('l-from').value)) f.from = toRFC3339($('l-from').value);
  if (toRFC3339($('l-to').value)) f.to = toRFC3339($('l-to').value);
  for (const [id, name] of TEXT_FILTERS) {
    const v = $(id).value.trim();
    if (v) f[name] = v;
  }
  return f;
}

async function load(fresh) {
  if (!fresh && !next) return;
  const mine = ++generation;
  const query = { ...applied, limit: PAGE_SIZE };
  if (!fresh) query.cursor = next;
  $('log-error').textContent = '';
  $('panel-log').setAttribute('aria-busy', 'true');
  $('log-more').disabled = true;
  try {
    const page = await api('GET', '/audit/log', { query });
    if (mine !== generation) return;
    if (fresh) clear($('log-body'));
    $('log-body').append(...(page.items || []).map(row));
    next = page.next || '';
  } catch (err) {
    if (mine === generation) $('log-error').textContent = err.message;
  } finally {
    if (mine === generation) {
      $('panel-log').removeAttribute('aria-busy');
      $('log-more').disabled = false;
      $('log-more').hidden = !next;
      const shown = $('log-body').rows.length;
      $('log-empty').hidden = shown > 0 || $('log-error').textContent !== '';
      $('log-count').textContent = shown ? `${plural(shown, 'row', 'rows')} shown${next ? ' (more available)' : ''}` : '';
    }
  }
}

function row(r) {
  const digest = r.payload_digest || '';
  return el('tr', { 'data-testid': 'log-row', 'data-seq': r.seq, class: r.outcome === 'failed' ? 'row-failed' : null },
    el('td', { class: 'num mono' }, dash(r.seq)),
    el('td', { title: r.at }, ...stacked(fmtTime(r.at))),
    el('td', {}, breakable(r.event)),
    el('td', {}, dash(r.direction)),
    el('td', {}, breakable(r.source)),
    el('td', {}, breakable(r.destination)),
    el('td', {}, breakable(r.resource_type)),
    el('td', {}, breakable(r.interaction)),
    el('td', {}, r.outcome ? el('span', { class: `badge outcome-${outcomeClass(r.outcome)}` }, r.outcome) : '\u2014'),
    el('td', { class: 'num' }, dash(r.http_status)),
    el('td', { class: 'num' }, dash(r.attempt)),
    el('td', { class: 'num nowrap' }, r.latency_ms === undefined ? '\u2014' : `${r.latency_ms} ms`),
    el('td', {}, breakable(r.error_class)),
    el('td', {}, breakable(r.actor)),
    el('td', { class: 'mono', title: digest || null }, digest ? `${shortDigest(digest)}\u2026` : '\u2014'),
  );
}

// stacked shows "2026-11-20 09:00:00Z" as the date and the clock, each
// whole: on one line where the table has room, the clock under the date
// where it has not.
function stacked(time) {
  const [date, clock] = time.split(' ');
  return clock === undefined ? [time] : [el('span', { class: 'nowrap' }, date), ' ', el('span', { class: 'nowrap' }, clock)];
}

function outcomeClass(outcome) {
  return ['delivered', 'retrying', 'failed', 'skipped'].includes(outcome) ? outcome : 'other';
}

// "sha256:0123abcd..." -> "0123abcd"; enough to compare by eye, and the
// cell's title holds the whole digest.
function shortDigest(d) {
  return d.slice(d.indexOf(':') + 1).slice(0, 8);
}

async function exportRows(format) {
  const status = $('log-export-status');
  status.textContent = `Exporting ${format.toUpperCase()}\u2026`;
  status.removeAttribute('data-bytes');
  $('log-error').textContent = '';
  const stamp = new Date().toISOString().slice(0, 19).replace(/[-:]/g, '');
  const filename = `switchboard-transfer-log-${stamp}.${format}`;
  try {
    // The filter the table shows, so the file holds what the auditor saw;
    // unsaved edits to the form are applied first.
    if (JSON.stringify(readFilter()) !== JSON.stringify(applied)) await showLog();
    const blob = await download('/audit/export', { format, ...applied }, filename);
    status.textContent = `Saved ${filename} (${fmtBytes(blob.size)}).`;
    status.setAttribute('data-bytes', String(blob.size));
    status.setAttribute('data-filename', filename);
  } catch (err) {
    status.textContent = '';
    $('log-error').textContent = err.message;
  }
}

async function verify() {
  const out = $('log-verify-result');
  out.textContent = 'Verifying the hash chain\u2026';
  out.removeAttribute('data-ok');
  try {
    const v = await api('GET', '/audit/verify');
    out.setAttribute('data-ok', String(Boolean(v.ok)));
    if (v.ok) {
      const head = v.head ? ` Head: seq ${v.head.seq}.` : '';
      const pending = v.pending ? ` ${plural(v.pending, 'row is', 'rows are')} still pending.` : '';
      out.textContent = `Chain intact: ${plural(v.rows ?? 0, 'row', 'rows')} verified.${head}${pending}`;
    } else {
      const b = v.break || {};
      out.textContent = `Chain broken at seq ${dash(b.seq)}: ${dash(b.reason)}.`;
    }
  } catch (err) {
    out.textContent = '';
    $('log-error').textContent = err.message;
  }
}

// One in-page modal dialog (a <dialog>, not window.confirm, so tests and
// screen readers can drive it). openModal resolves true on Confirm, false
// on Cancel, Close or Escape.

import { $, clear } from './dom.js';

let pending = null;

/**
 * openModal shows title and body (nodes). confirm=false makes it an
 * information box with a Close button only. danger styles the confirm
 * button red. wide makes room for tables.
 */
export function openModal({ title, body = [], confirmLabel = 'Confirm', confirm = true, danger = false, wide = false }) {
  settle(false); // a modal replaces any earlier one, which counts as cancelled
  const dialog = $('modal');
  dialog.classList.toggle('modal-wide', wide);
  $('modal-title').textContent = title;
  clear($('modal-body'));
  $('modal-body').append(...[body].flat().filter(Boolean));
  const ok = $('modal-confirm');
  ok.textContent = confirmLabel;
  ok.hidden = !confirm;
  ok.className = `btn ${danger ? 'btn-danger' : 'btn-primary'}`;
  $('modal-cancel').textContent = confirm ? 'Cancel' : 'Close';
  if (!dialog.open) dialog.showModal();
  // Cancel has the focus: Enter on a dangerous dialog must not confirm it.
  $('modal-cancel').focus();
  return new Promise((resolve) => { pending = resolve; });
}

function settle(value) {
  const resolve = pending;
  pending = null;
  const dialog = $('modal');
  if (dialog.open) dialog.close();
  if (resolve) resolve(value);
}

/** initModal wires the buttons and Escape. */
export function initModal() {
  $('modal-confirm').addEventListener('click', () => settle(true));
  $('modal-cancel').addEventListener('click', () => settle(false));
  // Escape closes the dialog. The close event is queued, so it can arrive
  // after a new modal opened: only a dialog that is still closed cancels.
  $('modal').addEventListener('close', () => {
    if (!$('modal').open) settle(false);
  });
}

/** closeModal cancels whatever is open (sign-out). */
export function closeModal() {
  settle(false);
}

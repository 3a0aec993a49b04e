// DOM helpers. Everything the console shows from the hub goes through el()
// and textContent, never innerHTML: values are data, not markup.

/** $ returns the element with this id. */
export const $ = (id) => document.getElementById(id);

/**
 * el builds an element. attrs: "class", "text" (textContent), "on<event>"
 * (a listener), anything else an attribute (true = present, false/null/
 * undefined = absent). Children are nodes or strings (text nodes).
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = String(value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** clear removes every child of node. */
export function clear(node) {
  node.replaceChildren();
}

/** dash shows a missing value as an em dash, so empty cells read as "none". */
export function dash(value) {
  return value === undefined || value === null || value === '' ? '\u2014' : String(value);
}

/**
 * breakable shows an identifier (delivery_attempt, QuestionnaireResponse,
 * oidc:3f2b9c4e-8a1d-…) so that a narrow table cell can wrap it at its
 * joints, after _ - : / . and before a capital that follows a lower-case
 * letter, instead of widening the table: nodes for el(), text and <wbr>.
 */
export function breakable(value) {
  const parts = dash(value).split(/(?<=[_\-:/.])|(?<=[a-z])(?=[A-Z])/);
  return parts.flatMap((part, i) => (i === 0 ? [part] : [el('wbr'), part]));
}

/** fmtTime shows an RFC 3339 time as "YYYY-MM-DD HH:MM:SSZ" (UTC). */
export function fmtTime(value) {
  if (!value) return '\u2014';
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return d.toISOString().slice(0, 19).replace('T', ' ') + 'Z';
}

/**
 * toRFC3339 turns a datetime-local input's value (the user's local time)
 * into the RFC 3339 UTC time the API expects; '' stays ''.
 */
export function toRFC3339(localValue) {
  if (!localValue) return '';
  const d = new Date(localValue);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

/** plural: "1 failed sync", "2 failed syncs". */
export function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

/** fmtBytes: 1234 -> "1.2 KB". */
export function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

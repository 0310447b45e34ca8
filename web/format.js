// format.js: values from the API as display text: a path's file name, a
// timestamp, a byte size, any scalar or list.

export function baseName(path) {
  const s = String(path || '');
  const i = s.lastIndexOf('/');
  return i >= 0 ? s.slice(i + 1) : s;
}

export function fmtTime(value) {
  if (!value) return '';
  return String(value).replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function fmtBytes(n) {
  if (typeof n !== 'number') return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

export function scalarText(value) {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return value.map(scalarText).join(', ');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

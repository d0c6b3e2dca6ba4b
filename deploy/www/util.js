/* Small helpers of the web client, without state: elements, text, time. */

export const el = (tag, cls, text) => {
	const e = document.createElement(tag);
	if (cls) e.className = cls;
	if (text !== undefined) e.textContent = text;
	return e;
};
// Code points, as the server counts (an emoji is one, not two UTF-16 units).
export const codePoints = (s) => Array.from(s).length;

export function uuid() {
	if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
	const b = new Uint8Array(16);
	crypto.getRandomValues(b);
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
	return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function tokenClaims(token) {
	try {
		const p = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
		return JSON.parse(atob(p + '==='.slice((p.length + 3) % 4)));
	} catch (e) {
		return {};
	}
}

export function fmtTime(iso) {
	const d = new Date(iso);
	if (isNaN(d)) return '';
	return d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

export function dayKey(iso) {
	const d = new Date(iso);
	return isNaN(d) ? '' : d.toDateString();
}

export function dayLabel(iso) {
	const d = new Date(iso);
	const today = new Date();
	const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
	if (d.toDateString() === today.toDateString()) return 'Today';
	if (d.toDateString() === yesterday.toDateString()) return 'Yesterday';
	const opts = { weekday: 'long', month: 'long', day: 'numeric' };
	if (d.getFullYear() !== today.getFullYear()) opts.year = 'numeric';
	return d.toLocaleDateString(undefined, opts);
}

// Text with its http(s) links made clickable, built from text nodes and
// anchors only: user content never goes through innerHTML.
const URL_RE = /\bhttps?:\/\/[^\s<>"]+/gi;
export function linkify(parent, text) {
	let at = 0;
	for (const m of text.matchAll(URL_RE)) {
		let url = m[0];
		// Trailing punctuation belongs to the sentence, not the link.
		while (/[.,;:!?'\])}]$/.test(url)) {
			const last = url[url.length - 1];
			if (last === ')' && url.split('(').length > url.split(')').length - 1) break;
			url = url.slice(0, -1);
		}
		let ok = false;
		try { ok = ['http:', 'https:'].includes(new URL(url).protocol); } catch (e) { ok = false; }
		if (!ok) continue;
		if (m.index > at) parent.appendChild(document.createTextNode(text.slice(at, m.index)));
		const a = el('a', null, url);
		a.href = url;
		a.target = '_blank';
		a.rel = 'noopener noreferrer';
		parent.appendChild(a);
		at = m.index + url.length;
	}
	if (at < text.length) parent.appendChild(document.createTextNode(text.slice(at)));
}

/* The open room's messages: history, rendering (date separators, unread
 * divider, grouping), editing and deleting one's own, read state and
 * notifications. */

import { el, codePoints, fmtTime, dayKey, dayLabel, linkify } from './util.js';
import { api } from './session.js';
import { MAX_CHARS, state, $, showError } from './state.js';
import { hashRoom, setPhoneView } from './app.js';
import { isMember, renderRoomHead, renderRooms, togglePanel } from './rooms.js';
import { clearTyping, renderOnline } from './compose.js';
import { closeSocket, connect } from './connection.js';

const PAGE = 50;                 // messages per history page
const GROUP_MS = 5 * 60000;      // consecutive messages of one sender group together
const READ_EVERY_MS = 1000;      // read receipts sent at most this often

/* ---- messages ------------------------------------------------------- */

export function isNearBottom() {
	const s = $('messages-scroll');
	return s.scrollHeight - s.scrollTop - s.clientHeight < 60;
}

export function scrollToBottom() {
	const s = $('messages-scroll');
	s.scrollTop = s.scrollHeight;
	updateJump();
}

export function updateJump() {
	const away = !isNearBottom();
	const b = $('jump-btn');
	b.hidden = !away;
	b.textContent = state.unseen > 0 ? `${state.unseen} new message${state.unseen > 1 ? 's' : ''} ↓` : 'Jump to latest ↓';
}

export function isMine(m) {
	return state.me && m.sender && m.sender.id === state.me.id;
}

function messageItem(m, cont) {
	const li = el('li', 'message');
	li.dataset.id = m.id;
	if (isMine(m)) li.classList.add('mine');
	if (cont) li.classList.add('cont');
	const meta = el('div', 'meta');
	const sender = el('span', 'sender', m.sender ? m.sender.username : '?');
	if (cont) sender.classList.add('visually-hidden');
	meta.appendChild(sender);
	const t = el('time', 'time', fmtTime(m.timestamp));
	t.dateTime = m.timestamp;
	t.title = new Date(m.timestamp).toLocaleString();
	meta.appendChild(t);
	if (m.edited_at) meta.appendChild(el('span', 'edited', '(edited)'));
	if (m.message_type && m.message_type !== 'text') meta.appendChild(el('span', 'kind', m.message_type));
	li.appendChild(meta);
	if (state.editing === m.id) {
		li.appendChild(editForm(m));
	} else {
		const c = el('div', 'content');
		c.dir = 'auto';
		linkify(c, m.content);
		li.appendChild(c);
	}
	if (isMine(m) && state.editing !== m.id) {
		const actions = el('div', 'actions');
		const edit = el('button', 'link small', 'Edit');
		edit.type = 'button';
		edit.dataset.action = 'edit';
		edit.setAttribute('aria-label', 'Edit message');
		const del = el('button', 'link small', 'Delete');
		del.type = 'button';
		del.dataset.action = 'delete';
		del.setAttribute('aria-label', 'Delete message');
		actions.append(edit, del);
		li.appendChild(actions);
	}
	return li;
}

function pendingItem(clientId, p) {
	const li = el('li', 'message mine pending');
	li.dataset.clientId = clientId;
	const meta = el('div', 'meta');
	meta.appendChild(el('span', 'sender', state.me.username));
	meta.appendChild(el('span', 'time', p.failed ? 'not sent' : 'sending…'));
	li.appendChild(meta);
	const c = el('div', 'content', p.content);
	c.dir = 'auto';
	li.appendChild(c);
	return li;
}

// The whole list from state: date separators, the unread divider,
// grouping by sender, pending messages last.
export function renderMessages() {
	const list = $('messages');
	const focusedAction = document.activeElement && list.contains(document.activeElement)
		? document.activeElement : null;
	// The message being edited keeps its form (and what was typed in it).
	let editing = state.editing ? list.querySelector(`li.message[data-id="${state.editing}"]`) : null;
	if (editing && !editing.querySelector('.edit-form')) editing = null;
	const frag = document.createDocumentFragment();
	const ids = [...state.messages.keys()].sort((a, b) => a - b);
	let prev = null;
	for (const id of ids) {
		const m = state.messages.get(id);
		let cont = !!prev;
		if (!prev || dayKey(prev.timestamp) !== dayKey(m.timestamp)) {
			const d = el('li', 'divider day');
			d.appendChild(el('span', null, dayLabel(m.timestamp)));
			frag.appendChild(d);
			cont = false;
		}
		if (id === state.dividerId) {
			const d = el('li', 'divider unread-divider');
			d.appendChild(el('span', null, 'New messages'));
			frag.appendChild(d);
			cont = false;
		}
		if (cont && (!prev.sender || !m.sender || prev.sender.id !== m.sender.id ||
			new Date(m.timestamp) - new Date(prev.timestamp) > GROUP_MS)) cont = false;
		if (editing && id === state.editing) frag.appendChild(editing);
		else frag.appendChild(messageItem(m, cont));
		prev = m;
	}
	if (state.room) {
		for (const [cid, p] of state.pending) if (p.room === state.room.id) frag.appendChild(pendingItem(cid, p));
	}
	list.textContent = '';
	list.appendChild(frag);
	renderReads();
	if (focusedAction && !list.contains(focusedAction)) $('messages-scroll').focus({ preventScroll: true });
	$('room-start').hidden = state.hasMore || !state.room;
	if (state.room) $('room-start').textContent = `This is the beginning of ${state.room.name}.`;
}

export function putMessage(m) {
	if (!m || typeof m.id !== 'number') return false;
	const isNew = !state.messages.has(m.id);
	state.messages.set(m.id, m);
	if (m.id > state.newestId) state.newestId = m.id;
	if (m.client_id && state.pending.has(m.client_id)) {
		const p = state.pending.get(m.client_id);
		state.pending.delete(m.client_id);
		// The message that failed is delivered after all: its error is stale.
		if (p.failed) showError('composer-error', '');
	}
	return isNew;
}

export function removeMessage(id) {
	state.messages.delete(id);
	if (state.newestId === id) state.newestId = Math.max(0, ...state.messages.keys());
	if (state.editing === id) state.editing = 0;
	if (state.dividerId === id) state.dividerId = [...state.messages.keys()].filter((x) => x > id).sort((a, b) => a - b)[0] || 0;
	renderMessages();
}

export async function loadHistory() {
	const room = state.room;
	const page = await api('GET', `/chat/rooms/${room.id}/messages/?limit=${PAGE}`);
	if (state.room !== room) return;
	state.messages.clear();
	state.newestId = 0;
	for (const m of page.results) putMessage(m);
	state.hasMore = !!page.has_more;
	$('older').hidden = !state.hasMore;
	// The unread divider goes before the first of the unread messages of others.
	const unread = state.unread.get(room.id) || 0;
	state.dividerId = 0;
	if (unread > 0) {
		let n = 0;
		const ids = [...state.messages.keys()].sort((a, b) => b - a);
		for (const id of ids) {
			if (isMine(state.messages.get(id))) continue;
			state.dividerId = id;
			if (++n >= unread) break;
		}
	}
	renderMessages();
	const div = state.dividerId && $('messages').querySelector('.unread-divider');
	if (div && div.offsetTop > $('messages-scroll').clientHeight / 2) {
		$('messages-scroll').scrollTop = div.offsetTop - 40;
	} else {
		scrollToBottom();
	}
	updateJump();
}

export async function loadOlder() {
	if (!state.room || !state.hasMore || state.loadingOlder) return;
	const ids = [...state.messages.keys()];
	if (!ids.length) return;
	const oldest = Math.min(...ids);
	const room = state.room;
	state.loadingOlder = true;
	$('older').textContent = 'Loading older messages…';
	try {
		const page = await api('GET', `/chat/rooms/${room.id}/messages/?limit=${PAGE}&before=${oldest}`);
		if (state.room !== room) return;
		const s = $('messages-scroll');
		const fromBottom = s.scrollHeight - s.scrollTop;
		for (const m of page.results) putMessage(m);
		state.hasMore = !!page.has_more;
		$('older').hidden = !state.hasMore;
		renderMessages();
		s.scrollTop = s.scrollHeight - fromBottom; // keep the reader's place
	} catch (e) {
		showError('room-error', e.message);
	} finally {
		state.loadingOlder = false;
		$('older').textContent = 'Scroll up for older messages';
	}
}

export async function openRoom(id, opts) {
	opts = opts || {};
	closeSocket();
	clearTyping();
	showError('room-error', '');
	togglePanel(false);
	let room = state.rooms.find((r) => r.id === id);
	if (!room) {
		try {
			room = await api('GET', `/chat/rooms/${id}/`);
		} catch (e) {
			showError('room-error', e.status === 404 ? 'That room does not exist or is private.' : e.message);
			return;
		}
	}
	state.room = room;
	if (hashRoom() !== id) history.replaceState(null, '', `#room=${id}`);
	state.editing = 0;
	state.unseen = 0;
	state.online.clear();
	state.readPos.clear();
	state.lastMarked = 0;
	state.messages.clear();
	$('messages').textContent = '';
	$('composer').hidden = false;
	renderRoomHead();
	renderOnline();
	renderRooms();
	setPhoneView('room');
	try {
		await loadHistory();
	} catch (e) {
		showError('room-error', e.message);
		return;
	}
	if (state.room !== room) return;
	state.reconnectDelay = 1000;
	connect();
	markRead();
	loadReads();
	if (opts.focus !== false) $('message-input').focus({ preventScroll: true });
}

/* ---- editing and deleting one's own messages ------------------------ */

function editForm(m) {
	const f = el('form', 'edit-form');
	const ta = el('textarea');
	ta.value = m.content;
	ta.rows = 2;
	ta.setAttribute('aria-label', 'Edit message');
	ta.dir = 'auto';
	const save = el('button', 'small', 'Save');
	save.type = 'submit';
	const cancel = el('button', 'secondary small', 'Cancel');
	cancel.type = 'button';
	cancel.addEventListener('click', stopEditing);
	const err = el('p', 'form-error');
	err.setAttribute('role', 'alert');
	err.hidden = true;
	ta.addEventListener('keydown', (ev) => {
		if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); f.requestSubmit(); }
		if (ev.key === 'Escape') { ev.preventDefault(); stopEditing(); }
	});
	f.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		const content = ta.value;
		const n = codePoints(content);
		if (!content.trim()) { err.textContent = 'A message cannot be empty; delete it instead.'; err.hidden = false; return; }
		if (n > MAX_CHARS) { err.textContent = `${n - MAX_CHARS} characters too many (at most ${MAX_CHARS}).`; err.hidden = false; return; }
		try {
			const updated = await api('PATCH', `/chat/messages/${m.id}/`, { content });
			state.editing = 0;
			putMessage(updated);
			renderMessages();
			$('message-input').focus({ preventScroll: true });
		} catch (e) {
			err.textContent = e.message;
			err.hidden = false;
		}
	});
	const row = el('div', 'row');
	row.append(save, cancel);
	f.append(ta, row, err);
	setTimeout(() => { ta.focus(); ta.setSelectionRange(ta.value.length, ta.value.length); }, 0);
	return f;
}

export function stopEditing() {
	state.editing = 0;
	renderMessages();
}

export async function onMessageClick(ev) {
	const b = ev.target.closest('button[data-action]');
	const li = ev.target.closest('li.message');
	if (!b) {
		// On a touch screen a tap shows the message's actions.
		if (li && !ev.target.closest('a, form')) {
			for (const x of $('messages').querySelectorAll('li.selected')) if (x !== li) x.classList.remove('selected');
			li.classList.toggle('selected');
		}
		return;
	}
	const id = Number(li.dataset.id);
	if (b.dataset.action === 'edit') {
		state.editing = id;
		renderMessages();
	} else if (b.dataset.action === 'delete') {
		if (!confirm('Delete this message for everyone?')) return;
		try {
			await api('DELETE', `/chat/messages/${id}/`);
			removeMessage(id);
		} catch (e) {
			showError('composer-error', e.message);
		}
	}
}

/* ---- read state ----------------------------------------------------- */

async function loadReads() {
	if (!state.me) return;
	const mine = [...state.messages.values()].filter(isMine);
	if (!mine.length) return;
	const newest = mine[mine.length - 1];
	try {
		const reads = await api('GET', `/chat/messages/${newest.id}/reads/`);
		for (const r of reads || []) noteRead(r.user, newest.id);
		renderReads();
	} catch (e) {
		/* read receipts are a nicety; the chat works without them */
	}
}

export function noteRead(user, id) {
	if (!user || !state.me || user.id === state.me.id) return;
	const cur = state.readPos.get(user.id);
	if (!cur || cur.id < id) state.readPos.set(user.id, { username: user.username, id });
}

// Each reader is shown once, under my newest message they have reached.
export function renderReads() {
	for (const n of $('messages').querySelectorAll('.read')) n.remove();
	if (!state.me) return;
	const mine = [...state.messages.values()].filter(isMine).map((m) => m.id).sort((a, b) => a - b);
	const at = new Map();
	for (const r of state.readPos.values()) {
		let best = 0;
		for (const id of mine) if (id <= r.id) best = id;
		if (!best) continue;
		if (!at.has(best)) at.set(best, []);
		at.get(best).push(r.username);
	}
	for (const [id, names] of at) {
		const li = $('messages').querySelector(`li.message[data-id="${id}"]`);
		if (li) li.appendChild(el('div', 'read', 'Read by ' + names.sort().join(', ')));
	}
}

export function readerPresent() {
	return !document.hidden && (!document.hasFocus || document.hasFocus());
}

// Mark the newest message read when the reader can see it. Receipts go
// out one at a time, at most one a second (a busy room sends many
// messages); per room only the newest waiting one is sent, also after
// the reader moved on to another room.
export const readQueue = new Map(); // room id -> message id
let readBusy = false;

export function markRead() {
	if (!state.room || !readerPresent() || !state.newestId) return;
	if (!isNearBottom()) return;
	if (state.unseen) { state.unseen = 0; renderRooms(); updateJump(); }
	if (state.newestId <= state.lastMarked || !isMember(state.room)) return;
	state.lastMarked = state.newestId;
	readQueue.set(state.room.id, state.newestId);
	flushReads();
}

async function flushReads() {
	if (readBusy) return;
	readBusy = true;
	try {
		let failures = 0;
		while (readQueue.size && failures < 5) {
			const [room, id] = readQueue.entries().next().value;
			readQueue.delete(room);
			let wait = READ_EVERY_MS;
			try {
				await api('POST', `/chat/messages/${id}/read/`);
				failures = 0;
				if (!readQueue.has(room)) state.unread.delete(room);
				renderRooms();
			} catch (e) {
				// A busy or unreachable server: try again later (newer wins).
				if ((e.status === 0 || e.status >= 500 || e.status === 429) && state.me) {
					if (!readQueue.has(room)) readQueue.set(room, id);
					wait = READ_EVERY_MS * 2 ** ++failures;
				} else if (state.room && state.room.id === room && state.lastMarked === id) {
					state.lastMarked = 0;
				}
			}
			await new Promise((r) => setTimeout(r, wait));
		}
	} finally {
		readBusy = false;
	}
}

/* ---- notifications -------------------------------------------------- */

export function updateNotifyButton() {
	$('notify-btn').hidden = !('Notification' in window) || Notification.permission !== 'default';
}

export async function askNotify() {
	try { await Notification.requestPermission(); } catch (e) { /* old browsers: callback form only */ }
	updateNotifyButton();
}

export function notify(m) {
	if (!('Notification' in window) || Notification.permission !== 'granted') return;
	if (readerPresent()) return;
	try {
		const n = new Notification(`${m.sender ? m.sender.username : 'Someone'} in ${state.room.name}`, {
			body: m.content.length > 140 ? m.content.slice(0, 139) + '…' : m.content,
			tag: `room-${m.room_id}`,
		});
		n.onclick = () => { window.focus(); n.close(); };
	} catch (e) { /* some platforms allow notifications from service workers only */ }
}

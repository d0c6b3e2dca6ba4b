/* Rooms: your rooms (joined, with unread counts from /api/chat/unread/),
 * the directory of public rooms, creating, joining, leaving, deleting,
 * adding members. */

import { el } from './util.js';
import { request, api } from './session.js';
import { state, $, showError } from './state.js';
import { setPhoneView } from './app.js';
import { openRoom, stopEditing } from './messages.js';
import { closeSocket, setConn } from './connection.js';

const DIRECTORY_PAGE = 30;

/* ---- rooms ---------------------------------------------------------- */

// Membership: is_member when the server says so, else the caller's role.
export function isMember(r) {
	if (typeof r.is_member === 'boolean') return r.is_member;
	return r.role === 'owner' || r.role === 'member' || r.role === 'admin';
}

export function myRooms() {
	return state.rooms.filter(isMember);
}

export async function loadRooms() {
	const [rooms] = await Promise.all([api('GET', '/chat/rooms/'), loadUnread(true)]);
	state.rooms = Array.isArray(rooms) ? rooms : (rooms && rooms.results) || [];
	if (state.room) {
		const fresh = state.rooms.find((r) => r.id === state.room.id);
		if (fresh) state.room = fresh;
	}
	renderRooms();
	renderRoomHead();
}

// The unread counts of the joined rooms, as /api/chat/unread/ has them.
// Several may be under way (poll, focus, reconnect): only the answer to
// the newest one counts, an older one arriving late would undo it.
let unreadAsked = 0;
export async function loadUnread(noRender) {
	const n = ++unreadAsked;
	const u = await api('GET', '/chat/unread/');
	if (n !== unreadAsked) return;
	state.unread.clear();
	for (const r of (u && u.rooms) || []) state.unread.set(r.room_id, r.unread_count);
	if (!noRender) renderRooms();
}

function unreadOf(r) {
	if (state.room && state.room.id === r.id) return state.unseen;
	return state.unread.get(r.id) || 0;
}

export function renderRooms() {
	const ul = $('room-list');
	const focused = document.activeElement && ul.contains(document.activeElement)
		? Number(document.activeElement.dataset.roomId) : 0;
	ul.textContent = '';
	const mine = myRooms();
	$('no-rooms').hidden = mine.length > 0;
	const openId = state.room ? state.room.id : 0;
	const stop = mine.some((r) => r.id === focused) ? focused
		: mine.some((r) => r.id === openId) ? openId : (mine[0] && mine[0].id);
	for (const r of mine) {
		const li = el('li');
		const b = el('button', 'room-btn');
		b.type = 'button';
		b.dataset.roomId = r.id;
		b.title = r.name;
		const unread = r.id === openId ? 0 : unreadOf(r);
		// Its name reads "Room, private, 3 unread": the separators and
		// the word are for screen readers, the badge shows the number.
		const name = el('span', 'name', r.name);
		b.appendChild(name);
		if (r.is_private) {
			name.appendChild(el('span', 'visually-hidden', ', private'));
			const lock = el('span', 'lock', 'private');
			lock.setAttribute('aria-hidden', 'true');
			b.appendChild(lock);
		}
		if (unread > 0) {
			name.appendChild(el('span', 'visually-hidden', `, ${unread} unread`));
			const badge = el('span', 'badge', unread > 999 ? '999+' : String(unread));
			badge.setAttribute('aria-hidden', 'true');
			b.appendChild(badge);
		}
		if (r.id === openId) b.setAttribute('aria-current', 'true');
		b.tabIndex = r.id === stop ? 0 : -1;  // roving tabindex: one tab stop
		li.appendChild(b);
		ul.appendChild(li);
	}
	if (focused) {
		const b = ul.querySelector(`button[data-room-id="${focused}"]`);
		if (b) b.focus();
	}
	updateTitle();
}

// Arrow keys move within the room list; Tab leaves it.
export function onRoomListKey(ev) {
	const buttons = [...$('room-list').querySelectorAll('button')];
	const i = buttons.indexOf(document.activeElement);
	if (i < 0) return;
	let j = -1;
	if (ev.key === 'ArrowDown') j = Math.min(i + 1, buttons.length - 1);
	else if (ev.key === 'ArrowUp') j = Math.max(i - 1, 0);
	else if (ev.key === 'Home') j = 0;
	else if (ev.key === 'End') j = buttons.length - 1;
	if (j < 0) return;
	ev.preventDefault();
	for (const b of buttons) b.tabIndex = -1;
	buttons[j].tabIndex = 0;
	buttons[j].focus();
}

// Alt+Up/Down: previous or next joined room; Ctrl+K: to the room list.
export function onGlobalKey(ev) {
	if (!state.me) return;
	if (ev.altKey && (ev.key === 'ArrowUp' || ev.key === 'ArrowDown')) {
		const mine = myRooms();
		if (!mine.length) return;
		ev.preventDefault();
		let i = state.room ? mine.findIndex((r) => r.id === state.room.id) : -1;
		i = ev.key === 'ArrowDown' ? i + 1 : (i < 0 ? mine.length - 1 : i - 1);
		const next = mine[(i + mine.length) % mine.length];
		openRoom(next.id);
	} else if ((ev.ctrlKey || ev.metaKey) && (ev.key === 'k' || ev.key === 'K')) {
		ev.preventDefault();
		setPhoneView('list');
		const b = $('room-list').querySelector('button[tabindex="0"]');
		if (b) b.focus();
		else $('directory-search').focus();
	} else if (ev.key === 'Escape' && state.editing) {
		stopEditing();
	}
}

export function updateTitle() {
	let total = 0;
	for (const r of myRooms()) total += state.room && r.id === state.room.id ? state.unseen : (state.unread.get(r.id) || 0);
	const base = state.room && state.me ? `${state.room.name} – Chat` : 'Chat';
	document.title = total ? `(${total}) ${base}` : base;
}

export async function createRoom(ev) {
	ev.preventDefault();
	showError('new-room-error', '');
	const name = $('new-room-name').value.trim();
	if (!name) {
		showError('new-room-error', 'Give the room a name.');
		return;
	}
	try {
		const room = await api('POST', '/chat/rooms/', { name, is_private: $('new-room-private').checked });
		$('new-room-name').value = '';
		$('new-room-private').checked = false;
		toggleNewRoom(false);
		await loadRooms();
		await openRoom(room.id);
	} catch (e) {
		showError('new-room-error', e.status === 409 ? `A room named "${name}" exists already.` : e.message);
	}
}

export function toggleNewRoom(show) {
	$('new-room-form').hidden = !show;
	$('new-room-toggle').setAttribute('aria-expanded', String(show));
	showError('new-room-error', '');
	if (show) $('new-room-name').focus();
}

/* ---- directory of public rooms -------------------------------------- */

export async function searchDirectory(more) {
	const q = $('directory-search').value.trim();
	const list = $('directory-list');
	showError('directory-error', '');
	let url;
	if (more && state.dirNext) {
		url = state.dirNext.replace(/^.*?\/api/, '');
	} else {
		url = `/chat/rooms/?limit=${DIRECTORY_PAGE}` + (q ? `&search=${encodeURIComponent(q)}` : '');
		state.dirQuery = q;
	}
	let res;
	try {
		res = await request('GET', url);
	} catch (e) {
		showError('directory-error', e.message);
		return;
	}
	if (q !== $('directory-search').value.trim()) return; // a newer search is under way
	const rows = Array.isArray(res.data) ? res.data : (res.data && res.data.results) || [];
	const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(res.link || '');
	state.dirNext = next ? next[1] : null;
	// A server without search/limit answers every room: filter and cut here.
	const ql = q.toLocaleLowerCase();
	let found = rows.filter((r) => !isMember(r) && !r.is_private && (!ql || r.name.toLocaleLowerCase().includes(ql)));
	if (!next && rows.length > DIRECTORY_PAGE && !more) {
		state.dirAll = found;
		found = found.slice(0, DIRECTORY_PAGE);
	} else if (more && state.dirAll) {
		const shown = list.children.length;
		found = state.dirAll.slice(shown, shown + DIRECTORY_PAGE);
	} else {
		state.dirAll = null;
	}
	if (!more) list.textContent = '';
	for (const r of found) list.appendChild(directoryItem(r));
	const moreLocal = state.dirAll && list.children.length < state.dirAll.length;
	// A server page of rooms one has joined already shows nothing: fetch on.
	state.dirSkips = found.length || !more ? 0 : state.dirSkips + 1;
	if (!found.length && state.dirNext && state.dirSkips < 5) {
		await searchDirectory(true);
		return;
	}
	$('directory-more').hidden = !(state.dirNext || moreLocal);
	$('directory-empty').hidden = list.children.length > 0;
}

function directoryItem(r) {
	const li = el('li', 'dir-item');
	li.dataset.roomId = r.id;
	const open = el('button', 'dir-open link');
	open.type = 'button';
	open.title = r.name;
	open.appendChild(el('span', 'name', r.name));
	open.setAttribute('aria-label', `Preview ${r.name}`);
	open.addEventListener('click', () => openRoom(r.id));
	const join = el('button', 'secondary small', 'Join');
	join.type = 'button';
	join.setAttribute('aria-label', `Join ${r.name}`);
	join.addEventListener('click', () => joinRoom(r.id));
	li.append(open, join);
	return li;
}

export async function joinRoom(id) {
	showError('directory-error', '');
	try {
		await api('POST', `/chat/rooms/${id}/join/`);
		const item = $('directory-list').querySelector(`li[data-room-id="${id}"]`);
		if (item) item.remove();
		$('directory-empty').hidden = $('directory-list').children.length > 0;
		await loadRooms();
		await openRoom(id);
	} catch (e) {
		showError(state.room && state.room.id === id ? 'room-error' : 'directory-error', e.message);
	}
}

/* ---- room management ------------------------------------------------ */

export function renderRoomHead() {
	const r = state.room;
	$('room-menu-btn').hidden = !r;
	if (!r) return;
	$('room-title').textContent = r.name;
	$('room-title').title = r.name;
	const member = isMember(r);
	const owner = r.role === 'owner' || (state.me && r.created_by === state.me.id && member);
	$('join-bar').hidden = member;
	$('member-form').hidden = !owner;
	$('leave-btn').hidden = !member || owner;
	$('delete-btn').hidden = !owner;
	$('room-menu-btn').hidden = !member;
	if (!member) togglePanel(false);
}

export function togglePanel(show) {
	$('room-panel').hidden = !show;
	$('room-menu-btn').setAttribute('aria-expanded', String(show));
	for (const id of ['member-error', 'member-ok', 'panel-error']) showError(id, '');
	if (show && !$('member-form').hidden) $('member-name').focus();
}

export async function addMember(ev) {
	ev.preventDefault();
	showError('member-error', '');
	showError('member-ok', '');
	const username = $('member-name').value.trim();
	if (!username || !state.room) return;
	try {
		const m = await api('POST', `/chat/rooms/${state.room.id}/members/`, { username });
		$('member-name').value = '';
		showError('member-ok', `${(m && m.username) || username} is a member now.`);
	} catch (e) {
		showError('member-error', e.status === 404 ? `There is no user "${username}".` : e.message);
	}
}

export async function leaveRoom() {
	const r = state.room;
	if (!r || !confirm(`Leave "${r.name}"?`)) return;
	try {
		await api('POST', `/chat/rooms/${r.id}/leave/`);
	} catch (e) {
		showError('panel-error', e.message);
		return;
	}
	togglePanel(false);
	await afterRoomGone();
}

export async function deleteRoom() {
	const r = state.room;
	if (!r || !confirm(`Delete "${r.name}" and all its messages for everyone?`)) return;
	try {
		await api('DELETE', `/chat/rooms/${r.id}/`);
	} catch (e) {
		showError('panel-error', e.message);
		return;
	}
	togglePanel(false);
	await afterRoomGone();
}

async function afterRoomGone() {
	closeSocket();
	state.room = null;
	await loadRooms().catch(() => {});
	searchDirectory();
	const first = myRooms()[0];
	if (first) {
		await openRoom(first.id);
	} else {
		history.replaceState(null, '', location.pathname + location.search);
		clearRoomView();
		setPhoneView('list');
	}
}

function clearRoomView() {
	$('room-title').textContent = 'Choose a room';
	$('messages').textContent = '';
	$('composer').hidden = true;
	$('join-bar').hidden = true;
	$('room-menu-btn').hidden = true;
	$('room-start').hidden = true;
	$('older').hidden = true;
	setConn('');
	renderRooms();
}

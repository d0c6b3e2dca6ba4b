/* The chat web client: plain JavaScript modules (this page, session.js for
 * the tokens and HTTP, util.js for helpers), no build step, no dependencies.
 * What it does: docs/web-client.md.
 *
 * HTTP API under /api/ (same origin), WebSocket at /ws/chat/{id}/ on the same
 * host. Tabs share the session (session.js); the storage event keeps them in
 * step.
 *
 * The open room gets its events over its WebSocket; the unread counts of the
 * other rooms come from GET /api/chat/unread/ (one query for all rooms) every
 * UNREAD_POLL_MS, when the tab comes back to the front and after every
 * reconnect: the relay has one connection per room, and a socket per joined
 * room would count the user as present in every one of them.
 */
import { el, codePoints, uuid, fmtTime, dayKey, dayLabel, linkify } from './util.js';
import { session, onSessionOver, saveTokens, refreshAccess, freshAccess, request, api, SESSION_OVER } from './session.js';

const PAGE = 50;                 // messages per history page
const MAX_CHARS = 4000;          // the server's limit, in code points
const COUNTER_FROM = 3500;       // show the counter from here on
const TYPING_RENEW_MS = 3000;    // resend typing:true while typing
const TYPING_IDLE_MS = 4000;     // typing:false after this long without input
const TYPING_SHOW_MS = 12000;    // forget a typing:true nobody cleared
const UNREAD_POLL_MS = 30000;    // unread counts of the other rooms
const HEARTBEAT_IDLE_MS = 25000; // silence after which the client asks (sync: one relay DB query)
const ANSWER_MS = 6000;          // a connection that does not answer in time is dead
const OPEN_MS = 10000;           // connection_established must come within this
const GROUP_MS = 5 * 60000;      // consecutive messages of one sender group together
const DIRECTORY_PAGE = 30;
const READ_EVERY_MS = 1000;      // read receipts sent at most this often

// chat.heartbeat_ms in localStorage shortens the heartbeat (tests).
const heartbeatMs = Number(localStorage.getItem('chat.heartbeat_ms')) || HEARTBEAT_IDLE_MS;

const $ = (id) => document.getElementById(id);
/* ---- state ---------------------------------------------------------- */

const state = {
	me: null,                // {id, username}
	rooms: [],               // every room the list call returned
	unread: new Map(),       // room id -> unread count (joined rooms, from /unread/)
	room: null,              // the open room object
	messages: new Map(),     // id -> message, open room only
	pending: new Map(),      // client_id -> {content, room, failed}
	hasMore: false,
	loadingOlder: false,
	newestId: 0,
	dividerId: 0,            // first unread message of the open room (0: none)
	unseen: 0,               // messages that came in while the reader was away
	ws: null,
	wsGen: 0,                // bumps on every (re)connect; stale sockets are ignored
	established: false,
	lastFrameAt: 0,
	probeAt: 0,              // when we started waiting for an answer (0: not waiting)
	openedAt: 0,
	reconnectDelay: 1000,
	reconnectAt: 0,
	reconnectTimer: null,
	online: new Map(),       // user id -> username
	typing: new Map(),       // user id -> {username, timer}
	readPos: new Map(),      // user id -> {username, id}: newest message each user read
	lastMarked: 0,
	typingSent: false,
	typingRenewAt: 0,
	typingIdleTimer: null,
	unreadTimer: null,
	tickTimer: null,
	editing: 0,              // id of the message being edited
	dirNext: null,           // URL of the directory's next page
	dirQuery: '',
	dirTimer: null,
};

/* ---- small helpers -------------------------------------------------- */

// Errors go next to what caused them: each form has its own line.
function showError(id, text) {
	const e = $(id);
	e.textContent = text || '';
	e.hidden = !text;
}

/* ---- session, shared by the tabs of this browser -------------------- */

// Another tab logged in, renewed the tokens or logged out.
function onStorage(ev) {
	if (ev.key !== 'chat.access' && ev.key !== 'chat.refresh' && ev.key !== null) return;
	const access = localStorage.getItem('chat.access');
	const refresh = localStorage.getItem('chat.refresh');
	if (!refresh && !access) {
		if (state.me) endSession('You logged out in another tab.');
		return;
	}
	session.access = access;
	session.refresh = refresh;
	if (!state.me) startChat().catch(() => {});
}

/* ---- login ---------------------------------------------------------- */

async function login(register) {
	showError('login-error', '');
	const username = $('username').value.trim();
	const password = $('password').value;
	if (!username || !password) {
		showError('login-error', 'Enter a user name and a password.');
		return;
	}
	try {
		if (register) await api('POST', '/auth/register/', { username, password });
		const t = await api('POST', '/auth/token/', { username, password });
		saveTokens(t.access, t.refresh);
		$('password').value = '';
		await startChat();
	} catch (e) {
		if (e.status === 401) showError('login-error', 'Wrong user name or password.');
		else if (e.status === 409) showError('login-error', `The name "${username}" is taken.`);
		else showError('login-error', e.message);
	}
}

// Log out on the server too: the refresh token is revoked there.
async function logout() {
	const refresh = session.refresh;
	if (refresh) {
		try {
			await fetch('/api/auth/logout/', {
				method: 'POST',
				headers: { 'Content-Type': 'application/json' },
				body: JSON.stringify({ refresh }),
				signal: AbortSignal.timeout ? AbortSignal.timeout(3000) : undefined,
			});
		} catch (e) { /* the local session ends either way */ }
	}
	endSession('');
	showError('login-error', '');
	$('login-note').hidden = false;
}

// Back to the login screen; message says why (kept until the next login).
function endSession(message) {
	closeSocket();
	clearInterval(state.unreadTimer);
	saveTokens(null, null);
	state.me = null;
	state.room = null;
	state.rooms = [];
	state.unread.clear();
	readQueue.clear();
	$('chat-view').hidden = true;
	$('whoami').hidden = true;
	$('login-view').hidden = false;
	if ($('login-note')) $('login-note').hidden = true;
	if (message) showError('login-error', message);
	updateTitle();
	$('username').focus();
}

async function startChat() {
	state.me = await api('GET', '/auth/me/');
	$('me-name').textContent = state.me.username;
	$('whoami').hidden = false;
	$('login-view').hidden = true;
	$('chat-view').hidden = false;
	showError('login-error', '');
	updateNotifyButton();
	await loadRooms();
	searchDirectory();
	clearInterval(state.unreadTimer);
	state.unreadTimer = setInterval(() => { loadUnread().catch(() => {}); }, UNREAD_POLL_MS);
	const want = hashRoom() || (myRooms()[0] && myRooms()[0].id);
	if (want) await openRoom(want, { focus: false });
	else setPhoneView('list');
}

function hashRoom() {
	const m = /room=(\d+)/.exec(location.hash);
	return m ? Number(m[1]) : 0;
}

/* ---- rooms ---------------------------------------------------------- */

// Membership: is_member when the server says so, else the caller's role.
function isMember(r) {
	if (typeof r.is_member === 'boolean') return r.is_member;
	return r.role === 'owner' || r.role === 'member' || r.role === 'admin';
}

function myRooms() {
	return state.rooms.filter(isMember);
}

async function loadRooms() {
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
async function loadUnread(noRender) {
	const u = await api('GET', '/chat/unread/');
	state.unread.clear();
	for (const r of (u && u.rooms) || []) state.unread.set(r.room_id, r.unread_count);
	if (!noRender) renderRooms();
}

function unreadOf(r) {
	if (state.room && state.room.id === r.id) return state.unseen;
	return state.unread.get(r.id) || 0;
}

function renderRooms() {
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
function onRoomListKey(ev) {
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
function onGlobalKey(ev) {
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

function updateTitle() {
	let total = 0;
	for (const r of myRooms()) total += state.room && r.id === state.room.id ? state.unseen : (state.unread.get(r.id) || 0);
	const base = state.room && state.me ? `${state.room.name} – Chat` : 'Chat';
	document.title = total ? `(${total}) ${base}` : base;
}

async function createRoom(ev) {
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

function toggleNewRoom(show) {
	$('new-room-form').hidden = !show;
	$('new-room-toggle').setAttribute('aria-expanded', String(show));
	showError('new-room-error', '');
	if (show) $('new-room-name').focus();
}

/* ---- directory of public rooms -------------------------------------- */

async function searchDirectory(more) {
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

async function joinRoom(id) {
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

function renderRoomHead() {
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

function togglePanel(show) {
	$('room-panel').hidden = !show;
	$('room-menu-btn').setAttribute('aria-expanded', String(show));
	for (const id of ['member-error', 'member-ok', 'panel-error']) showError(id, '');
	if (show && !$('member-form').hidden) $('member-name').focus();
}

async function addMember(ev) {
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

async function leaveRoom() {
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

async function deleteRoom() {
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

/* ---- messages ------------------------------------------------------- */

function isNearBottom() {
	const s = $('messages-scroll');
	return s.scrollHeight - s.scrollTop - s.clientHeight < 60;
}

function scrollToBottom() {
	const s = $('messages-scroll');
	s.scrollTop = s.scrollHeight;
	updateJump();
}

function updateJump() {
	const away = !isNearBottom();
	const b = $('jump-btn');
	b.hidden = !away;
	b.textContent = state.unseen > 0 ? `${state.unseen} new message${state.unseen > 1 ? 's' : ''} ↓` : 'Jump to latest ↓';
}

function isMine(m) {
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
function renderMessages() {
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

function putMessage(m) {
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

function removeMessage(id) {
	state.messages.delete(id);
	if (state.newestId === id) state.newestId = Math.max(0, ...state.messages.keys());
	if (state.editing === id) state.editing = 0;
	if (state.dividerId === id) state.dividerId = [...state.messages.keys()].filter((x) => x > id).sort((a, b) => a - b)[0] || 0;
	renderMessages();
}

async function loadHistory() {
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

async function loadOlder() {
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

async function openRoom(id, opts) {
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

function stopEditing() {
	state.editing = 0;
	renderMessages();
}

async function onMessageClick(ev) {
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

function noteRead(user, id) {
	if (!user || !state.me || user.id === state.me.id) return;
	const cur = state.readPos.get(user.id);
	if (!cur || cur.id < id) state.readPos.set(user.id, { username: user.username, id });
}

// Each reader is shown once, under my newest message they have reached.
function renderReads() {
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

function readerPresent() {
	return !document.hidden && (!document.hasFocus || document.hasFocus());
}

// Mark the newest message read when the reader can see it. Receipts go
// out one at a time, at most one a second (a busy room sends many
// messages); per room only the newest waiting one is sent, also after
// the reader moved on to another room.
const readQueue = new Map(); // room id -> message id
let readBusy = false;

function markRead() {
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
		while (readQueue.size) {
			const [room, id] = readQueue.entries().next().value;
			readQueue.delete(room);
			try {
				await api('POST', `/chat/messages/${id}/read/`);
				if (!readQueue.has(room)) state.unread.delete(room);
				renderRooms();
			} catch (e) {
				if (state.room && state.room.id === room && state.lastMarked === id) state.lastMarked = 0;
			}
			await new Promise((r) => setTimeout(r, READ_EVERY_MS));
		}
	} finally {
		readBusy = false;
	}
}

/* ---- notifications -------------------------------------------------- */

function updateNotifyButton() {
	$('notify-btn').hidden = !('Notification' in window) || Notification.permission !== 'default';
}

async function askNotify() {
	try { await Notification.requestPermission(); } catch (e) { /* old browsers: callback form only */ }
	updateNotifyButton();
}

function notify(m) {
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

/* ---- presence and typing ------------------------------------------- */

function renderOnline() {
	const ul = $('online');
	ul.textContent = '';
	const names = [...state.online.values()].sort((a, b) => a.localeCompare(b));
	for (const n of names) ul.appendChild(el('li', null, n));
	$('online-count').textContent = String(names.length);
}

function renderTyping() {
	const names = [...state.typing.values()].map((t) => t.username);
	let text = '';
	if (names.length === 1) text = `${names[0]} is typing…`;
	else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
	else if (names.length > 2) text = 'Several people are typing…';
	$('typing').textContent = text;
}

function setTyping(user, on) {
	if (!user || (state.me && user.id === state.me.id)) return;
	const cur = state.typing.get(user.id);
	if (cur) clearTimeout(cur.timer);
	if (on) {
		const timer = setTimeout(() => { state.typing.delete(user.id); renderTyping(); }, TYPING_SHOW_MS);
		state.typing.set(user.id, { username: user.username, timer });
	} else {
		state.typing.delete(user.id);
	}
	renderTyping();
}

function clearTyping() {
	for (const t of state.typing.values()) clearTimeout(t.timer);
	state.typing.clear();
	renderTyping();
	clearTimeout(state.typingIdleTimer);
	state.typingSent = false;
}

function wsSend(obj) {
	if (state.ws && state.established && state.ws.readyState === WebSocket.OPEN) {
		state.ws.send(JSON.stringify(obj));
		return true;
	}
	return false;
}

function onInput() {
	updateCounter();
	const now = Date.now();
	if (!state.typingSent || now >= state.typingRenewAt) {
		if (wsSend({ type: 'typing', is_typing: true })) {
			state.typingSent = true;
			state.typingRenewAt = now + TYPING_RENEW_MS;
		}
	}
	clearTimeout(state.typingIdleTimer);
	state.typingIdleTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
}

function stopTyping() {
	clearTimeout(state.typingIdleTimer);
	if (state.typingSent) wsSend({ type: 'typing', is_typing: false });
	state.typingSent = false;
}

// Code points, as the server counts them (an emoji is one, not two).
function updateCounter() {
	const n = codePoints($('message-input').value);
	const c = $('char-count');
	c.hidden = n < COUNTER_FROM;
	c.textContent = n > MAX_CHARS ? `${n} / ${MAX_CHARS}: ${n - MAX_CHARS} too many` : `${n} / ${MAX_CHARS}`;
	c.classList.toggle('over', n > MAX_CHARS);
	$('message-input').setAttribute('aria-invalid', String(n > MAX_CHARS));
}

/* ---- sending -------------------------------------------------------- */

// Send over the WebSocket when it is up, else over HTTP. The client_id
// makes a resend after a reconnect safe: the server stores it once.
async function sendPending(clientId) {
	const p = state.pending.get(clientId);
	if (!p) return;
	const frame = { type: 'chat_message', content: p.content, message_type: 'text', client_id: clientId };
	if (wsSend(frame)) {
		expectAnswer();
		return;
	}
	try {
		const m = await api('POST', `/chat/rooms/${p.room}/messages/`,
			{ content: p.content, message_type: 'text', client_id: clientId });
		if (state.room && state.room.id === p.room) {
			putMessage(m);
			if (!isMember(state.room)) { state.room.is_member = true; loadRooms().catch(() => {}); }
			renderMessages();
			scrollToBottom();
		} else {
			state.pending.delete(clientId);
		}
	} catch (e) {
		if (!state.pending.has(clientId)) return; // delivered over the WebSocket meanwhile
		p.failed = true;
		showError('composer-error', `Not sent: ${e.message} It is sent again when the connection is back.`);
		renderMessages();
	}
}

function submitMessage(ev) {
	ev.preventDefault();
	const input = $('message-input');
	const content = input.value;
	if (!content.trim() || !state.room) return;
	const n = codePoints(content);
	if (n > MAX_CHARS) {
		showError('composer-error', `This message has ${n} characters, ${n - MAX_CHARS} more than the ${MAX_CHARS} allowed. Shorten it or split it.`);
		return;
	}
	showError('composer-error', '');
	stopTyping();
	const clientId = uuid();
	state.pending.set(clientId, { content, room: state.room.id, failed: false });
	input.value = '';
	updateCounter();
	renderMessages();
	scrollToBottom();
	sendPending(clientId);
}

/* ---- WebSocket and connection state --------------------------------- */

function setConn(text, bad) {
	const c = $('conn-state');
	if (c.textContent !== text) c.textContent = text;
	c.classList.toggle('bad', !!bad);
	if (!bad) { $('conn-countdown').textContent = ''; $('retry-btn').hidden = true; }
}

function closeSocket() {
	state.wsGen++;
	state.established = false;
	state.probeAt = 0;
	state.reconnectAt = 0;
	clearTimeout(state.reconnectTimer);
	if (state.ws) {
		const ws = state.ws;
		state.ws = null;
		ws.onmessage = ws.onclose = ws.onerror = null;
		try { ws.close(1000); } catch (e) { /* already closed */ }
	}
}

// The connection is gone (or silent): say so at once, forget who is
// online, and try again after a delay that counts down on screen.
function connectionLost(why) {
	closeSocket();
	state.online.clear();
	renderOnline();
	clearTyping();
	scheduleReconnect(why);
	// Messages waiting for the socket go over HTTP meanwhile.
	for (const [id, p] of state.pending) if (state.room && p.room === state.room.id && !p.failed) sendPending(id);
}

function scheduleReconnect(why) {
	const gen = state.wsGen;
	const delay = state.reconnectDelay * (0.5 + Math.random());
	state.reconnectDelay = Math.min(state.reconnectDelay * 2, 15000);
	state.reconnectAt = Date.now() + delay;
	state.reconnectWhy = why;
	setConn(`${why}. Reconnecting…`, true);
	$('retry-btn').hidden = false;
	tick();
	state.reconnectTimer = setTimeout(() => { if (gen === state.wsGen) connect(); }, delay);
}

function reconnectNow() {
	if (!state.room) return;
	state.reconnectDelay = 1000;
	closeSocket();
	connect();
}

// Once a second: the countdown, and the heartbeat. The relay's pings
// are invisible to a page, so when the connection has been silent for a
// while the page asks for a sync (answered by sync_done) and gives up on
// a connection that does not answer.
function tick() {
	const now = Date.now();
	if (state.reconnectAt) {
		const s = Math.max(0, Math.ceil((state.reconnectAt - now) / 1000));
		$('conn-countdown').textContent = `in ${s} s`;
	}
	if (!state.ws) return;
	if (!state.established) {
		if (now - state.openedAt > OPEN_MS) connectionLost('The server does not answer');
		return;
	}
	if (state.probeAt) {
		if (now - state.probeAt > ANSWER_MS) connectionLost('The connection stopped answering');
	} else if (now - state.lastFrameAt > heartbeatMs) {
		probe();
	}
}

function probe() {
	if (!state.established || state.probeAt) return;
	if (wsSend({ type: 'sync', last_id: state.newestId })) state.probeAt = Date.now();
}

// Something was sent that the server answers (a message comes back to
// its sender): no answer in time means a dead connection.
function expectAnswer() {
	if (!state.probeAt) state.probeAt = Date.now();
}

async function connect() {
	const room = state.room;
	if (!room) return;
	const gen = ++state.wsGen;
	state.established = false;
	state.reconnectAt = 0;
	const token = await freshAccess();
	if (gen !== state.wsGen) return;
	if (!token) { endSession(SESSION_OVER); return; }
	const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
	const url = `${proto}//${location.host}/ws/chat/${room.id}/?token=${encodeURIComponent(token)}` +
		`&last_id=${state.newestId}`;
	setConn('Connecting…', true);
	$('conn-countdown').textContent = '';
	$('retry-btn').hidden = true;
	let ws;
	try {
		ws = new WebSocket(url);
	} catch (e) {
		scheduleReconnect('Cannot connect');
		return;
	}
	state.ws = ws;
	state.openedAt = Date.now();
	state.probeAt = 0;
	ws.onmessage = (ev) => { if (gen === state.wsGen) onFrame(ev.data); };
	ws.onclose = (ev) => { if (gen === state.wsGen) onClose(ev); };
}

function onClose(ev) {
	switch (ev.code) {
	case 4401:
		closeSocket();
		// The token expired or was refused: get a new one and try again.
		refreshAccess().then((ok) => {
			if (ok) connect();
			else if (ok === null) scheduleReconnect('The server is busy');
			else endSession(SESSION_OVER);
		});
		return;
	case 4403:
		closeSocket();
		setConn('Disconnected', true);
		showError('room-error', 'You are not allowed in this room.');
		return;
	case 4404:
		closeSocket();
		setConn('Disconnected', true);
		showError('room-error', 'This room does not exist or is no longer visible to you.');
		loadRooms().catch(() => {});
		return;
	case 1008:
		closeSocket();
		setConn('Disconnected', true);
		showError('room-error', 'The server refused this page\'s origin.');
		return;
	default:
		connectionLost(ev.code === 1001 ? 'The server is restarting' : 'Connection lost');
	}
}

function onFrame(raw) {
	state.lastFrameAt = Date.now();
	state.probeAt = 0; // any frame shows the connection is alive
	let f;
	try { f = JSON.parse(raw); } catch (e) { return; }
	if (!f || typeof f.type !== 'string') return;
	switch (f.type) {
	case 'connection_established':
		state.established = true;
		state.reconnectDelay = 1000;
		setConn('Connected');
		showError('room-error', '');
		state.online.clear();
		for (const u of f.online || [f.user]) if (u) state.online.set(u.id, u.username);
		renderOnline();
		// Anything written while offline goes out now (client_id: at most once).
		for (const [id, p] of state.pending) if (state.room && p.room === state.room.id) sendPending(id);
		loadUnread().catch(() => {});
		break;
	case 'chat_message': {
		const m = f.message;
		const stick = isNearBottom();
		const away = !stick || !readerPresent();
		const fresh = putMessage(m);
		if (m && m.sender) setTyping(m.sender, false);
		// Writing to a public room one previews makes one a member.
		if (fresh && m && isMine(m) && state.room && !isMember(state.room)) {
			state.room.is_member = true;
			loadRooms().catch(() => {});
		}
		if (fresh && m && !isMine(m) && away) {
			state.unseen++;
			if (!state.dividerId) state.dividerId = m.id;
			notify(m);
			renderRooms();
		}
		renderMessages();
		if (stick) scrollToBottom();
		else updateJump();
		markRead();
		break;
	}
	case 'message_updated':
		if (f.message && state.messages.has(f.message.id)) {
			putMessage(f.message);
			renderMessages();
		}
		break;
	case 'message_deleted':
		if (state.messages.has(f.message_id)) removeMessage(f.message_id);
		break;
	case 'message_read':
		noteRead(f.user, f.message_id);
		renderReads();
		break;
	case 'typing':
		setTyping(f.user, !!f.is_typing);
		break;
	case 'user_join':
		if (f.user) { state.online.set(f.user.id, f.user.username); renderOnline(); }
		break;
	case 'user_leave':
		if (f.user) {
			state.online.delete(f.user.id);
			setTyping(f.user, false);
			renderOnline();
		}
		break;
	case 'sync_done':
		break;
	case 'resync_required':
		// More was missed than the relay replays: reload the newest page.
		loadHistory().catch((e) => showError('room-error', e.message));
		break;
	case 'error':
		if (f.code === 'room_deleted') {
			showError('room-error', 'This room was deleted.');
			loadRooms().catch(() => {});
		} else if (f.code === 'sync_in_progress' || f.code === 'unavailable' && !state.pending.size) {
			/* an answer to the heartbeat: the connection is alive */
		} else {
			showError('composer-error', f.message || 'The server reported an error.');
		}
		break;
	default:
		break; // newer server, older client: ignore what we do not know
	}
}

/* ---- phone layout --------------------------------------------------- */

// On a narrow screen the room list and the room take turns.
function setPhoneView(which) {
	document.body.dataset.view = which;
	if (which === 'list') toggleOnline(false);
}

function toggleOnline(show) {
	document.body.classList.toggle('show-online', show);
	$('online-toggle').setAttribute('aria-expanded', String(show));
}

/* ---- wiring --------------------------------------------------------- */

function init() {
	// A line the logout leaves on the login card.
	const note = el('p', 'form-ok', 'You are logged out.');
	note.id = 'login-note';
	note.setAttribute('role', 'status');
	note.hidden = true;
	$('login-form').insertBefore(note, $('login-error'));

	$('login-form').addEventListener('submit', (ev) => { ev.preventDefault(); login(false); });
	$('register-btn').addEventListener('click', () => login(true));
	$('logout-btn').addEventListener('click', () => logout());
	$('notify-btn').addEventListener('click', askNotify);
	$('new-room-toggle').addEventListener('click', () => toggleNewRoom($('new-room-form').hidden));
	$('new-room-cancel').addEventListener('click', () => toggleNewRoom(false));
	$('new-room-form').addEventListener('submit', createRoom);
	$('room-list').addEventListener('click', (ev) => {
		const b = ev.target.closest('button[data-room-id]');
		if (b) openRoom(Number(b.dataset.roomId));
	});
	$('room-list').addEventListener('keydown', onRoomListKey);
	$('directory-search').addEventListener('input', () => {
		clearTimeout(state.dirTimer);
		state.dirTimer = setTimeout(() => searchDirectory(), 250);
	});
	$('directory-more').addEventListener('click', () => searchDirectory(true));
	$('room-menu-btn').addEventListener('click', () => togglePanel($('room-panel').hidden));
	$('member-form').addEventListener('submit', addMember);
	$('leave-btn').addEventListener('click', leaveRoom);
	$('delete-btn').addEventListener('click', deleteRoom);
	$('join-btn').addEventListener('click', () => state.room && joinRoom(state.room.id));
	$('retry-btn').addEventListener('click', reconnectNow);
	$('back-btn').addEventListener('click', () => setPhoneView('list'));
	$('online-toggle').addEventListener('click', () => toggleOnline(!document.body.classList.contains('show-online')));
	$('jump-btn').addEventListener('click', () => { scrollToBottom(); markRead(); $('message-input').focus({ preventScroll: true }); });
	$('messages').addEventListener('click', onMessageClick);
	$('skip-link').addEventListener('click', (ev) => {
		ev.preventDefault();
		const target = !$('composer').hidden ? $('message-input') : $('chat-view').hidden ? $('username') : $('directory-search');
		target.focus();
	});
	$('composer').addEventListener('submit', submitMessage);
	const input = $('message-input');
	input.addEventListener('input', onInput);
	input.addEventListener('keydown', (ev) => {
		if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
			ev.preventDefault();
			$('composer').requestSubmit();
		}
	});
	$('messages-scroll').addEventListener('scroll', () => {
		if ($('messages-scroll').scrollTop < 40) loadOlder();
		updateJump();
		markRead();
	});
	document.addEventListener('keydown', onGlobalKey);
	document.addEventListener('visibilitychange', () => {
		if (!document.hidden && state.me) { markRead(); loadUnread().catch(() => {}); probe(); }
	});
	window.addEventListener('focus', () => {
		if (state.me) { markRead(); loadUnread().catch(() => {}); }
	});
	window.addEventListener('online', () => { if (state.room && !state.established) reconnectNow(); });
	window.addEventListener('offline', probe);
	window.addEventListener('storage', onStorage);
	window.addEventListener('hashchange', () => {
		const id = hashRoom();
		if (state.me && id && (!state.room || state.room.id !== id)) openRoom(id);
	});
	state.tickTimer = setInterval(tick, 1000);
	if (session.access || session.refresh) {
		// A refused session was already reported by request(); keep its message.
		startChat().catch((e) => { if (e.status !== 401) endSession(e.message); });
	} else {
		$('login-view').hidden = false;
		$('username').focus();
	}
}

onSessionOver(endSession);
init(); // a module runs once the document is parsed

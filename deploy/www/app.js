/* The chat web client: plain JavaScript modules, no build step, no
 * dependencies (what it does: docs/web-client.md). This one is the page:
 * the session's screens (login, logout, other tabs), the phone layout and
 * the wiring of the controls.
 *
 * rooms.js: your rooms, the directory, room management; messages.js: the
 * open room's messages, editing, read state, notifications; compose.js:
 * presence, typing, the message box; connection.js: the WebSocket and the
 * connection state; session.js: tokens and HTTP; state.js: what they share;
 * util.js: helpers.
 *
 * HTTP API under /api/ (same origin), WebSocket at /ws/chat/{id}/ on the
 * same host.
 */

import { el } from './util.js';
import { session, onSessionOver, saveTokens, api } from './session.js';
import { state, $, showError } from './state.js';
import {
	addMember, createRoom, deleteRoom, joinRoom, leaveRoom, loadRooms, loadUnread, myRooms,
	onGlobalKey, onRoomListKey, searchDirectory, toggleNewRoom, togglePanel, updateTitle,
} from './rooms.js';
import {
	askNotify, loadOlder, markRead, onMessageClick, openRoom, readQueue, scrollToBottom,
	updateJump, updateNotifyButton,
} from './messages.js';
import { onInput, submitMessage } from './compose.js';
import { closeSocket, probe, reconnectNow, tick } from './connection.js';

const UNREAD_POLL_MS = 30000;    // unread counts of the other rooms

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
export function endSession(message) {
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

export function hashRoom() {
	const m = /room=(\d+)/.exec(location.hash);
	return m ? Number(m[1]) : 0;
}

/* ---- phone layout --------------------------------------------------- */

// On a narrow screen the room list and the room take turns.
export function setPhoneView(which) {
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

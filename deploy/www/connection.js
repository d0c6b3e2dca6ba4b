/* The open room's WebSocket and the truth about it: a heartbeat, a
 * countdown to the next attempt, resume with last_id, the frames. */

import { refreshAccess, freshAccess, SESSION_OVER } from './session.js';
import { state, $, showError } from './state.js';
import { endSession } from './app.js';
import { isMember, loadRooms, loadUnread, renderRooms } from './rooms.js';
import {
	isMine, isNearBottom, loadHistory, markRead, noteRead, notify, putMessage,
	readerPresent, removeMessage, renderMessages, renderReads, scrollToBottom, updateJump,
} from './messages.js';
import { clearTyping, renderOnline, sendPending, setTyping } from './compose.js';

const HEARTBEAT_IDLE_MS = 25000; // silence after which the client asks (sync: one relay DB query)
const ANSWER_MS = 6000;          // a connection that does not answer in time is dead
const OPEN_MS = 10000;           // connection_established must come within this

// chat.heartbeat_ms in localStorage shortens the heartbeat (tests).
const heartbeatMs = Number(localStorage.getItem('chat.heartbeat_ms')) || HEARTBEAT_IDLE_MS;

/* ---- WebSocket and connection state --------------------------------- */

export function setConn(text, bad) {
	const c = $('conn-state');
	if (c.textContent !== text) c.textContent = text;
	c.classList.toggle('bad', !!bad);
	if (!bad) { $('conn-countdown').textContent = ''; $('retry-btn').hidden = true; }
}

export function wsSend(obj) {
	if (state.ws && state.established && state.ws.readyState === WebSocket.OPEN) {
		state.ws.send(JSON.stringify(obj));
		return true;
	}
	return false;
}

export function closeSocket() {
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

export function reconnectNow() {
	if (!state.room) return;
	state.reconnectDelay = 1000;
	closeSocket();
	connect();
}

// Once a second: the countdown, and the heartbeat. The relay's pings
// are invisible to a page, so when the connection has been silent for a
// while the page asks for a sync (answered by sync_done) and gives up on
// a connection that does not answer.
export function tick() {
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

export function probe() {
	if (!state.established || state.probeAt) return;
	if (wsSend({ type: 'sync', last_id: state.newestId })) state.probeAt = Date.now();
}

// Something was sent that the server answers (a message comes back to
// its sender): no answer in time means a dead connection.
export function expectAnswer() {
	if (!state.probeAt) state.probeAt = Date.now();
}

export async function connect() {
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

/* Presence, typing and the message box: counting, sending. */

import { el, codePoints, uuid } from './util.js';
import { api } from './session.js';
import { MAX_CHARS, state, $, showError } from './state.js';
import { isMember, loadRooms } from './rooms.js';
import { putMessage, renderMessages, scrollToBottom } from './messages.js';
import { expectAnswer, wsSend } from './connection.js';

const COUNTER_FROM = 3500;       // show the counter from here on
const TYPING_RENEW_MS = 3000;    // resend typing:true while typing
const TYPING_IDLE_MS = 4000;     // typing:false after this long without input
const TYPING_SHOW_MS = 12000;    // forget a typing:true nobody cleared

/* ---- presence and typing ------------------------------------------- */

export function renderOnline() {
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

export function setTyping(user, on) {
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

export function clearTyping() {
	for (const t of state.typing.values()) clearTimeout(t.timer);
	state.typing.clear();
	renderTyping();
	clearTimeout(state.typingIdleTimer);
	state.typingSent = false;
}

export function onInput() {
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
export async function sendPending(clientId) {
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

export function submitMessage(ev) {
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

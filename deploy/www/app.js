/* The chat web client: plain JavaScript, no build step, no dependencies.
 *
 * HTTP API under /api/ (same origin), WebSocket at /ws/chat/{id}/ on the same
 * host. Tokens live in sessionStorage (a reload keeps the login, a new tab
 * asks again); the access token is also kept in localStorage as "jwt_token",
 * where the original protocol document's example clients look for it.
 */
'use strict';

(function () {
	const PAGE = 50;               // messages per history page
	const TYPING_RENEW_MS = 3000;  // resend typing:true while typing
	const TYPING_IDLE_MS = 4000;   // typing:false after this long without input
	const TYPING_SHOW_MS = 12000;  // forget a typing:true nobody cleared
	const ROOMS_POLL_MS = 15000;   // unread counts of the other rooms

	const $ = (id) => document.getElementById(id);
	const el = (tag, cls, text) => {
		const e = document.createElement(tag);
		if (cls) e.className = cls;
		if (text !== undefined) e.textContent = text;
		return e;
	};

	/* ---- state ---------------------------------------------------------- */

	const state = {
		access: sessionStorage.getItem('chat.access'),
		refresh: sessionStorage.getItem('chat.refresh'),
		me: null,                // {id, username}
		rooms: [],
		room: null,              // the open room object
		messages: new Map(),     // id -> message, open room only
		pending: new Map(),      // client_id -> {content, li}
		hasMore: false,
		loadingOlder: false,
		newestId: 0,
		ws: null,
		wsGen: 0,                // bumps on every room switch; stale sockets ignore their events
		reconnectDelay: 500,
		reconnectTimer: null,
		online: new Map(),       // user id -> username
		typing: new Map(),       // user id -> {username, timer}
		readPos: new Map(),      // user id -> {username, id}: newest message each user read
		lastMarked: 0,
		typingSent: false,
		typingRenewAt: 0,
		typingIdleTimer: null,
		roomsTimer: null,
	};

	/* ---- small helpers -------------------------------------------------- */

	function showError(text) {
		const e = $('error');
		if (!text) { e.hidden = true; e.textContent = ''; return; }
		e.textContent = text;
		e.hidden = false;
	}

	function setConn(text, bad) {
		const c = $('conn-state');
		c.textContent = text;
		c.classList.toggle('bad', !!bad);
	}

	function uuid() {
		if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
		const b = new Uint8Array(16);
		crypto.getRandomValues(b);
		b[6] = (b[6] & 0x0f) | 0x40;
		b[8] = (b[8] & 0x3f) | 0x80;
		const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
		return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
	}

	function tokenClaims(token) {
		try {
			const p = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
			return JSON.parse(atob(p + '==='.slice((p.length + 3) % 4)));
		} catch (e) {
			return {};
		}
	}

	function fmtTime(iso) {
		const d = new Date(iso);
		if (isNaN(d)) return '';
		const today = new Date();
		const opts = d.toDateString() === today.toDateString()
			? { hour: '2-digit', minute: '2-digit' }
			: { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' };
		return d.toLocaleString(undefined, opts);
	}

	function saveTokens(access, refresh) {
		state.access = access;
		if (refresh !== undefined) state.refresh = refresh;
		if (access) {
			sessionStorage.setItem('chat.access', access);
			localStorage.setItem('jwt_token', access);
		} else {
			sessionStorage.removeItem('chat.access');
			localStorage.removeItem('jwt_token');
		}
		if (state.refresh) sessionStorage.setItem('chat.refresh', state.refresh);
		else sessionStorage.removeItem('chat.refresh');
	}

	/* ---- HTTP ----------------------------------------------------------- */

	class ApiError extends Error {
		constructor(status, detail) {
			super(detail);
			this.status = status;
		}
	}

	let refreshing = null;
	// One refresh at a time; resolves true when a new access token was stored.
	function refreshAccess() {
		if (!state.refresh) return Promise.resolve(false);
		if (!refreshing) {
			refreshing = fetch('/api/auth/token/refresh/', {
				method: 'POST',
				headers: { 'Content-Type': 'application/json' },
				body: JSON.stringify({ refresh: state.refresh }),
			}).then(async (r) => {
				if (!r.ok) return false;
				const j = await r.json();
				if (!j.access) return false;
				saveTokens(j.access, j.refresh || state.refresh);
				return true;
			}).catch(() => false).finally(() => { refreshing = null; });
		}
		return refreshing;
	}

	// The access token, renewed first when it is about to expire (within
	// 30 s, or a third of its lifetime for short-lived ones).
	async function freshAccess() {
		if (!state.access) return state.access;
		const c = tokenClaims(state.access);
		if (c.exp) {
			const life = c.iat ? c.exp - c.iat : 900;
			const margin = Math.min(30, life / 3) * 1000;
			if (c.exp * 1000 - Date.now() < margin) await refreshAccess();
		}
		return state.access;
	}

	async function api(method, path, body, retried) {
		const headers = { Accept: 'application/json' };
		if (body !== undefined) headers['Content-Type'] = 'application/json';
		const token = path.startsWith('/auth/token') || path === '/auth/register/' ? null : await freshAccess();
		if (token) headers.Authorization = 'Bearer ' + token;
		let r;
		try {
			r = await fetch('/api' + path, {
				method,
				headers,
				body: body === undefined ? undefined : JSON.stringify(body),
			});
		} catch (e) {
			throw new ApiError(0, 'The server cannot be reached. Check your connection and try again.');
		}
		if (r.status === 401 && token && !retried) {
			if (await refreshAccess()) return api(method, path, body, true);
			logout('Your session has expired. Please log in again.');
			throw new ApiError(401, 'Your session has expired.');
		}
		let data = null;
		const text = await r.text();
		if (text) {
			try { data = JSON.parse(text); } catch (e) { data = null; }
		}
		if (!r.ok) {
			let detail = data && typeof data.detail === 'string' ? data.detail : `HTTP ${r.status}`;
			if (r.status === 429) {
				const after = r.headers.get('Retry-After');
				detail = 'Too many attempts' + (after ? `; try again in ${after} s.` : '.');
			}
			throw new ApiError(r.status, detail);
		}
		return data;
	}

	/* ---- login ---------------------------------------------------------- */

	async function login(register) {
		showError('');
		const username = $('username').value.trim();
		const password = $('password').value;
		if (!username || !password) {
			showError('Enter a user name and a password.');
			return;
		}
		try {
			if (register) await api('POST', '/auth/register/', { username, password });
			const t = await api('POST', '/auth/token/', { username, password });
			saveTokens(t.access, t.refresh);
			$('password').value = '';
			await startChat();
		} catch (e) {
			if (e.status === 401) showError('Wrong user name or password.');
			else if (e.status === 409) showError(`The name "${username}" is taken.`);
			else showError(e.message);
		}
	}

	function logout(message) {
		closeSocket();
		clearInterval(state.roomsTimer);
		saveTokens(null, null);
		state.me = null;
		state.room = null;
		$('chat-view').hidden = true;
		$('whoami').hidden = true;
		$('login-view').hidden = false;
		showError(message || '');
		$('username').focus();
	}

	async function startChat() {
		state.me = await api('GET', '/auth/me/');
		$('me-name').textContent = state.me.username;
		$('whoami').hidden = false;
		$('login-view').hidden = true;
		$('chat-view').hidden = false;
		await loadRooms();
		clearInterval(state.roomsTimer);
		state.roomsTimer = setInterval(() => { loadRooms().catch(() => {}); }, ROOMS_POLL_MS);
		const m = /room=(\d+)/.exec(location.hash);
		const want = m ? Number(m[1]) : (state.rooms[0] && state.rooms[0].id);
		if (want) await openRoom(want);
	}

	/* ---- rooms ---------------------------------------------------------- */

	async function loadRooms() {
		state.rooms = await api('GET', '/chat/rooms/');
		renderRooms();
	}

	function renderRooms() {
		const ul = $('room-list');
		ul.textContent = '';
		for (const r of state.rooms) {
			const li = el('li');
			const b = el('button');
			b.type = 'button';
			b.dataset.roomId = r.id;
			const name = el('span', 'name', r.name);
			if (r.is_private) name.appendChild(el('span', 'lock', '(private)'));
			b.appendChild(name);
			const isOpen = state.room && state.room.id === r.id;
			const unread = isOpen ? 0 : (r.unread_count || 0);
			if (unread > 0) {
				const badge = el('span', 'badge unread', String(unread));
				badge.setAttribute('aria-label', `${unread} unread`);
				b.appendChild(badge);
			}
			if (isOpen) b.setAttribute('aria-current', 'true');
			b.addEventListener('click', () => openRoom(r.id));
			li.appendChild(b);
			ul.appendChild(li);
		}
	}

	async function createRoom(ev) {
		ev.preventDefault();
		showError('');
		const name = $('new-room-name').value.trim();
		if (!name) return;
		try {
			const room = await api('POST', '/chat/rooms/', { name, is_private: $('new-room-private').checked });
			$('new-room-name').value = '';
			$('new-room-private').checked = false;
			await loadRooms();
			await openRoom(room.id);
		} catch (e) {
			showError(e.message);
		}
	}

	/* ---- messages ------------------------------------------------------- */

	function isNearBottom() {
		const s = $('messages-scroll');
		return s.scrollHeight - s.scrollTop - s.clientHeight < 60;
	}

	function scrollToBottom() {
		const s = $('messages-scroll');
		s.scrollTop = s.scrollHeight;
	}

	function messageItem(m) {
		const li = el('li', 'message');
		li.dataset.id = m.id;
		const mine = state.me && m.sender && m.sender.id === state.me.id;
		if (mine) li.classList.add('mine');
		const meta = el('div', 'meta');
		meta.appendChild(el('span', 'sender', m.sender ? m.sender.username : '?'));
		const t = el('time', 'time', fmtTime(m.timestamp));
		t.dateTime = m.timestamp;
		meta.appendChild(t);
		if (m.edited_at) meta.appendChild(el('span', 'edited', '(edited)'));
		if (m.message_type && m.message_type !== 'text') meta.appendChild(el('span', 'kind', m.message_type));
		li.appendChild(meta);
		li.appendChild(el('div', 'content', m.content));
		return li;
	}

	// Insert or replace a message, keeping ascending id order.
	function putMessage(m) {
		if (!m || typeof m.id !== 'number') return;
		const list = $('messages');
		const old = list.querySelector(`li.message[data-id="${m.id}"]`);
		const li = messageItem(m);
		state.messages.set(m.id, m);
		if (m.id > state.newestId) state.newestId = m.id;
		if (m.client_id && state.pending.has(m.client_id)) {
			state.pending.get(m.client_id).li.remove();
			state.pending.delete(m.client_id);
		}
		if (old) {
			old.replaceWith(li);
			return;
		}
		// Usually the newest: append; otherwise find the first larger id.
		let before = null;
		for (let n = list.lastElementChild; n; n = n.previousElementSibling) {
			if (!n.dataset.id) { before = n; continue; } // pending items stay last
			if (Number(n.dataset.id) < m.id) break;
			before = n;
		}
		list.insertBefore(li, before);
	}

	function removeMessage(id) {
		state.messages.delete(id);
		const li = $('messages').querySelector(`li.message[data-id="${id}"]`);
		if (li) li.remove();
		renderReads();
	}

	async function loadHistory() {
		const room = state.room;
		const page = await api('GET', `/chat/rooms/${room.id}/messages/?limit=${PAGE}`);
		if (state.room !== room) return;
		$('messages').textContent = '';
		state.messages.clear();
		state.newestId = 0;
		for (const m of page.results) putMessage(m);
		for (const p of state.pending.values()) $('messages').appendChild(p.li);
		state.hasMore = !!page.has_more;
		$('older').hidden = !state.hasMore;
		scrollToBottom();
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
			s.scrollTop = s.scrollHeight - fromBottom; // keep the reader's place
			state.hasMore = !!page.has_more;
			$('older').hidden = !state.hasMore;
		} catch (e) {
			showError(e.message);
		} finally {
			state.loadingOlder = false;
			$('older').textContent = 'Scroll up for older messages';
		}
	}

	async function openRoom(id) {
		showError('');
		closeSocket();
		clearTyping();
		const room = state.rooms.find((r) => r.id === id);
		if (!room) {
			try {
				state.room = await api('GET', `/chat/rooms/${id}/`);
			} catch (e) {
				showError(e.status === 404 ? 'That room does not exist or is private.' : e.message);
				return;
			}
		} else {
			state.room = room;
		}
		history.replaceState(null, '', `#room=${id}`);
		$('room-title').textContent = state.room.name;
		$('composer').hidden = false;
		state.pending.clear();
		state.online.clear();
		state.readPos.clear();
		state.lastMarked = 0;
		renderOnline();
		renderRooms();
		try {
			await loadHistory();
		} catch (e) {
			showError(e.message);
			return;
		}
		connect();
		markRead();
		loadReads();
		$('message-input').focus();
	}

	/* ---- read state ----------------------------------------------------- */

	// Who has read my newest message so far (the WebSocket adds live reads).
	async function loadReads() {
		if (!state.me) return;
		const mine = [...state.messages.values()].filter((m) => m.sender && m.sender.id === state.me.id);
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
		const mine = [...state.messages.values()]
			.filter((m) => m.sender && m.sender.id === state.me.id)
			.map((m) => m.id).sort((a, b) => a - b);
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

	// Mark the newest message read when the reader can see it.
	async function markRead() {
		if (!state.room || document.hidden || !state.newestId) return;
		if (state.newestId <= state.lastMarked || !isNearBottom()) return;
		const id = state.newestId;
		const room = state.room;
		state.lastMarked = id;
		try {
			await api('POST', `/chat/messages/${id}/read/`);
			const r = state.rooms.find((x) => x.id === room.id);
			if (r) r.unread_count = 0;
			renderRooms();
		} catch (e) {
			if (state.lastMarked === id) state.lastMarked = 0;
		}
	}

	/* ---- presence and typing ------------------------------------------- */

	function renderOnline() {
		const ul = $('online');
		ul.textContent = '';
		const names = [...state.online.values()].sort((a, b) => a.localeCompare(b));
		for (const n of names) ul.appendChild(el('li', null, n));
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
		if (state.ws && state.ws.readyState === WebSocket.OPEN) {
			state.ws.send(JSON.stringify(obj));
			return true;
		}
		return false;
	}

	function onInput() {
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

	/* ---- sending -------------------------------------------------------- */

	function addPending(clientId, content) {
		const li = el('li', 'message mine pending');
		const meta = el('div', 'meta');
		meta.appendChild(el('span', 'sender', state.me.username));
		meta.appendChild(el('span', 'time', 'sending…'));
		li.appendChild(meta);
		li.appendChild(el('div', 'content', content));
		$('messages').appendChild(li);
		state.pending.set(clientId, { content, li, room: state.room.id });
		scrollToBottom();
	}

	// Send over the WebSocket when it is open, else over HTTP. The client_id
	// makes a resend after a reconnect safe: the server stores it once.
	async function sendPending(clientId) {
		const p = state.pending.get(clientId);
		if (!p) return;
		const frame = { type: 'chat_message', content: p.content, message_type: 'text', client_id: clientId };
		if (wsSend(frame)) return;
		try {
			const m = await api('POST', `/chat/rooms/${p.room}/messages/`,
				{ content: p.content, message_type: 'text', client_id: clientId });
			if (state.room && state.room.id === p.room) putMessage(m);
		} catch (e) {
			showError('Not sent: ' + e.message);
			p.li.querySelector('.time').textContent = 'not sent';
		}
	}

	function submitMessage(ev) {
		ev.preventDefault();
		const input = $('message-input');
		const content = input.value;
		if (!content.trim() || !state.room) return;
		if ([...content].length > 4000) {
			showError('A message holds at most 4000 characters.');
			return;
		}
		showError('');
		stopTyping();
		const clientId = uuid();
		addPending(clientId, content);
		input.value = '';
		sendPending(clientId);
	}

	/* ---- WebSocket ------------------------------------------------------ */

	function closeSocket() {
		state.wsGen++;
		clearTimeout(state.reconnectTimer);
		if (state.ws) {
			try { state.ws.close(1000); } catch (e) { /* already closed */ }
			state.ws = null;
		}
	}

	function scheduleReconnect(why) {
		const gen = state.wsGen;
		const delay = state.reconnectDelay * (0.5 + Math.random());
		state.reconnectDelay = Math.min(state.reconnectDelay * 2, 15000);
		setConn(`${why}; reconnecting in ${Math.round(delay / 1000)} s…`, true);
		state.reconnectTimer = setTimeout(() => { if (gen === state.wsGen) connect(); }, delay);
	}

	async function connect() {
		const room = state.room;
		if (!room) return;
		const gen = ++state.wsGen;
		const token = await freshAccess();
		if (gen !== state.wsGen) return;
		const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
		const url = `${proto}//${location.host}/ws/chat/${room.id}/?token=${encodeURIComponent(token)}` +
			`&last_id=${state.newestId}`;
		setConn('connecting…');
		let ws;
		try {
			ws = new WebSocket(url);
		} catch (e) {
			scheduleReconnect('cannot connect');
			return;
		}
		state.ws = ws;
		ws.onmessage = (ev) => { if (gen === state.wsGen) onFrame(ev.data); };
		ws.onclose = (ev) => { if (gen === state.wsGen) onClose(ev); };
	}

	function onClose(ev) {
		state.ws = null;
		state.online.clear();
		renderOnline();
		clearTyping();
		switch (ev.code) {
		case 4401:
			// The token expired or was refused: get a new one and try again.
			refreshAccess().then((ok) => {
				if (ok) scheduleReconnect('session renewed');
				else logout('Your session has expired. Please log in again.');
			});
			return;
		case 4403:
			setConn('disconnected', true);
			showError('You are not allowed in this room.');
			return;
		case 4404:
			setConn('disconnected', true);
			showError('This room does not exist or is no longer visible.');
			loadRooms().catch(() => {});
			return;
		case 1008:
			setConn('disconnected', true);
			showError('The server refused this page\'s origin.');
			return;
		default:
			scheduleReconnect(ev.code === 1001 ? 'server restarting' : 'connection lost');
		}
	}

	function onFrame(raw) {
		let f;
		try { f = JSON.parse(raw); } catch (e) { return; }
		if (!f || typeof f.type !== 'string') return;
		switch (f.type) {
		case 'connection_established':
			state.reconnectDelay = 500;
			setConn('connected');
			state.online.clear();
			for (const u of f.online || [f.user]) if (u) state.online.set(u.id, u.username);
			renderOnline();
			// Anything typed while offline goes out now.
			for (const id of state.pending.keys()) sendPending(id);
			break;
		case 'chat_message': {
			const stick = isNearBottom();
			putMessage(f.message);
			if (f.message && f.message.sender) setTyping(f.message.sender, false);
			renderReads();
			if (stick) scrollToBottom();
			markRead();
			break;
		}
		case 'message_updated':
			if (f.message && state.messages.has(f.message.id)) putMessage(f.message);
			renderReads();
			break;
		case 'message_deleted':
			removeMessage(f.message_id);
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
			setConn('connected');
			break;
		case 'resync_required':
			// More was missed than the relay replays: reload the newest page.
			loadHistory().catch((e) => showError(e.message));
			break;
		case 'error':
			if (f.code === 'room_deleted') {
				showError('This room was deleted.');
				loadRooms().catch(() => {});
			} else {
				showError(f.message || 'The server reported an error.');
			}
			break;
		default:
			break; // newer server, older client: ignore what we do not know
		}
	}

	/* ---- wiring --------------------------------------------------------- */

	function init() {
		$('login-form').addEventListener('submit', (ev) => { ev.preventDefault(); login(false); });
		$('register-btn').addEventListener('click', () => login(true));
		$('logout-btn').addEventListener('click', () => logout());
		$('new-room-form').addEventListener('submit', createRoom);
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
			markRead();
		});
		document.addEventListener('visibilitychange', () => {
			if (!document.hidden) { markRead(); loadRooms().catch(() => {}); }
		});
		window.addEventListener('online', () => {
			if (state.room && !state.ws) { state.reconnectDelay = 500; connect(); }
		});
		if (state.access || state.refresh) {
			startChat().catch((e) => logout(e.status === 401 ? '' : e.message));
		} else {
			$('login-view').hidden = false;
			$('username').focus();
		}
	}

	document.addEventListener('DOMContentLoaded', init);
})();

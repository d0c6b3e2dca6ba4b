/* What the modules of the web client share: the state of the page, and
 * the element lookup and error lines every part uses. */

export const MAX_CHARS = 4000;          // the server's limit, in code points

export const $ = (id) => document.getElementById(id);

export const state = {
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

// Errors go next to what caused them: each form has its own line.
export function showError(id, text) {
	const e = $(id);
	e.textContent = text || '';
	e.hidden = !text;
}

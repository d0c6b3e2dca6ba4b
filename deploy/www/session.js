/* The session and the HTTP API of the web client.
 *
 * Tokens live in localStorage, so every tab of the browser shares one
 * session; the access token is also kept as "jwt_token", where the protocol
 * document's example clients look for it. request() renews the access token
 * before it expires and once more after a 401; when the server refuses the
 * refresh token, the handler given to onSessionOver() ends the session.
 */

import { tokenClaims } from './util.js';

export const session = {
	access: localStorage.getItem('chat.access'),
	refresh: localStorage.getItem('chat.refresh'),
};

let sessionOver = () => {};
export function onSessionOver(fn) {
	sessionOver = fn;
}

export function saveTokens(access, refresh) {
	session.access = access;
	if (refresh !== undefined) session.refresh = refresh;
	if (access) {
		localStorage.setItem('chat.access', access);
		localStorage.setItem('jwt_token', access);
	} else {
		localStorage.removeItem('chat.access');
		localStorage.removeItem('jwt_token');
	}
	if (session.refresh) localStorage.setItem('chat.refresh', session.refresh);
	else localStorage.removeItem('chat.refresh');
}

/* ---- HTTP ----------------------------------------------------------- */

export class ApiError extends Error {
	constructor(status, detail) {
		super(detail);
		this.status = status;
	}
}

let refreshing = null;
// One refresh at a time. Resolves true when a new access token was
// stored, false when the server refused the refresh token (the session
// is over), null when it could not answer (try again later). Another tab
// may have renewed the tokens already: take its pair then.
export function refreshAccess() {
	if (!refreshing) {
		refreshing = (async () => {
			const stored = localStorage.getItem('chat.access');
			if (stored && stored !== session.access && !expiresSoon(stored)) {
				session.access = stored;
				session.refresh = localStorage.getItem('chat.refresh');
				return true;
			}
			for (let i = 0; i < 2; i++) {
				const refresh = localStorage.getItem('chat.refresh') || session.refresh;
				if (!refresh) return false;
				let r;
				try {
					r = await fetch('/api/auth/token/refresh/', {
						method: 'POST',
						headers: { 'Content-Type': 'application/json' },
						body: JSON.stringify({ refresh }),
					});
				} catch (e) {
					return null;
				}
				if (r.ok) {
					const j = await r.json();
					if (!j.access) return null;
					session.refresh = refresh;
					saveTokens(j.access, j.refresh || refresh);
					return true;
				}
				if (r.status >= 500 || r.status === 429) return null;
				// Refused: unless another tab rotated the token meanwhile, the session is over.
				if (localStorage.getItem('chat.refresh') === refresh) return false;
			}
			return false;
		})().finally(() => { refreshing = null; });
	}
	return refreshing;
}

function expiresSoon(token) {
	const c = tokenClaims(token);
	if (!c.exp) return false;
	const life = c.iat ? c.exp - c.iat : 900;
	const margin = Math.min(30, life / 2) * 1000;
	return c.exp * 1000 - Date.now() < margin;
}

// The access token, renewed first when it is about to expire.
export async function freshAccess() {
	if (session.access && expiresSoon(session.access)) await refreshAccess();
	else if (!session.access && session.refresh) await refreshAccess();
	return session.access;
}

export const SESSION_OVER = 'Your session has expired. Please log in again.';

export async function request(method, path, body, retried) {
	const headers = { Accept: 'application/json' };
	if (body !== undefined) headers['Content-Type'] = 'application/json';
	const open = path.startsWith('/auth/token') || path === '/auth/register/' || path === '/auth/logout/';
	const token = open ? null : await freshAccess();
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
	if (r.status === 401 && !open && !retried) {
		const renewed = await refreshAccess();
		if (renewed) return request(method, path, body, true);
		if (renewed === null) throw new ApiError(503, 'The server is busy. Try again in a moment.');
		sessionOver(SESSION_OVER);
		throw new ApiError(401, SESSION_OVER);
	}
	let data = null;
	const text = await r.text();
	if (text) {
		try { data = JSON.parse(text); } catch (e) { data = null; }
	}
	if (!r.ok) {
		let detail = data && typeof data.detail === 'string' ? data.detail : `The server answered ${r.status}.`;
		if (r.status === 429) {
			const after = r.headers.get('Retry-After');
			detail = 'Too many attempts' + (after ? `; try again in ${after} s.` : '.');
		}
		throw new ApiError(r.status, detail);
	}
	return { data, link: r.headers.get('Link') };
}

export async function api(method, path, body) {
	return (await request(method, path, body)).data;
}

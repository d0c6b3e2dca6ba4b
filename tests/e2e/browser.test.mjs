// Browser test of the web client (run by browser.sh inside a running stack).
//
// Headless Debian chromium driven by playwright-core. Playwright starts the
// browser with a new, empty profile of its own (launch() makes a fresh
// user-data-dir per run); the extra flags keep chromium off the network.
// Two users in two isolated browser contexts register, chat, see each
// other's presence, typing and read receipts; one reloads and sees the
// history and loads older pages by scrolling up; the protocol document's
// JavaScript example runs in the page. Exit 0 on success, 1 on failure.
//
// Environment: E2E_BASE_URL (web server), E2E_ARTIFACTS (screenshots),
// E2E_NPM_DIR (where playwright-core was installed), CHROMIUM, top_srcdir,
// CHAT_E2E_UPDATE_DOCS=1 to also copy the screenshot to docs/screenshot.png.

import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

const require = createRequire(path.join(process.env.E2E_NPM_DIR, 'package.json'));
const { chromium } = require('playwright-core');

const BASE = process.env.E2E_BASE_URL;
const ART = process.env.E2E_ARTIFACTS;
const SRC = process.env.top_srcdir;
const T = 15000;
const run = crypto.randomBytes(3).toString('hex');
const problems = [];
const refreshes = [];  // token refreshes the pages made, with their status
let outage = false; // while the relay is down, failed WebSocket attempts are expected

function log(...a) { console.log(...a); }
function fail(msg) { throw new Error(msg); }

async function newUserPage(browser, name) {
	const ctx = await browser.newContext({ viewport: { width: 1180, height: 720 } });
	const page = await ctx.newPage();
	page.on('pageerror', (e) => problems.push(`${name}: page error: ${e.message}`));
	page.on('console', (m) => {
		if (m.type() !== 'error') return;
		if (outage && /WebSocket/.test(m.text())) return;
		problems.push(`${name}: console error: ${m.text()}`);
	});
	page.on('response', (r) => {
		if (r.url().includes('/api/auth/token/refresh/')) refreshes.push(`${name}: ${r.status()}`);
		else if (r.status() === 401) problems.push(`${name}: 401 from ${r.url()}`);
	});
	page.setDefaultTimeout(T);
	return page;
}

async function register(page, username, password) {
	await page.goto(BASE + '/');
	await page.locator('#username').fill(username);
	await page.locator('#password').fill(password);
	await page.locator('#register-btn').click();
	await page.locator('#chat-view').waitFor({ state: 'visible' });
	const shown = await page.locator('#me-name').textContent();
	if (shown !== username) fail(`signed in as "${shown}", expected ${username}`);
}

// A fresh access token straight from the API (the tokens of this stack
// live 10 s).
async function login(username, password) {
	const r = await fetch(`${BASE}/api/auth/token/`, {
		method: 'POST',
		headers: { 'Content-Type': 'application/json' },
		body: JSON.stringify({ username, password }),
	});
	if (r.status !== 200) fail(`login ${username}: ${r.status}`);
	return (await r.json()).access;
}

async function connected(page) {
	await page.locator('#conn-state', { hasText: /^connected$/ }).waitFor();
}

async function say(page, text) {
	const input = page.locator('#message-input');
	await input.click();
	await input.pressSequentially(text, { delay: 15 });
	await input.press('Enter');
}

function message(page, text) {
	return page.locator('#messages li.message[data-id] .content', { hasText: text });
}

async function main() {
	const browser = await chromium.launch({
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		headless: true,
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync'],
	});
	const alice = `alice_${run}`;
	const bob = `bob_${run}`;
	const roomName = `Team ${run}`;
	let pageA;
	try {
		pageA = await newUserPage(browser, 'alice');
		const pageB = await newUserPage(browser, 'bob');

		// Alice registers and creates a room.
		await register(pageA, alice, 'alice password 1');
		await pageA.locator('#new-room-name').fill(roomName);
		await pageA.locator('#new-room-form button[type=submit]').click();
		await pageA.locator('#room-title', { hasText: roomName }).waitFor();
		await connected(pageA);
		const roomId = Number(/room=(\d+)/.exec(pageA.url())[1]);
		log(`ok: ${alice} registered, room ${roomId} created and opened`);

		// Bob registers and opens it from the room list.
		await register(pageB, bob, 'bob password 1');
		await pageB.locator('#room-list button', { hasText: roomName }).click();
		await pageB.locator('#room-title', { hasText: roomName }).waitFor();
		await connected(pageB);
		await pageA.locator('#online li', { hasText: bob }).waitFor();
		await pageB.locator('#online li', { hasText: alice }).waitFor();
		log('ok: both connected, each sees the other online');

		// They chat; typing shows while bob types.
		await say(pageA, 'Hello Bob! The new chat server is up.');
		await message(pageB, 'Hello Bob!').waitFor();
		const inputB = pageB.locator('#message-input');
		await inputB.click();
		await inputB.pressSequentially('Hi Alice, it works', { delay: 20 });
		await pageA.locator('#typing', { hasText: `${bob} is typing` }).waitFor();
		await inputB.press('Enter');
		await message(pageA, 'Hi Alice, it works').waitFor();
		await pageA.locator('#typing', { hasText: /^$/ }).waitFor();
		await say(pageA, 'Great. History, presence and read receipts are in too.');
		await message(pageB, 'read receipts are in too').waitFor();
		log('ok: messages both ways, typing indicator shown and cleared');

		// Bob has read alice's messages: her newest one says so.
		await pageA.locator('#messages li.mine .read', { hasText: bob }).waitFor();
		log('ok: "Read by" shown on alice\'s message');

		fs.mkdirSync(ART, { recursive: true });
		const shot = path.join(ART, 'chat.png');
		await pageA.screenshot({ path: shot });
		log(`ok: screenshot ${shot}`);
		if (process.env.CHAT_E2E_UPDATE_DOCS === '1' && SRC) {
			fs.copyFileSync(shot, path.join(SRC, 'docs', 'screenshot.png'));
			log('ok: copied to docs/screenshot.png');
		}

		// The relay goes away: the page says so and retries. A message posted
		// over HTTP meanwhile arrives once the relay is back, through the
		// resume (?last_id=) of the reconnection.
		outage = true;
		process.kill(Number(process.env.E2E_STACK_PID), 'SIGUSR1');
		await pageA.locator('#conn-state', { hasText: 'reconnecting' }).waitFor();
		const tokenB = await login(bob, 'bob password 1');
		const r = await fetch(`${BASE}/api/chat/rooms/${roomId}/messages/`, {
			method: 'POST',
			headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${tokenB}` },
			body: JSON.stringify({ content: 'sent while the relay was down' }),
		});
		if (r.status !== 201) fail(`POST during the outage: ${r.status}`);
		if (await message(pageA, 'sent while the relay was down').count() !== 0) fail('delivered without a relay?');
		process.kill(Number(process.env.E2E_STACK_PID), 'SIGUSR2');
		await message(pageA, 'sent while the relay was down').waitFor({ timeout: 40000 });
		await connected(pageA);
		outage = false;
		log('ok: after the relay restarts the page reconnects and gets what it missed');

		// Bob reloads: still signed in, same room, history there.
		await pageB.reload();
		await pageB.locator('#room-title', { hasText: roomName }).waitFor();
		await connected(pageB);
		await message(pageB, 'Hello Bob!').waitFor();
		await message(pageB, 'Hi Alice, it works').waitFor();
		log('ok: after a reload bob sees the history');

		// Sixty more messages over HTTP arrive live; after another reload
		// only the newest page is loaded and scrolling up brings the rest.
		const token = await login(bob, 'bob password 1');
		for (let i = 1; i <= 60; i++) {
			const r = await fetch(`${BASE}/api/chat/rooms/${roomId}/messages/`, {
				method: 'POST',
				headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
				body: JSON.stringify({ content: `bulk message ${i}` }),
			});
			if (r.status !== 201) fail(`POST message ${i}: ${r.status} ${await r.text()}`);
		}
		await message(pageA, 'bulk message 60').waitFor();
		await pageB.reload();
		await connected(pageB);
		await message(pageB, 'bulk message 60').waitFor();
		if (await message(pageB, 'Hello Bob!').count() !== 0) fail('the first page should not hold the oldest message');
		for (let i = 0; i < 20 && await message(pageB, 'Hello Bob!').count() === 0; i++) {
			await pageB.locator('#messages-scroll').evaluate((e) => { e.scrollTop = 0; });
			await pageB.waitForTimeout(250);
		}
		await message(pageB, 'Hello Bob!').waitFor();
		log('ok: scrolling up loads older messages');

		// The protocol document's JavaScript example, verbatim but for its URL;
		// its token comes from localStorage "jwt_token", where the client keeps it.
		const seedUrl = 'ws://localhost:8000/ws/chat/2/';
		let code = fs.readFileSync(path.join(SRC, 'tests', 'e2e', 'seed_client.js'), 'utf8');
		if (!code.includes(seedUrl)) fail('seed_client.js lost its URL');
		code = code.replace(seedUrl, `ws://${new URL(BASE).host}/ws/chat/${roomId}/`);
		const consoleLines = [];
		pageB.on('console', (m) => consoleLines.push(m.text()));
		await pageB.addScriptTag({ content: code });
		const waitLine = async (prefix) => {
			const end = Date.now() + T;
			while (Date.now() < end) {
				if (consoleLines.some((l) => l.startsWith(prefix))) return;
				await pageB.waitForTimeout(100);
			}
			fail(`the seed example never logged "${prefix}"; it logged: ${JSON.stringify(consoleLines)}`);
		};
		await waitLine('WebSocket连接成功');
		await waitLine('连接确认: 连接成功');
		await pageB.evaluate(() => sendMessage('hello from the seed example')); // eslint-disable-line no-undef
		await waitLine('消息内容: hello from the seed example');
		await waitLine('消息ID:');
		await message(pageA, 'hello from the seed example').waitFor();
		log('ok: the protocol document\'s JavaScript example runs in the page');

		// Alice's 10 s access token runs out; her next action renews it with
		// the refresh token and goes through.
		const exp = await pageA.evaluate(() => {
			const p = sessionStorage.getItem('chat.access').split('.')[1];
			return JSON.parse(atob(p.replace(/-/g, '+').replace(/_/g, '/'))).exp;
		});
		const wait = exp * 1000 + 500 - Date.now();
		if (wait > 0) await pageA.waitForTimeout(wait);
		await pageA.locator('#new-room-name').fill(`After expiry ${run}`);
		await pageA.locator('#new-room-form button[type=submit]').click();
		await pageA.locator('#room-title', { hasText: `After expiry ${run}` }).waitFor();
		await connected(pageA);
		if (!refreshes.some((x) => x.endsWith(': 200'))) fail(`no token refresh seen: ${refreshes}`);
		if (refreshes.some((x) => !x.endsWith(': 200'))) fail(`a token refresh failed: ${refreshes}`);
		log(`ok: expired access tokens renewed with the refresh token (${refreshes.length} times)`);

		if (problems.length) fail(problems.join('\n'));
		log('PASS: browser');
	} catch (e) {
		console.error(`FAIL: ${e.message}`);
		if (problems.length) console.error(problems.join('\n'));
		if (pageA && ART) {
			fs.mkdirSync(ART, { recursive: true });
			await pageA.screenshot({ path: path.join(ART, 'chat-failure.png') }).catch(() => {});
		}
		await browser.close();
		process.exit(1);
	}
	await browser.close();
}

await main();

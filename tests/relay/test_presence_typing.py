"""Presence (user_join/user_leave on first/last connection, explicit frames)
and typing (to the others only, expiry, cleared on close)."""

import asyncio
import time

import relaylib as R

S = {}
TYPING_TIMEOUT = 2


def setup(fx):
    S["relay"] = fx.relay(CHAT_RELAY_TYPING_TIMEOUT=str(TYPING_TIMEOUT))
    S["default"] = fx.relay()  # typing timeout 10 s


def about(user):
    return lambda f: isinstance(f.get("user"), dict) and f["user"].get("id") == user.id


async def t_join_leave(fx):
    relay = S["relay"]
    a, b = fx.user("pa"), fx.user("pb")
    room = fx.room(a)
    ca = await relay.connect(room, a)
    R.eq([o["id"] for o in ca.hello["online"]], [a.id], "online list of the first user")
    cb = await relay.connect(room, b)
    f = await ca.next("user_join", 10, where=about(b))
    R.eq(f, dict(f, type="user_join", user=b.ref()), "user_join frame")
    R.eq(set(f) - {"_t"}, {"type", "user"}, "user_join keys")
    R.eq(sorted(o["id"] for o in cb.hello["online"]), sorted([a.id, b.id]),
         "online list of the newcomer")
    # the newcomer gets no join frames (not for those present, not for itself)
    await cb.quiet(1.0, "user_join", what="user_join sent to the newcomer")
    # b's second connection: no join; closing one of two: no leave
    cb2 = await relay.connect(room, b)
    await cb.close()
    await ca.quiet(1.0, ("user_join", "user_leave"), where=about(b),
                   what="presence frame while b is still connected")
    await cb2.close()
    f = await ca.next("user_leave", 10, where=about(b))
    R.eq(f["user"], b.ref(), "user_leave.user")
    await ca.quiet(0.5, ("user_join", "user_leave"), what="extra presence frame")


async def t_explicit_frames(fx):
    relay = S["relay"]
    a, b = fx.user("ea"), fx.user("eb")
    room = fx.room(a)
    ca = await relay.connect(room, a)
    cb = await relay.connect(room, b)
    await ca.next("user_join", 10, where=about(b))
    await ca.send({"type": "user_join"})
    for c in (ca, cb):
        f = await c.next("user_join", 10, where=about(a))
        R.eq(f["user"], a.ref(), "explicit user_join.user")
    await ca.send({"type": "user_leave"})
    for c in (ca, cb):
        f = await c.next("user_leave", 10, where=about(a))
        R.eq(f["user"], a.ref(), "explicit user_leave.user")
    # the sender stays connected and usable
    await ca.usable()


async def t_typing(fx):
    relay = S["relay"]
    a, b, c_ = fx.user("ta"), fx.user("tb"), fx.user("tc")
    room = fx.room(a)
    ca = await relay.connect(room, a)
    cb = await relay.connect(room, b)
    cc = await relay.connect(room, c_)
    await ca.send({"type": "typing", "is_typing": True})
    for o in (cb, cc):
        f = await o.next("typing", 5)
        R.eq({k: v for k, v in f.items() if k != "_t"},
             {"type": "typing", "user": a.ref(), "is_typing": True}, "typing frame")
    await ca.send({"type": "typing", "is_typing": False})
    for o in (cb, cc):
        f = await o.next("typing", 5)
        R.eq((f["user"], f["is_typing"]), (a.ref(), False), "typing false")
    # the typer's own connection never gets its typing back
    await ca.quiet(1.0, "typing", what="typing echoed to the typer")
    R.check(not [f for f in ca.history if f["type"] == "error"], f"errors: {ca.history}")


@R.timeout(40)
async def t_typing_expires(fx):
    relay = S["relay"]
    a, b = fx.user("xa"), fx.user("xb")
    room = fx.room(a)
    ca = await relay.connect(room, a)
    cb = await relay.connect(room, b)
    await ca.send({"type": "typing", "is_typing": True})
    f = await cb.next("typing", 5, where=about(a))
    R.eq(f["is_typing"], True, "is_typing")
    t0 = f["_t"]
    f = await cb.next("typing", TYPING_TIMEOUT + 6, where=about(a))
    R.eq(f["is_typing"], False, "is_typing after the timeout")
    waited = f["_t"] - t0
    R.check(waited >= TYPING_TIMEOUT - 0.7,
            f"typing cleared after {waited:.2f}s, before the {TYPING_TIMEOUT}s timeout")
    # renewed within the timeout: not cleared in between
    start = time.monotonic()
    await ca.send({"type": "typing", "is_typing": True})
    await cb.next("typing", 5, where=lambda f: about(a)(f) and f["is_typing"])
    for _ in range(3):
        await cb.quiet(TYPING_TIMEOUT * 0.6, "typing",
                       where=lambda f: about(a)(f) and not f["is_typing"],
                       what="typing cleared although renewed")
        await ca.send({"type": "typing", "is_typing": True})
    f = await cb.next("typing", TYPING_TIMEOUT + 6,
                      where=lambda f: about(a)(f) and not f["is_typing"])
    R.check(f["_t"] - start >= 3 * TYPING_TIMEOUT * 0.6 + TYPING_TIMEOUT - 0.7,
            "typing cleared too early after the last renewal")
    # a's own connection never saw typing frames
    R.check(not [x for x in ca.history if x["type"] == "typing"],
            f"the typer got typing frames: {[x for x in ca.history if x['type'] == 'typing']}")


async def t_typing_then_close(fx):
    """Closing clears typing at once, not after the (10 s) timeout."""
    relay = S["default"]
    a, b = fx.user("ka"), fx.user("kb")
    room = fx.room(a)
    ca = await relay.connect(room, a)
    cb = await relay.connect(room, b)
    await ca.send({"type": "typing", "is_typing": True})
    await cb.next("typing", 5, where=lambda f: about(a)(f) and f["is_typing"])
    t0 = time.monotonic()
    await ca.close()
    f = await cb.next("typing", 5, where=lambda f: about(a)(f) and not f["is_typing"])
    R.check(f["_t"] - t0 < 4, "typing false came late")
    await cb.next("user_leave", 10, where=about(a))


@R.timeout(60)
async def t_churn(fx):
    """Connections that open and vanish at every stage (mid-handshake,
    before and after connection_established, with a message in flight)
    leave a consistent room: every churned user's last presence frame is
    user_leave, the online list names only who is connected, and the
    room still works."""
    relay = S["relay"]
    owner, stay = fx.user("churnown"), fx.user("stayer")
    room = fx.room(owner)
    obs = await relay.connect(room, owner)
    keep = await relay.connect(room, stay)
    users = [fx.user("churn") for _ in range(24)]

    async def vanish(i, u):
        stage = i % 4
        if stage == 0:  # TCP close right after sending the handshake
            raw = await asyncio.get_running_loop().run_in_executor(
                None, lambda: R.RawWs(relay.port, f"/ws/chat/{room}/?token={u.token}"))
            raw.close()
        elif stage == 1:  # close before connection_established is read
            c = await R.Client.open(relay.url(room, u.token), fx)
            await c.close()
        elif stage == 2:  # close after it
            c = await relay.connect(room, u)
            await c.close()
        else:  # send, then close at once
            c = await relay.connect(room, u)
            await c.send({"type": "chat_message", "content": f"bye from {u.name}"})
            await c.send({"type": "typing", "is_typing": True})
            await c.close()
    await asyncio.gather(*(vanish(i, u) for i, u in enumerate(users)))
    # every message sent before closing is delivered
    await R.async_wait_until(lambda: len([f for f in obs.history if f["type"] == "chat_message"])
                             >= len(users) // 4, 15, "the goodbye messages")
    # wait for presence to settle, then check each churned user's last word
    ids = {u.id for u in users}

    def last_presence():
        last = {}
        for f in obs.history:
            if f["type"] in ("user_join", "user_leave") and f["user"]["id"] in ids:
                last[f["user"]["id"]] = f["type"]
        return last
    await R.async_wait_until(lambda: all(v == "user_leave" for v in last_presence().values()),
                             15, "every churned user to have left")

    def typing_on():
        on = {}
        for f in obs.history:
            if f["type"] == "typing" and f["user"]["id"] in ids:
                on[f["user"]["id"]] = f["is_typing"]
        return [uid for uid, v in on.items() if v]
    try:
        await R.async_wait_until(lambda: not typing_on(), 2 * TYPING_TIMEOUT + 2,
                                 "typing to be cleared")
    except R.TestFailure:
        pass  # reported below
    fresh = await relay.connect(room, fx.user("fresh"))
    online = {o["id"] for o in fresh.hello["online"]}
    R.eq(online & ids, set(), "churned users still listed online")
    R.check({owner.id, stay.id} <= online, f"online list {online} lacks the connected users")
    stuck = typing_on()
    R.check(not stuck, f"users who closed while typing still shown typing: {stuck}")
    await keep.usable()
    R.check(relay.alive(), "relay died")


if __name__ == "__main__":
    R.main([t_join_leave, t_explicit_frames, t_typing, t_typing_expires,
            t_typing_then_close, t_churn], setup)

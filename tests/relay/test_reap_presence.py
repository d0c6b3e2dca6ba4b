"""A relay that dies (kill -9) or stalls long enough to be reaped: every
presence row that goes away produces its event, exactly once. The other
relay's clients see, for each user, join and leave strictly alternating:
one user_leave when the user's last connection went with the dead relay,
none while the user is still connected elsewhere, and never a second
user_join without a leave between."""

import asyncio
import signal

import relaylib as R

HB = {"CHAT_RELAY_HEARTBEAT_INTERVAL": "1"}  # reaped after 3 s of silence


def presence(c, user):
    return [f["type"] for f in c.history
            if f["type"] in ("user_join", "user_leave") and f["user"]["id"] == user.id]


def instance_gone(fx, relay):
    return lambda: fx.db.scalar("SELECT COUNT(*) FROM relay_instances WHERE pid = "
                                f"{relay.proc.pid}") == "0"


@R.timeout(90)
async def t_kill9_leave_once(fx):
    a, b = fx.relay(**HB), fx.relay(**HB)
    obs, ghost = fx.user("witness"), fx.user("ghost")
    room = fx.room(obs)
    co = await b.connect(room, obs)
    await a.connect(room, ghost)
    await co.next("user_join", 10, where=lambda f: f["user"]["id"] == ghost.id)
    a.stop(signal.SIGKILL)
    await co.next("user_leave", 30, where=lambda f: f["user"]["id"] == ghost.id)
    await R.async_wait_until(instance_gone(fx, a), 30, "the dead relay's instance reaped")
    await co.quiet(4, ("user_join", "user_leave"), where=lambda f: f["user"]["id"] == ghost.id,
                   what="presence frame after the reap")
    R.eq(presence(co, ghost), ["user_join", "user_leave"], "presence frames for the ghost")
    # back on the live relay: one join, as for anyone arriving
    await b.connect(room, ghost)
    await co.next("user_join", 10, where=lambda f: f["user"]["id"] == ghost.id)
    await co.quiet(1, ("user_join", "user_leave"), where=lambda f: f["user"]["id"] == ghost.id,
                   what="extra presence frame")
    R.eq(presence(co, ghost), ["user_join", "user_leave", "user_join"], "after coming back")
    b.stop()


@R.timeout(90)
async def t_kill9_still_connected_elsewhere(fx):
    a, b = fx.relay(**HB), fx.relay(**HB)
    obs, roamer = fx.user("witness"), fx.user("roamer")
    room = fx.room(obs)
    co = await b.connect(room, obs)
    await a.connect(room, roamer)
    await co.next("user_join", 10, where=lambda f: f["user"]["id"] == roamer.id)
    await b.connect(room, roamer)
    a.stop(signal.SIGKILL)
    await R.async_wait_until(instance_gone(fx, a), 30, "the dead relay's instance reaped")
    await co.quiet(2, ("user_join", "user_leave"), where=lambda f: f["user"]["id"] == roamer.id,
                   what="presence frame for a user still connected to the live relay")
    R.eq(presence(co, roamer), ["user_join"], "presence frames for the roamer")
    c2 = await b.connect(room, fx.user("late"))
    R.check(roamer.id in [o["id"] for o in c2.hello["online"]],
            f"online list lost {roamer}: {c2.hello['online']}")
    b.stop()


@R.timeout(90)
async def t_stalled_relay_reaped_and_back(fx):
    """SIGSTOP a relay until the other reaps it, then SIGCONT: it registers
    again and re-adds its live connections. The others hear leave, then
    join, once each."""
    a, b = fx.relay(**HB), fx.relay(**HB)
    obs, sleeper = fx.user("witness"), fx.user("sleeper")
    room = fx.room(obs)
    co = await b.connect(room, obs)
    await a.connect(room, sleeper)
    await co.next("user_join", 10, where=lambda f: f["user"]["id"] == sleeper.id)
    a.proc.send_signal(signal.SIGSTOP)
    try:
        await co.next("user_leave", 30, where=lambda f: f["user"]["id"] == sleeper.id)
    finally:
        a.proc.send_signal(signal.SIGCONT)
    await co.next("user_join", 30, where=lambda f: f["user"]["id"] == sleeper.id)
    await co.quiet(4, ("user_join", "user_leave"), where=lambda f: f["user"]["id"] == sleeper.id,
                   what="presence frame after the stalled relay came back")
    R.eq(presence(co, sleeper), ["user_join", "user_leave", "user_join"],
         "presence frames for a user of a relay reaped while stalled")
    a.stop()
    b.stop()


if __name__ == "__main__":
    R.main([t_kill9_leave_once, t_kill9_still_connected_elsewhere,
            t_stalled_relay_reaped_and_back])

"""Load pieces and bookkeeping for `make soak` (tests/soak/run-soak.sh).

    soak.py typing  --url ws://H:P --tokens F --rooms F --seconds S --clients N --out F
    soak.py http    --base http://H:P --tokens F --rooms F --seconds S --rate R --out F
    soak.py sample  --csv F --seconds S --interval I --relay-pid P --lighttpd-pid P
                    --metrics URL --db-socket PATH [--stop-file F]
    soak.py summary --csv F --rounds F --churn F --typing F --http F

Every loop is bounded by --seconds; only loopback addresses are used.
"""

import argparse
import asyncio
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request


STOP = [False]


def on_term(*_):
    # SIGTERM from the runner ends the loops early; the results are still written
    STOP[0] = True


def running(deadline):
    return time.monotonic() < deadline and not STOP[0]


def lines(path):
    with open(path) as f:
        return [x.strip() for x in f if x.strip()]


# ------------------------------------------------------------------ typing
async def typing_client(url, token, room, deadline, stats):
    import websockets
    while running(deadline):
        try:
            async with websockets.connect(f"{url}/ws/chat/{room}/?token={token}",
                                          open_timeout=20, close_timeout=5,
                                          max_size=2**22) as ws:
                first = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if first.get("type") != "connection_established":
                    stats["refused"] += 1
                    await asyncio.sleep(1)
                    continue
                stats["connects"] += 1
                # Reconnect every 30 s: a typing user who leaves is part of the load.
                until = min(deadline, time.monotonic() + 30)
                flag = True
                while running(until):
                    await ws.send(json.dumps({"type": "typing", "is_typing": flag}))
                    stats["frames"] += 1
                    flag = not flag
                    # read whatever came in (typing of others, messages)
                    end = time.monotonic() + 0.5
                    while True:
                        left = end - time.monotonic()
                        if left <= 0:
                            break
                        try:
                            await asyncio.wait_for(ws.recv(), left)
                            stats["received"] += 1
                        except asyncio.TimeoutError:
                            break
        except Exception as e:  # counted, then try again: the soak goes on
            stats["errors"] += 1
            stats["last_error"] = repr(e)[:200]
            await asyncio.sleep(1)


def cmd_typing(a):
    tokens, rooms = lines(a.tokens), lines(a.rooms)
    stats = {"connects": 0, "frames": 0, "received": 0, "errors": 0, "refused": 0}
    deadline = time.monotonic() + a.seconds

    async def run():
        await asyncio.gather(*(typing_client(a.url, tokens[i % len(tokens)],
                                             rooms[i % len(rooms)], deadline, stats)
                               for i in range(a.clients)))
    asyncio.run(run())
    with open(a.out, "w") as f:
        json.dump(stats, f)
    print("typing:", json.dumps(stats))


# ------------------------------------------------------------------ http
def cmd_http(a):
    tokens, rooms = lines(a.tokens), lines(a.rooms)
    host, port = a.base.split("//", 1)[1].rsplit(":", 1)
    stats = {"requests": 0, "errors": 0, "by_status": {}, "posts_ok": 0, "gets_ok": 0}
    deadline = time.monotonic() + a.seconds
    conn = None
    i = 0
    period = 1.0 / a.rate
    nxt = time.monotonic()
    while running(deadline):
        tok = tokens[i % len(tokens)]
        room = rooms[i % len(rooms)]
        kind = i % 3
        i += 1
        hdr = {"Authorization": f"Bearer {tok}"}
        if kind == 0:
            req = ("GET", f"/api/chat/rooms/{room}/messages/?limit=50", None)
        elif kind == 1:
            req = ("GET", "/api/chat/rooms/", None)
        else:
            hdr["Content-Type"] = "application/json"
            req = ("POST", f"/api/chat/rooms/{room}/messages/",
                   json.dumps({"content": f"soak http {i}", "message_type": "text"}))
        try:
            if conn is None:
                conn = http.client.HTTPConnection(host, int(port), timeout=30)
            conn.request(req[0], req[1], body=req[2], headers=hdr)
            r = conn.getresponse()
            r.read()
            st = str(r.status)
            stats["by_status"][st] = stats["by_status"].get(st, 0) + 1
            if 200 <= r.status < 300:
                stats["posts_ok" if kind == 2 else "gets_ok"] += 1
            if r.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except Exception as e:
            stats["errors"] += 1
            stats["last_error"] = repr(e)[:200]
            if conn is not None:
                conn.close()
            conn = None
            time.sleep(0.5)
        stats["requests"] += 1
        nxt += period
        d = nxt - time.monotonic()
        if d > 0:
            time.sleep(d)
        else:
            nxt = time.monotonic()
    with open(a.out, "w") as f:
        json.dump(stats, f)
    print("http:", json.dumps(stats))


# ------------------------------------------------------------------ sampling
def proc_rss_fds(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(x.split()[1]) for x in f if x.startswith("VmRSS:"))
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        return rss, fds
    except (OSError, StopIteration):
        return None


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def sql(sock, q):
    out = subprocess.run(["mariadb", "--no-defaults", f"--socket={sock}", "-uroot", "-N", "-B",
                          "chat_test", "-e", q], capture_output=True, text=True, timeout=30)
    return out.stdout.split()


def metrics(url):
    m = {}
    with urllib.request.urlopen(url, timeout=10) as r:
        for ln in r.read().decode().splitlines():
            if ln and not ln.startswith("#"):
                k, _, v = ln.rpartition(" ")
                m[k] = v
    return m


COLS = ["time_s", "relay_rss_kib", "relay_fds", "api_rss_kib", "api_fds", "api_procs",
        "db_connections", "events_max_id", "relay_last_event_id", "relay_event_reader_lag",
        "lag_events", "relay_connections", "relay_connections_total", "relay_messages_in_total",
        "relay_frames_out_total", "loadavg1"]


def cmd_sample(a):
    t0 = time.monotonic()
    with open(a.csv, "w") as f:
        f.write(",".join(COLS) + "\n")
        k = 0
        while True:
            now = time.monotonic() - t0
            row = {c: "" for c in COLS}
            row["time_s"] = f"{now:.0f}"
            r = proc_rss_fds(a.relay_pid)
            if r:
                row["relay_rss_kib"], row["relay_fds"] = r
            apis = [p for p in children(a.lighttpd_pid) if proc_rss_fds(p)]
            row["api_procs"] = len(apis)
            if apis:
                row["api_rss_kib"] = sum(proc_rss_fds(p)[0] for p in apis)
                row["api_fds"] = sum(proc_rss_fds(p)[1] for p in apis)
            try:
                st = sql(a.db_socket, "SHOW STATUS LIKE 'Threads_connected'; "
                         "SELECT COALESCE(MAX(id),0) FROM chat_events")
                # our own query is one of the connections
                row["db_connections"] = int(st[1]) - 1
                row["events_max_id"] = int(st[2])
            except Exception as e:
                print("sample: sql:", e, file=sys.stderr)
            try:
                m = metrics(a.metrics)
                row["relay_last_event_id"] = m.get("chat_relay_last_event_id", "")
                row["relay_event_reader_lag"] = m.get("chat_relay_event_reader_lag", "")
                row["relay_connections"] = m.get("chat_relay_connections", "")
                row["relay_connections_total"] = m.get("chat_relay_connections_total", "")
                row["relay_messages_in_total"] = m.get("chat_relay_messages_in_total", "")
                row["relay_frames_out_total"] = m.get("chat_relay_frames_out_total", "")
                if row["events_max_id"] != "" and row["relay_last_event_id"] != "":
                    row["lag_events"] = max(0, row["events_max_id"] - int(row["relay_last_event_id"]))
            except Exception as e:
                print("sample: metrics:", e, file=sys.stderr)
            with open("/proc/loadavg") as lf:
                row["loadavg1"] = lf.read().split()[0]
            f.write(",".join(str(row[c]) for c in COLS) + "\n")
            f.flush()
            k += 1
            if now >= a.seconds or (a.stop_file and os.path.exists(a.stop_file)):
                break
            d = t0 + k * a.interval - time.monotonic()
            if d > 0:
                # wake early when told to stop
                end = time.monotonic() + d
                while time.monotonic() < end:
                    if a.stop_file and os.path.exists(a.stop_file):
                        break
                    time.sleep(min(0.5, end - time.monotonic()) if end > time.monotonic() else 0)


# ------------------------------------------------------------------ summary
def slope_per_min(ts, ys):
    """least-squares slope of ys over ts (seconds), per minute."""
    n = len(ts)
    if n < 2:
        return float("nan")
    mt, my = sum(ts) / n, sum(ys) / n
    den = sum((t - mt) ** 2 for t in ts)
    return 60 * sum((t - mt) * (y - my) for t, y in zip(ts, ys)) / den if den else float("nan")


def cmd_summary(a):
    import csv
    rows = list(csv.DictReader(open(a.csv)))
    fail = []

    def col(name):
        out = []
        for r in rows:
            if r[name] != "":
                out.append((float(r["time_s"]), float(r[name])))
        return out

    res = {"samples": len(rows), "seconds": float(rows[-1]["time_s"]) if rows else 0}
    for name in ("relay_rss_kib", "api_rss_kib", "relay_fds", "api_fds", "db_connections",
                 "lag_events", "relay_event_reader_lag", "relay_connections", "loadavg1"):
        c = col(name)
        if not c:
            continue
        half = [p for p in c if p[0] >= res["seconds"] / 2]
        res[name] = {"first": c[0][1], "last": c[-1][1], "min": min(v for _, v in c),
                     "max": max(v for _, v in c),
                     "slope_per_min_2nd_half": round(slope_per_min([t for t, _ in half],
                                                                   [v for _, v in half]), 2)}
    ct = col("relay_connections_total")
    if len(ct) >= 2 and ct[-1][0] > ct[0][0]:
        res["relay_connections_per_min"] = round((ct[-1][1] - ct[0][1]) * 60 / (ct[-1][0] - ct[0][0]))
        res["relay_connections_total"] = int(ct[-1][1])
    ev = col("events_max_id")
    if ev:
        res["events_written"] = int(ev[-1][1] - ev[0][1])

    rounds = [json.loads(x) for x in lines(a.rounds)] if os.path.exists(a.rounds) else []
    tot = {"rounds": len(rounds), "sent": 0, "delivered": 0, "expected": 0, "lost": 0,
           "duplicated": 0, "out_of_order": 0, "not_ok": 0}
    for j in rounds:
        for k in ("sent", "delivered", "expected", "lost", "duplicated", "out_of_order"):
            tot[k] += int(j.get(k, 0))
        if not j.get("ok"):
            tot["not_ok"] += 1
    res["fanout"] = tot
    if not rounds:
        fail.append("no fan-out round finished")
    if tot["lost"] or tot["duplicated"] or tot["out_of_order"] or tot["not_ok"]:
        fail.append(f"fan-out: {tot['lost']} lost, {tot['duplicated']} duplicated, "
                    f"{tot['out_of_order']} out of order, {tot['not_ok']} rounds not ok")
    churn = [json.loads(x) for x in lines(a.churn)] if os.path.exists(a.churn) else []
    res["churn"] = {"runs": len(churn),
                    "ready": sum(int(j.get("ready", 0)) for j in churn),
                    "failed": sum(int(j.get("failed", 0)) for j in churn)}
    for name, path in (("typing", a.typing), ("http", a.http)):
        try:
            res[name] = json.load(open(path))
        except (OSError, ValueError):
            res[name] = None
            fail.append(f"{name} load left no result")
    h = res.get("http") or {}
    if h and h.get("requests", 0) and (h.get("gets_ok", 0) + h.get("posts_ok", 0)) < 0.95 * h["requests"]:
        fail.append(f"HTTP: only {h.get('gets_ok', 0) + h.get('posts_ok', 0)} of {h['requests']} requests succeeded")
    print(json.dumps(res, indent=1))
    with open(a.out, "w") as f:
        json.dump({"result": res, "fail": fail}, f, indent=1)
    for x in fail:
        print("FAIL:", x)
    sys.exit(1 if fail else 0)


def main():
    p = argparse.ArgumentParser()
    sp = p.add_subparsers(dest="cmd", required=True)
    t = sp.add_parser("typing")
    t.add_argument("--url", required=True)
    t.add_argument("--tokens", required=True)
    t.add_argument("--rooms", required=True)
    t.add_argument("--seconds", type=float, required=True)
    t.add_argument("--clients", type=int, default=4)
    t.add_argument("--out", required=True)
    h = sp.add_parser("http")
    h.add_argument("--base", required=True)
    h.add_argument("--tokens", required=True)
    h.add_argument("--rooms", required=True)
    h.add_argument("--seconds", type=float, required=True)
    h.add_argument("--rate", type=float, default=20)
    h.add_argument("--out", required=True)
    s = sp.add_parser("sample")
    s.add_argument("--csv", required=True)
    s.add_argument("--seconds", type=float, required=True)
    s.add_argument("--interval", type=float, default=10)
    s.add_argument("--relay-pid", type=int, required=True)
    s.add_argument("--lighttpd-pid", type=int, required=True)
    s.add_argument("--metrics", required=True)
    s.add_argument("--db-socket", required=True)
    s.add_argument("--stop-file")
    m = sp.add_parser("summary")
    for x in ("csv", "rounds", "churn", "typing", "http", "out"):
        m.add_argument("--" + x, required=True)
    a = p.parse_args()
    signal.signal(signal.SIGTERM, on_term)
    {"typing": cmd_typing, "http": cmd_http, "sample": cmd_sample, "summary": cmd_summary}[a.cmd](a)


if __name__ == "__main__":
    main()

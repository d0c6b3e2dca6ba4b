"""HTTP API: what every request shares: 404, 405 with Allow, HEAD,
OPTIONS, optional trailing slash, body limits, content type, JSON
syntax and depth, CORS, the request log, and SIGTERM."""

import json
import time

from apitest import Server, check, eq, run, tests_of


def test_unknown_path_404(srv):
    for path in ("/", "/api/", "/api/chat/nothing/", "/api/chat/rooms/1/nothing/",
                 "/static/index.html", "/api/chat/rooms/%2e%2e/"):
        r = srv.get(path).expect(404, path)
        eq(r.detail(), "Not found.")


def test_method_not_allowed_405(srv):
    user = srv.user()
    r = srv.request("PUT", "/api/chat/rooms/", json_body={}, token=user.token).expect(405)
    eq(r.header("Allow"), "GET, HEAD, POST, OPTIONS")
    check("PUT" in r.detail(), r.detail())
    r = srv.request("DELETE", "/api/auth/register/").expect(405)
    eq(r.header("Allow"), "POST, OPTIONS")
    r = srv.get("/api/chat/messages/5/read/").expect(405)
    eq(r.header("Allow"), "POST, OPTIONS")


def test_trailing_slash_optional(srv):
    user = srv.user()
    room = srv.room(user)
    srv.get("/api/chat/rooms", token=user.token).expect(200)
    srv.get("/api/chat/rooms/%d" % room["id"], token=user.token).expect(200)
    srv.get("/api/chat/rooms/%d/messages?limit=5" % room["id"], token=user.token).expect(200)
    srv.post("/api/chat/rooms/%d/messages" % room["id"], {"content": "no slash"},
             token=user.token).expect(201)
    srv.get("/api/chat/health").expect(200)
    srv.get("/api/chat").expect(200)


def test_head(srv):
    user = srv.user()
    g = srv.get("/api/chat/rooms/", token=user.token).expect(200)
    h = srv.request("HEAD", "/api/chat/rooms/", token=user.token)
    eq(h.status, 200)
    eq(h.body, b"", "HEAD has no body")
    eq(h.header("Content-Length"), str(len(g.body)), "same length as GET")
    eq(h.header("Content-Type"), "application/json; charset=utf-8")
    r = srv.request("HEAD", "/api/chat/rooms/")
    eq((r.status, r.body), (401, b""), "HEAD without a token")
    r = srv.request("HEAD", "/api/chat/nowhere/")
    eq((r.status, r.body), (404, b""), "HEAD of an unknown path")
    check(int(r.header("Content-Length")) > 0, "HEAD keeps the GET length")


def test_options(srv):
    r = srv.request("OPTIONS", "/api/chat/rooms/1/")
    eq(r.status, 204)
    eq(r.header("Allow"), "GET, HEAD, PATCH, DELETE, OPTIONS")
    eq(r.body, b"")
    srv.request("OPTIONS", "/api/chat/nowhere/").expect(404)


def test_body_too_large_413(srv):
    user = srv.user()
    room = srv.room(user)
    path = "/api/chat/rooms/%d/messages/" % room["id"]
    big = json.dumps({"content": "x" * 70000}).encode()
    r = srv.post(path, body=big, content_type="application/json", token=user.token).expect(413)
    check(r.detail(), "detail")
    # A lying Content-Length does not get past the cap.
    r = srv.post(path, body=big, content_type="application/json", token=user.token,
                 params={"CONTENT_LENGTH": "10"})
    check(r.status in (400, 413), "lying length: %d" % r.status)
    r = srv.post(path, body=big, content_type="application/json", token=user.token,
                 params={"CONTENT_LENGTH": None})
    r.expect(413, "no Content-Length")
    # Also on routes that take no body.
    srv.post("/api/chat/rooms/%d/join/" % room["id"], body=big, content_type="application/json",
             token=user.token).expect(413)
    # Just under the limit is fine (and then the content is too long: 400).
    ok = json.dumps({"content": "y" * 60000}).encode()
    srv.post(path, body=ok, content_type="application/json", token=user.token).expect(400)


def test_content_type_415(srv):
    user = srv.user()
    room = srv.room(user)
    path = "/api/chat/rooms/%d/messages/" % room["id"]
    body = json.dumps({"content": "hi"})
    for ct in (None, "text/plain", "application/x-www-form-urlencoded", "application/jsonx",
               "multipart/form-data; boundary=x"):
        r = srv.post(path, body=body, content_type=ct, token=user.token)
        r.expect(415, repr(ct))
        check("application/json" in r.detail(), r.detail())
    for ct in ("application/json; charset=utf-8", "Application/JSON", "application/json;charset=UTF-8"):
        srv.post(path, body=body, content_type=ct, token=user.token).expect(201, ct)


def test_malformed_json_400(srv):
    user = srv.user()
    room = srv.room(user)
    path = "/api/chat/rooms/%d/messages/" % room["id"]
    for bad in (b"", b"   ", b"{", b'{"content": "a",}', b"{'content': 'a'}", b'{"content":"a"} x',
                b'{"content":"a"}{"content":"b"}', b"[1, 2]", b'"text"', b"42", b"null",
                b'{"content": "\xff\xfe"}', b'{"content": "a"\x00}'):
        r = srv.post(path, body=bad, content_type="application/json", token=user.token)
        r.expect(400, repr(bad))
        check(r.detail(), "detail for %r" % bad)
    # White space around the object is fine; unknown fields are ignored.
    srv.post(path, body=b'\n {"content": "ok", "extra": [1, {"a": null}]} \n',
             content_type="application/json", token=user.token).expect(201)


def test_strict_json_with_clear_details(srv):
    # NaN and Infinity were accepted, and a body of null answered
    # "JSON parse error: success".
    user = srv.user()
    room = srv.room(user)
    path = "/api/chat/rooms/%d/messages/" % room["id"]
    cases = [
        (b'{"content": "a", "n": NaN}', "NaN"),
        (b'{"content": "a", "n": Infinity}', "Infinity"),
        (b'{"content": "a", "n": -Infinity}', "Infinity"),
        (b'{"content": "a", "n": [1, 2,]}', "trailing comma"),
        (b'{"content": "a", "n": 01}', "leading zero"),
        (b'{"content": "a" /* c */}', "comment"),
        (b'{"content": "a"} // c', "comment"),
        (b"{'content': 'a'}", "double quotes"),
        (b'{"content": "a\tb	c"}', "control character"),
        (b'{"content": "\\x41"}', "escape"),
        (b"null", "not null"),
        (b"[]", "not array"),
        (b'"content"', "not string"),
        (b"true", "not boolean"),
        (b"3", "not int"),
    ]
    for body, word in cases:
        r = srv.post(path, body=body, content_type="application/json", token=user.token)
        r.expect(400, repr(body))
        d = r.detail()
        check(word.lower() in d.lower(), "detail for %r: %r" % (body, d))
        check("success" not in d, "detail for %r: %r" % (body, d))
    # Any valid UTF-8 passes byte for byte (issue 13: json-c 0.18's
    # strict mode refused every non-ASCII string).
    for text in ("你好，世界", "😀👍🏽👨\u200d👩\u200d👧", "שלום עולם مرحبا بالعالم",
                 "e\u0301 \u00e9 \ufffd \U0010ffff"):
        m = srv.send(user, room["id"], text)
        eq(m["content"], text, "content round trip")
        got = srv.get("/api/chat/messages/%d/" % m["id"], token=user.token).expect(200)
        eq(got.json["content"], text, "stored content")
    # Escaped in JSON, the same text arrives.
    body = json.dumps({"content": "你好 😀"}, ensure_ascii=True).encode()
    r = srv.post(path, body=body, content_type="application/json", token=user.token).expect(201)
    eq(r.json["content"], "你好 😀")


def test_json_nesting_bomb(srv):
    user = srv.user()
    room = srv.room(user)
    path = "/api/chat/rooms/%d/messages/" % room["id"]
    bomb = b'{"content": "x", "a": ' + b"[" * 30000 + b"]" * 30000 + b"}"
    t0 = time.time()
    r = srv.post(path, body=bomb, content_type="application/json", token=user.token)
    r.expect(400)
    check("deep" in r.detail() or "depth" in r.detail(), r.detail())
    check(time.time() - t0 < 2, "cheap")
    # 20 levels are fine.
    ok = b'{"content": "x", "a": ' + b"[" * 20 + b"]" * 20 + b"}"
    srv.post(path, body=ok, content_type="application/json", token=user.token).expect(201)


def test_errors_are_json(srv):
    for method, path in (("GET", "/nope"), ("PUT", "/api/chat/"), ("GET", "/api/auth/me/")):
        r = srv.request(method, path)
        check(r.status >= 400, "%s %s" % (method, path))
        eq(r.header("Content-Type"), "application/json; charset=utf-8")
        check(isinstance(r.json.get("detail"), str), "detail")


def test_no_cors_by_default(srv):
    r = srv.get("/api/chat/", headers={"Origin": "https://evil.example"}).expect(200)
    eq(r.header("Access-Control-Allow-Origin"), None)
    eq(r.header("Access-Control-Allow-Credentials"), None)
    r = srv.request("OPTIONS", "/api/chat/rooms/", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    eq(r.status, 204)
    eq(r.header("Access-Control-Allow-Origin"), None)


def test_cors_configured(srv):
    cors = Server("api.cors_origins=https://app.example,https://other.example")
    try:
        r = cors.get("/api/chat/", headers={"Origin": "https://app.example"}).expect(200)
        eq(r.header("Access-Control-Allow-Origin"), "https://app.example")
        check("Origin" in (r.header("Vary") or ""), "Vary: Origin")
        eq(r.header("Access-Control-Allow-Credentials"), None)
        # A browser client may read Retry-After (429) and Link (room pages).
        exposed = [h.strip() for h in (r.header("Access-Control-Expose-Headers") or "").split(",")]
        check("Retry-After" in exposed and "Link" in exposed, "exposed %r" % exposed)
        r = cors.request("OPTIONS", "/api/chat/rooms/", headers={
            "Origin": "https://other.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"})
        eq(r.status, 204)
        eq(r.header("Access-Control-Allow-Origin"), "https://other.example")
        check("POST" in r.header("Access-Control-Allow-Methods"), "methods")
        check("Authorization" in r.header("Access-Control-Allow-Headers"), "headers")
        # Not listed: nothing reflected, but still Vary.
        r = cors.get("/api/chat/", headers={"Origin": "https://evil.example"}).expect(200)
        eq(r.header("Access-Control-Allow-Origin"), None)
        eq(r.header("Access-Control-Allow-Credentials"), None)
        check("Origin" in (r.header("Vary") or ""), "Vary: Origin")
        # Errors carry the header too, so browsers can read them.
        r = cors.get("/api/auth/me/", headers={"Origin": "https://app.example"}).expect(401)
        eq(r.header("Access-Control-Allow-Origin"), "https://app.example")
    finally:
        cors.stop()


def test_request_log_scrubbed(srv):
    srv.get("/api/chat/health/?token=SECRETVALUE123&x=1").expect(200)
    deadline = time.time() + 5
    while time.time() < deadline and "x=1" not in srv.log_text():
        time.sleep(0.05)
    log = srv.log_text()
    check("SECRETVALUE123" not in log, "token in the log")
    check("GET /api/chat/health/" in log and " 200 " in log, "request line logged:\n" + log[-500:])


def test_tcp_listen_and_sigterm(srv):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    tcp = Server(listen=("127.0.0.1", port))
    tcp.get("/api/chat/health/").expect(200)
    eq(tcp.stop(), 0, "exit code after SIGTERM")


def test_sigterm_finishes_requests_in_progress(srv):
    import signal
    import socket
    import fcgi_client
    other = Server(threads=2)
    user = other.user()
    room = other.room(user)
    body = json.dumps({"content": "sent across a shutdown"}).encode()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(20)
    try:
        sock.connect(other.addr)
        fcgi_client.begin(sock, {
            "REQUEST_METHOD": "POST",
            "REQUEST_URI": "/api/chat/rooms/%d/messages/" % room["id"],
            "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1", "HTTP_AUTHORIZATION": "Bearer " + user.token})
        fcgi_client.stdin(sock, body[:10])
        time.sleep(0.3)  # the worker is now reading the body
        other.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        check(other.proc.poll() is None, "exited with a request in progress")
        fcgi_client.stdin(sock, body[10:])
        fcgi_client.stdin(sock, b"")
        status, headers, rbody, _ = fcgi_client.read_response(sock)
        eq(status, 201, "the request in progress completes")
        eq(json.loads(rbody)["content"], "sent across a shutdown")
    finally:
        sock.close()
    other.proc.wait(timeout=20)
    eq(other.stop(), 0, "exit code")


def test_methods_case_sensitive(srv):
    r = srv.request("get", "/api/chat/health/")
    eq(r.status, 405)


if __name__ == "__main__":
    run(tests_of(globals()))

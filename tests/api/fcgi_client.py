"""A small FastCGI client (responder role) for the tests: it speaks to
chat-api the way a web server does. One connection per request.

    status, headers, body, stderr = request(addr, params, body=b"")

addr is a Unix socket path (str) or a (host, port) tuple. headers is a list
of (name, value) from the CGI-style response; status comes from the
Status: header (200 when absent, as CGI says).
"""

import socket
import struct

VERSION = 1
BEGIN_REQUEST = 1
END_REQUEST = 3
PARAMS = 4
STDIN = 5
STDOUT = 6
STDERR = 7
RESPONDER = 1


class ProtocolError(Exception):
    pass


def _record(rtype, req_id, content=b""):
    out = b""
    # A record carries at most 65535 bytes; an empty one ends a stream.
    chunks = [content[i:i + 65535] for i in range(0, len(content), 65535)] or [b""]
    for chunk in chunks:
        pad = (-len(chunk)) % 8
        out += struct.pack("!BBHHBx", VERSION, rtype, req_id, len(chunk), pad)
        out += chunk + b"\0" * pad
    return out


def _length(n):
    if n < 128:
        return struct.pack("!B", n)
    return struct.pack("!I", n | 0x80000000)


def encode_params(params):
    out = b""
    for name, value in params.items():
        n = name.encode() if isinstance(name, str) else name
        v = value.encode() if isinstance(value, str) else value
        out += _length(len(n)) + _length(len(v)) + n + v
    return out


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ProtocolError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def parse_response(raw):
    """Split a CGI response into (status, [(name, value)], body)."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        idx = raw.find(sep)
        if idx >= 0:
            head, body = raw[:idx], raw[idx + len(sep):]
            break
    else:
        raise ProtocolError("no end of headers in %r" % raw[:200])
    headers = []
    status = 200
    for line in head.decode("latin-1").splitlines():
        if not line:
            continue
        name, _, value = line.partition(":")
        value = value.strip()
        if name.lower() == "status":
            status = int(value.split()[0])
        headers.append((name, value))
    return status, headers, body


def read_response(sock):
    """Read records until END_REQUEST: (status, headers, body, stderr)."""
    out = b""
    err = b""
    while True:
        header = _recv_exact(sock, 8)
        version, rtype, rid, clen, plen = struct.unpack("!BBHHBx", header)
        content = _recv_exact(sock, clen)
        _recv_exact(sock, plen)
        if rtype == STDOUT:
            out += content
        elif rtype == STDERR:
            err += content
        elif rtype == END_REQUEST:
            break
        else:
            raise ProtocolError("unexpected record type %d" % rtype)
    status, headers, rbody = parse_response(out)
    return status, headers, rbody, err


def begin(sock, params, req_id=1):
    """Send BEGIN_REQUEST and the params; the body is for the caller to
    send with stdin()."""
    msg = _record(BEGIN_REQUEST, req_id, struct.pack("!HB5x", RESPONDER, 0))
    msg += _record(PARAMS, req_id, encode_params(params))
    msg += _record(PARAMS, req_id)
    sock.sendall(msg)


def stdin(sock, data, req_id=1):
    """Send part of the body; b"" ends it."""
    sock.sendall(_record(STDIN, req_id, data))


def request(addr, params, body=b"", timeout=30.0, stdin_chunk=8192):
    if isinstance(addr, str):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(addr)
        req_id = 1
        msg = _record(BEGIN_REQUEST, req_id, struct.pack("!HB5x", RESPONDER, 0))
        msg += _record(PARAMS, req_id, encode_params(params))
        msg += _record(PARAMS, req_id)
        for i in range(0, len(body), stdin_chunk):
            msg += _record(STDIN, req_id, body[i:i + stdin_chunk])
        msg += _record(STDIN, req_id)
        try:
            sock.sendall(msg)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the app may answer (413) before reading everything
        return read_response(sock)
    finally:
        sock.close()

"""bus.py: a Python client of muster's bus (DESIGN.md §2) for the integration tests.

The vocabulary is not repeated here: proto/msg.def is parsed at import time
(its MSG_DEF_RECORD / MSG_DEF_MESSAGE X-macros, the MSG_F_* field kinds and
the #define'd sender masks), and the MSG_PEER_* bits are read from
proto/msg.h. A message on the wire is one ZeroMQ frame holding a msgpack
array [type, req_id, field...] in msg.def order; a record is an array of
its fields. Like the C decoder, decode() defaults missing trailing fields
and ignores extra ones; unlike it, decode() also checks each field's
msgpack type, so a sender that encodes a field wrongly fails the test.

    encode("KV_PUT", req_id=1, op="set", key="a", value=b"x") -> bytes
    decode(frame) -> ("WRITE_REPLY", 1, {"index": 12, "ok": True, "id": ""})
    with Bus(run_dir) as b:
        name, reply = b.call("KV_GET", key="a", q={"consistency": 1})
    with Sub(run_dir, "raftd", ["INDEX_BUMP"]) as s:
        s.recv(timeout=1.0)
"""
import itertools
import os
import re
import time

import msgpack
import zmq

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MSG_DEF = os.path.join(ROOT, "proto", "msg.def")
MSG_H = os.path.join(ROOT, "proto", "msg.h")

# Field kinds, as msg.h names them (MSG_F_<KIND>), and their empty values.
SCALAR_DEFAULTS = {
    "U64": 0, "I64": 0, "BOOL": False, "F64": 0.0, "STR": "", "BYTES": b"",
    "OPT_U64": None, "OPT_BOOL": None, "OPT_STR": None,
}
KINDS = set(SCALAR_DEFAULTS) | {"STRLIST", "STRMAP", "REC", "LIST"}


class BusError(Exception):
    pass


class BusTimeout(BusError):
    pass


class DecodeError(BusError):
    pass


class Field:
    __slots__ = ("name", "kind", "rec")

    def __init__(self, name, kind, rec=None):
        self.name, self.kind, self.rec = name, kind, rec

    def __repr__(self):
        return "Field(%s %s%s)" % (self.name, self.kind, " " + self.rec if self.rec else "")


class Message:
    __slots__ = ("NAME", "name", "id", "senders", "receivers", "fields")

    def __init__(self, NAME, name, id, senders, receivers, fields):
        self.NAME, self.name, self.id = NAME, name, id
        self.senders, self.receivers, self.fields = senders, receivers, fields


# --- parsing msg.def --------------------------------------------------------


def _strip_comments(text):
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def _join_continuations(text):
    return re.sub(r"\\\n", " ", text)


def _defines(text):
    """#define NAME value lines -> {NAME: value}; the text without them."""
    defs, rest = {}, []
    for line in text.split("\n"):
        m = re.match(r"\s*#\s*define\s+(\w+)\s+(.*)$", line)
        if m:
            defs[m.group(1)] = m.group(2).strip()
            continue
        if re.match(r"\s*#", line):
            continue
        rest.append(line)
    return defs, "\n".join(rest)


def _eval_mask(expr, defs, depth=0):
    """A C integer expression of numbers, #define'd names, |, <<, parens."""
    if depth > 16:
        raise ValueError("msg.def: #define loop in %r" % expr)

    def sub(m):
        tok = m.group(0)
        if tok in defs:
            return "(%d)" % _eval_mask(defs[tok], defs, depth + 1)
        if re.fullmatch(r"(0[xX][0-9a-fA-F]+|\d+)[uUlL]*", tok):
            return str(int(tok.rstrip("uUlL"), 0))
        raise ValueError("msg.def: unknown name %r in %r" % (tok, expr))
    py = re.sub(r"\w+", sub, expr)
    if not re.fullmatch(r"[\d\s()|<&~+]*", py):
        raise ValueError("msg.def: cannot evaluate %r" % expr)
    return int(eval(py, {"__builtins__": {}}))  # digits and operators only


def _macro_calls(text, macro):
    """The argument texts of each macro(...) call, split at top-level commas."""
    out = []
    for m in re.finditer(r"\b%s\s*\(" % macro, text):
        i, depth, args, start = m.end(), 1, [], m.end()
        while depth:
            c = text[i]
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
            elif c == "," and depth == 1:
                args.append(text[start:i].strip())
                start = i + 1
            i += 1
        args.append(text[start:i - 1].strip())
        out.append(args)
    return out


def _fields(text, records, where):
    fields = []
    for m in re.finditer(r"\bMSG_F_(\w+)(?:\s*\(([^()]*)\))?", text):
        kind, args = m.group(1), m.group(2)
        if kind == "NONE":
            continue
        if kind not in KINDS or args is None:
            raise ValueError("msg.def: %s: bad field %r" % (where, m.group(0)))
        a = [x.strip() for x in args.split(",")]
        if kind in ("REC", "LIST"):
            if len(a) != 2 or a[1] not in records:
                raise ValueError("msg.def: %s: record %r not declared before use" % (where, args))
            fields.append(Field(a[0], kind, a[1]))
        else:
            fields.append(Field(a[0], kind))
    return fields


def parse(def_path=MSG_DEF, h_path=MSG_H):
    """-> (records {name: [Field]}, messages {NAME: Message}, peers {name: bit})."""
    with open(h_path) as f:
        hdefs, _ = _defines(_join_continuations(_strip_comments(f.read())))
    with open(def_path) as f:
        defs, text = _defines(_join_continuations(_strip_comments(f.read())))
    defs = dict(hdefs, **defs)
    peers = {}
    for k in hdefs:
        m = re.fullmatch(r"MSG_PEER_(\w+)", k)
        if m and m.group(1) != "ANY":
            peers[m.group(1).lower()] = _eval_mask(k, defs)
    # Records and messages in file order (a record precedes its first use).
    records, messages = {}, {}
    calls = sorted([(m.start(), "R") for m in re.finditer(r"\bMSG_DEF_RECORD\s*\(", text)]
                   + [(m.start(), "M") for m in re.finditer(r"\bMSG_DEF_MESSAGE\s*\(", text)])
    rec_args = iter(_macro_calls(text, "MSG_DEF_RECORD"))
    msg_args = iter(_macro_calls(text, "MSG_DEF_MESSAGE"))
    for _, what in calls:
        if what == "R":
            a = next(rec_args)
            if len(a) != 2:
                raise ValueError("msg.def: bad MSG_DEF_RECORD %r" % a[:1])
            records[a[0]] = _fields(a[1], records, a[0])
        else:
            a = next(msg_args)
            if len(a) != 6:
                raise ValueError("msg.def: bad MSG_DEF_MESSAGE %r" % a[:1])
            msg = Message(a[0], a[1], int(a[2], 0), _eval_mask(a[3], defs),
                          _eval_mask(a[4], defs), _fields(a[5], records, a[0]))
            if msg.NAME in messages or msg.id in {x.id for x in messages.values()}:
                raise ValueError("msg.def: duplicate message %s" % msg.NAME)
            messages[msg.NAME] = msg
    return records, messages, peers


RECORDS, MESSAGES, PEERS = parse()
BY_ID = {m.id: m for m in MESSAGES.values()}


def message(name):
    m = MESSAGES.get(name.upper())
    if m is None:
        raise KeyError("no message %r in msg.def" % name)
    return m


# --- values -----------------------------------------------------------------


def default(field):
    if field.kind == "REC":
        return record_default(field.rec)
    if field.kind in ("STRLIST", "LIST"):
        return []
    if field.kind == "STRMAP":
        return {}
    return SCALAR_DEFAULTS[field.kind]


def record_default(rec):
    return {f.name: default(f) for f in RECORDS[rec]}


def _check_names(fields, given, where):
    unknown = set(given) - {f.name for f in fields}
    if unknown:
        raise TypeError("%s has no field %s" % (where, ", ".join(sorted(unknown))))


def _enc_value(f, v, where):
    k = f.kind
    if v is None and not k.startswith("OPT_"):
        v = default(f)
    if k in ("U64", "I64", "OPT_U64"):
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError("%s.%s: %s wants an int, not %r" % (where, f.name, k, v))
        lo, hi = (-(1 << 63), (1 << 63) - 1) if k == "I64" else (0, (1 << 64) - 1)
        if not lo <= v <= hi:
            raise ValueError("%s.%s: %d out of range for %s" % (where, f.name, v, k))
        return v
    if k in ("BOOL", "OPT_BOOL"):
        return None if v is None else bool(v)
    if k == "F64":
        return float(v)
    if k in ("STR", "OPT_STR"):
        if v is None:
            return None
        if not isinstance(v, str):
            raise TypeError("%s.%s: STR wants a str, not %r" % (where, f.name, v))
        return v
    if k == "BYTES":
        if isinstance(v, str):
            v = v.encode()
        return bytes(v)
    if k == "STRLIST":
        return [_enc_value(Field(f.name, "STR"), x, where) for x in v]
    if k == "STRMAP":
        return {_enc_value(Field(f.name, "STR"), a, where): _enc_value(Field(f.name, "STR"), b,
                                                                      where)
                for a, b in dict(v).items()}
    if k == "REC":
        return encode_record(f.rec, v)
    if k == "LIST":
        return [encode_record(f.rec, x) for x in v]
    raise AssertionError(k)


def _enc_fields(fields, given, where):
    _check_names(fields, given, where)
    return [_enc_value(f, given.get(f.name), where) for f in fields]


def encode_record(rec, value):
    """A record as the list of its field values; value is a (partial) dict."""
    return _enc_fields(RECORDS[rec], value or {}, rec)


def encode(name, /, req_id=0, **fields):
    """One frame: msgpack [type, req_id, field...]; omitted fields are empty."""
    m = message(name)
    body = [m.id, req_id] + _enc_fields(m.fields, fields, m.NAME)
    return msgpack.packb(body, use_bin_type=True)


_TYPES = {"U64": int, "I64": int, "BOOL": bool, "F64": float, "STR": str, "BYTES": bytes,
          "STRLIST": list, "STRMAP": dict, "REC": list, "LIST": list}


def _dec_value(f, v, where):
    k = f.kind
    if k.startswith("OPT_"):
        if v is None:
            return None
        k = k[4:]
    want = _TYPES[k]
    if k == "F64" and isinstance(v, int) and not isinstance(v, bool):
        raise DecodeError("%s.%s: F64 sent as an int" % (where, f.name))
    if not isinstance(v, want) or (want is int and isinstance(v, bool)):
        raise DecodeError("%s.%s: %s field holds %r" % (where, f.name, f.kind, v))
    if k == "U64" and v < 0:
        raise DecodeError("%s.%s: negative U64 %d" % (where, f.name, v))
    if k == "STRLIST":
        return [_dec_value(Field(f.name, "STR"), x, where) for x in v]
    if k == "STRMAP":
        return {_dec_value(Field(f.name, "STR"), a, where):
                _dec_value(Field(f.name, "STR"), b, where) for a, b in v.items()}
    if k == "REC":
        return decode_record(f.rec, v)
    if k == "LIST":
        return [decode_record(f.rec, x) for x in v]
    return v


def _dec_fields(fields, values, where):
    out = {}
    for i, f in enumerate(fields):
        out[f.name] = _dec_value(f, values[i], where) if i < len(values) else default(f)
    return out


def decode_record(rec, values):
    if not isinstance(values, list):
        raise DecodeError("record %s is not an array: %r" % (rec, values))
    return _dec_fields(RECORDS[rec], values, rec)


def decode(frame):
    """One frame -> (NAME, req_id, {field: value}) with records as dicts."""
    try:
        body = msgpack.unpackb(frame, raw=False, strict_map_key=False,
                               unicode_errors="surrogateescape")
    except Exception as e:
        raise DecodeError("undecodable frame %r: %s" % (frame[:64], e))
    if not isinstance(body, list) or len(body) < 2:
        raise DecodeError("frame is not [type, req_id, ...]: %r" % (body,))
    m = BY_ID.get(body[0])
    if m is None:
        raise DecodeError("unknown message type %r" % (body[0],))
    if not isinstance(body[1], int):
        raise DecodeError("%s: req_id %r" % (m.NAME, body[1]))
    return m.NAME, body[1], _dec_fields(m.fields, body[2:], m.NAME)


def topic(name):
    """The subscription prefix of a message type: the msgpack array header of
    its [type, req_id, field...] then the type (common/ipc.c ipc_subscribe)."""
    m = message(name)
    p = msgpack.Packer()
    return p.pack_array_header(2 + len(m.fields)) + p.pack(m.id)


# --- sockets ----------------------------------------------------------------


def _ctx():
    return zmq.Context.instance()


class Bus:
    """A DEALER connected to ipc://<run_dir>/<peer>.rpc, known to the peer by
    its routing id `self_name` (a daemon name: the receiver checks each
    message type against its senders in msg.def).

    The routing id is "<self_name>/<pid>.<n>": two sockets with one id take
    it from each other (a ROUTER hands it over to the newest connection),
    and the receiver counts "<daemon>/<tag>" as <daemon> (common/ipc.c), so
    any number of Bus objects can talk as httpd at once."""

    _ids = itertools.count(1)

    def __init__(self, run_dir, peer="raftd", self_name="httpd"):
        if self_name not in PEERS:
            raise ValueError("unknown daemon name %r" % self_name)
        self.run_dir, self.peer, self.self_name = run_dir, peer, self_name
        self.sock = _ctx().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.routing_id = "%s/%d.%d" % (self_name, os.getpid(), next(Bus._ids))
        self.sock.setsockopt(zmq.ROUTING_ID, self.routing_id.encode())
        self.sock.connect("ipc://%s/%s.rpc" % (run_dir, peer))
        self.stash = {}  # req_id -> (NAME, fields): replies read while waiting for another
        self.forgotten = set()  # req_ids whose replies are dropped when they come

    def close(self):
        if self.sock is not None:
            self.sock.close(0)
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, name, /, check_sender=True, **fields):
        """Sends a request without waiting; returns its req_id."""
        m = message(name)
        if check_sender and not m.senders & PEERS[self.self_name]:
            raise BusError("%s may not send %s (msg.def senders)" % (self.self_name, m.NAME))
        req_id = next(self._ids)
        self.sock.send(encode(name, req_id, **fields))
        return req_id

    def recv(self, req_id, timeout):
        """The reply to req_id -> (NAME, fields); BusTimeout after timeout s.
        Replies to other requests read meanwhile are kept for their recv(),
        so several requests may be in flight on one Bus."""
        if req_id in self.stash:
            return self.stash.pop(req_id)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.sock.poll(int(left * 1000) + 1, zmq.POLLIN):
                if time.monotonic() >= deadline:
                    raise BusTimeout("no reply from %s to %s request %d within %.1fs"
                                     % (self.peer, self.self_name, req_id, timeout))
                continue
            name, rid, fields = decode(self.sock.recv())
            if rid == req_id:
                return name, fields
            if rid in self.forgotten:
                self.forgotten.discard(rid)
            else:
                self.stash[rid] = (name, fields)

    def next_reply(self, timeout):
        """Whichever reply comes first -> (req_id, NAME, fields), or None
        after timeout s (for callers that keep many requests in flight)."""
        if self.stash:
            rid = next(iter(self.stash))
            return (rid,) + self.stash.pop(rid)
        deadline = time.monotonic() + timeout
        while True:
            left = max(0.0, deadline - time.monotonic())
            if not self.sock.poll(int(left * 1000), zmq.POLLIN):
                return None
            name, rid, fields = decode(self.sock.recv())
            if rid not in self.forgotten:
                return rid, name, fields
            self.forgotten.discard(rid)

    def forget(self, req_id):
        """Drops a request's reply, now or when it comes (a timed-out call)."""
        if self.stash.pop(req_id, None) is None:
            self.forgotten.add(req_id)

    def call(self, name, /, timeout=5.0, **fields):
        """One request and its reply -> (reply NAME, fields)."""
        return self.recv(self.send(name, **fields), timeout)


class Sub:
    """A SUB connected to ipc://<run_dir>/<publisher>.pub, subscribed to the
    given message types (all of the publisher's if types is None)."""

    def __init__(self, run_dir, publisher="raftd", types=None):
        self.sock = _ctx().socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        for t in (types if types is not None else [""]):
            self.sock.setsockopt(zmq.SUBSCRIBE, topic(t) if t else b"")
        self.sock.connect("ipc://%s/%s.pub" % (run_dir, publisher))

    def close(self):
        if self.sock is not None:
            self.sock.close(0)
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def recv(self, timeout):
        """The next event -> (NAME, req_id, fields), or None after timeout s."""
        if not self.sock.poll(max(0, int(timeout * 1000)), zmq.POLLIN):
            return None
        return decode(self.sock.recv())

    def wait(self, pred, timeout):
        """The first event (NAME, fields) for which pred(NAME, fields) holds,
        or None after timeout s; events before it are dropped."""
        deadline = time.monotonic() + timeout
        while True:
            ev = self.recv(max(0.0, deadline - time.monotonic()))
            if ev is None:
                return None
            if pred(ev[0], ev[2]):
                return ev[0], ev[2]

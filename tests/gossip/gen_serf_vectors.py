#!/usr/bin/python3
"""gen_serf_vectors.py: writes tests/unit/serf_vectors.h, the golden Serf messages of the captures.

The captures (README.md here) were taken from serf 0.9.4; their .txt files are
decode.py's reading of them. From the three .txt files this takes every Serf
user message (`user/serf.<type> {...}` and the `hex` line under it) and every
ack payload (1 version byte + the msgpack Vivaldi coordinate); the push-pull
user states are not printed in hex, so their bytes are cut out of plain.pcap
the way decode.py does (TCP payloads concatenated per direction; push-pull
header, node states, then UserStateLen bytes) and checked against the line
the .txt shows for them. Each vector keeps the line decode.py printed, which
test_serfwire.c compares with its own rendering of the decoded struct.
Run from the repository root:
    /usr/bin/python3 tests/gossip/gen_serf_vectors.py > tests/unit/serf_vectors.h
Needs python3-msgpack only (no scapy: the pcap is read by hand).
"""
import os
import re
import struct
import sys

import msgpack

HERE = os.path.dirname(os.path.abspath(__file__))
CAPTURES = ("plain", "compressed", "encrypted")
SERF = {0: "leave", 1: "join", 2: "pushPull", 3: "userEvent", 4: "query",
        5: "queryResponse", 6: "conflictResponse", 7: "keyRequest",
        8: "keyResponse", 9: "relay"}
COORD_DIM = 8


def show(v):
    """decode.py's rendering of a value (raw=True unpacking: strs are bytes)."""
    if isinstance(v, bytes):
        try:
            s = v.decode()
            if s.isprintable():
                return repr(s)
        except UnicodeDecodeError:
            pass
        return "0x" + v.hex()
    if isinstance(v, dict):
        return "{" + ", ".join(f"{show(k)}: {show(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        if len(v) > 8 and all(x is None for x in v):
            return f"[None x {len(v)}]"
        return "[" + ", ".join(show(x) for x in v) + "]"
    return repr(v)


def unpack_one(buf):
    u = msgpack.Unpacker(raw=True, strict_map_key=False)
    u.feed(buf)
    return u.unpack(), u.tell()


def user_messages(name):
    """(source, shown, serf bytes) for each distinct user/serf message."""
    path = os.path.join(HERE, name + ".txt")
    with open(path) as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^\s*user/(serf\.\w+ .*)$", line)
        if not m:
            continue
        h = re.match(r"^\s*hex ([0-9a-f]+)$", lines[i + 1])
        if not h:
            sys.exit(f"{path}:{i + 2}: no hex under a serf message")
        raw = bytes.fromhex(h.group(1))
        if raw[0] != 8:
            sys.exit(f"{path}:{i + 2}: not a memberlist user message")
        yield f"{name}.txt:{i + 2}", m.group(1), raw[1:]


def ack_payloads(name):
    path = os.path.join(HERE, name + ".txt")
    with open(path) as f:
        for i, line in enumerate(f, 1):
            m = re.match(r"^\s*ack \{'Payload': 0x([0-9a-f]+),", line)
            if m:
                yield f"{name}.txt:{i}", bytes.fromhex(m.group(1))


def pcap_streams(path):
    """TCP payloads per direction in capture order, as decode.py joins them."""
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic == b"\xd4\xc3\xb2\xa1":
        e = "<"
    elif magic == b"\xa1\xb2\xc3\xd4":
        e = ">"
    else:
        sys.exit(f"{path}: not a pcap file")
    link = struct.unpack(e + "I", data[20:24])[0]
    if link != 1:
        sys.exit(f"{path}: link type {link}, only Ethernet is read")
    streams, order, off = {}, [], 24
    while off + 16 <= len(data):
        incl = struct.unpack(e + "I", data[off + 8:off + 12])[0]
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if len(pkt) < 14 or pkt[12:14] != b"\x08\x00":
            continue
        ip = pkt[14:]
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack(">H", ip[2:4])[0]
        if ip[9] != 6:
            continue
        src, dst = ".".join(map(str, ip[12:16])), ".".join(map(str, ip[16:20]))
        tcp = ip[ihl:total]
        sport, dport = struct.unpack(">HH", tcp[:4])
        payload = tcp[(tcp[12] >> 4) * 4:]
        if not payload:
            continue
        k = f"{src}:{sport} > {dst}:{dport}"
        if k not in streams:
            streams[k] = bytearray()
            order.append(k)
        streams[k] += payload
    return [(k, bytes(streams[k])) for k in order]


def push_pull_states(name):
    """(source, shown, user state) of each push-pull stream of a plain capture."""
    shown = []
    with open(os.path.join(HERE, name + ".txt")) as f:
        for line in f:
            m = re.match(r"^\s*(serf\.pushPull .*)$", line)
            if m:
                shown.append(m.group(1))
    got = []
    for k, data in pcap_streams(os.path.join(HERE, name + ".pcap")):
        if not data or data[0] != 6:
            continue
        hdr, used = unpack_one(data[1:])
        rest = data[1 + used:]
        for _ in range(hdr[b"Nodes"]):
            _, u2 = unpack_one(rest)
            rest = rest[u2:]
        state = rest[:hdr[b"UserStateLen"]]
        if len(state) != hdr[b"UserStateLen"] or state[0] != 2:
            sys.exit(f"{name}.pcap {k}: no serf push-pull state")
        obj, _ = unpack_one(state[1:])
        got.append((f"{name}.pcap {k}", "serf.pushPull " + show(obj), state))
    if [g[1] for g in got] != shown:
        sys.exit(f"{name}.pcap: push-pull states differ from {name}.txt")
    return got


def c_bytes(b):
    out = []
    for i in range(0, len(b), 12):
        out.append("\t" + " ".join(f"0x{x:02x}," for x in b[i:i + 12]))
    return "\n".join(out)


def c_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def f64_bits(x):
    return "0x" + struct.pack(">d", x).hex() + "ull"


def main():
    msgs, seen = [], set()
    for name in CAPTURES:
        for src, shown, raw in user_messages(name):
            if raw not in seen:
                seen.add(raw)
                msgs.append((src, shown, raw))
    for src, shown, raw in push_pull_states("plain"):
        if raw not in seen:
            seen.add(raw)
            msgs.append((src, shown, raw))
    coords, seen = [], set()
    for name in CAPTURES:
        for src, raw in ack_payloads(name):
            if raw in seen:
                continue
            seen.add(raw)
            if raw[0] != 1:
                sys.exit(f"{src}: ping version {raw[0]}")
            obj, used = unpack_one(raw[1:])
            if used != len(raw) - 1 or len(obj[b"Vec"]) != COORD_DIM:
                sys.exit(f"{src}: unexpected coordinate")
            coords.append((src, raw, obj))

    o = []
    o.append("/* serf_vectors.h: golden Serf messages and ack coordinates from the captures in tests/gossip (serf 0.9.4). */")
    o.append("/* Generated; do not edit. Regenerate from the repository root with")
    o.append(" *     /usr/bin/python3 tests/gossip/gen_serf_vectors.py > tests/unit/serf_vectors.h */")
    o.append("#ifndef MUSTER_SERF_VECTORS_H")
    o.append("#define MUSTER_SERF_VECTORS_H")
    o.append("")
    o.append("#include <stddef.h>")
    o.append("#include <stdint.h>")
    o.append("")
    o.append("/* A Serf message as memberlist carries it (serf type byte + msgpack body,")
    o.append(" * memberlist's user type byte 8 already removed) and decode.py's line for it. */")
    o.append("struct serf_vector {")
    o.append("\tconst char *src;")
    o.append("\tconst char *shown;")
    o.append("\tsize_t len;")
    o.append("\tconst uint8_t *bytes;")
    o.append("};")
    o.append("")
    o.append("/* An ack payload (ping version byte + coordinate) and the coordinate's")
    o.append(" * float64 fields as IEEE-754 bit patterns, decoded by python3-msgpack. */")
    o.append("struct serf_coord_vector {")
    o.append("\tconst char *src;")
    o.append("\tsize_t len;")
    o.append("\tconst uint8_t *bytes;")
    o.append("\tuint64_t adjustment, error, height;")
    o.append(f"\tuint64_t vec[{COORD_DIM}];")
    o.append("};")
    o.append("")
    for i, (src, shown, raw) in enumerate(msgs):
        o.append(f"/* {src}: {SERF[raw[0]]} */")
        o.append(f"static const uint8_t serf_vec_{i}[] = {{")
        o.append(c_bytes(raw))
        o.append("};")
    o.append("")
    o.append("static const struct serf_vector serf_vectors[] = {")
    for i, (src, shown, raw) in enumerate(msgs):
        o.append(f"\t{{{c_str(src)}, {c_str(shown)}, {len(raw)}, serf_vec_{i}}},")
    o.append("};")
    o.append("")
    for i, (src, raw, obj) in enumerate(coords):
        o.append(f"/* {src} */")
        o.append(f"static const uint8_t serf_coord_{i}[] = {{")
        o.append(c_bytes(raw))
        o.append("};")
    o.append("")
    o.append("static const struct serf_coord_vector serf_coord_vectors[] = {")
    for i, (src, raw, obj) in enumerate(coords):
        vec = ", ".join(f64_bits(x) for x in obj[b"Vec"])
        o.append(f"\t{{{c_str(src)}, {len(raw)}, serf_coord_{i}, {f64_bits(obj[b'Adjustment'])},")
        o.append(f"\t {f64_bits(obj[b'Error'])}, {f64_bits(obj[b'Height'])},")
        o.append(f"\t {{{vec}}}}},")
    o.append("};")
    o.append("")
    o.append("#endif")
    sys.stdout.write("\n".join(o) + "\n")


if __name__ == "__main__":
    main()

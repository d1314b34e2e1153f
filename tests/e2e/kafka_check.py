# SPDX-License-Identifier: Apache-2.0
# Checks on consumed records (kcat -J envelopes) and on spool files (format: user/spool.h).
import glob, json, os, struct, sys, zlib

def envelopes(path):
    for line in open(path):
        line = line.strip()
        if line:
            yield json.loads(line)

def headers(env):
    h = env.get("headers") or []
    return {h[i]: h[i + 1] for i in range(0, len(h), 2)}

# --- OCSF 1.8.0, from the schema's own files --------------------------------------------
class Schema:
    def __init__(self, root):
        self.root = root
        d = json.load(open(f"{root}/dictionary.json"))
        self.dict = d["attributes"]
        self.types = d["types"]["attributes"]
        self.cats = json.load(open(f"{root}/categories.json"))["attributes"]
        self.classes, self.by_uid, self.cache = {}, {}, {}
        for dp, _, fns in os.walk(f"{root}/events"):
            for fn in fns:
                c = json.load(open(os.path.join(dp, fn)))
                self.classes[c["name"]] = c
        for name, c in self.classes.items():
            cat, p = c.get("category"), c
            while not cat and p.get("extends"):
                p = self.classes[p["extends"]]
                cat = p.get("category")
            cuid = self.cats.get(cat, {}).get("uid", 0)
            if "uid" in c:
                self.by_uid[cuid * 1000 + c["uid"] if c["uid"] else 0] = name

    def merged(self, kind, name):
        key = (kind, name)
        if key in self.cache:
            return self.cache[key]
        if kind == "class":
            doc = self.classes[name]
        else:
            doc = json.load(open(f"{self.root}/objects/{name}.json"))
        attrs = dict(self.merged(kind, doc["extends"])) if doc.get("extends") else {}
        own = doc.get("attributes", {})
        for inc in own.get("$include", []):
            prof = json.load(open(f"{self.root}/{inc}"))
            for k, v in prof["attributes"].items():
                attrs[k] = {**attrs.get(k, {}), **v, "profile": prof.get("name")}
        for k, v in own.items():
            if k != "$include":
                attrs[k] = {**attrs.get(k, {}), **v}
        self.cache[key] = attrs
        return attrs

    def check_value(self, path, k, spec, v, profiles, errs):
        d = self.dict.get(k, {})
        enum = set(spec.get("enum", {})) | set(d.get("enum", {}))
        t = d.get("type", "string_t")
        base = self.types.get(t, {}).get("type", t)
        vals = v if d.get("is_array") else [v]
        if d.get("is_array") and not isinstance(v, list):
            errs.append(f"{path}.{k}: not an array")
            return
        for x in vals:
            if d.get("object_type"):
                if not isinstance(x, dict):
                    errs.append(f"{path}.{k}: not an object")
                else:
                    self.check(f"{path}.{k}", "object", d["object_type"], x, profiles, errs)
            elif base in ("integer_t", "long_t", "timestamp_t", "port_t"):
                if not isinstance(x, int) or isinstance(x, bool):
                    errs.append(f"{path}.{k}: {x!r} is not an integer")
            elif base == "boolean_t" and not isinstance(x, bool):
                errs.append(f"{path}.{k}: {x!r} is not a boolean")
            elif base == "string_t" and not isinstance(x, str):
                errs.append(f"{path}.{k}: {x!r} is not a string")
            if enum and str(x) not in enum and k not in ("class_uid", "category_uid", "type_uid"):
                errs.append(f"{path}.{k}: {x!r} not in its enum")

    def check(self, path, kind, name, obj, profiles, errs):
        attrs = self.merged(kind, name)
        for k, v in obj.items():
            spec = attrs.get(k)
            if spec is None:
                errs.append(f"{path}.{k}: not an attribute of {kind} {name}")
                continue
            if spec.get("profile") and spec["profile"] not in profiles:
                errs.append(f"{path}.{k}: profile {spec['profile']} not declared")
            if self.dict.get(k, {}).get("type") == "object_t":
                continue  # free-form (unmapped)
            self.check_value(path, k, spec, v, profiles, errs)
        for k, spec in attrs.items():
            if spec.get("requirement") == "required" and k not in obj and \
                    (not spec.get("profile") or spec["profile"] in profiles):
                errs.append(f"{path}.{k}: required, missing")

    def validate(self, ev):
        errs = []
        name = self.by_uid.get(ev.get("class_uid"))
        if not name:
            return [f"class_uid {ev.get('class_uid')} unknown"]
        if ev.get("type_uid") != ev["class_uid"] * 100 + ev.get("activity_id", -1):
            errs.append("type_uid does not match class_uid and activity_id")
        if ev.get("category_uid") != ev["class_uid"] // 1000:
            errs.append("category_uid does not match class_uid")
        if ev.get("metadata", {}).get("version") != "1.8.0":
            errs.append("metadata.version is not 1.8.0")
        profiles = set(ev.get("metadata", {}).get("profiles", []))
        self.check("", "class", name, ev, profiles, errs)
        return errs

def cmd_validate(schema_root, path, node):
    """Every record: valid OCSF; key, timestamp and headers match the document."""
    s, n, bad = Schema(schema_root), 0, []
    for env in envelopes(path):
        n += 1
        ev = json.loads(env["payload"])
        h = headers(env)
        errs = s.validate(ev)
        agent = ev.get("unmapped", {}).get("ai_agent", {}).get("uid")
        want = {"ocsf_class": str(ev["class_uid"]), "event_id": ev["metadata"]["uid"],
                "node": node, "schema": "ocsf/1.8.0"}
        if h != want:
            errs.append(f"headers {h} != {want}")
        if env.get("key") != (agent or node):
            errs.append(f"key {env.get('key')!r} != {agent or node!r}")
        if env.get("tstype") != "create" or env.get("ts") != ev["time"]:
            errs.append(f"timestamp {env.get('tstype')} {env.get('ts')} != time {ev['time']}")
        if len(env["payload"]) < 300:
            errs.append(f"only {len(env['payload'])} bytes")
        if errs:
            bad.append((h.get("event_id"), errs))
    for i, e in bad[:5]:
        print(f"event {i}: {e[:4]}")
    print(f"{n} records, {len(bad)} bad")
    return 0 if n and not bad else 1

def cmd_ids(first, last, *paths):
    """Ids first..last: all present? Prints present, missing, duplicates; exit 1 if missing."""
    first, last = int(first), int(last)
    seen, dups, other = set(), 0, 0
    for p in paths:
        for env in envelopes(p):
            h = headers(env)
            if h.get("ocsf_class") == "1008":
                continue
            i = int(h["event_id"])
            if first <= i <= last:
                dups += i in seen
                seen.add(i)
            else:
                other += 1
    missing = [i for i in range(first, last + 1) if i not in seen]
    print(f"present={len(seen)} missing={len(missing)} duplicates={dups} outside={other}"
          + (f" first_missing={missing[:5]}" if missing else ""))
    return 1 if missing else 0

def cmd_lost(first, last, path):
    """How many of first..last never arrived (for the SIGKILL window)."""
    first, last = int(first), int(last)
    seen = {int(headers(e)["event_id"]) for e in envelopes(path)
            if headers(e).get("ocsf_class") != "1008"}
    lost = sorted(i for i in range(first, last + 1) if i not in seen)
    print(len(lost), lost[0] if lost else 0, lost[-1] if lost else 0)
    return 0

def cmd_gaps(schema_root, first, last, t0, t1, path):
    """Gap events: valid OCSF, and their counts add up to what is missing of first..last."""
    s, first, last, t0, t1 = Schema(schema_root), int(first), int(last), int(t0), int(t1)
    seen, lost, gaps, errs = set(), 0, 0, []
    for env in envelopes(path):
        h = headers(env)
        if h.get("ocsf_class") == "1008":
            ev = json.loads(env["payload"])
            errs += s.validate(ev)
            gaps += 1
            lost += ev["count"]
            if not (t0 <= ev["start_time"] <= ev["end_time"] <= t1):
                errs.append(f"gap times {ev['start_time']}..{ev['end_time']} outside {t0}..{t1}")
            if not h["event_id"].startswith("gap-") or env.get("key") != h["node"]:
                errs.append(f"gap record headers/key: {h} {env.get('key')}")
        else:
            seen.add(int(h["event_id"]))
    missing = sum(1 for i in range(first, last + 1) if i not in seen)
    print(f"gap_events={gaps} gap_lost={lost} missing={missing} errors={errs[:3]}")
    return 0 if gaps and lost == missing and missing > 0 and not errs else 1

def spool_records(d, with_value=False):
    """(segment, offset, size, event_id[, value]) of every record, in file order; checks each
    CRC."""
    out = []
    for seg in sorted(glob.glob(f"{d}/*.seg")):
        data = open(seg, "rb").read()
        assert data[:8] == b"AWSPOOL1", seg
        off = 16
        while off + 12 <= len(data):
            magic, ln, crc = struct.unpack_from("<III", data, off)
            assert magic == 0x4C525741, (seg, off)
            p = data[off + 12:off + 12 + ln]
            assert len(p) == ln and zlib.crc32(p, zlib.crc32(data[off + 4:off + 8])) == crc
            q = 8
            tl, = struct.unpack_from("<H", p, q); q += 2 + tl
            kl, = struct.unpack_from("<H", p, q); q += 2 + kl
            nh = p[q]; q += 1
            hdr = {}
            for _ in range(nh):
                nl, = struct.unpack_from("<H", p, q); name = p[q + 2:q + 2 + nl].decode(); q += 2 + nl
                vl, = struct.unpack_from("<I", p, q); hdr[name] = p[q + 4:q + 4 + vl].decode(); q += 4 + vl
            vl, = struct.unpack_from("<I", p, q)
            assert q + 4 + vl == ln
            rec = (seg, off, 12 + ln, hdr.get("event_id"))
            out.append(rec + (p[q + 4:q + 4 + vl],) if with_value else rec)
            off += 12 + ln
    return out

def damage(d, with_value=False):
    """Truncate the last segment inside its last record, corrupt a record of the first one;
    return (records, torn, corrupt)."""
    recs = spool_records(d, with_value)
    segs = sorted({r[0] for r in recs})
    torn = [r for r in recs if r[0] == segs[-1]][-1]
    corrupt = [r for r in recs if r[0] == segs[0]][len([r for r in recs if r[0] == segs[0]]) // 2]
    assert torn != corrupt
    os.truncate(torn[0], torn[1] + torn[2] // 2)
    with open(corrupt[0], "r+b") as f:
        f.seek(corrupt[1] + 12 + corrupt[2] // 2)
        b = f.read(1)
        f.seek(corrupt[1] + 12 + corrupt[2] // 2)
        f.write(bytes([b[0] ^ 0x55]))
    return recs, torn, corrupt

def cmd_damage(d):
    """damage(), then print the two event ids that must then be missing."""
    recs, torn, corrupt = damage(d)
    print(len(recs), torn[3], corrupt[3])
    return 0

# --- the daemon's records: a workload's file opens, numbered by their file names ----------
# The workload (run_kafka_outage.sh) creates WDIR/00000001, WDIR/00000002, ... inside an agent's
# cgroup; each creation is one File System Activity record whose file.path names its number.

def seq_of(value, wdir):
    """The workload number of a record's OCSF document, or None."""
    ev = json.loads(value)
    path = (ev.get("file") or {}).get("path", "") if ev.get("class_uid") == 1001 else ""
    if path.startswith(wdir + "/") and path[len(wdir) + 1:].isdigit():
        return int(path[len(wdir) + 1:])
    return None

def seqs(wdir, paths):
    """{number: [event_id of each record carrying it]} over the consumed files."""
    seen = {}
    for p in paths:
        for env in envelopes(p):
            n = seq_of(env["payload"], wdir)
            if n is not None:
                seen.setdefault(n, []).append(headers(env)["event_id"])
    return seen

def runs(ids):
    out = []
    for i in sorted(ids):
        if out and i == out[-1][1] + 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out

def cmd_seq(wdir, required, max_runs, *paths):
    """Every number of the REQUIRED ranges ("1-40,77-90") arrived; a number that arrived twice
    carries the same event_id both times (a redelivered record, which at-least-once allows, not
    an event emitted twice); the numbers that arrived form at most MAX_RUNS contiguous runs (a
    hole inside a run is a lost event). Prints the counts; exit 1 on any violation."""
    seen = seqs(wdir, paths)
    want = set()
    for r in filter(None, required.split(",")):
        a, b = (int(x) for x in r.split("-"))
        want.update(range(a, b + 1))
    missing = sorted(want - set(seen))
    dups = sum(len(v) - 1 for v in seen.values())
    twice = [n for n, v in seen.items() if len(set(v)) > 1]
    rs = runs(seen)
    print(f"present={len(seen)} missing={len(missing)} duplicates={dups} "
          f"emitted_twice={len(twice)} runs={rs[:4]}"
          + (f" first_missing={missing[:5]}" if missing else ""))
    return 1 if missing or twice or len(rs) > int(max_runs) or not seen else 0

def cmd_seq_lost(wdir, n, *paths):
    """Of 1..N: how many never arrived, the first and last of them, and 1 if they are exactly
    the newest ones (the tail held in memory), else 0."""
    seen = set(seqs(wdir, paths))
    lost = [i for i in range(1, int(n) + 1) if i not in seen]
    tail = int(not lost or lost == list(range(lost[0], int(n) + 1)))
    print(len(lost), lost[0] if lost else 0, lost[-1] if lost else 0, tail)
    return 0

def cmd_damage_seq(d, wdir):
    """damage(), then print the records and the workload numbers of the torn and the corrupt
    record (0 for a record of another event)."""
    recs, torn, corrupt = damage(d, True)
    print(len(recs), seq_of(torn[4], wdir) or 0, seq_of(corrupt[4], wdir) or 0)
    return 0

def cmd_seq_except(wdir, n, gone, *paths):
    """Numbers 1..N all arrived except exactly those of GONE ("12,40"; 0 entries ignored)."""
    seen = set(seqs(wdir, paths))
    missing = {i for i in range(1, int(n) + 1) if i not in seen}
    want = {int(x) for x in gone.split(",") if int(x)}
    print(f"present={len(seen)} missing={sorted(missing)[:10]} expected_missing={sorted(want)}")
    return 0 if missing == want else 1

def cmd_class_counts(path):
    """Records by OCSF class, as "CLASS=N" words (gap events included, as 1008)."""
    counts = {}
    for env in envelopes(path):
        c = headers(env)["ocsf_class"]
        counts[c] = counts.get(c, 0) + 1
    print(" ".join(f"{c}={n}" for c, n in sorted(counts.items())))
    return 0

def cmd_spool_count(d):
    print(len(spool_records(d)))
    return 0

sys.exit(globals()["cmd_" + sys.argv[1].replace("-", "_")](*sys.argv[2:]))

#!/usr/bin/env python3
"""Turns the measurements of bench/run into bench/RESULTS.md and bench/results.png.

Input (in --dir): results.tsv (one line per wrk run), memory.tsv, handshakes.tsv,
versions.tsv, tls.txt. Every figure in the tables is the median over rounds.
"""
import argparse
import csv
import os
import statistics
import sys

WORKLOADS = {
    "hello": "Lua hello, keep-alive",
    "hello-close": "Lua hello, Connection: close",
    "work": "Lua /work?n=100 (JSON built with table.concat)",
    "https": "HTTPS hello, keep-alive",
    "https-close": "HTTPS hello, Connection: close: a resumed TLS handshake per request",
}
PEER_NOTE = {
    "flutter": "Lua 5.4 handler",
    "flutter-luajit": "the same, built with the cargo feature luajit",
    "nginx-lua": "content_by_lua_block (LuaJIT)",
    "nginx-lua-deferred": "the same, on a `listen ... deferred` port (TCP_DEFER_ACCEPT, as flutter)",
    "mhd-c": "C handler, one prebuilt response",
    "nginx-static": "13-byte file",
    "h2o-mruby": "mruby handler",
    "h2o-static": "13-byte file (file.file)",
    "floor-c": "no HTTP: a prebuilt response per read (bench/floor.c); the kernel's share",
    "floor-lua": "no HTTP: app.lua's handler run per read in a coroutine with a 3-field req "
                 "(bench/floor.c -DFLOOR_LUA); the least a Lua-scripted server costs",
}


def read_tsv(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, digits=1):
    if x is None:
        return "–"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}x"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--duration", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--idle", type=int, default=10000)
    ap.add_argument("--server-cpu", default="0")
    ap.add_argument("--client-cpu", default="1")
    ap.add_argument("--plot", default="1")
    ap.add_argument("--nice", default="0")
    ap.add_argument("--note", default="")
    a = ap.parse_args()

    versions = {}
    missing = []
    for line in open(os.path.join(a.dir, "versions.tsv")):
        k, _, v = line.rstrip("\n").partition("\t")
        if k == "missing":
            missing.append(v)
        else:
            versions[k] = v
    tck = float(versions.get("clk_tck", "100"))

    runs = read_tsv(os.path.join(a.dir, "results.tsv"))
    # (workload, server) -> list of per-run dicts
    groups = {}
    order = []
    for r in runs:
        key = (r["workload"], r["server"])
        if key not in groups:
            groups[key] = []
            order.append(key)
        reqs = int(r["requests"] or 0)
        ticks = int(r["cpu_ticks"] or 0)
        user = r.get("user_ticks")
        core = int(r.get("core_ticks") or 0)
        other = int(r.get("other_ticks") or 0)
        groups[key].append({
            "rps": float(r["rps"] or 0),
            "p99": float(r["p99_us"] or 0),
            "cpu_us": ticks / tck * 1e6 / reqs if reqs else None,
            "user_us": int(user) / tck * 1e6 / reqs if reqs and user else None,
            "cpu_share": ticks / core if core else None,
            "other_share": max(other, 0) / core if core else None,
            "errors": int(r["errors"] or 0),
            "requests": reqs,
        })
    summary = {}
    for key, rs in groups.items():
        summary[key] = {
            "rps": med([r["rps"] for r in rs]),
            "p99": med([r["p99"] for r in rs]),
            "cpu_us": med([r["cpu_us"] for r in rs]),
            "user_us": med([r["user_us"] for r in rs]),
            "cpu_share": med([r["cpu_share"] for r in rs]),
            "other_share": med([r["other_share"] for r in rs]),
            "errors": sum(r["errors"] for r in rs),
            "n": len(rs),
        }
    others = [r["other_share"] for rs in groups.values() for r in rs if r["other_share"] is not None]
    noise = med(others)
    noisy = noise is not None and noise > 0.2
    workloads = []
    for w, _ in order:
        if w not in workloads:
            workloads.append(w)

    out = []
    w_ = out.append
    w_("# flutter benchmark results")
    w_("")
    w_("Written by `bench/run` (run by hand; not part of the tests). Peers run on the same "
       "machine in the same session; only the ratios mean something, absolute numbers drift.")
    w_("")
    if a.note:
        w_(f"**Note: {a.note}**")
        w_("")
    if noisy:
        w_(f"**This run is noise-dominated: in the median run, {100 * noise:.0f}% of the server "
           "core's time went to other programs.** The server was starved and its connections "
           "queued up, so requests/s and p99 measure the machine's other load, not the servers; "
           "CPU µs/request is the least disturbed figure, but cache and scheduler interference "
           "still move it by tens of percent. Re-run on a quiet machine before drawing conclusions.")
        w_("")
    w_(f"- Date: {versions.get('date', '?')}")
    w_(f"- Machine: {versions.get('cpu', '?')}, nproc {versions.get('nproc', '?')}, "
       f"{versions.get('os', '?')}, {versions.get('kernel', '?')}; "
       f"load average {versions.get('load_start', '?')} at the start, "
       f"{versions.get('load_end', '?')} at the end")
    w_(f"- Method: every server has one worker and is pinned to core {a.server_cpu}; "
       f"`wrk -t1 -c{a.connections} --latency` is pinned to core {a.client_cpu}; all on 127.0.0.1. "
       f"Each workload: a 1 s warm-up per server, then {a.rounds} rounds of {a.duration:g} s, "
       "the servers taking turns within a round; figures are medians over the rounds."
       + (f" Servers and clients ran at nice {a.nice} (their session's autogroup too) to push "
          "other programs' load aside."
          if a.nice not in ("0", "") else ""))
    w_("- **CPU µs/req** (the headline): utime+stime of the server's processes "
       "(`/proc/PID/stat`, nginx: master + worker) over a run, divided by the responses wrk "
       f"got; clock tick {1e3 / tck:g} ms. **Ratio** columns are flutter ÷ peer: below 1 is "
       "better for flutter on CPU and p99, above 1 is better on requests/s.")
    w_("- **user µs/req**: the user-space part of CPU µs/req (utime); the rest is the kernel's "
       "(stime: loopback TCP, syscalls, epoll), which every server pays and no server code "
       "can remove. The split comes from the tick-based accounting: rough, but the same for all.")
    w_("- **Core busy**: share of the server core's time the server used; **other**: share "
       "of it busy with anything else (other programs on the machine) — the noise of that run.")
    w_("")

    for w in workloads:
        servers = [s for (ww, s) in order if ww == w]
        w_(f"## {WORKLOADS.get(w, w)}")
        w_("")
        f = summary.get((w, "flutter"))
        w_("| server | what | requests/s | p99 µs | CPU µs/req | user µs/req | core busy | other "
           "| errors | flutter CPU/req ratio | flutter req/s ratio | flutter p99 ratio |")
        w_("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for s in servers:
            m = summary[(w, s)]
            if s.startswith("flutter"):
                rc = rr = rp = "—"
            else:
                rc = ratio(f and f["cpu_us"], m["cpu_us"])
                rr = ratio(f and f["rps"], m["rps"])
                rp = ratio(f and f["p99"], m["p99"])
            w_(f"| {s} | {PEER_NOTE.get(s, '')} | {fmt(m['rps'], 0)} | {fmt(m['p99'], 0)} | "
               f"{fmt(m['cpu_us'], 2)} | {fmt(m['user_us'], 2)} | "
               f"{fmt(100 * (m['cpu_share'] or 0), 0)}% | "
               f"{fmt(100 * (m['other_share'] or 0), 0)}% | {m['errors']} | {rc} | {rr} | {rp} |")
        w_("")
        j = summary.get((w, "flutter-luajit"))
        if j:
            peers = [p for p in servers if not p.startswith("flutter")]
            w_("The LuaJIT build's CPU/req ratio to each peer: "
               + ", ".join(f"{p} {ratio(j['cpu_us'], summary[(w, p)]['cpu_us'])}" for p in peers)
               + f"; to the default Lua 5.4 build {ratio(j['cpu_us'], f and f['cpu_us'])}.")
            w_("")
        if w == "https-close":
            w_("wrk keeps one OpenSSL `SSL` object per connection slot and reuses it on "
               "reconnect, so it offers the session ticket it got last time and the server does a "
               "resumed (PSK + ECDHE) TLS 1.3 handshake: checked against nginx's "
               "`$ssl_session_reused` when this bench was written (1959 of 1963 reconnects resumed). "
               "So this row is *resumed* handshakes per second; full handshakes are in the next table.")
            w_("")

    hs = read_tsv(os.path.join(a.dir, "handshakes.tsv"))
    if hs:
        w_("## New full TLS handshakes (`openssl s_time -new`, one connection at a time)")
        w_("")
        w_("`s_time` runs one connection at a time and its own half of each handshake costs "
           "more than the server's, so handshakes/s is bound by the client; compare the "
           "server CPU per handshake (each connection also fetches `/`).")
        w_("")
        tls = {}
        tpath = os.path.join(a.dir, "tls.txt")
        if os.path.exists(tpath):
            for line in open(tpath):
                k, _, v = line.rstrip("\n").partition("\t")
                tls[k] = v
        hsum = {}
        for s in sorted({r["server"] for r in hs}, key=lambda x: x != "flutter"):
            rs = [r for r in hs if r["server"] == s]
            rate = med([int(r["connections"]) / float(r["seconds"]) for r in rs if float(r["seconds"] or 0) > 0])
            cpu = med([int(r["cpu_ticks"]) / tck * 1e6 / int(r["connections"])
                       for r in rs if int(r["connections"] or 0) > 0])
            hsum[s] = (rate, cpu)
        w_("| server | negotiated | handshakes/s | server CPU µs/handshake | flutter CPU ratio |")
        w_("| --- | --- | ---: | ---: | ---: |")
        for s, (rate, cpu) in hsum.items():
            rc = "—" if s == "flutter" else ratio(hsum.get("flutter", (None, None))[1], cpu)
            w_(f"| {s} | {tls.get(s, '?')} | {fmt(rate, 0)} | {fmt(cpu, 1)} | {rc} |")
        w_("")

    mem = read_tsv(os.path.join(a.dir, "memory.tsv"))
    if mem:
        w_(f"## Memory: at rest and with {a.idle:,} idle keep-alive connections")
        w_("")
        w_("RSS summed over the server's processes (`VmRSS`; nginx: master + worker, which share "
           "pages, so PSS is given too). *Fresh*: just started; *rest*: after one request per "
           "endpoint. Per connection = (RSS with the idle connections − RSS at rest) ÷ "
           "connections that got their answer (`bench/idle_conns.c`: one GET each, then idle).")
        w_("")
        w_("| server | processes | RSS fresh KiB | RSS at rest KiB | PSS at rest KiB | RSS idle conns KiB | "
           "connections ok | bytes/connection | flutter ratio (per conn) | flutter ratio (rest RSS) |")
        w_("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        per = {}
        for r in mem:
            ok = int(r["idle_ok"] or 0)
            per[r["server"]] = ((int(r["rss_idle_kb"]) - int(r["rss_rest_kb"])) * 1024 / ok if ok else None,
                                int(r["rss_rest_kb"]))
        for r in mem:
            s = r["server"]
            pc, rest = per[s]
            if s == "flutter":
                r1 = r2 = "—"
            else:
                r1 = ratio(per.get("flutter", (None,))[0], pc)
                r2 = ratio(per.get("flutter", (None, None))[1], rest)
            w_(f"| {s} | {r['procs']} | {int(r['rss_fresh_kb']):,} | {int(r['rss_rest_kb']):,} | "
               f"{int(r['pss_rest_kb']):,} | {int(r['rss_idle_kb']):,} | {r['idle_ok']} "
               f"(failed {r['idle_failed']}) | {fmt(pc, 0)} | {r1} | {r2} |")
        w_("")
        epath = os.path.join(a.dir, "idle-errors.txt")
        errs = open(epath).read().strip() if os.path.exists(epath) else ""
        if any(int(r["idle_failed"] or 0) for r in mem):
            w_("Idle connections that failed (what `idle_conns` said): "
               + ("; ".join(errs.splitlines()) if errs else "no reason recorded") + ".")
            w_("")

    # Targets of issue 8, checked against this run.
    w_("## Issue 8 targets, this run")
    w_("")
    if noisy:
        w_("(Noise-dominated run: the requests/s and p99 verdicts below mean nothing, and the CPU "
           "ratios are rough.)")
        w_("")
    w_("| target | measured | met |")
    w_("| --- | --- | --- |")

    def cpu_r(wl, peer, ours="flutter"):
        f_, p_ = summary.get((wl, ours)), summary.get((wl, peer))
        if not f_ or not p_ or not f_["cpu_us"] or not p_["cpu_us"]:
            return None
        return f_["cpu_us"] / p_["cpu_us"]

    def tgt(name, val, ok, unit="x"):
        if val is None:
            w_(f"| {name} | not measured | – |")
        else:
            w_(f"| {name} | {val:.2f}{unit} | {'yes' if ok(val) else 'no'} |")

    tgt("hello keep-alive: CPU/req ≤ 0.8x nginx+Lua", cpu_r("hello", "nginx-lua"), lambda v: v <= 0.8)
    f_, n_ = summary.get(("hello", "flutter")), summary.get(("hello", "nginx-lua"))
    tgt("hello keep-alive: requests/s ≥ 1.0x nginx+Lua",
        f_["rps"] / n_["rps"] if f_ and n_ and n_["rps"] else None, lambda v: v >= 1.0)
    tgt("hello keep-alive: p99 ≤ 1.0x nginx+Lua",
        f_["p99"] / n_["p99"] if f_ and n_ and n_["p99"] else None, lambda v: v <= 1.0)
    tgt("stretch: hello CPU/req < 1.0x libmicrohttpd C hello", cpu_r("hello", "mhd-c"), lambda v: v < 1.0)
    # Not a target: how close to 0.8x any server can come on this machine.
    for floor_name, what in (("floor-c", "a server doing no HTTP"),
                             ("floor-lua", "a Lua handler run per read, no HTTP")):
        floor = cpu_r("hello", "nginx-lua", floor_name)
        if floor is not None:
            w_(f"| (reference) hello keep-alive: {what} ({floor_name}), CPU/req ÷ nginx+Lua | "
               f"{floor:.2f}x | – |")
    tgt("Connection: close: CPU/req ≤ 0.9x nginx+Lua", cpu_r("hello-close", "nginx-lua"), lambda v: v <= 0.9)
    tgt("the same against nginx+Lua with `listen ... deferred`",
        cpu_r("hello-close", "nginx-lua-deferred"), lambda v: v <= 0.9)
    tgt("work handler: CPU/req ≤ 1.0x nginx+Lua", cpu_r("work", "nginx-lua"), lambda v: v <= 1.0)
    if summary.get(("work", "flutter-luajit")):
        for name, wl, limit in (("hello keep-alive: CPU/req ≤ 0.8x nginx+Lua", "hello", 0.8),
                                ("Connection: close: CPU/req ≤ 0.9x nginx+Lua", "hello-close", 0.9),
                                ("work handler: CPU/req ≤ 1.0x nginx+Lua", "work", 1.0)):
            tgt(f"{name} (LuaJIT build)", cpu_r(wl, "nginx-lua", "flutter-luajit"),
                lambda v, limit=limit: v <= limit)
    fm = [r for r in mem if r["server"] == "flutter"]
    if fm and int(fm[0]["idle_ok"] or 0):
        r = fm[0]
        pc = (int(r["rss_idle_kb"]) - int(r["rss_rest_kb"])) * 1024 / int(r["idle_ok"])
        tgt("idle connections: ≤ 1 KiB RSS each", pc, lambda v: v <= 1024, " bytes")
        tgt("RSS at rest ≤ 8 MiB (one worker)", int(r["rss_rest_kb"]) / 1024, lambda v: v <= 8, " MiB")
    w_("")
    # The verdicts above compare each server's median round; a slow moment of
    # the machine slows both servers of a round, so the round-by-round ratios
    # tell how steady a verdict is.
    steady = []
    for wl, name in (("hello", "hello keep-alive"), ("hello-close", "Connection: close"),
                     ("work", "work handler")):
        ours, peer = groups.get((wl, "flutter"), []), groups.get((wl, "nginx-lua"), [])
        rs = sorted(f["cpu_us"] / n["cpu_us"] for f, n in zip(ours, peer)
                    if f["cpu_us"] and n["cpu_us"])
        if rs:
            steady.append(f"{name}: median {med(rs):.2f}x, from {rs[0]:.2f}x to {rs[-1]:.2f}x")
    if steady:
        w_("Flutter's CPU/req ÷ nginx+Lua's round by round (the two servers of one round ran "
           "seconds apart): " + "; ".join(steady) + ".")
        w_("")
    # What the kernel alone costs flutter, against the CPU targets: the floor
    # that no user-space work can go below.
    floors = []
    for wl, name in (("hello", "hello keep-alive"), ("hello-close", "Connection: close")):
        f_, n_ = summary.get((wl, "flutter")), summary.get((wl, "nginx-lua"))
        if f_ and n_ and f_["cpu_us"] and f_["user_us"] is not None and n_["cpu_us"]:
            kernel = f_["cpu_us"] - f_["user_us"]
            floors.append(f"{name}: {kernel:.2f} µs/req, {kernel / n_['cpu_us']:.2f}x nginx+Lua's "
                          f"whole CPU/req (nginx+Lua's own user space: {fmt(n_['user_us'], 2)} µs/req)")
    if floors:
        w_("Flutter's kernel time alone (stime: loopback TCP, syscalls, epoll), as a share of "
           "nginx+Lua's whole CPU per request — what flutter would cost with no user-space "
           "work at all: " + "; ".join(floors) + ".")
        w_("")

    w_("## Versions")
    w_("")
    for k in ("flutter", "nginx", "libmicrohttpd", "h2o", "wrk", "openssl", "gcc"):
        if k in versions:
            w_(f"- {k}: {versions[k]}")
    w_("")
    if missing:
        w_("## Not measured")
        w_("")
        for m in missing:
            w_(f"- {m}")
        w_("")

    w_("## Chart")
    w_("")
    if a.plot == "1":
        w_("![requests/s and CPU per request per server and workload](results.png)")
    else:
        w_("No chart: matplotlib was not available.")
    w_("")
    w_("## Every run")
    w_("")
    w_("| workload | server | round | requests | requests/s | p99 µs | server ticks | other ticks | errors |")
    w_("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in runs:
        w_(f"| {r['workload']} | {r['server']} | {r['round']} | {r['requests']} | {r['rps']} | "
           f"{r['p99_us']} | {r['cpu_ticks']} | {r.get('other_ticks', '')} | {r['errors']} |")
    w_("")
    with open(os.path.join(a.out, "RESULTS.md"), "w") as fo:
        fo.write("\n".join(out))

    if a.plot == "1":
        plot(summary, workloads, order, os.path.join(a.out, "results.png"),
             "noise-dominated run: see RESULTS.md" if noisy else "")


def plot(summary, workloads, order, path, note):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    servers = []
    for _, s in order:
        if s not in servers:
            servers.append(s)
    fig, axes = plt.subplots(2, 1, figsize=(11, 8))
    width = 0.8 / max(len(servers), 1)
    for ax, field, label in ((axes[0], "rps", "requests/s (median)"),
                             (axes[1], "cpu_us", "server CPU µs/request\n(median, log scale, lower is better)")):
        for i, s in enumerate(servers):
            xs, ys = [], []
            for j, w in enumerate(workloads):
                m = summary.get((w, s))
                if m and m[field] is not None:
                    xs.append(j + (i - (len(servers) - 1) / 2) * width)
                    ys.append(m[field])
            bars = ax.bar(xs, ys, width, label=s)
            for x, y in zip(xs, ys):
                ax.annotate(f"{y:,.0f}" if field == "rps" else f"{y:.1f}", (x, y), ha="center",
                            va="bottom", fontsize=6, rotation=90 if field == "rps" else 0)
        if field == "cpu_us":
            ax.set_yscale("log")
        ax.set_xticks(range(len(workloads)))
        ax.set_xticklabels(workloads)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(ncol=3, fontsize=8)
    title = "flutter vs peers: one worker, server on one core, wrk on the other"
    if note:
        title += f"\n({note})"
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())

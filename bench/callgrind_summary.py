#!/usr/bin/env python3
"""Summarises a callgrind output file per request.

usage: callgrind_summary.py CALLGRIND_OUT REQUESTS [TOP]

Prints the total instructions (Ir) per request, the functions with the most
exclusive Ir (with their share), the inclusive Ir of selected entry points, and
the number of calls per request of the allocator and of the syscall wrappers.
Reads the callgrind format directly (name compression, subposition
compression, calls= lines), so it needs nothing but Python.
"""
import collections
import re
import sys

ALLOC = ("malloc", "calloc", "realloc", "free", "posix_memalign", "aligned_alloc",
         "__rust_alloc", "__rust_dealloc", "__rust_realloc")
SYSCALLS = ("read", "write", "writev", "readv", "recv", "recvfrom", "send", "sendto",
            "sendmsg", "recvmsg", "epoll_wait", "epoll_ctl", "accept4", "accept", "close",
            "shutdown", "setsockopt", "getsockopt", "clock_gettime", "__clock_gettime",
            "gettimeofday", "time", "ioctl", "fcntl", "futex", "syscall")


def parse(path):
    names = {"fn": {}, "cfn": {}, "fl": {}, "ob": {}}
    excl = collections.Counter()       # fn -> exclusive Ir
    incl_calls = collections.Counter() # callee -> inclusive Ir through calls
    calls = collections.Counter()      # callee -> number of calls
    cur_fn = None
    cur_cfn = None
    pending_call = None                # count of the calls= line just read
    sites = collections.Counter()      # (caller fn, file, line, callee) -> calls
    cur_file = "?"
    last_line = 0
    events = None
    total = None

    def resolve(kind, rest):
        # "(id) name" defines, "(id)" refers; fn and cfn share one table
        table = names["fn"] if kind in ("fn", "cfn") else names[kind if kind in names else "fl"]
        m = re.match(r"\((\d+)\)(?:\s+(.*))?$", rest)
        if m:
            if m.group(2) is not None:
                table[m.group(1)] = m.group(2)
                return m.group(2)
            return table.get(m.group(1), "?" + m.group(1))
        return rest

    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            c = line[0]
            if c.isdigit() or c in "+-*":
                parts = line.split()
                pos = parts[0]
                if pos == "*":
                    pass
                elif pos[0] in "+-":
                    last_line += int(pos)
                else:
                    last_line = int(pos)
                ir = int(parts[1]) if len(parts) > 1 and parts[1].lstrip("-").isdigit() else 0
                if pending_call is not None:
                    incl_calls[cur_cfn] += ir
                    sites[(cur_fn, cur_file, last_line, cur_cfn)] += pending_call
                    pending_call = None
                else:
                    excl[cur_fn] += ir
                continue
            key, _, rest = line.partition("=")
            if key == "fn":
                cur_fn = resolve("fn", rest)
            elif key in ("cfn", "cfi", "cfl", "cob", "fl", "fi", "fe", "ob"):
                if key == "cfn":
                    cur_cfn = resolve("cfn", rest)
                else:
                    v = resolve("fl" if key in ("cfi", "cfl", "fl", "fi", "fe") else "ob", rest)
                    if key in ("fl", "fi", "fe"):
                        cur_file = v
            elif key == "calls":
                n = int(rest.split()[0])
                calls[cur_cfn] += n
                pending_call = n
            elif line.startswith("events:"):
                events = line.split()[1:]
            elif line.startswith("summary:") or line.startswith("totals:"):
                total = int(line.split()[1])
    if total is None:
        total = sum(excl.values())
    return total, excl, calls, incl_calls, sites


def short(name, width=110):
    name = re.sub(r"::h[0-9a-f]{16}$", "", name)
    return name if len(name) <= width else name[: width - 1] + "…"


def main():
    path, reqs = sys.argv[1], int(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    total, excl, calls, incl, sites = parse(path)
    reqs = max(reqs, 1)
    print(f"requests: {reqs}")
    print(f"instructions (Ir) per request: {total / reqs:,.0f}")
    print()
    print(f"top {top} functions by exclusive Ir (per request, share of all):")
    for fn, ir in excl.most_common(top):
        print(f"  {ir / reqs:>10,.0f}  {100 * ir / total:5.1f}%  {short(fn)}")
    print()
    print("inclusive Ir per request through calls (selected):")
    shown = 0
    for fn, ir in incl.most_common(400):
        if any(k in fn for k in ("flutter::", "mlua::", "lua_", "luaV_execute", "httparse",
                                 "rustls::", "ring::", "luaH_", "luaS_", "luaC_", "luaD_")):
            print(f"  {ir / reqs:>10,.0f}  {100 * ir / total:5.1f}%  {short(fn)}")
            shown += 1
            if shown >= top:
                break
    print()
    print("calls per request (allocator):")
    for fn, n in sorted(calls.items(), key=lambda kv: -kv[1]):
        base = fn.split("'")[0]
        if base in ALLOC or base.endswith("::__rust_alloc") or base in ("__libc_malloc", "__libc_free",
                                                                        "__libc_realloc", "__libc_calloc"):
            print(f"  {n / reqs:8.2f}  {fn}")
    print()
    print("allocation sites (malloc/realloc/calloc/__rust_alloc calls per request, by caller and line):")
    def is_alloc(fn):
        b = fn.split("'")[0]
        return b in ("malloc", "calloc", "realloc", "__rust_alloc", "__rust_realloc") or b.endswith("__rust_alloc") \
            or b.endswith("__rust_realloc")
    for (fn, fl, ln, cfn), n in sites.most_common():
        if is_alloc(cfn) and n / reqs >= 0.05:
            fl_short = re.sub(r"^.*/(src|library)/", r"\1/", fl)
            print(f"  {n / reqs:6.2f}  {short(fn, 60)}  at {fl_short}:{ln}  -> {cfn}")
    print()
    print("calls per request (syscall wrappers):")
    for fn, n in sorted(calls.items(), key=lambda kv: -kv[1]):
        base = fn.split("'")[0]
        if base in SYSCALLS or base.lstrip("_") in SYSCALLS:
            print(f"  {n / reqs:8.2f}  {fn}")
    print()
    print("most-called functions (calls per request):")
    for fn, n in calls.most_common(top):
        print(f"  {n / reqs:8.2f}  {short(fn)}")


if __name__ == "__main__":
    main()

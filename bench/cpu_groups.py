"""CPU seconds by process group while a bench runs (issue 18): steadier than throughput
on a shared machine.

    python bench/cpu_groups.py --out cpu.txt -- python bench/load.py --database postgresql \
        --s3 --pollers 1000 --submits 30 --duration 90

Runs the command and, every second, reads utime+stime of every process descended from
this one (/proc/PID/stat), keeping each process's last figure (a process that exits
keeps the CPU it had at the last sample). It makes itself the children's subreaper, so
daemons (PostgreSQL's postmaster after `pg_ctl start`) stay in its tree. Groups, by the
process's own or its nearest ancestor's command line: `supervisor` (`genmill worker`),
`worker` (its worker processes), `engine` (their engine hosts), `api` (`genmill serve`),
`api-child` (its children: the HTTP worker, and on SQLite its worker processes too),
postgres, weed, locust, and bench (the driver: the webhook receiver, the checks). A
process keeps its first group. Prints seconds per group and, given the number of tasks
done (`--tasks`, or read from bench/load.py's "tasks when the drain ended" line), CPU ms
per task. The sum covers the whole run (start-up, load, drain), so compare runs of one
length.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")
GROUPS = [("locust", re.compile(r"-m locust ")), ("weed", re.compile(r"^\S*/weed ")),
          ("postgres", re.compile(r"^(\S*/postgres |postgres: )")),
          ("worker", re.compile(r"-m genmill worker ")),
          ("api", re.compile(r"-m genmill serve ")), ("bench", re.compile(r"bench/"))]
# Under a `genmill worker` (or a `genmill serve` with workers, on SQLite): the
# supervisor itself, its worker processes (children), their engine hosts (grandchildren).
DEPTHS = {"worker": ["supervisor", "worker", "engine"],
          "api": ["api", "api-child", "engine"]}


def processes() -> dict[int, tuple[int, str, float]]:
    """pid -> (ppid, command line, CPU seconds) of every process readable now."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        found[int(name)] = (int(fields[1]), cmd, (int(fields[11]) + int(fields[12])) / TICK)
    return found


def group_of(pid: int, table: dict, root: int) -> str | None:
    """The group of `pid` if it descends from `root`, else None."""
    seen = pid
    label = None
    depth = 0
    while seen in table:
        ppid, cmd, _ = table[seen]
        if label is None:
            label = next((g for g, pattern in GROUPS if pattern.search(cmd)), None)
            if label is None:
                depth += 1
            elif label in DEPTHS:
                names = DEPTHS[label]
                label = names[min(depth, len(names) - 1)]
        if seen == root:
            return label or "bench"
        seen = ppid
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="also write the summary here")
    parser.add_argument("--tasks", type=int, help="tasks done (else read from the output)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    run = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, bufsize=1)
    last: dict[int, tuple[str, float]] = {}
    lines: list[str] = []

    import threading

    def pump() -> None:
        for line in run.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            lines.append(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    while run.poll() is None:
        table = processes()
        for pid, (_, _, cpu) in table.items():
            # From this process down (daemons it adopted hang off it), itself left out.
            label = group_of(pid, table, os.getpid()) if pid != os.getpid() else None
            if label:
                # A process keeps its first group: as a zombie its command line reads
                # empty and it would be counted as its parent's.
                last[pid] = (last[pid][0] if pid in last else label, cpu)
        for pid, (ppid, _, _) in table.items():  # orphans handed to us, once they end
            if ppid == os.getpid() and pid != run.pid:
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
        time.sleep(1)
    reader.join(5)
    totals: dict[str, float] = {}
    for label, cpu in last.values():
        totals[label] = totals.get(label, 0) + cpu
    tasks = args.tasks
    if tasks is None:
        for line in reversed(lines):
            match = re.search(r"tasks when the drain ended .*?: (\{.*?\})", line)
            if match:
                tasks = ast.literal_eval(match.group(1)).get("SUCCESS")
                break
    summary = [f"CPU seconds by group ({' '.join(command)}):"]
    for label in sorted(totals, key=totals.get, reverse=True):
        per = f"  {totals[label] / tasks * 1000:7.1f} ms/task" if tasks else ""
        summary.append(f"  {label:<9}{totals[label]:9.1f} s{per}")
    total = sum(totals.values())
    summary.append(f"  {'total':<9}{total:9.1f} s"
                   + (f"  {total / tasks * 1000:7.1f} ms/task ({tasks} tasks SUCCESS)"
                      if tasks else ""))
    print("\n".join(summary))
    if args.out:
        with open(args.out, "w") as f:
            f.write("".join(lines) + "\n".join(summary) + "\n")
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""zones_timeline: where a zone's time goes from the nodes' start to its first publication.

Usage: integration/bench/zones_timeline.py CLUSTER_DIR

Reads the nodes' logs (CLUSTER_DIR/log/node-*.log) and publish.logs
(CLUSTER_DIR/node-*/out/publish.log) of a cluster started by deploy/cluster-up.sh (zones.sh
keeps it with KEEP=1) and prints, for each step of a zone's way, how many zones reached it
and the median, 90th percentile and largest time after the nodes' start (the earlier pid
file; once the cluster is stopped, the earlier first line of their logs), then the median of each step's wait after the one before. A zone's step is its last
occurrence on either node before its first publication (a zone has two keys: both made,
both imported), except the grant and the first key made (the first occurrence).
"""
import glob
import os
import re
import sys
from datetime import datetime, timezone

STEPS = [
    ("granted", re.compile(r"zone (\S+): lease granted"), "first"),
    ("key made", re.compile(r"zone (\S+): making \S+ key"), "first"),
    ("keys archived", re.compile(r"zone (\S+): \S+ key \d+ \(tag \d+\) made and archived"), "last"),
    ("keys imported at the peer", re.compile(r"zone (\S+): key \d+ \(tag \d+, \S+\) imported into"), "last"),
    ("keys activated", re.compile(r"zone (\S+): key \d+ imported at every site"), "last"),
    ("first run ended", re.compile(r"zone (\S+): signing run: "), "first"),
    ("committed", re.compile(r"zone (\S+): serial \d+ committed"), "first"),
]


def stamp(line):
    try:
        t = datetime.strptime(line[:24], "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        return None
    return t.replace(tzinfo=timezone.utc).timestamp()


def quantile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main():
    if len(sys.argv) != 2 or not os.path.isdir(sys.argv[1]):
        sys.exit("usage: zones_timeline.py CLUSTER_DIR")
    d = sys.argv[1]
    pids = glob.glob(os.path.join(d, "run", "node-*.pid"))
    logs = sorted(glob.glob(os.path.join(d, "log", "node-*.log")))
    if pids:
        t0 = min(os.stat(p).st_mtime for p in pids)
    elif logs:  # stopped (cluster-down removes the pid files): the nodes' first log lines
        t0 = min(stamp(open(p, errors="replace").readline()) or float("inf") for p in logs)
    else:
        sys.exit("%s: neither run/node-*.pid nor log/node-*.log: not a cluster-up directory" % d)
    pub = {}
    for path in glob.glob(os.path.join(d, "node-*", "out", "publish.log")):
        for line in open(path):
            f = line.split()
            if len(f) == 5 and (f[1] not in pub or int(f[0]) / 1000 < pub[f[1]]):
                pub[f[1]] = int(f[0]) / 1000
    seen = {name: {} for name, _, _ in STEPS}
    for path in logs:
        for line in open(path, errors="replace"):
            for name, rx, which in STEPS:
                m = rx.search(line)
                if m is None:
                    continue
                t, z = stamp(line), m.group(1)
                if t is None or (z in pub and t > pub[z]):
                    continue
                have = seen[name].get(z)
                if have is None or (t < have if which == "first" else t > have):
                    seen[name][z] = t
    seen["published"] = pub
    names = [n for n, _, _ in STEPS] + ["published"]
    print("%-26s %6s %8s %8s %8s" % ("step (s after the start)", "zones", "median", "p90", "max"))
    for n in names:
        xs = [t - t0 for t in seen[n].values()]
        if xs:
            print("%-26s %6d %8.1f %8.1f %8.1f"
                  % (n, len(xs), quantile(xs, 0.5), quantile(xs, 0.9), max(xs)))
    print("%-40s %8s %8s" % ("wait for the step after the one before", "median", "p90"))
    for a, b in zip(names, names[1:]):
        xs = [seen[b][z] - seen[a][z] for z in seen[b] if z in seen[a]]
        if xs:
            print("%-40s %8.1f %8.1f" % ("%s -> %s" % (a, b), quantile(xs, 0.5), quantile(xs, 0.9)))


if __name__ == "__main__":
    main()

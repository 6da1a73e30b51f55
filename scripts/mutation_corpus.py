"""Run a corpus of mutated plan sets through ``sbrt-qa check`` and count what went wrong.

Each case is one mutation of the small plan (:mod:`sbrt_qa.synthetic.mutations`): a
truncation, a bit flip, a deleted, repeated or absurd attribute. The cases run in one
worker process under an address-space limit, each under an alarm, and the report gives:
internal errors, silent successes on input broken by construction, hangs, exit codes,
the slowest case and the worker's peak memory.

    python scripts/mutation_corpus.py [--cases 400] [--seed 11] [--timeout 60] [--memory-mb 3000]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import resource
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sbrt_qa.cli.main import main  # noqa: E402
from sbrt_qa.synthetic.mutations import ABSURD, ATTRIBUTES, FILES, Mutation, apply, fresh_copy, small_plan  # noqa: E402


def corpus(n: int, seed: int) -> list[Mutation]:
    """``n`` mutations drawn with a fixed seed: a fifth of each kind."""
    rng = np.random.default_rng(seed)
    kinds = ("truncate", "bitflip", "delete", "repeat", "absurd")
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        file = FILES[int(rng.integers(len(FILES)))]
        attribute = str(rng.choice(ATTRIBUTES[file]))
        value = ABSURD[int(rng.integers(len(ABSURD)))][0]
        out.append(Mutation(file, kind, float(rng.uniform(0.0, 1.0)), int(rng.integers(8)), attribute, value))
    return out


class Hang(Exception):
    pass


def run_case(folder: Path, timeout: int) -> tuple[int, str, float]:
    out, err = io.StringIO(), io.StringIO()

    def alarm(signum, frame):
        raise Hang

    signal.signal(signal.SIGALRM, alarm)
    signal.alarm(timeout)
    start = time.monotonic()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["check", str(folder), "--format", "json"])
    except Hang:
        code = -1
    finally:
        signal.alarm(0)
    return code, out.getvalue() + "\n" + err.getvalue(), time.monotonic() - start


def main_script() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=400)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--timeout", type=int, default=60, help="seconds a case may take before it counts as a hang")
    parser.add_argument("--memory-mb", type=int, default=3000, help="address-space limit of this process")
    parser.add_argument("--json", metavar="FILE", help="write every case's outcome here")
    args = parser.parse_args()
    limit = args.memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        small_plan(base)
        code, text, seconds = run_case(base, args.timeout)
        print(f"base plan: exit {code} in {seconds:.2f} s")
        for k, m in enumerate(corpus(args.cases, args.seed)):
            files = fresh_copy(base, Path(tmp) / "case")
            changed = apply(m, files)
            code, text, seconds = run_case(Path(tmp) / "case", args.timeout)
            internal = "internal error" in text or code not in (0, 1, 2, -1)
            silent = m.must_fail and code == 0  # exit 0: the broken plan was judged acceptable
            rows.append({"case": k, "mutation": m.describe(), "changed": changed, "must_fail": m.must_fail, "exit": code,
                         "seconds": round(seconds, 3), "internal_error": internal, "silent_success": silent,
                         "hang": code == -1, "message": text.strip().splitlines()[-1][:300] if code == 2 else ""})
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    exits = Counter(r["exit"] for r in rows)
    slowest = max(rows, key=lambda r: r["seconds"])
    print(f"cases: {len(rows)} ({sum(r['changed'] for r in rows)} changed a file; {sum(r['must_fail'] for r in rows)} broken by construction)")
    print(f"exit codes: {dict(sorted(exits.items()))}")
    print(f"internal errors: {sum(r['internal_error'] for r in rows)}")
    print(f"silent successes on broken input: {sum(r['silent_success'] for r in rows)}")
    print(f"hangs (> {args.timeout} s): {sum(r['hang'] for r in rows)}")
    print(f"slowest case: {slowest['seconds']:.2f} s ({slowest['mutation']})")
    print(f"peak memory (max RSS of the worker, all cases): {peak_mb:.0f} MB under a {args.memory_mb} MB address-space limit")
    for r in rows:
        if r["internal_error"] or r["silent_success"] or r["hang"]:
            print(f"  case {r['case']}: {r['mutation']}: exit {r['exit']} {'INTERNAL ' if r['internal_error'] else ''}"
                  f"{'SILENT ' if r['silent_success'] else ''}{'HANG' if r['hang'] else ''} {r['message']}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 1 if any(r["internal_error"] or r["hang"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main_script())

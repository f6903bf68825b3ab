"""`python -m analysis report RESULTS_DIR... [--out DIR]`: the report of every run under the results roots;
`python -m analysis claims RESULTS_DIR... [--out DIR] [--file NAME]`: the paper's claims, each with a verdict,
and the figures behind them."""

from __future__ import annotations

import argparse
import gc
import logging
import shlex
import sys
from pathlib import Path

from analysis.claims_report import write_claims
from analysis.loading import NoRuns, load_results
from analysis.report import write_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, purpose, written in (("report", "write report.md with the paper's tables and figures", "report"),
                                ("claims", "write claims.md and claims.csv: each claim of the paper with a verdict", "claims")):
        command = commands.add_parser(name, help=purpose)
        command.add_argument("roots", nargs="+", type=Path, metavar="RESULTS_DIR", help="a run, a sweep, or a folder of them")
        command.add_argument("--out", type=Path, help=f"where to write the {written} (default: RESULTS_DIR/{written})")
        command.add_argument("--reference-score", action="append", default=[], metavar="GAME=SCORE",
                             help="Table 2's reference score for a game (default: the runs' stop_return where they all "
                                  "share one, else analysis/data/reference_scores.csv)")
        if name == "claims":
            command.add_argument("--file", default="claims.md", metavar="NAME",
                                 help="the report's file name in --out (default claims.md; e.g. README.md)")
    arguments = parser.parse_args(argv)
    logging.basicConfig(format="analysis: warning: %(message)s", level=logging.WARNING)
    try:
        given = dict(_reference_score(text) for text in arguments.reference_score)
        results = load_results(arguments.roots)
        out = arguments.out or arguments.roots[0] / arguments.command
        command = shlex.join(["python", "-m", "analysis", *(sys.argv[1:] if argv is None else argv)])
        if arguments.command == "report":
            path = write_report(results, out, command, given)
        else:
            path = write_claims(results, out, command, given, arguments.file)
    except (NoRuns, ValueError) as error:
        print(f"analysis: error: {error}", file=sys.stderr)
        return 2
    print(f"analysis: {len(results.runs)} runs, {len(results.skipped)} skipped; {arguments.command} written to {path}")
    return 0


def _reference_score(text: str) -> tuple[str, float]:
    game, _, score = text.partition("=")
    try:
        return game, float(score)
    except ValueError:
        raise ValueError(f"--reference-score {text!r}: expected GAME=SCORE, e.g. pong=0") from None


if __name__ == "__main__":
    code = main()
    gc.freeze()  # Python's teardown would walk every object torch and pandas made, for nothing (asyncbench/__main__.py)
    sys.exit(code)

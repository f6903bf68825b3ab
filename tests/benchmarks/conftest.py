"""Benchmarks print their figures in one table at the end of the session."""

FIGURES: list[dict] = []


def pytest_terminal_summary(terminalreporter):
    if not FIGURES:
        return
    terminalreporter.section("asyncbench figures")
    columns = list(dict.fromkeys(key for row in FIGURES for key in row))
    widths = {c: max(len(c), *(len(_text(row.get(c))) for row in FIGURES)) for c in columns}
    terminalreporter.write_line("  ".join(c.rjust(widths[c]) for c in columns))
    for row in FIGURES:
        terminalreporter.write_line("  ".join(_text(row.get(c)).rjust(widths[c]) for c in columns))


def _text(value):
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1 else f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return "" if value is None else str(value)

"""The demo's live view ends on a line of its own, its counters whole at 80 columns."""

import io

from rich.console import Console
from rich.live import Live

from pgwarden.demo.run import end_live, stats_line


def test_the_last_frame_ends_its_line_in_a_pipe():
    buf = io.StringIO()
    console = Console(file=buf, width=80, force_terminal=False, color_system=None)
    live = Live(console=console, transient=False)
    live.start()
    live.update(stats_line(120, 2400.0, 3, 0.011, 0.0))
    end_live(live)
    Console(file=buf, width=80).print("server: PostgreSQL 18")
    lines = buf.getvalue().splitlines()
    assert lines[-1] == "server: PostgreSQL 18"  # not glued to the frame's last line
    frame = "\n".join(lines[:-1])
    assert "model cycle p50 11 ms" in frame  # never split inside a counter
    assert "0 s left" in frame


def test_counters_flow_onto_more_lines_when_narrow():
    buf = io.StringIO()
    Console(file=buf, width=40, color_system=None).print(stats_line(5, 10.0, None, None, 12.0))
    text = buf.getvalue()
    assert "open alerts –" in text and "model cycle p50 –" in text and "12 s left" in text
    assert all(len(line) <= 40 for line in text.splitlines())

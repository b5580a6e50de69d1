"""The running service: procrastinate app and tasks, workers, HTTP API, dashboard."""

#: Jobs a worker runs at once by default (`pgwarden worker`, `run` and `demo`, `-c`).
#: A batch's job waits on the server for a good part of its time (round trips, the
#: model cycle's writes), and its Python holds the interpreter lock for the rest: with
#: two jobs both were often waiting at once (the worker at 80% of a core, the machine
#: at 65%). Three fill those gaps: 1.09-1.13x two for 500-record batches and
#: 1.02-1.07x for 5,000-record ones, interleaved on 2 cores; four gained no more and
#: varied more. Batches of one source still run in order (the source's job lock).
WORKER_CONCURRENCY = 3

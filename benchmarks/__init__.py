"""The course measures itself: training speed, evaluation speed, quality in nats, course runtime.

    .venv/bin/python -m benchmarks            # all four tables (docs/BENCHMARKS.md shows the latest)
    .venv/bin/python -m benchmarks --quick    # a smoke run at tiny sizes: every table, in a few minutes

Each table also runs alone: `python benchmarks/training_speed.py`, `evaluation_speed.py`,
`quality.py`, `course_runtime.py`.
"""

"""The notebooks here are fixtures of the browser tests, not lessons: nbval must not run them.

`make test` runs `pytest --nbval-lax notebooks tests`, and nbval collects every .ipynb under the paths it
is given; tests/test_browser_playground.py opens these notebooks in JupyterLab instead.
"""

collect_ignore_glob = ["*.ipynb"]

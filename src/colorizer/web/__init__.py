"""``colorize serve``: a local web page and HTTP API over the same library calls as the CLI.

Nothing here is imported by the rest of the package, and FastAPI is imported only by
the modules of :mod:`colorizer.web`, so the core install does not need the ``web`` extra. The page
(``static/``) is plain HTML, CSS and JavaScript and loads nothing from outside.
"""

"""The `sparkq` command line (Cyclopts). `app.py` registers commands lazily by import string."""

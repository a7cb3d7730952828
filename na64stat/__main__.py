"""Allow ``python -m na64stat``."""

from na64stat.app.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()

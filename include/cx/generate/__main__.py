"""``python -m cx.generate``: see :mod:`cx.generate.cli`."""

from cx.generate.cli import main

raise SystemExit(main())

"""Known accuracy bugs, left open in the issue tracker: strict xfails on exactly the failing cases.

Each is a real failing test: `strict=True` turns it into a failure as soon as the bug is fixed, so
the entry must then be removed. Nothing here loosens a bound.

Maps a test id (``test_accuracy[float64-celu-forward-3]``) to the reason. Empty: the float64
huge-g, celu-alpha and softplus-beta cases of issue 3 are fixed (exponent folding and carried
argument errors in _scalar.pxd).
"""

KNOWN = {}

"""The activation family as one table: every op's public functions, parameters to test, exact
reference maths, accuracy class, kinks and hard points. ``test_family.py`` runs every check over it.

Adding an op is adding one ``Op(...)`` entry to ``OPS``. The reference protocol:

- ``f``, ``df`` and ``dfy`` are *scalar formulas* ``(x, *params, M)``: the op, its derivative and
  (for ops with a backward from the output) the derivative as a function of ``y = f(x)``. They are
  written once with Python operators, ``if``, and the maths namespace ``M`` (``M.num``,
  ``M.sqrt``, ``M.exp``, ``M.expm1``, ``M.log1p``, ``M.tanh``, ``M.erf``, ``M.isinf``, ...), so
  the same text runs on several number kinds, chosen by the op's ``backend``:

  * ``"fraction"`` (the default): exact rationals, sqrt to >= 200 bits. Exact rounding, ties
    included, for the piecewise-rational ops; cheap enough to use for every dtype.
  * ``"decimal"`` (stdlib, 60 digits, exact conversion from binary floats; exp and ln) or
    ``"mpmath"`` (200 bits; erf, tanh, ...; needs mpmath, which is not a test dependency: guard
    such tests with ``pytest.importorskip("mpmath")``) for the transcendental ops' float64
    outputs. Their float16 and float32 outputs use ``FLOAT``, Python floats (binary64): a formula
    without cancellation is then within a few 2**-53 relative, ~1e-8 float32 ULP, far below
    every bound (a transcendental result is never a rounding tie).

  A formula sees finite values and ``+-inf`` (never NaN: the harness handles NaN first). Where a
  derivative is zero on a region or at a kink (a dead unit, a clipped side) it returns the int
  literal ``0``: the backward must then be a select (+0 whatever g holds). A zero it computes (a
  stationary point of a smooth piece, hardswish at -1.5) is a product: g * 0. Where it only tends
  to 0 (``x -> +-inf`` of a smooth function) it returns ``None``. In both of the latter a finite g
  must give 0, and g = +-inf or NaN is not specified.
- ``ulp`` gives the accuracy class per kind (``forward``, ``backward``, ``from_output``): 0 means
  bitwise equal to the obvious NumPy expression in ``numpy`` (same dtype; float16 computed in
  float32 and rounded once), N > 0 means at most N representable steps from the correctly rounded
  result in float32 and float64. float16 is always checked against the float32 path rounded once.

A transcendental op is one entry too, e.g. (float64 reference at 60 digits; f' from y exists)::

    SIGMOID = Op("sigmoid", f=lambda x, M: 1 / (1 + M.exp(-x)),
                 df=lambda x, M: None if M.isinf(x) else M.exp(-x) / (1 + M.exp(-x)) ** 2,
                 dfy=lambda y, M: None if y in (0, 1) else y * (1 - y),
                 ulp={"forward": 4, "backward": 4, "from_output": 4}, backend="decimal",
                 hard=lambda dt: [...], fo_keep=..., fo_steps=..., conventions=(...))

``python tests/_reference.py [-v]`` prints the measured max-ULP table (see ``ulp_table``).
"""

from __future__ import annotations

import decimal
import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

import numpy as np

import relukit
from _support import FLOAT_DTYPES, make_data, special_values

KINDS = ("forward", "backward", "from_output")


# ---- number kinds --------------------------------------------------------------------------------
def _no_overflow(fn):
    """math.exp and math.expm1 raise OverflowError where the value is +inf: return inf."""
    def wrapped(v):
        try:
            return fn(v)
        except OverflowError:
            return math.inf
    return staticmethod(wrapped)


class FLOAT:
    """Python floats: the reference for float16 and float32 outputs."""

    name = "float64"
    num = float
    sqrt = math.sqrt
    exp = _no_overflow(math.exp)
    expm1 = _no_overflow(math.expm1)
    log = math.log
    log1p = math.log1p
    tanh = math.tanh
    erf = math.erf
    erfc = math.erfc
    isinf = math.isinf

    @staticmethod
    def pair(v):
        return float(v), 0.0


class FRACTION:
    """Exact rationals (Fraction; +-inf stays a float): correct rounding of +-*/ results,
    ties included, for the piecewise-rational ops."""

    name = "fraction"

    @staticmethod
    def num(v):
        if isinstance(v, float) and not math.isfinite(v):
            return v
        return Fraction(v)

    @staticmethod
    def isinf(v):
        return isinstance(v, float) and math.isinf(v)

    @staticmethod
    def sqrt(v):
        """Exact for a square of a rational, else truncated to >= 200 bits (then irrational: no
        rounding tie is possible)."""
        if isinstance(v, float):
            return v
        v = Fraction(v)
        n = v.numerator * v.denominator         # sqrt(p/q) = sqrt(p q) / q
        k = max(0, (420 - n.bit_length()) // 2)
        return Fraction(math.isqrt(n << (2 * k)), v.denominator << k)

    @staticmethod
    def exp(v):
        raise NotImplementedError("transcendental maths needs backend='decimal' or 'mpmath'")

    expm1 = log = log1p = tanh = erf = erfc = exp

    @staticmethod
    def pair(v):
        if isinstance(v, float):
            return v, 0.0
        try:
            hi = float(v)                 # correctly rounded, ties to even
        except OverflowError:
            return (math.inf if v > 0 else -math.inf), 0.0
        if math.isinf(hi):
            return hi, 0.0
        return hi, float((v - Fraction(hi)) / Fraction(math.ulp(hi)))


_DEC = decimal.Context(prec=60, Emin=-10**7, Emax=10**7, traps=[])
PI = "3.14159265358979323846264338327950288419716939937510582097494459230781640628620899863"
_DEC_PI = decimal.Decimal(PI)


class DECIMAL:
    """Decimal at 60 digits (~200 bits); ``num`` converts a binary float exactly."""

    name = "decimal"
    num = decimal.Decimal

    @staticmethod
    def sqrt(d):
        return d.sqrt(_DEC)

    @staticmethod
    def exp(d):
        return d.exp(_DEC)

    @staticmethod
    def expm1(d):
        # exp(d) - 1 cancels for tiny d: sum the series there (|d| < 1e-10 needs 6 terms)
        if abs(d) < decimal.Decimal("1e-10"):
            return d + d * d / 2 + d ** 3 / 6 + d ** 4 / 24
        return d.exp(_DEC) - 1

    @staticmethod
    def log(d):
        return d.ln(_DEC)

    @staticmethod
    def log1p(d):
        return (1 + d).ln(_DEC) if abs(d) > decimal.Decimal("1e-10") else d - d * d / 2 + d ** 3 / 3

    @staticmethod
    def tanh(d):
        if d.is_infinite():
            return decimal.Decimal(1 if d > 0 else -1)
        e = DECIMAL.expm1(2 * d)
        return e / (e + 2)

    @staticmethod
    def erf(d):
        """The Maclaurin series, for |d| <= 3 only (terms up to e^9: 4 of the 60 digits lost);
        beyond, use backend='mpmath'. Used where a float32 reference needs more than binary64
        (next to a derivative's zero)."""
        if abs(d) > 3:
            raise NotImplementedError("erf beyond 3 needs backend='mpmath'")
        term, total, n, d2 = d, d, 0, d * d
        while abs(term) > decimal.Decimal("1e-70"):
            n += 1
            term = -term * d2 / n
            total += term / (2 * n + 1)
        return total * 2 / _DEC_PI.sqrt(_DEC)

    @staticmethod
    def erfc(d):
        return 1 - DECIMAL.erf(d)

    @staticmethod
    def isinf(d):
        return d.is_infinite()

    @staticmethod
    def pair(v):
        """(hi, r): hi = v correctly rounded to float64, r = (v - hi) / ulp(hi) in [-1/2, 1/2]."""
        if not isinstance(v, decimal.Decimal):
            v = decimal.Decimal(v)
        if v.is_nan():
            return math.nan, 0.0
        hi = float(v)                     # correctly rounded (Python's string conversion)
        if math.isinf(hi):
            return hi, 0.0
        return hi, float((v - decimal.Decimal(hi)) / decimal.Decimal(math.ulp(hi)))


class MPMATH:
    """mpmath at 200 bits in a private context, for ops whose maths Decimal lacks (erf, ...).
    Imported on first use: mpmath is not a test dependency (guard with importorskip)."""

    name = "mpmath"
    _table = None

    def __getattr__(self, attr):
        if MPMATH._table is None:
            import mpmath

            mp = mpmath.MPContext()
            mp.prec = 200

            def pair(v):
                hi = float(v)               # mpmath may truncate: corrected to nearest below
                if not mp.isfinite(v) or math.isinf(hi):
                    return hi, 0.0
                r = (v - mp.mpf(hi)) / mp.mpf(math.ulp(hi))
                while abs(r) > 0.5 or (abs(r) == 0.5 and int(hi / math.ulp(hi)) % 2):
                    nxt = math.nextafter(hi, math.inf if r > 0 else -math.inf)
                    if math.isinf(nxt):
                        return nxt, 0.0
                    hi = nxt
                    r = (v - mp.mpf(hi)) / mp.mpf(math.ulp(hi))
                return hi, float(r)

            MPMATH._table = {
                "num": mp.mpf, "sqrt": mp.sqrt, "exp": mp.exp, "expm1": mp.expm1, "log": mp.log,
                "log1p": mp.log1p, "tanh": mp.tanh, "erf": mp.erf, "erfc": mp.erfc,
                "isinf": mp.isinf, "pair": pair}
        return MPMATH._table[attr]


BACKENDS = {"fraction": FRACTION, "decimal": DECIMAL, "mpmath": MPMATH()}


# ---- NumPy expressions for the bitwise class -----------------------------------------------------
def _np(fn):
    """Run fn on the operands in the compute dtype (float16 -> float32) and round once."""
    def wrapped(*args):
        arrays = [np.asarray(a) for a in args]
        out_dt = arrays[0].dtype
        c = np.dtype(np.float32) if out_dt == np.float16 else out_dt
        with np.errstate(all="ignore"):
            r = fn(*[a.astype(c) for a in arrays])
            return np.asarray(np.asarray(r).astype(out_dt))
    return wrapped


def _select(mask, g, x):
    """g where mask, +0 elsewhere, NaN where x is NaN: the backward's select."""
    return np.where(np.isnan(x), x, np.where(mask, g, g.dtype.type(0)))


# ---- the table -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Op:
    name: str
    f: Callable                         # f(x, *p, M)
    df: Callable                        # f'(x, *p, M); 0 on select regions, None for limit zeros
    dfy: Callable | None = None         # f' as a function of y; None: no from_output
    params: tuple = ()                  # parameter names, in call order
    defaults: tuple | None = ()         # None: parameters are required (threshold)
    param_sets: tuple = ((),)           # values to test; param_sets[0] == defaults when any
    ulp: dict = field(default_factory=dict)     # kind -> steps from CR; 0 = bitwise vs `numpy`
    numpy: dict = field(default_factory=dict)   # kind -> obvious NumPy expression
    kinks: Callable = lambda *p: ()     # x where the derivative jumps (kink conventions)
    hard: Callable = lambda dt, *p: ()  # further hard inputs (overflow thresholds, saturation)
    fo_valid: Callable = lambda *p: True        # from_output allowed with these params
    fo_valid_in: Callable = lambda dtype, *p: True  # ... and with these params in this dtype
    # from_output vs from_input (test 4): mask of compared points (documented exclusions) and the
    # bound in steps (0 = bitwise)
    fo_keep: Callable = lambda x, y, *p: np.ones(np.shape(x), bool)
    fo_steps: int = 0
    # (x, params or None for the first set, f(x), f'(x)[, kinds]): f'(x) 0 = select, None = only
    # finite g; the optional kinds limit the gradient checks (e.g. ("backward",))
    conventions: tuple = ()
    invalid: tuple = ()                 # (kinds, params, parameter named in the message)
    nan_raises: tuple = ()              # parameters whose NaN is a ValueError; others follow `numpy`
    edges: tuple = ()                   # parameter sets at the edge of validity (accepted)
    backend: str = "fraction"         # exact maths for float64 (and float16/32 when "fraction")
    fd_sets: tuple | None = None        # parameter sets for the finite-difference test

    # -- the public functions
    @property
    def functions(self):
        out = {"forward": getattr(relukit, self.name),
               "backward": getattr(relukit, self.name + "_backward")}
        if self.dfy is not None:
            out["from_output"] = getattr(relukit, self.name + "_backward_from_output")
        return out

    @property
    def kinds(self):
        return KINDS if self.dfy is not None else KINDS[:2]

    def call(self, kind, data, params=None, **kwargs):
        """The public function of `kind` on data operands; params=None calls with defaults."""
        f = self.functions[kind]
        if params is None:
            params = self.param_sets[0]
            if self.defaults is not None:
                return f(*data, **kwargs)
        return f(*data, *params, **kwargs)

    def call_raw(self, kind, data, params):
        """The raw ufunc of `kind`, without the wrapper's checks: the float32 path of a float16
        call, whose parameters the wrapper may refuse for float32 outputs (softplus's threshold)."""
        f = self.functions[kind]
        return getattr(f, "ufunc", f)(*data, *params)

    def sets(self, kind, dtype=np.float64):
        """Parameter sets valid for `kind` (from_output may forbid some) and representable in
        dtype (a finite value that overflows float16 is skipped there)."""
        def fits(p):
            return all(np.isfinite(c) or not np.isfinite(v)
                       for c, v in zip(cast_params(p, dtype), p))
        return tuple(p for p in self.param_sets
                     if (kind != "from_output" or self.fo_ok(p, dtype)) and fits(p))

    def fo_ok(self, params, dtype=np.float64):
        """Whether from_output takes these parameters (scalars or arrays) for dtype's outputs."""
        p = [np.asarray(q, np.float64) for q in params]
        with np.errstate(invalid="ignore"):
            return bool(np.all(self.fo_valid(*p)) and np.all(self.fo_valid_in(np.dtype(dtype), *p)))

    def nonparam(self):
        return not self.params


def _neighbours(v, dtype, steps=(1, 2, 5)):
    """v and its 1, 2, 5-step neighbours in dtype."""
    v = dtype.type(v)
    out = [v]
    for direction in (np.inf, -np.inf):
        w = v
        done = 0
        for s in steps:
            while done < s:
                w = np.nextafter(w, dtype.type(direction))
                done += 1
            out.append(w)
    return out


def _in_range(values, dtype):
    fmax = float(np.finfo(dtype).max)
    return [float(v) for v in values if math.isnan(float(v)) or math.isinf(float(v))
            or abs(float(v)) <= fmax]


def _both_signs(*vals):
    return [s * v for v in vals for s in (1.0, -1.0)]


# relu, leaky_relu, relu6, hardtanh, threshold, hardshrink: bitwise class
_BITWISE = {"forward": 0, "backward": 0, "from_output": 0}

RELU = Op(
    "relu",
    f=lambda x, M: x if x > 0 else 0,
    df=lambda x, M: 1 if x > 0 else 0,
    dfy=lambda y, M: 1 if y > 0 else 0,
    ulp=_BITWISE,
    numpy={"forward": _np(lambda x: np.maximum(x, 0)),
           "backward": _np(lambda g, x: _select(x > 0, g, x)),
           "from_output": _np(lambda g, y: _select(y > 0, g, y))},
    kinks=lambda: (0.0,),
    conventions=((0.0, None, 0.0, 0), (-np.inf, None, 0.0, 0), (np.inf, None, np.inf, 1)),
)

LEAKY_RELU = Op(
    "leaky_relu",
    f=lambda x, s, M: x if x > 0 else s * x,
    # the backward is the product g * s (bitwise NumPy), so with s = 0 an infinite or NaN g gives
    # NaN, not the select's 0: None leaves that case to the bitwise check
    df=lambda x, s, M: 1 if x > 0 else (s if s != 0 else None),
    dfy=lambda y, s, M: 1 if y > 0 else (s if s != 0 else None),
    params=("negative_slope",),
    defaults=(0.01,),
    param_sets=((0.01,), (0.2,), (0.0,), (3.5,), (-0.5,)),
    ulp=_BITWISE,
    numpy={"forward": _np(lambda x, s: np.where(x > 0, x, x * s)),
           "backward": _np(lambda g, x, s: np.where(np.isnan(x), x, np.where(x > 0, g, g * s))),
           "from_output": _np(lambda g, y, s: np.where(np.isnan(y), y,
                                                       np.where(y > 0, g, g * s)))},
    kinks=lambda s: (0.0,),
    fo_valid=lambda s: s > 0,
    conventions=((0.0, (0.25,), 0.0, 0.25),),
    invalid=((("from_output",), (-0.1,), "negative_slope"),),
    edges=((0.0,), (-0.0,), (np.inf,), (-0.5,)),
)

RELU6 = Op(
    "relu6",
    f=lambda x, M: 0 if x <= 0 else (6 if x >= 6 else x),
    df=lambda x, M: 1 if 0 < x < 6 else 0,
    dfy=lambda y, M: 1 if 0 < y < 6 else 0,
    ulp=_BITWISE,
    numpy={"forward": _np(lambda x: np.minimum(np.maximum(x, 0), 6)),
           "backward": _np(lambda g, x: _select((x > 0) & (x < 6), g, x)),
           "from_output": _np(lambda g, y: _select((y > 0) & (y < 6), g, y))},
    kinks=lambda: (0.0, 6.0),
    conventions=((0.0, None, 0.0, 0), (6.0, None, 6.0, 0), (3.0, None, 3.0, 1),
                 (-np.inf, None, 0.0, 0), (np.inf, None, 6.0, 0)),
)

HARDTANH = Op(
    "hardtanh",
    f=lambda x, lo, hi, M: lo if x < lo else (hi if x > hi else x),
    df=lambda x, lo, hi, M: 1 if lo < x < hi else 0,
    dfy=lambda y, lo, hi, M: 1 if lo < y < hi else 0,
    params=("min_val", "max_val"),
    defaults=(-1.0, 1.0),
    param_sets=((-1.0, 1.0), (0.0, 6.0), (-0.3, 0.7), (-1.0, -0.0), (2.0, 2.0),
                (-np.inf, np.inf)),
    ulp=_BITWISE,
    # np.where, not np.clip: NumPy's clip treats a signed zero at a bound differently for array
    # and scalar bounds (np.clip(-0.0, np.zeros(1), 6) is +0.0, np.clip(-0.0, 0.0, 6) is -0.0);
    # relukit equals np.clip for scalar bounds (test_hardtanh_is_np_clip_for_scalar_bounds)
    numpy={"forward": _np(lambda x, lo, hi: np.where(x < lo, lo, np.where(x > hi, hi, x))),
           "backward": _np(lambda g, x, lo, hi: _select((x > lo) & (x < hi), g, x)),
           "from_output": _np(lambda g, y, lo, hi: _select((y > lo) & (y < hi), g, y))},
    kinks=lambda lo, hi: (lo, hi),
    conventions=((-1.0, None, -1.0, 0), (1.0, None, 1.0, 0), (0.5, None, 0.5, 1),
                 (-np.inf, None, -1.0, 0), (np.inf, None, 1.0, 0)),
    invalid=((KINDS, (1.0, -1.0), "min_val"), (KINDS, (np.nan, 1.0), "min_val"),
             (KINDS, (np.array([0.0, 2.0]), np.array([1.0, 1.0])), "min_val")),
    nan_raises=("min_val", "max_val"),
    edges=((2.0, 2.0), (-0.0, 0.0), (0.0, -0.0), (-np.inf, np.inf)),
)

THRESHOLD = Op(
    "threshold",
    f=lambda x, t, v, M: v if x <= t else x,
    df=lambda x, t, v, M: 1 if x > t else 0,
    dfy=lambda y, t, v, M: 1 if y > t else 0,
    params=("threshold", "value"),
    defaults=None,
    param_sets=((0.0, 0.0), (1.0, -5.0), (-1.0, 2.0), (0.3, 0.3), (-0.0, -20.0)),
    ulp=_BITWISE,
    # PyTorch's comparison, `x <= t ? v : x`: NaN in x passes through
    numpy={"forward": _np(lambda x, t, v: np.where(x <= t, v, x)),
           "backward": _np(lambda g, x, t, v: _select(x > t, g, x)),
           "from_output": _np(lambda g, y, t, v: _select(y > t, g, y))},
    kinks=lambda t, v: (t,),
    fo_valid=lambda t, v: v <= t,
    conventions=((1.0, (1.0, -5.0), -5.0, 0), (1.5, (1.0, -5.0), 1.5, 1),
                 (-np.inf, (1.0, -5.0), -5.0, 0), (np.inf, (1.0, -5.0), np.inf, 1)),
    # a NaN threshold: x <= t ? v : x and x > t ? x : v disagree, so it is refused
    invalid=((("forward", "backward"), (np.nan, -1.0), "threshold"),
             (("forward", "backward"), (np.array([0.0, np.nan]), -1.0), "threshold"),
             (("from_output",), (0.0, 1.0), "value"),
             (("from_output",), (np.nan, 0.0), "value"),
             (("from_output",), (np.array([0.0, 1.0]), np.array([0.0, 1.5])), "value")),
    nan_raises=("threshold",),
    edges=((1.0, 1.0), (1.0, 5.0), (np.inf, 0.0), (0.0, -np.inf)),
)

HARDSHRINK = Op(
    "hardshrink",
    f=lambda x, lam, M: 0 if -lam <= x <= lam else x,
    df=lambda x, lam, M: 0 if -lam <= x <= lam else 1,
    dfy=lambda y, lam, M: 0 if -lam <= y <= lam else 1,
    params=("lambd",),
    defaults=(0.5,),
    param_sets=((0.5,), (0.0,), (1.25,), (0.3,), (-1.0,)),
    ulp=_BITWISE,
    numpy={"forward": _np(lambda x, lam: np.where((x >= -lam) & (x <= lam), x.dtype.type(0), x)),
           "backward": _np(lambda g, x, lam: _select(~((x >= -lam) & (x <= lam)), g, x)),
           "from_output": _np(lambda g, y, lam: _select(~((y >= -lam) & (y <= lam)), g, y))},
    kinks=lambda lam: (-lam, lam),
    fo_valid=lambda lam: lam >= 0,
    conventions=((0.5, None, 0.0, 0), (-0.5, None, 0.0, 0), (0.75, None, 0.75, 1),
                 (-np.inf, None, -np.inf, 1), (np.inf, None, np.inf, 1)),
    invalid=((("forward", "backward", "from_output"), (np.nan,), "lambd"),
             (("forward", "backward"), (np.array([0.5, np.nan]),), "lambd"),
             (("from_output",), (-0.5,), "lambd"),
             (("from_output",), (np.array([0.5, -1e-30]),), "lambd")),
    nan_raises=("lambd",),
    edges=((0.0,), (-0.0,), (np.inf,), (-1.0,)),
)

SOFTSHRINK = Op(
    "softshrink",
    f=lambda x, lam, M: x - lam if x > lam else (x + lam if x < -lam else 0),
    df=lambda x, lam, M: 1 if (x > lam or x < -lam) else 0,
    dfy=lambda y, lam, M: 0 if y == 0 else 1,
    params=("lambd",),
    defaults=(0.5,),
    param_sets=((0.5,), (0.0,), (1.25,), (0.3,), (1e-30,)),
    # x -/+ lambd is one rounding: within the 1-ULP class (SPEC); the gradients are selects
    ulp={"forward": 1, "backward": 0, "from_output": 0},
    numpy={"backward": _np(lambda g, x, lam: _select((x > lam) | (x < -lam), g, x)),
           "from_output": _np(lambda g, y, lam: _select(y != 0, g, y))},
    kinks=lambda lam: (-lam, lam),
    hard=lambda dt, lam: [lam * 2, lam * 1.5, -lam * 3, 1e30, -1e30],
    conventions=((0.5, None, 0.0, 0), (-0.5, None, 0.0, 0), (0.75, None, 0.25, 1),
                 (-np.inf, None, -np.inf, 1), (np.inf, None, np.inf, 1)),
    invalid=((KINDS, (-0.5,), "lambd"), (KINDS, (np.nan,), "lambd"),
             (KINDS, (np.array([0.5, -1.0]),), "lambd")),
    nan_raises=("lambd",),
    edges=((0.0,), (-0.0,), (np.inf,)),
)

HARDSIGMOID = Op(
    "hardsigmoid",
    f=lambda x, M: 0 if x <= -3 else (1 if x >= 3 else (x + 3) / 6),
    df=lambda x, M: M.num(1) / 6 if -3 < x < 3 else 0,
    dfy=lambda y, M: M.num(1) / 6 if 0 < y < 1 else 0,
    # the gradient and from_output are g RN(1/6), one rounding of a product 2^-54 off g / 6; the
    # forward two roundings (x + 3, then / 6)
    ulp={"forward": 1, "backward": 1, "from_output": 1},
    kinks=lambda: (-3.0, 3.0),
    hard=lambda dt: [0.0, 1e-8, -1e-8, 2.9999, -2.9999, 1.5, -1.5, 1e30, -1e30],
    # y = (x + 3) / 6 rounds to exactly 1 for the last floats below 3 (and could round to 0 just
    # above -3): from y those are saturated, so the from-output gradient is 0 there
    fo_keep=lambda x, y: ~(((x < 3) & (y == 1)) | ((x > -3) & (y == 0))),
    conventions=((-3.0, (), 0.0, 0), (3.0, (), 1.0, 0), (0.0, (), 0.5, Fraction(1, 6)),
                 (-np.inf, (), 0.0, 0), (np.inf, (), 1.0, 0)),
)

HARDSWISH = Op(
    "hardswish",
    f=lambda x, M: 0 if x <= -3 else (x if x >= 3 else x * (x + 3) / 6),
    df=lambda x, M: 0 if x <= -3 else (1 if x >= 3 else (2 * x + 3) / 6),
    ulp={"forward": 1, "backward": 1},
    kinks=lambda: (-3.0, 3.0),
    hard=lambda dt: [-1.5, *_neighbours(-1.5, dt)[1:], 1e-8, -1e-8, 3e38, 1e30, 1.7e308,
                     *_both_signs(float(np.finfo(dt).max))],
    conventions=((-3.0, (), 0.0, 0), (3.0, (), 3.0, 1), (-1.5, (), -0.375, None),
                 (-np.inf, (), 0.0, 0), (np.inf, (), np.inf, 1), (3e38, (), 3e38, 1),
                 (-2.0, (), Fraction(-1, 3), Fraction(-1, 6)),
                 # 2x + 3 = 6 (1/2) exactly: an infinite g times the zero remainder must not show
                 (0.0, (), 0.0, Fraction(1, 2))),
)

SPARSE_PLUS = Op(
    "sparse_plus",
    f=lambda x, M: 0 if x <= -1 else (x if x >= 1 else (x + 1) * (x + 1) / 4),
    df=lambda x, M: 0 if x <= -1 else (1 if x >= 1 else (x + 1) / 2),
    dfy=lambda y, M: 0 if y <= 0 else (1 if y >= 1 else M.sqrt(y)),
    ulp={"forward": 1, "backward": 1, "from_output": 1},
    kinks=lambda: (-1.0, 1.0),
    hard=lambda dt: [0.0, 0.5, -0.5, 1e-300, -0.999, 0.999, 1e30, -1e30],
    # Bound, counting roundings (u = unit roundoff; a relative error e is < e/u steps): from x,
    # (x + 1) / 2 and g * that: 2u. From y, sqrt(y) and g * that: 2u, plus y's own error (x + 1,
    # squared, product: 3u) halved by sqrt (condition number 1/2): 1.5u. In all < 6 steps.
    fo_steps=6,
    conventions=((-1.0, (), 0.0, 0), (1.0, (), 1.0, 1), (0.0, (), 0.25, 0.5),
                 (-0.5, (), 0.0625, 0.25),
                 (-np.inf, (), 0.0, 0), (np.inf, (), np.inf, 1)),
)


def _softsign(x, M):
    if M.isinf(x):
        return 1 if x > 0 else -1
    return x / (1 + abs(x))


SOFTSIGN = Op(
    "softsign",
    f=_softsign,
    df=lambda x, M: None if M.isinf(x) else M.num(1) / ((1 + abs(x)) * (1 + abs(x))),
    dfy=lambda y, M: None if abs(y) == 1 else (1 - abs(y)) * (1 - abs(y)),
    ulp={"forward": 4, "backward": 4, "from_output": 4},
    kinks=lambda: (0.0,),
    hard=lambda dt: _both_signs(0.5, 1.0, 3.0, 2.0**24, 1e15, 2.0**53, 1e30, 3e38, 1e154, 1e160,
                                1e200, 1e300, float(np.finfo(dt).max)),
    # From y the derivative is (1 - |y|)**2, and 1 - |y| = 1/(1 + |x|) has condition number |x|
    # in y: y's rounding (<= u relative) becomes <= 2|x|u in the square. Compared for |x| <= 1,
    # where that is <= 2u; beyond, the from-output gradient loses log2|x| bits (inherent to the
    # formula) and is 0 where |y| rounds to 1. Counting roundings (a relative error e is < e/u
    # steps): from x, 1 + |x|, 1/(.), the square, g *: 5u; from y, 1 - |y|, the square, g *: 4u;
    # with the 2u above, < 11 steps (the float32 path, computed in double, is far below).
    fo_keep=lambda x, y: np.abs(x) <= 1,
    fo_steps=11,
    conventions=((0.0, (), 0.0, 1), (1.0, (), 0.5, 0.25), (-3.0, (), -0.75, 1 / 16),
                 (np.inf, (), 1.0, None), (-np.inf, (), -1.0, None), (1e300, (), 1.0, None)),
)


def _squareplus(x, b, M):
    if M.isinf(x):
        return x if x > 0 else 0
    s = M.sqrt(x * x + b)
    return (x + s) / 2 if x >= 0 else b / (2 * (s - x))


def _squareplus_d(x, b, M):
    if M.isinf(x):
        return 1 if x > 0 else None
    s = M.sqrt(x * x + b)
    return (1 + x / s) / 2 if x >= 0 else b / (2 * s * (s - x))


def _squareplus_dy(y, b, M):
    if M.isinf(y):
        return 1
    if y == 0:
        return None
    q = 4 * y * y
    return q / (q + b)


def _squareplus_hard(dt, b):
    """Where x*x overflows (|x| ~ 1.3e154 in float64, 1.8e19 in float32), where x + s or s - x
    overflows (|x| ~ max/2), where the result or gradient underflows, and around sqrt(b)."""
    if np.dtype(dt) == np.float64:
        big = [1e150, 3.273390607896142e150, 1e154, 1.34e154, 1e160, 1e200, 1e300, 4.49e307,
               4.5e307, 8.98e307, 9e307, 1e308, 1.7976931348623157e308]
    else:
        big = [1e18, 1.152921504606847e18, 1.2e18, 1e19, 1.8e19, 1.85e19, 1e20, 1e30, 3e38,
               3.4028234663852886e38]
    r = math.sqrt(b)
    small = _both_signs(1e-10, 1e-20, 0.5, 2.0, 10.0, r / 2, r, 2 * r, 1e3 * r)
    return [*_both_signs(*big), *small, 0.0]


SQUAREPLUS = Op(
    "squareplus",
    f=_squareplus,
    df=_squareplus_d,
    dfy=_squareplus_dy,
    params=("b",),
    defaults=(4.0,),
    param_sets=((4.0,), (1.0,), (0.3,), (100.0,), (1e-6,), (1e36,), (1e300,)),
    ulp={"forward": 4, "backward": 4, "from_output": 4},
    kinks=lambda b: (0.0,),
    hard=_squareplus_hard,
    # From y the derivative is 4y^2/(4y^2 + b), condition number 2b/(4y^2 + b) <= 2 in y.
    # Counting roundings (a relative error e is < e/u steps): y itself, (x + s)/2 or
    # b/(2(s - x)) with s = sqrt(x^2 + b), carries <= 4u, doubled by the condition number: 8u;
    # from x, b/(s - x)/(2s) (or (1 + x/s)/2) and g *: <= 8u; from y, q = 4y^2, q/(q + b) and
    # g *: <= 5u. In all < 21 steps. A subnormal y (x -> -inf) has lost its relative precision:
    # excluded.
    fo_keep=lambda x, y, b: np.abs(y) >= np.finfo(y.dtype).smallest_normal,
    fo_steps=21,
    conventions=((0.0, (4.0,), 1.0, 0.5), (0.0, (16.0,), 2.0, 0.5),
                 (-3.0, (16.0,), 1.0, Fraction(1, 5)),
                 (-np.inf, (4.0,), 0.0, None), (np.inf, (4.0,), np.inf, 1)),
    invalid=((KINDS, (0.0,), "b"), (KINDS, (-1.0,), "b"), (KINDS, (-0.0,), "b"),
             (KINDS, (np.nan,), "b"), (KINDS, (np.array([4.0, 0.0]),), "b"),
             (KINDS, (np.inf,), "b"), (KINDS, (np.array([4.0, np.inf]),), "b")),
    nan_raises=("b",),
    edges=((1e-300,), (5e-324,), (1e300,)),
    fd_sets=((4.0,), (1.0,), (100.0,)),
)

# ==== transcendental ops ==========================================================================
# Reference maths: mpmath (200 bits) for float64 outputs, Python floats (binary64) for float16 and
# float32 ones, so every formula below is written without overflow (sigmoid from e^-|z|, softplus
# as max(z, 0) + log1p(e^-|z|)) and without cancellation; the exceptions are x - tanh x near 0
# (Lambert's continued fraction, every term positive) and the derivatives of silu, mish and the
# two gelus next to their zero, where binary64 would cancel: there a float32 reference is computed
# in Decimal at 60 digits (_in_decimal) instead.
_TRANSCENDENTAL = {"forward": 4, "backward": 4, "from_output": 4}

SELU_SCALE = "1.0507009873554804934193349852946"
SELU_ALPHA = "1.6732632423543772848170429916717"
GELU_TANH_A = "0.044715"        # PyTorch's constant, exactly as a decimal

# zeros of the derivatives (mpmath findroot at 50 digits, rounded; t = beta x for silu)
SILU_ROOT = -1.2784645427610737      # -1.278464542761073795109359...
MISH_ROOT = -1.1924312145154952      # -1.192431214515495212137588...
GELU_ROOT = -0.7517915246935645      # -0.751791524693564457457905...
GELU_TANH_ROOT = -0.7524614220710163  # -0.752461422071016258487954...


def _in_decimal(fn, *args):
    """fn(*args, DECIMAL) at 60 digits, rounded to a Python float."""
    with decimal.localcontext(_DEC):
        return float(fn(*[decimal.Decimal(a) for a in args], DECIMAL))


def _near(M, t, root):
    """A binary64 reference next to a derivative's zero: there the two O(1) terms cancel to
    |t - root| and binary64's few 2**-53 would be up to 2**-20 relative on the float32 grid."""
    return M is FLOAT and abs(t - root) < 1e-3


def _sig(z, M):
    """sigmoid(z) from e = e^-|z| <= 1: nothing overflows, nothing cancels."""
    e = M.exp(-abs(z))
    return (1 if z >= 0 else e) / (1 + e)


def _sp(z, M):
    """softplus(z) = max(z, 0) + log1p(e^-|z|)."""
    return (z if z > 0 else 0) + M.log1p(M.exp(-abs(z)))


def _tanhshrink(x, M):
    if M.isinf(x):
        return x
    if abs(x) < 1:
        # Lambert: tanh x = x / (1 + q), q = x^2 / (3 + x^2 / (5 + ...)), so x - tanh x =
        # x q / (1 + q); 30 levels are exact far beyond 200 bits on |x| < 1
        x2, q = x * x, 0
        for k in range(30, 0, -1):
            q = x2 / (2 * k + 1 + q)
        return x * q / (1 + q)
    return x - M.tanh(x)


def _sech2(x, M):
    """sech(x)^2 = 4t / (1 + t)^2 with t = e^-2|x| (no 1 - tanh^2 cancellation)."""
    t = M.exp(-2 * abs(x))
    return 4 * t / ((1 + t) * (1 + t))


def _elu_d(x, a, M):
    if x > 0:
        return 1
    return None if M.isinf(x) else a * M.exp(x)


def _selu(x, M):
    lam, alpha = M.num(SELU_SCALE), M.num(SELU_ALPHA)
    return lam * x if x > 0 else lam * alpha * M.expm1(x)


def _selu_d(x, M):
    lam, alpha = M.num(SELU_SCALE), M.num(SELU_ALPHA)
    if x > 0:
        return lam
    return None if M.isinf(x) else lam * alpha * M.exp(x)


def _selu_dy(y, M):
    lam, alpha = M.num(SELU_SCALE), M.num(SELU_ALPHA)
    if y > 0:
        return lam
    d = y + lam * alpha
    return None if d == 0 else d


def _celu_d(x, a, M):
    if x > 0:
        return 1
    if M.isinf(x) and x / a < 0:
        return None
    return M.exp(x / a)


def _softplus_linear(v, b, t):
    """The threshold test as computed: on the product beta * v rounded (PyTorch's semantics). The
    rounding only matters in float64 (a float32 product is exact in binary64, and on the two sides
    of the threshold the values differ by far less than a float32 ULP)."""
    return float(v) * float(b) > float(t)


def _softplus(x, b, t, M):
    if _softplus_linear(x, b, t):
        return x
    return _sp(b * x, M) / b


def _softplus_d(x, b, t, M):
    if _softplus_linear(x, b, t):
        return 1
    return None if M.isinf(x) and b * x < 0 else _sig(b * x, M)


def _softplus_dy(y, b, t, M):
    if _softplus_linear(y, b, t):
        return 1
    return None if y == 0 else -M.expm1(-b * y)


def _silu_d(x, b, M):
    if M.isinf(x):
        return 1 if x > 0 else None
    if _near(M, float(x) * float(b), SILU_ROOT):
        return _in_decimal(_silu_d, x, b)
    s, sm = _sig(b * x, M), _sig(-b * x, M)
    return s + (0 if s == 0 or sm == 0 else b * x * s * sm)


def _mish(x, M):
    return 0 if M.isinf(x) and x < 0 else x * M.tanh(_sp(x, M))


def _mish_d(x, M):
    if M.isinf(x):
        return 1 if x > 0 else None
    if _near(M, x, MISH_ROOT):
        return _in_decimal(_mish_d, x)
    sp = _sp(x, M)
    sech2 = _sech2(sp, M)
    return M.tanh(sp) + (0 if sech2 == 0 else x * _sig(x, M) * sech2)


def _gelu(x, M):
    if M.isinf(x) or x < -1e4:          # beyond -1e4, |x Phi(x)| < 1e-10**7: rounds to -0
        return x if x > 0 else 0
    return x * M.erfc(-x / M.sqrt(M.num(2))) / 2


def _gelu_d(x, M):
    if M.isinf(x) or x < -1e4:          # |g f'| < 1.8e308 * 1e4 e^-5e7: 0 for every finite g
        return 1 if x > 0 else None
    if _near(M, x, GELU_ROOT):
        return _in_decimal(_gelu_d, x)
    pdf = M.exp(-x * x / 2) / M.sqrt(2 * M.num(PI))
    return M.erfc(-x / M.sqrt(M.num(2))) / 2 + x * pdf


def _gelu_tanh_u2(x, M):
    """2u = 2 sqrt(2/pi) (x + 0.044715 x^3): 0.5 x (1 + tanh u) = x sigmoid(2u), no cancellation."""
    return 2 * M.sqrt(2 / M.num(PI)) * (x + M.num(GELU_TANH_A) * x * x * x)


def _gelu_tanh(x, M):
    if M.isinf(x):
        return x if x > 0 else 0
    return x * _sig(_gelu_tanh_u2(x, M), M)


def _gelu_tanh_d(x, M):
    if M.isinf(x):
        return 1 if x > 0 else None
    if _near(M, x, GELU_TANH_ROOT):
        return _in_decimal(_gelu_tanh_d, x)
    u2 = _gelu_tanh_u2(x, M)
    du2 = 2 * M.sqrt(2 / M.num(PI)) * (1 + 3 * M.num(GELU_TANH_A) * x * x)
    s, sm = _sig(u2, M), _sig(-u2, M)
    return s + (0 if s == 0 or sm == 0 else x * s * sm * du2)


def _around(dt, *vals):
    """Each value and its 1, 2, 5-step neighbours in dt, both signs."""
    out = []
    for v in vals:
        if abs(v) <= float(np.finfo(dt).max):
            out += [float(w) for w in _neighbours(v, np.dtype(dt))]
            out += [-float(w) for w in _neighbours(v, np.dtype(dt))]
    return out


def _transcendental_hard(dt, scale=1.0):
    """Where the helpers switch method, saturate, overflow or underflow, in x = t / scale."""
    if np.dtype(dt) == np.float64:
        # e^t: last normal, overflow, last subnormal; tanh == 1, sigmoid == 1 from here on; the
        # clamps (750, 760: silu's x e^x is still subnormal past 746 and 750)
        edges = [708.3964185322641, 709.782712893384, 745.1332191019411, 19.061547465398498,
                 36.7368005696771, 37.42994775023705, 710.0, 746.0, 750.0, 760.0]
    else:
        edges = [87.33654, 88.72284, 103.97208, 9.010913, 16.635532, 17.32868, 89.0, 104.0,
                 112.0]
    smooth = [0.5, 0.55, 1.0, 2.0, 4.0, 9.0, 17.0, 19.0, 20.0, 37.0, 40.0, 44.0, 355.0, 800.0]
    tiny = [1e-4, 1e-8, 1e-10, 1e-20, 1e-30, 1e-40, 1e-100, 1e-200, 1e-300, 1e-310]
    big = [1e3, 1e4, 1e10, 1e15, 1e20, 1e30, 3e38, 1e100, 1e154, 1e200, 1e300]
    vals = _around(dt, *[e / scale for e in edges])
    vals += _both_signs(*[v / scale for v in smooth], *tiny, *big)
    return vals


def _root_hard(dt, root):
    """The float next to a derivative's zero and its 1, 2, 5-step neighbours (one sign)."""
    return [float(w) for w in _neighbours(root, np.dtype(dt))]


def _gelu_hard(dt):
    """gelu's erfc pieces (z = -x / sqrt2 at 0.5, 1, 1.25, 1.5, 2, 2.25, 3, 3.5, 4), where
    x Phi(x) leaves the normal range and underflows (float32 -13.2 and -14.2, float64 -37.5 and
    -38.6), the edges of float64's lean form (|x| = 16) and of the root windows (float64
    x = -1.75 and 0.008, float32 t0 -+ 1/16), the derivative's zero."""
    r2 = math.sqrt(2)
    if np.dtype(dt) == np.float64:
        tail = [16.0, 0.0082084753, 1.7517915247, 37.5, 37.6, 38.0, 38.4, 38.5, 38.6, 38.7, 40.0]
    else:
        tail = [13.2, 13.5, 14.0, 14.1, 14.2, 14.3, 14.5, 15.0, 0.6892915247, 0.8142915247]
    pieces = [a * r2 for a in (0.5, 1.0, 1.25, 1.5, 2.0, 2.25, 3.0, 3.5, 4.0)]
    return [*_transcendental_hard(dt), *_around(dt, *pieces, *tail), *_root_hard(dt, GELU_ROOT)]


def _exclude_subnormal(y):
    return np.abs(y) >= np.finfo(y.dtype).smallest_normal


# From-output vs from-input (test 4) for the transcendental ops. The from-input gradient is within
# 4 steps of the exact g f'(x) (SPEC). The from-output one is computed from y, itself within 4 ULP
# of f(x), i.e. within 8u relative (u the unit roundoff: an ULP is at most 2u relative); the
# formula in y multiplies a relative error of y by its condition number c = |y d/dy log f'(y)|,
# and each of its further roundings adds at most u. A relative error e is < e/u steps. So the
# bound is 4 + 8c + (roundings in y's formula) over a region where c <= 1, stated per op; outside
# it the rounding of y itself has removed what the gradient needs (the region is excluded, never
# given a wider tolerance).

SIGMOID = Op(
    "sigmoid",
    f=_sig,
    df=lambda x, M: None if M.isinf(x) else _sig(x, M) * _sig(-x, M),
    dfy=lambda y, M: None if y == 0 or y == 1 else y * (1 - y),
    ulp=_TRANSCENDENTAL,
    hard=lambda dt: _transcendental_hard(dt),
    # y (1 - y) has c = |1 - 2y| / (1 - y): <= 1 for y <= 1/2 (x <= 0), unbounded as y -> 1,
    # where 1 - y ~ e^-x is what y has lost to its rounding (y == 1 from x = 16.6 / 36.7 on, the
    # true derivative e^-x still far from 0). A subnormal y has lost its relative precision.
    # Roundings: 1 - y, the product, g *: 4 + 8 + 3 = 15 steps.
    fo_keep=lambda x, y: (y <= 0.5) & _exclude_subnormal(y),
    fo_steps=15,
    conventions=((0.0, (), 0.5, Fraction(1, 4)), (np.inf, (), 1.0, None),
                 (-np.inf, (), 0.0, None)),
    backend="mpmath",
)

TANH = Op(
    "tanh",
    f=lambda x, M: M.tanh(x),
    df=lambda x, M: None if M.isinf(x) else _sech2(x, M),
    dfy=lambda y, M: None if abs(y) == 1 else (1 - y) * (1 + y),
    ulp=_TRANSCENDENTAL,
    hard=lambda dt: _transcendental_hard(dt),
    # (1 - y)(1 + y) has c = 2y^2 / (1 - y^2): <= 2/3 for |y| <= 1/2, unbounded as |y| -> 1
    # (|y| == 1 from |x| = 9.01 / 19.06 on). Roundings: 1 - y, 1 + y, product, g *:
    # 4 + 8 * 2/3 + 4 < 14 steps.
    fo_keep=lambda x, y: np.abs(y) <= 0.5,
    fo_steps=14,
    conventions=((0.0, (), 0.0, 1), (np.inf, (), 1.0, None), (-np.inf, (), -1.0, None)),
    backend="mpmath",
)

TANHSHRINK = Op(
    "tanhshrink",
    f=_tanhshrink,
    df=lambda x, M: M.tanh(x) ** 2,
    ulp={"forward": 4, "backward": 4},
    # and a sweep over (0.05, 2.5), where the forms switch (0.55, 2) and tanh^2 doubles tanh's error
    hard=lambda dt: [*_transcendental_hard(dt), *_both_signs(0.9, 0.99, 1.01, 1.5, 1.99, 2.01),
                     *_both_signs(*np.geomspace(0.05, 2.5, 250))],
    # tanh^2 is 0 at 0 by a product (g * 0): an infinite g there is unspecified
    conventions=((0.0, (), 0.0, None), (np.inf, (), np.inf, 1), (-np.inf, (), -np.inf, 1),
                 (1e30, (), 1e30, 1)),
    backend="mpmath",
)

ELU = Op(
    "elu",
    f=lambda x, a, M: x if x > 0 else a * M.expm1(x),
    df=_elu_d,
    dfy=lambda y, a, M: 1 if y > 0 else (None if y + a == 0 else y + a),
    params=("alpha",),
    defaults=(1.0,),
    param_sets=((1.0,), (0.3,), (2.5,), (0.0,), (-0.5,)),
    ulp=_TRANSCENDENTAL,
    # only for the NaN-parameter test (NaN where alpha enters); accuracy is against the exact maths
    numpy={"forward": _np(lambda x, a: np.where(x > 0, x, a * np.expm1(x))),
           "backward": _np(lambda g, x, a: np.where(np.isnan(x), x,
                                                    np.where(x > 0, g, g * (a * np.exp(x))))),
           "from_output": _np(lambda g, y, a: np.where(np.isnan(y), y,
                                                       np.where(y > 0, g, g * (y + a))))},
    kinks=lambda a: (0.0,),
    hard=lambda dt, a: _transcendental_hard(dt),
    fo_valid=lambda a: a >= 0,
    # y + alpha = alpha e^x has c = |y| / (y + alpha) = e^-x - 1: <= 1 where y >= -alpha/2,
    # unbounded as y -> -alpha (x -> -inf), where y rounds toward -alpha. Above 0 both are g.
    # Roundings: y + alpha, g *: 4 + 8 + 2 = 14 steps.
    fo_keep=lambda x, y, a: (y > 0) | (y >= -a / 2),
    fo_steps=14,
    conventions=((0.0, None, 0.0, 1), (0.0, (0.25,), 0.0, 0.25), (-np.inf, None, -1.0, None),
                 (np.inf, None, np.inf, 1), (-np.inf, (2.5,), -2.5, None)),
    invalid=((("from_output",), (-0.5,), "alpha"),
             (("from_output",), (np.array([1.0, -1e-30]),), "alpha")),
    edges=((0.0,), (-0.0,), (1e-30,), (1e30,)),
    backend="mpmath",
    fd_sets=((1.0,), (0.3,), (2.5,)),
)

_SELU_LA = Fraction(SELU_SCALE) * Fraction(SELU_ALPHA)

SELU = Op(
    "selu",
    f=_selu,
    df=_selu_d,
    dfy=_selu_dy,
    ulp=_TRANSCENDENTAL,
    kinks=lambda: (0.0,),
    hard=lambda dt: _transcendental_hard(dt),
    # as elu with alpha = scale * alpha: c <= 1 where y >= -scale alpha / 2. Roundings: the
    # constant scale * alpha, y + it, g *: 4 + 8 + 3 = 15 steps. Above 0 both are g * scale.
    fo_keep=lambda x, y: (y > 0) | (y >= -0.5 * float(_SELU_LA)),
    fo_steps=15,
    # at -inf only from x: from y = selu(-inf), rounded, the exact y + scale alpha is not 0 (in
    # float16 it is 2.9e-4: the float16 rounding of y; float64's is reported in the accuracy test)
    conventions=((0.0, (), 0.0, _SELU_LA), (-np.inf, (), -_SELU_LA, None, ("backward",)),
                 (np.inf, (), np.inf, Fraction(SELU_SCALE)),
                 (1.0, (), Fraction(SELU_SCALE), Fraction(SELU_SCALE))),
    backend="mpmath",
)

CELU = Op(
    "celu",
    f=lambda x, a, M: x if x > 0 else a * M.expm1(x / a),
    df=_celu_d,
    dfy=lambda y, a, M: 1 if y > 0 else (None if y / a + 1 == 0 else y / a + 1),
    params=("alpha",),
    defaults=(1.0,),
    param_sets=((1.0,), (0.5,), (3.0,), (-1.5,)),
    ulp=_TRANSCENDENTAL,
    numpy={"forward": _np(lambda x, a: np.where(x > 0, x, a * np.expm1(x / a))),
           "backward": _np(lambda g, x, a: np.where(np.isnan(x), x,
                                                    np.where(x > 0, g, g * np.exp(x / a)))),
           "from_output": _np(lambda g, y, a: np.where(np.isnan(y), y,
                                                       np.where(y > 0, g, g * (y / a + 1))))},
    kinks=lambda a: (0.0,),
    hard=lambda dt, a: [*_transcendental_hard(dt), *_transcendental_hard(dt, 1 / abs(a))],
    fo_valid=lambda a: a > 0,
    # y / alpha + 1 = e^(x / alpha): c = |y| / (y + alpha) <= 1 where y >= -alpha/2. Roundings:
    # y / alpha, + 1, g *: 4 + 8 + 3 = 15 steps.
    fo_keep=lambda x, y, a: (y > 0) | (y >= -a / 2),
    fo_steps=15,
    conventions=((0.0, None, 0.0, 1), (-np.inf, None, -1.0, None), (np.inf, None, np.inf, 1),
                 (-np.inf, (3.0,), -3.0, None)),
    invalid=((KINDS, (0.0,), "alpha"), (KINDS, (-0.0,), "alpha"),
             (KINDS, (np.array([1.0, 0.0]),), "alpha"),
             (("from_output",), (-1.5,), "alpha"), (("from_output",), (np.nan,), "alpha")),
    edges=((1e-30,), (-1e-30,), (1e30,), (-1.0,)),
    backend="mpmath",
    fd_sets=((1.0,), (0.5,), (3.0,)),      # with alpha < 0, |f| reaches 300 on [-8, 8]
)

SOFTPLUS = Op(
    "softplus",
    f=_softplus,
    df=_softplus_d,
    dfy=_softplus_dy,
    params=("beta", "threshold"),
    defaults=(1.0, 20.0),
    param_sets=((1.0, 20.0), (2.0, 10.0), (0.7, 20.0), (1.0, np.inf), (1e-3, 20.0), (-0.5, 20.0),
                (1.0, 40.0), (0.7, 37.5)),
    ulp=_TRANSCENDENTAL,
    numpy={"forward": _np(lambda x, b, t: np.where(x * b > t, x, np.logaddexp(0, x * b) / b)),
           "backward": _np(lambda g, x, b, t: np.where(
               np.isnan(x), x, np.where(x * b > t, g, g / (1 + np.exp(-x * b))))),
           "from_output": _np(lambda g, y, b, t: np.where(
               np.isnan(y), y, np.where(y * b > t, g, g * -np.expm1(-b * y))))},
    # the threshold is a jump of the derivative (sigma(20) = 1 - 2e-9 below, 1 above)
    kinks=lambda b, t: (t / b,) if math.isfinite(t / b) else (),
    hard=lambda dt, b, t: [*_transcendental_hard(dt), *_transcendental_hard(dt, b)],
    # -expm1(-beta y) has c = beta y e^-beta y / (1 - e^-beta y) <= 1 (y > 0). Excluded: a
    # subnormal y (x -> -inf), which has lost its relative precision. Roundings: beta y
    # (times c), expm1 (measured 1.09 ULP: < 3u), g *: 4 + 8 + 1 + 3 + 1 = 17 steps.
    # from y only from thresholds where 1 - sigmoid(threshold) rounds away (the wrapper refuses
    # less): below, outputs just above the threshold come from both sides of it
    fo_valid_in=lambda dt, b, t: t >= {"e": 8.318, "f": 17.329, "d": 37.43}[dt.char],
    fo_keep=lambda x, y, b, t: _exclude_subnormal(y),
    fo_steps=17,
    conventions=((0.0, None, math.log(2), Fraction(1, 2)), (np.inf, None, np.inf, 1),
                 (-np.inf, None, 0.0, None), (25.0, None, 25.0, 1), (1e30, None, 1e30, 1),
                 (50.0, (1.0, np.inf), 50.0, 1)),
    invalid=((KINDS, (0.0, 20.0), "beta"), (KINDS, (-0.0, 20.0), "beta"),
             (KINDS, (np.array([1.0, 0.0]), 20.0), "beta")),
    edges=((1e-30, 20.0), (1.0, np.inf), (1.0, -np.inf), (1e30, 20.0), (-1.0, 20.0)),
    backend="mpmath",
    fd_sets=((1.0, 20.0), (2.0, 10.0), (0.7, 20.0)),
)

LOGSIGMOID = Op(
    "logsigmoid",
    f=lambda x, M: -_sp(-x, M),
    df=lambda x, M: None if M.isinf(x) and x > 0 else _sig(-x, M),
    dfy=lambda y, M: None if y == 0 else -M.expm1(y),
    ulp=_TRANSCENDENTAL,
    hard=lambda dt: _transcendental_hard(dt),
    # -expm1(y) = sigmoid(-x) has c = |y| e^y / (1 - e^y) <= 1 for every y < 0; excluded only where
    # y -> 0- (x -> +inf) is subnormal or 0: y ~ -e^-x has then lost its relative precision.
    # Roundings: expm1 (< 3u), g *: 4 + 8 + 3 + 1 = 16 steps.
    fo_keep=lambda x, y: _exclude_subnormal(y),
    fo_steps=16,
    conventions=((0.0, (), -math.log(2), Fraction(1, 2)), (-np.inf, (), -np.inf, 1),
                 (np.inf, (), 0.0, None), (-1000.0, (), -1000.0, 1), (-1e30, (), -1e30, 1)),
    backend="mpmath",
)

SILU = Op(
    "silu",
    f=lambda x, b, M: 0 if M.isinf(x) and x < 0 else x * _sig(b * x, M),
    df=_silu_d,
    params=("beta",),
    defaults=(1.0,),
    param_sets=((1.0,), (1.702,), (0.5,)),
    ulp={"forward": 4, "backward": 4},
    hard=lambda dt, b: [*_transcendental_hard(dt), *_transcendental_hard(dt, b),
                        *_root_hard(dt, SILU_ROOT / b)],
    conventions=((0.0, None, 0.0, Fraction(1, 2)), (-np.inf, None, 0.0, None),
                 (np.inf, None, np.inf, 1), (1e30, None, 1e30, 1), (-1e30, None, 0.0, None)),
    invalid=((KINDS, (0.0,), "beta"), (KINDS, (-1.0,), "beta"), (KINDS, (-0.0,), "beta"),
             (KINDS, (np.nan,), "beta"), (KINDS, (np.array([1.0, -1.0]),), "beta")),
    nan_raises=("beta",),
    edges=((1e-30,), (5e-324,), (1e30,)),
    backend="mpmath",
)

MISH = Op(
    "mish",
    f=_mish,
    df=_mish_d,
    ulp={"forward": 4, "backward": 4},
    hard=lambda dt: [*_transcendental_hard(dt), *_root_hard(dt, MISH_ROOT)],
    conventions=((0.0, (), 0.0, Fraction(3, 5)), (-np.inf, (), 0.0, None),
                 (np.inf, (), np.inf, 1), (1e30, (), 1e30, 1), (-1e30, (), 0.0, None)),
    backend="mpmath",
)

GELU_ERF = Op(
    "gelu_erf",
    f=_gelu,
    df=_gelu_d,
    ulp={"forward": 4, "backward": 4},
    hard=_gelu_hard,
    conventions=((0.0, (), 0.0, Fraction(1, 2)), (-np.inf, (), 0.0, None),
                 (np.inf, (), np.inf, 1), (1e30, (), 1e30, 1), (-1e30, (), 0.0, None)),
    backend="mpmath",
)

GELU_TANH = Op(
    "gelu_tanh",
    f=_gelu_tanh,
    df=_gelu_tanh_d,
    ulp={"forward": 4, "backward": 4},
    hard=lambda dt: [*_transcendental_hard(dt), *_root_hard(dt, GELU_TANH_ROOT),
                     *_both_signs(5.0, 8.0, 10.0, 12.0, 15.0, 20.0, 25.0)],
    # the SPEC: the gradient at |x| = 1e30 is 0 or 1, not NaN (x^3 overflows float32 there)
    conventions=((0.0, (), 0.0, Fraction(1, 2)), (-np.inf, (), 0.0, None),
                 (np.inf, (), np.inf, 1), (1e30, (), 1e30, 1), (-1e30, (), 0.0, None)),
    backend="mpmath",
)

OPS = (RELU, LEAKY_RELU, RELU6, HARDTANH, THRESHOLD, HARDSHRINK, SOFTSHRINK, HARDSIGMOID,
       HARDSWISH, SPARSE_PLUS, SOFTSIGN, SQUAREPLUS, SIGMOID, TANH, TANHSHRINK, ELU, SELU, CELU,
       SOFTPLUS, LOGSIGMOID, SILU, MISH, GELU_ERF, GELU_TANH)
BY_NAME = {op.name: op for op in OPS}

# Public ufunc-style ops (a ufunc, or a wrapper exposing .ufunc) without an entry yet: remove a
# name when its Op lands. test_every_public_op_is_in_the_table fails for any other such op.
# (prelu, prelu_weight_grad and rrelu are wrappers of their own shape, tested on their own.)
# gelu is the table's gelu_erf and gelu_tanh (its raw ufuncs); the wrapper is tested in
# test_transcendental.py.
PENDING = ()


# ---- data ----------------------------------------------------------------------------------------
def cast_params(params, dtype):
    """Parameters as the ufunc's loop sees them: cast to the data dtype."""
    with np.errstate(all="ignore"):
        return tuple(np.asarray(p, dtype=np.float64).astype(dtype) for p in params)


def hard_x(op, dtype, params):
    """Special values, every kink and its neighbours, and the op's hard points, in dtype."""
    dtype = np.dtype(dtype)
    p64 = [float(p) for p in cast_params(params, dtype)]
    vals = [float(v) for v in special_values(dtype)]
    for k in op.kinks(*p64):
        if math.isfinite(k):
            vals += [float(v) for v in _neighbours(k, dtype)]
    vals += [float(v) for v in op.hard(dtype, *p64)]
    vals = _in_range(vals, dtype)
    with np.errstate(all="ignore"):
        x = np.array(vals, np.float64).astype(dtype)
    return np.unique(x) if not np.isnan(x).any() else np.concatenate(
        [np.unique(x[~np.isnan(x)]), x[np.isnan(x)]])


def hard_g(dtype):
    fi = np.finfo(dtype)
    vals = [1.0, -1.0, 0.7, -3.25, 0.0, -0.0, 2.0**20, 2.0**-20, 1e10, -1e10, 1e30, 1e300,
            -1e300, float(fi.max) / 2, float(fi.smallest_normal), -3 * float(fi.smallest_subnormal)]
    return np.array(_in_range(vals, dtype), np.float64).astype(dtype)


# The worst float32 operands tools/exhaustive_f32.py found (session 15: every float32 x or y with
# 2**-30 <= |x| < 2**9 and every 97th pattern elsewhere, g = 1 and a random g; default parameters;
# session 16 the backwards from the output it moved to float32 lanes):
# per op and kind, where the largest error was 1 ULP or more, the operands of the largest error and
# of the most steps. The random sample above reached 0.5-1.5 ULP less than these in 15 cases, so
# accuracy_data measures them too, and docs/accuracy.md shows the maxima the sweep found.
FLOAT32_SWEEP_WORST = {
    ("softsign", "forward"): [(511.0234069824219,), (4.214685134229512e-08,)],
    ("softsign", "backward"): [(-1005.0756225585938, 21.46189308166504), (12.034403800964355,
        1.4901162970204496e-08)],
    ("squareplus", "forward"): [(-0.0007723569287918508,), (-0.0007723273010924459,)],
    ("sparse_plus", "from_output"): [(1967.6859130859375, 7.47864582619369e-40)],
    ("squareplus", "backward"): [(1.0, -7.823127269744873), (1.0, -3.6170318126678467),
        (0.003917731810361147, -0.015919776633381844), (-0.03126759082078934,
        -0.0026482336688786745)],
    ("sigmoid", "forward"): [(-4.157293796539307,), (-1.098781943321228,)],
    ("sigmoid", "backward"): [(1.0, 5.538443565368652), (1.0, 0.0049193003214895725),
        (-0.1660795658826828, -16.230552673339844), (-0.13791592419147491, 0.8336479663848877)],
    ("tanh", "forward"): [(0.06202325597405434,), (0.03126009553670883,)],
    ("tanh", "backward"): [(1.0, 2.769221782684326), (1.0, 0.0024596501607447863),
        (0.0004716036783065647, 5.193282604217529), (1.051626443862915, 0.34394019842147827)],
    ("tanhshrink", "forward"): [(2.8888115882873535,), (1.2977877855300903,)],
    ("tanhshrink", "backward"): [(1.0, 0.8515381217002869), (1.0, 8.940696005765858e-08),
        (7.134044170379639, 0.9319825768470764), (0.015514201484620571, 0.2557964026927948)],
    ("elu", "forward"): [(-0.2875932455062866,), (-8.429370268459024e-08,)],
    ("elu", "backward"): [(1.0, -5.859254837036133), (1.0, -1.4901162614933128e-07),
        (0.02095860242843628, -5.8638410568237305), (0.020029446110129356, -0.2878004312515259)],
    ("elu", "from_output"): [(-31.80255126953125, -0.4979158937931061), (-65.72770690917969,
        -2.980232594040899e-08)],
    ("selu", "forward"): [(-0.31280434131622314,), (-5.9190664813968397e-08,)],
    ("selu", "backward"): [(1.0, -2.6449148654937744), (1.0, -0.5644701719284058),
        (-3.967461109161377, -3.3310461044311523), (-6.040679931640625, -0.30660146474838257)],
    ("selu", "from_output"): [(-0.11896213889122009, 9.647228571552091e-10), (0.07517846673727036,
        9.313230187046884e-10)],
    ("celu", "forward"): [(-0.2875932455062866,), (-8.429370268459024e-08,)],
    ("celu", "backward"): [(1.0, -5.859254837036133), (1.0, -1.4901162614933128e-07),
        (0.02095860242843628, -5.8638410568237305), (0.020029446110129356, -0.2878004312515259)],
    ("softplus", "forward"): [(-1.266534447669983,), (0.2679239809513092,)],
    ("softplus", "from_output"): [(1.0, 0.2875932455062866), (-0.0009123215568251908,
        0.30878642201423645)],
    ("softplus", "backward"): [(1.0, -7.24945068359375), (1.0, -1.1030406951904297),
        (-1.9320863485336304, -13.140091896057129), (-53.06840133666992, -0.8530396819114685)],
    ("logsigmoid", "forward"): [(1.266534447669983,), (0.4327892065048218,)],
    ("logsigmoid", "backward"): [(1.0, 7.24945068359375), (1.0, 1.1030406951904297),
        (-478.8192443847656, 2.6389083862304688), (109.8058853149414, 0.9027144312858582)],
    ("logsigmoid", "from_output"): [(1.0, -0.2875932455062866), (1.0, -8.429370268459024e-08),
        (3.7843873500823975, -0.30487990379333496), (0.003864501602947712, -0.06455136835575104)],
    ("silu", "forward"): [(-7.62205171585083,), (0.0009138399036601186,)],
    ("silu", "backward"): [(1.0, -0.5707871913909912), (1.0, 0.016258418560028076),
        (0.88289874792099, -0.44837048649787903), (-0.9561439752578735, 0.0014030288439244032)],
    ("mish", "forward"): [(-82.09056854248047,), (-3.233367919921875,)],
    ("gelu_erf", "forward"): [(-1.8565388917922974,), (-1.8319467306137085,)],
    ("gelu_tanh", "forward"): [(-2.7560367584228516,), (0.000469592516310513,)],
    ("gelu_erf", "backward"): [(1.0, -0.0162791907787323), (1.0, 0.0003356039524078369),
        (0.2483106106519699, 0.0011412830790504813), (-0.031163714826107025,
        6.348001988953911e-06)],
}


def accuracy_data(op, kind, dtype, params, n=1500, seed=0):
    """Operands for `kind`: random data with special values (make_data), then the hard points
    (for a backward: every hard x with every hard g), then, for float32 with the default
    parameters, FLOAT32_SWEEP_WORST's. A from-output y is a forward output or a swept y."""
    dtype = np.dtype(dtype)
    swept = FLOAT32_SWEEP_WORST.get((op.name, kind), []) if (
        dtype == np.float32 and tuple(params) == tuple(op.param_sets[0])) else []
    swept = np.array(swept, dtype).reshape(len(swept), 1 if kind == "forward" else 2).T
    x = make_data(n, dtype, seed=seed)
    hx = hard_x(op, dtype, params)
    if kind == "forward":
        return (np.concatenate([x, hx, *swept]),)
    g = make_data(n, dtype, seed=seed + 1000)
    hg = hard_g(dtype)
    xs = np.concatenate([x, np.repeat(hx, len(hg))])
    gs = np.concatenate([g, np.tile(hg, len(hx)), swept[0]])
    if kind == "from_output":
        xs = op.call("forward", [xs], cast_params(params, dtype))
    return gs, np.concatenate([xs, swept[1]])


# ---- reference values ----------------------------------------------------------------------------
def _grad(g, d, M):
    """g * d with the select rule: d the int 0 -> 0 whatever g is; d None (a limit zero) or a
    computed zero -> 0 for a finite g, unspecified (None) otherwise; g NaN -> NaN; g = +-inf ->
    +-inf * sign(d)."""
    if type(d) is int and d == 0:
        return 0
    if d is None or d == 0:
        return 0 if math.isfinite(g) else None
    if math.isnan(g):
        return math.nan
    if math.isinf(g):
        return g if d > 0 else -g
    return M.num(g) * d


def reference(op, kind, data, params, dtype):
    """Exact values of `kind` on data operands as float64 arrays (hi, r, care): hi is the exact
    value rounded to float64, r = (exact - hi) / ulp(hi) its remainder in float64 ULPs (0 for
    float16/float32 outputs, where hi alone is within ~2**-50 relative), care False where the value
    is unspecified (g = +-inf or NaN times a limit zero; for the transcendental ops also g = +-inf
    times a derivative that rounds to 0 in the dtype: the SPEC's accuracy is for finite inputs,
    and there inf times the rounded derivative is NaN, not the exact +-inf)."""
    dtype = np.dtype(dtype)
    # below this a derivative rounds to 0 in the dtype the kernel computes in (float16 -> float32)
    underflow = (float(np.finfo(np.float32 if dtype == np.float16 else dtype).smallest_subnormal) / 2
                 if op.backend != "fraction" else 0.0)
    # exact rationals are cheap: used for every dtype; otherwise binary64 for float16/32 outputs
    M = BACKENDS[op.backend] if dtype == np.float64 or op.backend == "fraction" else FLOAT
    p = cast_params(params, dtype)
    arrays = np.broadcast_arrays(*[np.asarray(a) for a in data], *p)
    shape = arrays[0].shape
    cols = [a.astype(np.float64).ravel().tolist() for a in arrays]
    nd = len(data)
    hi = np.empty(len(cols[0]))
    r = np.zeros(len(cols[0]))
    care = np.ones(len(cols[0]), bool)
    ctx = decimal.localcontext(_DEC) if M is DECIMAL else _nullcontext()
    with ctx:
        for i, row in enumerate(zip(*cols)):
            ps = [M.num(v) for v in row[nd:]]
            v = row[nd - 1]
            if math.isnan(v):
                hi[i] = math.nan
                continue
            if kind == "forward":
                value = op.f(M.num(v), *ps, M)
            else:
                d = (op.df if kind == "backward" else op.dfy)(M.num(v), *ps, M)
                value = _grad(row[0], d, M)
                if (math.isinf(row[0]) and d is not None and type(d) is not int
                        and abs(float(d)) <= underflow):
                    value = None
                if value is None:
                    care[i] = False
                    hi[i] = math.nan
                    continue
            hi[i], r[i] = M.pair(M.num(value) if isinstance(value, int) else value)
    return hi.reshape(shape), r.reshape(shape), care.reshape(shape)


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# ---- ULPs ----------------------------------------------------------------------------------------
def spacing(a):
    """Distance from |a| to the next float away from zero (below it for the largest finite; the
    smallest subnormal at 0), as float64. np.spacing is wrong for negative float16 (NumPy 2.4)."""
    a = np.abs(np.asarray(a))
    with np.errstate(all="ignore"):
        up = np.nextafter(a, a.dtype.type(np.inf))
        sp = np.where(np.isinf(up) & np.isfinite(a), a - np.nextafter(a, a.dtype.type(0)), up - a)
    return sp.astype(np.float64)


def ulp_error(got, hi, r, dtype):
    """|got - exact| / spacing(correctly rounded exact) per element, exact = hi + r * ulp(hi).
    Subnormal results count in units of the smallest subnormal; NaN against NaN and inf against
    the same inf are 0; any other mismatch involving NaN or inf is inf."""
    dtype = np.dtype(dtype)
    got = np.asarray(got)
    with np.errstate(all="ignore"):
        cr = hi.astype(dtype)
        sp = spacing(cr)
        err = np.abs((got.astype(np.float64) - hi) / sp - r * (spacing(hi) / sp))
        gnan, cnan = np.isnan(got), np.isnan(cr)
        ginf, cinf = np.isinf(got), np.isinf(cr)
        err = np.where(gnan | cnan, np.where(gnan & cnan, 0.0, np.inf), err)
        err = np.where(~(gnan | cnan) & (ginf | cinf), np.where(got == cr, 0.0, np.inf), err)
    return err


_UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def _ordered(a):
    """Floats as integers in value order (+0 and -0 both 0), as Python ints."""
    a = np.asarray(a)
    bits = a.view(_UINT[a.dtype.itemsize]).astype(object)
    sign = 1 << (8 * a.dtype.itemsize - 1)
    return np.array([b if b < sign else -(b - sign) for b in bits.ravel()], object).reshape(a.shape)


def ulp_steps(got, expected):
    """Representable steps between got and expected (same dtype); NaN vs NaN 0, NaN vs not inf,
    inf vs anything else inf."""
    got, expected = np.asarray(got), np.asarray(expected)
    gnan, enan = np.isnan(got), np.isnan(expected)
    g = np.where(gnan, 0, got).astype(got.dtype)
    e = np.where(enan, 0, expected).astype(got.dtype)
    d = np.abs(_ordered(g) - _ordered(e)).astype(np.float64)
    # an infinity is not "one step past the largest float": any mismatch with one is inf
    d = np.where((np.isinf(got) | np.isinf(expected)) & (got != expected), np.inf, d)
    return np.where(gnan | enan, np.where(gnan & enan, 0.0, np.inf), d)


def steps_from_exact(got, hi, dtype):
    """Steps between got and the correctly rounded exact value."""
    with np.errstate(all="ignore"):
        return ulp_steps(got, np.asarray(hi).astype(dtype))


def mixed_data(op, kind, dtype, n=300, seed=0):
    """Operands and per-element parameter arrays: every parameter set valid for `kind`, each with
    its own accuracy_data (so its kinks and hard points), concatenated (the contiguous-parameter
    path of the kernels)."""
    dtype = np.dtype(dtype)
    parts, params = [], [[] for _ in op.params]
    for k, p in enumerate(op.sets(kind, dtype)):
        d = accuracy_data(op, kind, dtype, p, n=n, seed=seed + k)
        parts.append(d)
        for j, v in enumerate(cast_params(p, dtype)):
            params[j].append(np.full(len(d[0]), v, dtype))
    data = tuple(np.concatenate([d[i] for d in parts]) for i in range(len(parts[0])))
    return data, tuple(np.concatenate(c) for c in params)


def digest(a):
    """sha256 of the bits with every NaN made one pattern (only NaN-ness is specified)."""
    import hashlib

    a = np.array(a, copy=True)
    a[np.isnan(a)] = np.nan
    return hashlib.sha256(a.tobytes()).hexdigest()


def family_cases(sizes, dtypes=FLOAT_DTYPES, seed=201, variants=("p0", "p1", "per-element"),
                 layouts=("contiguous", "strided")):
    """(key, compute) for every op, kind and dtype: the first two parameter sets as scalars
    (p0, p1), a per-element parameter array, contiguous and as a reversed strided view; compute()
    gives the same bits in every process (for the SIMD-level and thread-count comparisons).
    Nothing is kept."""
    for dt in dtypes:
        dt = np.dtype(dt)
        big = 2 * max(sizes) + 2
        X, G = make_data(big, dt, seed=seed), make_data(big, dt, seed=seed + 1)
        for op in OPS:
            for kind in op.kinds:
                sets = op.sets(kind, dt)
                pick = np.arange(big) % len(sets)
                choices = [cast_params(s, dt) for s in sets]
                cases = {f"p{k}": choices[k] for k in range(min(2, len(sets)))}
                if op.params:
                    cases["per-element"] = tuple(np.array([c[j] for c in choices], dt)[pick]
                                                 for j in range(len(op.params)))
                for n in sizes:
                    for tag in variants:
                        if tag not in cases:
                            continue
                        for layout in layouts:
                            key = f"{dt.name}-{n}-{op.name}-{kind}-{tag}-{layout}"
                            yield key, _case(op, kind, X, G, cases[tag], n, layout)


def _case(op, kind, X, G, p, n, layout):
    def compute():
        pn = tuple(q[:n] if np.ndim(q) else q for q in p)
        if layout == "contiguous":
            x, g = X[:n], G[:n]
        else:
            x, g = X[:2 * n:2][::-1], G[1:2 * n + 1:2]
            pn = tuple(q[::-1] if np.ndim(q) else q for q in pn)
        if kind == "forward":
            data = (x,)
        elif kind == "backward":
            data = (g, x)
        else:
            data = (g, op.call("forward", (x,), pn))
        return op.call(kind, data, pn)
    return compute


def nan_path_mismatches(dtypes=FLOAT_DTYPES):
    """Where the bits of a NaN result depend on the path (SPEC: never on position, length or
    SIMD level). Every op and kind runs on a table of operands (NaNs of both signs with payloads,
    infinities, zeros, ordinary values; every (g, x) pair for a backward, y not necessarily an
    output) with its first parameter set, as one long array, with per-element parameter arrays,
    and element by element (length 1: the scalar tail at the baseline level, a masked vector
    above). Returns a description of each (op, kind, dtype) that differs. (A NaN parameter is
    left out: which of two NaNs an operation passes on is the compiler's choice of operand order,
    and pinning it cost 3-49% in the compute-bound kernels.)"""
    out = []
    for dt in map(np.dtype, dtypes):
        uint = np.dtype(f"u{dt.itemsize}")
        nan, sign = np.array(np.nan, dt).view(uint), uint.type(1 << (8 * dt.itemsize - 1))
        nans = np.array([nan, nan | 5, nan | sign, nan | sign | 3], uint).view(dt)
        with np.errstate(over="ignore"):
            table = np.concatenate([nans, np.array([np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, -5.0,
                                                    2.0, 0.5, 1e30, -1e30], dt)])
        for op in OPS:
            for kind in op.kinds:
                params = cast_params(op.sets(kind, dt)[0], dt)
                data = [table] if kind == "forward" else [np.repeat(table, table.size),
                                                          np.tile(table, table.size)]
                n = data[0].size
                with np.errstate(all="ignore"):
                    want = op.call_raw(kind, [np.tile(a, 3) for a in data], params)[n:2 * n]
                    per_element = op.call_raw(kind, data, [np.full(n, q) for q in params])
                    alone = np.array([op.call_raw(kind, [a[i:i + 1] for a in data], params)[0]
                                      for i in range(n)], dt)
                for how, got in (("per-element parameters", per_element), ("length 1", alone)):
                    bad = np.flatnonzero(got.view(uint) != want.view(uint))
                    if bad.size:
                        i = bad[0]
                        out.append(f"{op.name} {kind} {dt}, {how}: operands "
                                   f"{[hex(a.view(uint)[i]) for a in data]} give "
                                   f"{hex(got.view(uint)[i])}, a long array "
                                   f"{hex(want.view(uint)[i])} ({bad.size} of {n})")
    return out


def every_ufunc(n, dtype, seed=0):
    """(name, ufunc, operands) for every ufunc relukit builds, the raw ones behind the wrappers
    included: random data with special values, the op's first valid parameter set as trailing
    operands, and for a backward from the output a y that a forward produced."""
    dtype = np.dtype(dtype)
    out = []
    for op in OPS:
        for kind, fn in op.functions.items():
            ufunc = getattr(fn, "ufunc", fn)
            p = cast_params(op.sets(kind, dtype)[0], dtype)
            x = make_data(n, dtype, seed=seed)
            if kind == "forward":
                data = (x,)
            else:
                g = make_data(n, dtype, seed=seed + 1)
                data = (g, x if kind == "backward" else op.call("forward", (x,), p))
            out.append((ufunc.__name__, ufunc, (*data, *p)))
    return out


# ---- the measured table --------------------------------------------------------------------------
def measure(op, kind, dtype, params, n=1500, seed=0, ordinary=False):
    """(max ULP error, max steps from CR, worst-case operands and exact and got) of `kind` on
    accuracy_data; ordinary=True keeps only operands that are 0 or of magnitude in
    [smallest normal, 2**20] (no overflow, underflow or special values)."""
    data = accuracy_data(op, kind, dtype, params, n=n, seed=seed)
    # element by element: a backward with a lean form runs it only over blocks without a rare
    # element (_ops.py, `lean`), which this data hardly has; alone, each ordinary element gets it
    # (test_accuracy checks that the bits are the same either way)
    p = cast_params(params, dtype)
    got = np.concatenate([op.call(kind, [a[i:i + 1] for a in data], p) for i in range(data[0].size)])
    hi, r, care = reference(op, kind, data, params, dtype)
    err = np.where(care, ulp_error(got, hi, r, dtype), 0.0)
    err[err < 1e-9] = 0.0           # Decimal's 60-digit rounding of exact products
    steps = np.where(care, steps_from_exact(got, hi, dtype), 0.0)
    if ordinary:
        tiny = float(np.finfo(dtype).smallest_normal)
        with np.errstate(invalid="ignore"):
            mags = [np.abs(a.astype(np.float64)) for a in data]
            keep = np.all([(m == 0) | ((m >= tiny) & (m <= 2.0**20)) for m in mags], axis=0)
        err, steps = np.where(keep, err, 0.0), np.where(keep, steps, 0.0)
    i = int(np.argmax(err)) if err.size else 0
    worst = tuple(float(a[i]) for a in data) + (float(hi[i]), float(got[i]))
    return float(err.max(initial=0.0)), float(steps.max(initial=0.0)), worst


def ulp_table(ops=OPS, dtypes=FLOAT_DTYPES, n=1500, ordinary=False):
    """{(op, kind, dtype): (max ULP error, max steps, worst)} over every parameter set; the
    main engineer's accuracy table. Float16 errors are against the exact value too."""
    table = {}
    for op in ops:
        for kind in op.kinds:
            for dt in dtypes:
                best = (0.0, 0.0, None)
                for p in op.sets(kind, dt):
                    r = measure(op, kind, dt, p, n=n, ordinary=ordinary)
                    if r[0] > best[0] or best[2] is None:
                        best = r
                table[(op.name, kind, np.dtype(dt).name)] = best
    return table


def format_table(table):
    lines = ["| op | kind | float16 | float32 | float64 |", "|---|---|---|---|---|"]
    keys = sorted({k[:2] for k in table}, key=lambda k: ([o.name for o in OPS].index(k[0]),
                                                          KINDS.index(k[1])))
    for name, kind in keys:
        cells = []
        for dt in ("float16", "float32", "float64"):
            err, steps, _ = table[(name, kind, dt)]
            cells.append(f"{err:.3g} ({steps:.0f})" if math.isfinite(err) else f"{err} ({steps})")
        lines.append(f"| {name} | {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    for ordinary in (False, True):
        t = ulp_table(ordinary=ordinary)
        print("\nmax |got - exact| / ulp (max steps from the correctly rounded result), "
              + ("operands 0 or in [smallest normal, 2**20]" if ordinary
                 else "all data: make_data with special values, kinks, hard points"))
        print(format_table(t))
        if "-v" in sys.argv:
            for k, v in t.items():
                if v[0] > 0.5:
                    print(k, v)

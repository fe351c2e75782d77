"""Operands where a function was found beyond its SPEC bound by a larger sample than the test
suite's (``tools/accuracy_table.py``), kept as reproducers: each is checked against the exact
reference of ``_reference.py``, in steps from the correctly rounded value."""

import numpy as np
import pytest

from _reference import BY_NAME, cast_params, reference, steps_from_exact

# (op, kind, dtype, params, operands)
CASES = [
    # (2x + 3) / 6 and g * that: three roundings, 2 steps from the correctly rounded value
    ("hardswish", "backward", np.float64, (), (1.2140972183986793e-12, -0.4536866178800275)),
    # g (1 - e^y) past e^y's overflow (y > 0: outside logsigmoid's image, tools/exhaustive_f32.py):
    # inf before, finite for a small g; a subnormal g keeps its digits
    ("logsigmoid", "from_output", np.float32, (), (-0.07656064629554749, 88.72285461425781)),
    ("logsigmoid", "from_output", np.float32, (), (1e-45, 150.0)),
    ("logsigmoid", "from_output", np.float32, (), (-1e-40, 176.5)),
    ("logsigmoid", "from_output", np.float64, (), (5e-324, 1400.0)),
    ("logsigmoid", "from_output", np.float64, (), (-1e-300, 1000.5)),
]


@pytest.mark.parametrize("name,kind,dtype,params,operands", CASES,
                         ids=[f"{c[0]}-{c[1]}-{np.dtype(c[2]).name}" for c in CASES])
def test_reproducer_within_bound(name, kind, dtype, params, operands):
    op = BY_NAME[name]
    data = tuple(np.array([v], dtype) for v in operands)
    p = cast_params(params, dtype)
    got = op.call(kind, data, p)
    hi, _, _ = reference(op, kind, data, p, dtype)
    steps = steps_from_exact(got, hi, dtype)[0]
    assert steps <= op.ulp[kind], (
        f"{name} {kind}{operands} {np.dtype(dtype).name}: got {got[0]!r}, correctly rounded "
        f"{hi[0]!r}: {steps:.0f} steps (bound {op.ulp[kind]})")

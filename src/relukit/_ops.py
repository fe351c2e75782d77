"""The op table: every ufunc relukit builds, read by ``tools/tempita.py`` at build time.

An activation is one ``activation(...)`` row here plus its scalar functions in ``_scalar.pxd``
(``<name>_forward``, ``<name>_backward`` and, when ``from_output``, ``<name>_backward_from_output``,
each ``cdef inline`` over the fused type ``real``). The template turns each ufunc into two
vectorisable contiguous kernels per dtype; everything else (strides, float16, threads, the NumPy
table) is the shared loop in ``_loops.pxi``.
"""

from typing import NamedTuple

# How much arithmetic a byte costs decides from which size threads pay. A threshold counts the bytes
# of every array operand of a call (inputs and output; in place counts the array twice), so
# float64 and backward calls (3 arrays) start threads at fewer elements than a float32 forward.
# Measured with tools/measure_threads.py on the 2-core development machine (1 vs 2 threads
# interleaved, medians of 21):
#   memory: relu/relu_backward float32 and float64, out= and in place. Up to 400 kB 2 threads
#     were 0.86-1.04x of 1 (float32 forward lost), at 524 kB 1.08-1.96x, from 640 kB on 1.17-2.0x.
#   compute: sigmoid, elu, gelu float32 and tanh_backward float64. At 2**12 float32 elements (32 kB)
#     2 threads were 0.97-1.76x (elu lost), at 64 kB 1.22-1.86x, from 512 kB on 1.8-2.0x.
# A new class gets its own row, measured the same way.
WORK_CLASSES = {
    "memory": 576 << 10,
    "compute": 64 << 10,
}


class Ufunc(NamedTuple):
    name: str            # the ufunc's __name__ (and the public name when it has no parameters)
    scalar: str          # cdef inline function in _scalar.pxd computing one element
    data: tuple          # array operands, contiguous in the fast path
    params: tuple        # trailing operands, usually one value (broadcast), else per element
    work: str            # key of WORK_CLASSES
    # (condition on the parameters, scalar): when one value of each parameter is broadcast and the
    # condition holds, the loop runs that scalar (same arguments) instead: a faster form that the
    # general scalar also selects there, so the bits are the same (gcc does not unswitch loops this
    # long itself)
    special: tuple = ()
    # loop scalars (the general one, the special one, or both) that come with `<scalar>_lean`, a
    # faster form, and `<scalar>_rare`, true for the elements it cannot do (an exponential leaving
    # the normal range, say); `<scalar>` itself selects between the two. The loop runs the lean form
    # over each block of elements in which none is rare, `<scalar>` over the others: the bits are
    # the same either way, and the rare elements' careful arithmetic costs nothing elsewhere
    lean: tuple = ()
    # float16's own form of the scalar: "bits", `<scalar>_half` on the 16-bit patterns (an op without
    # parameters that only selects: no conversions); "lanes", `<scalar>_half_lean` with
    # `<scalar>_half_rare`, a shorter float32 form for the float32 buffers float16 runs on (as
    # `lean`, with `<scalar>` for the rare elements): products of two float16 values are exact in
    # float32, and SPEC asks float16 for 1 ULP of float32's result rounded, not float32's 4 ULP
    half: str = ""


def activation(name, params=(), from_output=True, work="memory", backward_from_output=None,
               special=(), lean=(), half_bits=False, half_lanes=()):
    """The forward, backward and (when the maths allows) backward-from-output ufuncs of one op.

    ``special=(condition, tag, directions)``: each of the directions ("forward", "backward") runs
    ``<name>_<direction><tag>`` where the condition on broadcast parameters holds (Ufunc.special).
    ``lean``: the scalars, as ``<direction>`` or ``<direction><tag>``, with lean forms (Ufunc.lean);
    the directions are forward, backward and backward_from_output.
    ``half_bits``: every scalar of the op has a form on float16's bits (Ufunc.half, "bits").
    ``half_lanes``: the directions whose scalars have float16 forms in float32 lanes (Ufunc.half,
    "lanes").

    Ops with parameters get ``_ufunc`` appended to the ufunc names: the public names are the
    Python wrappers that supply the parameters' defaults (see ``_api.py``).
    """
    suffix = "_ufunc" if params else ""
    assert not (half_bits and (params or work != "memory")), "float16's bits: selects only"
    condition, tag, directions = special or (None, None, ())
    forward, backward = ((condition, f"{name}_{d}{tag}") if d in directions else ()
                         for d in ("forward", "backward"))
    def direction(entry):
        return "backward_from_output" if entry.startswith("backward_from_output") else entry.split("_")[0]

    forward_lean, backward_lean, from_output_lean = (
        tuple(f"{name}_{s}" for s in lean if direction(s) == d)
        for d in ("forward", "backward", "backward_from_output"))
    half = {d: "bits" if half_bits else ("lanes" if d in half_lanes else "")
            for d in ("forward", "backward", "backward_from_output")}
    ufuncs = [
        Ufunc(f"{name}{suffix}", f"{name}_forward", ("x",), params, work, forward, forward_lean,
              half["forward"]),
        Ufunc(f"{name}_backward{suffix}", f"{name}_backward", ("g", "x"), params, work, backward,
              backward_lean, half["backward"]),
    ]
    if from_output:
        scalar = backward_from_output or f"{name}_backward_from_output"
        ufuncs.append(Ufunc(f"{name}_backward_from_output{suffix}", scalar, ("g", "y"), params, work,
                            (), from_output_lean, half["backward_from_output"]))
    return ufuncs


UFUNCS = [
    # 1[y > 0] is 1[x > 0]: the from-output gradient is the same function of y.
    *activation("relu", backward_from_output="relu_backward", half_bits=True),
    # for slope > 0, y > 0 exactly when x > 0 (the wrapper refuses any other slope)
    *activation("leaky_relu", params=("negative_slope",), backward_from_output="leaky_relu_backward"),
    # relu6, hardtanh, threshold, hardshrink: the from-input rule holds for y (see _api.py's checks)
    *activation("relu6", backward_from_output="relu6_backward"),
    *activation("hardtanh", params=("min_val", "max_val"), backward_from_output="hardtanh_backward"),
    *activation("threshold", params=("threshold", "value"), backward_from_output="threshold_backward"),
    *activation("hardshrink", params=("lambd",), backward_from_output="hardshrink_backward"),
    *activation("softshrink", params=("lambd",)),
    *activation("hardsigmoid"),
    *activation("hardswish", from_output=False),
    *activation("softsign", lean=("backward",)),
    *activation("sparse_plus"),
    # a square root and a division per element: 2 threads gain from 80 kB (float64) and 160 kB
    # (float32) on, as the compute class does
    *activation("squareplus", params=("b",), work="compute",
                lean=("forward", "backward", "backward_from_output")),
    *activation("sigmoid", work="compute", lean=("forward", "backward")),
    *activation("tanh", work="compute", lean=("backward",)),
    *activation("tanhshrink", from_output=False, work="compute", lean=("backward",)),
    *activation("elu", params=("alpha",), work="compute", lean=("backward",)),
    *activation("selu", work="compute", lean=("backward",)),
    *activation("celu", params=("alpha",), work="compute",
                special=("alpha == 1", "_alpha1", ("forward", "backward")), lean=("backward_alpha1",)),
    *activation("softplus", params=("beta", "threshold"), work="compute",
                special=("beta == 1", "_beta1", ("forward", "backward")),
                lean=("forward", "backward_beta1", "backward_from_output")),
    *activation("logsigmoid", work="compute", lean=("backward", "backward_from_output")),
    *activation("silu", params=("beta",), from_output=False, work="compute",
                special=("beta == 1", "_beta1", ("forward", "backward")),
                lean=("forward", "forward_beta1", "backward", "backward_beta1"),
                half_lanes=("backward",)),
    *activation("mish", from_output=False, work="compute"),
    *activation("gelu_erf", from_output=False, work="compute", lean=("forward", "backward"),
                half_lanes=("forward", "backward")),
    *activation("gelu_tanh", from_output=False, work="compute", lean=("forward", "backward"),
                half_lanes=("backward",)),
]

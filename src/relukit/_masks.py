"""Bit-packed masks: the backward of an op whose derivative takes only two values, from 1 bit per
element instead of the saved input (32 times less memory than float32), and dying-ReLU counts.

Bit order is ``np.packbits``' default (``bitorder='big'``) over the array in C order: element
``8i + j`` of ``x.ravel()`` is bit ``7 - j`` of byte ``i``, and the padding bits of the last byte
are 0. So ``np.unpackbits(mask, count=x.size).reshape(x.shape)`` is the boolean mask.
"""

import math

import numpy as np

from relukit import _chunked, _dispatch

_kernels = _dispatch.kernels

# The predicate of the bit (see _masks.pxi): OUTSIDE is ``x < lo or x > hi``, INSIDE ``lo < x < hi``.
OUTSIDE, INSIDE = 0, 1
# What the backward gives where the bit is 0.
DEAD_ZERO, DEAD_SLOPE, DEAD_NOISE = 0, 1, 2


def float_dtype(dtype, what):
    """The float dtype a relukit ufunc would compute `dtype` in (bools and integers as np.sqrt)."""
    if dtype.kind in "biu":
        return np.result_type(dtype, np.float16)
    if dtype.kind != "f" or dtype.itemsize not in (2, 4, 8):
        raise TypeError(f"{what} must hold real numbers (float16, float32, float64, ints or "
                        f"bools), got {dtype}")
    return dtype.newbyteorder("=")


def _as_dtype(value, dtype):
    """A parameter rounded to the data's dtype, as a ufunc casts it, returned as a Python float."""
    with np.errstate(over="ignore"):
        return float(np.asarray(value, dtype=dtype))


def _check_out(out, shape, dtype, what):
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{what} must be a NumPy array, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"{what} must have dtype {dtype}, got {out.dtype}")
    if out.shape != shape:
        raise ValueError(f"{what} must have shape {shape}, got {out.shape}")
    if not out.flags.writeable:
        raise ValueError(f"{what} is read-only")
    return out


def mask_bytes(size):
    """Bytes of the mask of an array of `size` elements."""
    return (size + 7) // 8


def pack(x, kind, lo, hi, out=None, what="relu_mask"):
    """The bit-packed mask of x for the predicate `kind` with bounds lo, hi."""
    x = np.asarray(x)
    x = np.ascontiguousarray(x, dtype=float_dtype(x.dtype, f"{what}: x"))
    shape = (mask_bytes(x.size),)
    if out is None:
        out = np.empty(shape, np.uint8)
    elif not (_check_out(out, shape, np.dtype(np.uint8), f"{what}: out").flags.c_contiguous):
        raise ValueError(f"{what}: out must be C-contiguous")
    _kernels.mask_forward(x, out, kind, _as_dtype(lo, x.dtype), _as_dtype(hi, x.dtype))
    return out


def unpack(g, mask, dead=DEAD_ZERO, slope=0.0, key=0, lower=0.0, upper=0.0, out=None,
           what="relu_backward_mask"):
    """g where the mask bit is set, else 0, g * slope or g * rrelu's slope (by `dead`)."""
    g = np.asarray(g)
    dtype = float_dtype(g.dtype, f"{what}: g")
    gc = np.ascontiguousarray(g, dtype=dtype)
    mask = np.asarray(mask)
    if mask.dtype != np.uint8:
        raise TypeError(f"{what}: mask must be a uint8 array (from relu_mask), got {mask.dtype}")
    if mask.size != mask_bytes(g.size):
        raise ValueError(f"{what}: mask has {mask.size} bytes but g has {g.size} elements, which "
                         f"need ceil({g.size} / 8) = {mask_bytes(g.size)}")
    mask = np.ascontiguousarray(mask).reshape(-1)
    result = out
    if out is not None:
        _check_out(out, g.shape, dtype, f"{what}: out")
        # a C-contiguous out is written directly unless it overlaps an input other than as g itself
        if not out.flags.c_contiguous or np.may_share_memory(out, mask) or (
                out is not gc and np.may_share_memory(out, gc)):
            result = None
    if result is None:
        result = np.empty(g.shape, dtype)
    _kernels.mask_backward(gc, mask, result, dead, _as_dtype(slope, dtype), key, lower, upper)
    if out is not None and result is not out:
        out[...] = result
        result = out
    return result if result.ndim else result[()]


def relu_mask(x, out=None):
    """Bit-packed ReLU mask: one bit per element, set where ``x > 0``.

    Parameters
    ----------
    x : array_like
        float16, float32 or float64 (bools and integers are cast as ``np.sqrt`` casts them).
    out : ndarray of uint8, optional
        C-contiguous, of shape ``(ceil(x.size / 8),)``.

    Returns
    -------
    ndarray of uint8, shape ``(ceil(x.size / 8),)``
        ``np.packbits(x > 0, axis=None)``: element ``8i + j`` of x in C order is bit ``7 - j``
        (``bitorder='big'``) of byte ``i``; the padding bits are 0. NaN gives a 0 bit.

    Notes
    -----
    Threaded and vectorised like the ufuncs; the same bits for every thread count and SIMD level.
    Saving the mask instead of ``x`` takes 1/32 of the memory of float32 (1/64 of float64).

    Examples
    --------
    >>> import numpy as np, relukit
    >>> x = np.array([1.0, -2.0, 0.0, 3.0, np.nan, 5.0, -0.5, 2.0, 7.0])
    >>> m = relukit.relu_mask(x)
    >>> m
    array([149, 128], dtype=uint8)
    >>> np.unpackbits(m, count=x.size).astype(bool)
    array([ True, False, False,  True, False,  True, False,  True,  True])
    """
    return pack(x, OUTSIDE, -math.inf, 0.0, out)


def relu_backward_mask(g, mask, out=None):
    """Gradient of relu from its bit-packed mask: ``g`` where the bit is set, else 0.

    Parameters
    ----------
    g : array_like
        The gradient with respect to relu's output; the mask is over ``g`` in C order.
    mask : ndarray of uint8
        ``relu_mask(x)``: ``ceil(g.size / 8)`` bytes (any shape; read in C order).
    out : ndarray, optional
        Shaped and typed like the result (``out=g`` runs in place).

    Returns
    -------
    ndarray
        In g's float dtype (the mask has none of its own). Equal to ``relu_backward(g, x)`` for
        every non-NaN x, bit for bit, where x is no wider than g: a dead unit gives 0 whatever
        ``g`` holds (also NaN or inf). For NaN x it differs: ``relu_backward`` gives NaN,
        while one bit cannot tell NaN from "not positive", so this gives 0 (the forward's NaN
        output still reaches the loss).

    Examples
    --------
    >>> import numpy as np, relukit
    >>> x = np.array([-1.0, 2.0, 0.0, 3.0])
    >>> relukit.relu_backward_mask(np.array([10.0, 20.0, np.nan, 40.0]), relukit.relu_mask(x))
    array([ 0., 20.,  0., 40.])
    """
    return unpack(g, mask, DEAD_ZERO, out=out)


def dead_units(pre_activation, axis=0, per_unit=False):
    """Dying-ReLU diagnostic: the fraction of units never positive over a batch.

    A unit is one position of ``pre_activation`` outside ``axis`` (the batch axis, or a tuple of
    axes, e.g. ``(0, 2, 3)`` for NCHW feature maps, where a unit is a channel). It is dead when
    its pre-activation is not ``> 0`` for any element of the batch: relu then passes it no signal
    and no gradient. NaN counts as not positive.

    Parameters
    ----------
    pre_activation : array_like
        The input of the activation (``x`` in ``relu(x)``), real numbers.
    axis : int or tuple of ints, default 0
        The batch axis (axes) reduced over; must not be empty.
    per_unit : bool, default False
        Return the boolean array of dead units (shape: the other axes) instead of the fraction.

    Returns
    -------
    float, or ndarray of bool if ``per_unit``
        ``mean(not any(x > 0 over axis))``, in [0, 1].

    Examples
    --------
    >>> import numpy as np, relukit
    >>> x = np.array([[-1.0, 2.0, -3.0], [-0.5, -1.0, 0.0]])
    >>> relukit.dead_units(x)
    0.6666666666666666
    >>> relukit.dead_units(x, per_unit=True)
    array([ True, False,  True])
    """
    lazy = _chunked.handles(pre_activation)
    if lazy and _chunked.has_dataset(pre_activation):
        return _chunked.each_variable(dead_units, pre_activation, axis, per_unit)
    x = pre_activation if lazy else np.asarray(pre_activation)
    dtype = float_dtype(x.dtype, "dead_units: pre_activation")
    axes = np.lib.array_utils.normalize_axis_tuple(axis, x.ndim, "axis")
    if any(x.shape[a] == 0 for a in axes) or not axes:
        raise ValueError(f"dead_units needs a non-empty batch along axis {axis} "
                         f"(pre_activation has shape {x.shape})")
    if lazy:
        if not per_unit and 0 in [n for a, n in enumerate(x.shape) if a not in axes]:
            raise ValueError(f"dead_units: no units left outside axis {axis} (shape {x.shape})")
        return _chunked.dead_units(x, axis, per_unit)
    # fmax ignores NaN unless a unit is all NaN; `> 0` then makes NaN not positive
    dead = ~(np.fmax.reduce(x.astype(dtype, copy=False), axis=axes) > 0)
    if per_unit:
        return dead
    if dead.size == 0:
        raise ValueError(f"dead_units: no units left outside axis {axis} (shape {x.shape})")
    return float(np.count_nonzero(dead)) / dead.size


for _f in (relu_mask, relu_backward_mask, dead_units):
    _f.__module__ = "relukit"

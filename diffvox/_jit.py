"""What the compiled CPU kernels share: numba's options, and natural logarithms that vectorise.

``error_model="numpy"``: a division by zero gives inf or NaN as in NumPy instead of raising;
numba's default inserts a check before every division, and the check keeps LLVM from turning the
loop into SIMD code (measured: a float32 log loop 4x slower). Loops that sum use ``JIT_SUMS``.

``math.log`` compiles to a call into the C library, one value at a time: in the loss kernels the
logarithms were most of the time (60 million per step at 8 x 12 s). :func:`log32` and
:func:`log64` are the textbook reduction ``x = 2^e m`` with ``m`` in ``[sqrt(1/2), sqrt(2))`` and
``log m = 2 atanh(s)``, ``s = (m - 1) / (m + 1)``, by its odd series; only arithmetic and bit
operations, so loops over them vectorise. Maximum error relative to max(|log x|, 1), measured in
the tests against NumPy in float64 over 1e-30..1e30: 1.2e-7 for float32 (NumPy's own float32
log: 1.1e-7), 2.6e-16 for float64. Zero, negative, infinite and NaN inputs give what ``math.log``
gives (a fit must still see a non-finite loss); subnormal
inputs are not supported (the kernels never take logarithms of values below 1e-8).

:func:`njit_noalias` compiles a helper whose array arguments LLVM may assume do not overlap.
Without that, a loop that reads and writes several arrays is vectorised only behind run-time
overlap checks, and past a handful of arrays LLVM gives up ("too many memory checks") and keeps
it scalar: the biquad adjoint sweep's step (8 arrays written, 14 read) ran 2.6x slower that way
(measured on its earlier, Schur-form version).
"""
from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

JIT = dict(nopython=True, parallel=True, cache=True, fastmath=False, nogil=True, error_model="numpy")
# for loops that sum: the additions may be reordered (float64 partial sums in SIMD lanes), which
# is what lets such a loop vectorise at all
JIT_SUMS = dict(JIT, fastmath={"reassoc", "nsz"})


def njit_noalias(**options):
    """``numba.njit(**options)``, with every pointer argument of the compiled function marked
    ``noalias`` (numba's ``Flags.noalias``, which its decorators do not expose).

    Only for helpers called with arrays that do not overlap in memory (no array passed twice, none
    a view into another): the compiled code may reorder their reads and writes as if they could
    not. Where numba's internals differ from
    the version this was written against, the helper compiles without the flag (same results,
    slower); a test checks that the biquad adjoint sweep comes out vectorised.
    """
    def wrap(function):
        dispatcher = numba.njit(**options)(function)
        compiler = getattr(dispatcher, "_compiler", None)
        customize = getattr(compiler, "_customize_flags", None)
        if customize is None:
            return dispatcher

        def with_noalias(flags):
            flags = customize(flags)
            if hasattr(flags, "noalias"):
                flags.noalias = True
            return flags
        compiler._customize_flags = with_noalias
        return dispatcher
    return wrap


_LN2 = math.log(2.0)
_SQRT_HALF_BITS32 = 0x3F3504F3  # float32 bits of sqrt(1/2)
_SQRT_HALF_BITS64 = 0x3FE6A09E667F3BCD


def _bitcast(source, target, llvm_type):
    """An intrinsic reinterpreting a ``source`` scalar's bits as ``target`` (no instruction)."""
    @intrinsic
    def cast(typingctx, x):
        def codegen(context, builder, sig, args):
            return builder.bitcast(args[0], llvm_type)
        return target(source), codegen
    return cast


_bits32 = _bitcast(types.float32, types.int32, ir.IntType(32))
_from_bits32 = _bitcast(types.int32, types.float32, ir.FloatType())
_bits64 = _bitcast(types.float64, types.int64, ir.IntType(64))
_from_bits64 = _bitcast(types.int64, types.float64, ir.DoubleType())


@numba.njit(inline="always", error_model="numpy")
def _special(x, r):
    """``r`` for positive finite x; else what log gives (-inf at 0, NaN below, x for inf/NaN)."""
    if x > 0 and x < np.inf:
        return r
    if x == 0:
        return -np.inf
    return x if x > 0 or x != x else np.nan


@numba.njit(inline="always", error_model="numpy")
def log32_positive(x):
    """Natural logarithm of a positive, finite, normal float32 (no checks: other inputs give
    finite garbage). Integer steps stay 32-bit (numba would widen them to 64 bits, halving the
    SIMD width), and without :func:`log32`'s special cases a loop over it compiles to 8-lane code.
    Callers must carry non-finite inputs to their result some other way."""
    bits = np.int32(_bits32(x) - np.int32(_SQRT_HALF_BITS32))
    e = np.float32(np.int32(bits >> np.int32(23)))
    m = _from_bits32(np.int32(np.int32(bits & np.int32(0x007FFFFF)) + np.int32(_SQRT_HALF_BITS32)))
    s = (m - np.float32(1.0)) / (m + np.float32(1.0))
    z = s * s
    p = np.float32(1.0 / 9.0)
    p = p * z + np.float32(1.0 / 7.0)
    p = p * z + np.float32(1.0 / 5.0)
    p = p * z + np.float32(1.0 / 3.0)
    p = p * z + np.float32(1.0)
    return e * np.float32(_LN2) + np.float32(2.0) * s * p


@numba.njit(inline="always", error_model="numpy")
def log32(x):
    """Natural logarithm of a float32, in float32 arithmetic (see the module's notes)."""
    return _special(x, log32_positive(x))


@numba.njit(inline="always", error_model="numpy")
def log64_positive(x):
    """Natural logarithm of a positive, finite, normal float64, without :func:`log64`'s special
    cases (other inputs give finite garbage), so that loops over it vectorise."""
    bits = _bits64(x) - np.int64(_SQRT_HALF_BITS64)
    e = np.float64(bits >> np.int64(52))
    m = _from_bits64((bits & np.int64(0x000FFFFFFFFFFFFF)) + np.int64(_SQRT_HALF_BITS64))
    s = (m - 1.0) / (m + 1.0)
    z = s * s
    p = 1.0 / 21.0
    for c in (19.0, 17.0, 15.0, 13.0, 11.0, 9.0, 7.0, 5.0, 3.0, 1.0):
        p = p * z + 1.0 / c
    return e * _LN2 + 2.0 * s * p


@numba.njit(inline="always", error_model="numpy")
def log64(x):
    """Natural logarithm of a float64 (see the module's notes)."""
    return _special(x, log64_positive(x))

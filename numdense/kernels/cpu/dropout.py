"""Dropout kernels: inverted dropout driven by caller-supplied uniform noise."""

from numdense.kernels.cpu._jit import kernel


@kernel
def dropout_forward_into(x, noise, out, mask, rate):
    """Inverted dropout on flat arrays.

    x, noise, out, mask: 1-D C-contiguous arrays of one length and one float dtype; ``noise``
    holds U[0, 1) samples. Writes ``mask[i] = 1/(1-rate)`` where ``noise[i] >= rate`` else 0,
    and ``out = x * mask`` (``out`` may alias ``x``). ``rate`` is in [0, 1).
    """
    scale = 1.0 / (1.0 - rate)
    for i in range(x.shape[0]):
        keep = scale if noise[i] >= rate else 0.0
        mask[i] = keep
        out[i] = x[i] * keep


@kernel
def dropout_backward_into(dy, mask, dx):
    """Gradient of inverted dropout: ``dx = dy * mask`` on flat 1-D arrays (dx may alias dy)."""
    for i in range(dy.shape[0]):
        dx[i] = dy[i] * mask[i]

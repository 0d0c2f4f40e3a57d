"""Integer ids of the activations the kernels implement, shared by the CPU and CUDA kernel sets.

Each kernel takes ``(kind, p0, p1, p2)``; the parameters used by each kind are listed beside it.
Softmax-type kinds work over the last axis of a 2-D (rows, cols) array.
"""

LINEAR = 0
RELU = 1  # p0 = negative_slope, p1 = max_value (inf for None), p2 = threshold
LEAKY_RELU = 2  # p0 = negative_slope
RELU6 = 3
ELU = 4  # p0 = alpha
SELU = 5
CELU = 6  # p0 = alpha
GELU = 7  # exact (erf)
GELU_APPROX = 8  # tanh approximation
SIGMOID = 9
HARD_SIGMOID = 10  # Keras 3: clip(x / 6 + 0.5, 0, 1)
HARD_SILU = 11
SILU = 12
MISH = 13
SOFTPLUS = 14
SOFTSIGN = 15
TANH = 16
HARD_TANH = 17
LOG_SIGMOID = 18
SQUAREPLUS = 19  # p0 = b
EXPONENTIAL = 20
SOFTMAX = 21  # over the last axis
LOG_SOFTMAX = 22  # over the last axis
SOFT_SHRINK = 23  # p0 = threshold
HARD_SHRINK = 24  # p0 = threshold
TANH_SHRINK = 25
SPARSE_PLUS = 26
SPARSE_SIGMOID = 27
THRESHOLD = 28  # p0 = threshold, p1 = default_value

ROW_WISE = (SOFTMAX, LOG_SOFTMAX)

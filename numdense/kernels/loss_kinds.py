"""Integer ids of the losses the kernels implement, shared by the CPU and CUDA kernel sets.

Each kernel takes ``(kind, p0)`` plus the fuzz factor ``eps``; the kinds that use ``p0`` say so.
Every kind reduces over the last axis of a 2-D (rows, k) ``y_pred``; the sparse kinds take
``y_true`` as one (float) class label per row.
"""

MEAN_SQUARED_ERROR = 0
MEAN_ABSOLUTE_ERROR = 1
MEAN_ABSOLUTE_PERCENTAGE_ERROR = 2
MEAN_SQUARED_LOGARITHMIC_ERROR = 3
HUBER = 4  # p0 = delta
LOG_COSH = 5
POISSON = 6
KL_DIVERGENCE = 7
COSINE_SIMILARITY = 8  # over the last axis
HINGE = 9  # 0/1 labels become -1/+1 when every label of the batch is 0 or 1
SQUARED_HINGE = 10  # same label rule as HINGE
CATEGORICAL_HINGE = 11
BINARY_CROSSENTROPY = 12  # probabilities; p0 = label_smoothing
BINARY_CROSSENTROPY_LOGITS = 13  # p0 = label_smoothing
CATEGORICAL_CROSSENTROPY = 14  # probabilities (renormalised, then clipped); p0 = label_smoothing
CATEGORICAL_CROSSENTROPY_LOGITS = 15  # p0 = label_smoothing
SPARSE_CATEGORICAL_CROSSENTROPY = 16  # probabilities (clipped, TF backend: not renormalised first)
SPARSE_CATEGORICAL_CROSSENTROPY_LOGITS = 17

SPARSE = (SPARSE_CATEGORICAL_CROSSENTROPY, SPARSE_CATEGORICAL_CROSSENTROPY_LOGITS)

NAMES = {
    MEAN_SQUARED_ERROR: "mean_squared_error",
    MEAN_ABSOLUTE_ERROR: "mean_absolute_error",
    MEAN_ABSOLUTE_PERCENTAGE_ERROR: "mean_absolute_percentage_error",
    MEAN_SQUARED_LOGARITHMIC_ERROR: "mean_squared_logarithmic_error",
    HUBER: "huber",
    LOG_COSH: "log_cosh",
    POISSON: "poisson",
    KL_DIVERGENCE: "kl_divergence",
    COSINE_SIMILARITY: "cosine_similarity",
    HINGE: "hinge",
    SQUARED_HINGE: "squared_hinge",
    CATEGORICAL_HINGE: "categorical_hinge",
    BINARY_CROSSENTROPY: "binary_crossentropy",
    BINARY_CROSSENTROPY_LOGITS: "binary_crossentropy_logits",
    CATEGORICAL_CROSSENTROPY: "categorical_crossentropy",
    CATEGORICAL_CROSSENTROPY_LOGITS: "categorical_crossentropy_logits",
    SPARSE_CATEGORICAL_CROSSENTROPY: "sparse_categorical_crossentropy",
    SPARSE_CATEGORICAL_CROSSENTROPY_LOGITS: "sparse_categorical_crossentropy_logits",
}

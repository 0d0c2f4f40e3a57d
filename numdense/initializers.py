"""Weight initializers with Keras 3 names, arguments, formulas and configs.

Random values come from ``numpy.random.Generator`` seeded exactly as Keras' NumPy backend seeds
it (``default_rng([seed, 0])`` as uint32), so they cannot match TensorFlow's RNG but do follow
Keras' seeding semantics: an initializer seeded with an int, or unseeded, returns the same
values on every call; an unseeded one draws its seed once, at construction, from this module's
seed source (``_reseed`` makes that source reproducible, for a global ``set_random_seed``).
"""

import math
import numbers

import numpy as np

from . import config
from .utils.serialization import deserialize_object, get_object, serialize_object

_MODULE = "keras.initializers"
_SEED_SOURCE = np.random.default_rng()


def _reseed(seed=None):
    """Reseeds the generator that unseeded initializers draw their seed from.

    Args:
        seed: an int (reproducible seeds from now on) or ``None`` (fresh OS entropy).
    """
    global _SEED_SOURCE
    _SEED_SOURCE = np.random.default_rng(seed)


def _draw_seed():
    # Keras draws from [1, 1e9] with Python's `random`.
    return int(_SEED_SOURCE.integers(1, 10**9, endpoint=True))


def _shape(shape):
    if isinstance(shape, numbers.Integral):
        return (int(shape),)
    return tuple(int(d) for d in shape)


def _float_dtype(dtype):
    dtype = np.dtype(dtype or config.floatx())
    if dtype.kind != "f":
        raise ValueError(f"Random initializers need a floating dtype. Received: dtype={dtype}")
    return dtype


def compute_fans(shape, input_axes=None, output_axes=None):
    """Computes the number of input and output units for a weight shape.

    Args:
        shape: integer shape tuple.
        input_axes: optional list of the axes counted as input units.
        output_axes: optional list of the axes counted as output units (used only with
            ``input_axes``).

    Returns:
        ``(fan_in, fan_out)`` as Python ints.
    """
    shape = tuple(shape)
    if input_axes is not None and output_axes is not None:
        return (
            int(math.prod(shape[a] for a in input_axes)),
            int(math.prod(shape[a] for a in output_axes)),
        )
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    if len(shape) == 2:
        return int(shape[0]), int(shape[1])
    receptive = math.prod(shape[:-2])
    return int(shape[-2] * receptive), int(shape[-1] * receptive)


class Initializer:
    """Base class: an initializer maps ``(shape, dtype)`` to a NumPy array.

    Subclasses implement ``__call__(shape, dtype=None)`` and, when they take arguments,
    ``get_config()``.
    """

    def __call__(self, shape, dtype=None):
        """Returns an array of ``shape`` and ``dtype`` (default ``numdense.config.floatx()``).

        Args:
            shape: tuple of ints.
            dtype: optional NumPy dtype or name.
        """
        raise NotImplementedError("Initializer subclasses must implement the `__call__()` method.")

    def get_config(self):
        """Returns the constructor arguments as a JSON-serializable dict."""
        return {}

    @classmethod
    def from_config(cls, config):
        """Builds an initializer from the output of ``get_config()``.

        Args:
            config: a dict of constructor arguments.
        """
        return cls(**config)

    def clone(self):
        """A new instance built from this one's config (an unseeded one gets a new seed)."""
        return self.__class__.from_config(self.get_config())

    def __repr__(self):
        return f"<{type(self).__name__} {self.get_config()}>"


class Zeros(Initializer):
    """Fills with 0."""

    def __call__(self, shape, dtype=None):
        return np.zeros(_shape(shape), dtype=dtype or config.floatx())


class Ones(Initializer):
    """Fills with 1."""

    def __call__(self, shape, dtype=None):
        return np.ones(_shape(shape), dtype=dtype or config.floatx())


class Constant(Initializer):
    """Fills with a constant.

    Args:
        value: a Python scalar (or an array broadcastable to the requested shape).
    """

    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype=None):
        dtype = np.dtype(dtype or config.floatx())
        return np.asarray(self.value, dtype=dtype) * np.ones(_shape(shape), dtype=dtype)

    def get_config(self):
        value = self.value
        if isinstance(value, (np.ndarray, np.generic)):
            # Keras' serialize_keras_object form for array values.
            value = {
                "class_name": "__tensor__",
                "config": {"value": value.tolist(), "dtype": value.dtype.name},
            }
        return {"value": value}

    @classmethod
    def from_config(cls, config):
        value = config["value"]
        if isinstance(value, dict) and value.get("class_name") in ("__tensor__", "__numpy__"):
            value = np.array(value["config"]["value"], dtype=value["config"]["dtype"])
        return cls(value)


class Identity(Initializer):
    """The identity matrix times ``gain`` (2-D shapes only).

    Args:
        gain: multiplicative factor.
    """

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None):
        shape = _shape(shape)
        if len(shape) != 2:
            raise ValueError(
                "Identity matrix initializer can only be used for 2D matrices. "
                f"Received: shape={shape} of rank {len(shape)}."
            )
        dtype = np.dtype(dtype or config.floatx())
        return (self.gain * np.eye(*shape, dtype=dtype)).astype(dtype, copy=False)

    def get_config(self):
        return {"gain": self.gain}


class RandomInitializer(Initializer):
    """Base of the random initializers: holds the seed.

    Args:
        seed: an int, or ``None`` for a seed drawn once at construction. Either way every call
            of the instance gives the same values.
    """

    def __init__(self, seed=None):
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
        ):
            raise ValueError(
                "`seed` argument should be an instance of "
                "`keras.random.SeedGenerator()` or an integer. "
                f"Received: seed={seed}"
            )
        self._init_seed = None if seed is None else int(seed)
        self.seed = _draw_seed() if seed is None else int(seed)

    def _rng(self):
        return np.random.default_rng(np.array([self.seed & 0xFFFFFFFF, 0], dtype=np.uint32))

    def get_config(self):
        return {"seed": self._init_seed}


def _normal(rng, shape, mean, stddev, dtype):
    return rng.normal(loc=mean, scale=stddev, size=shape).astype(dtype)


def _uniform(rng, shape, minval, maxval, dtype):
    return rng.uniform(low=minval, high=maxval, size=shape).astype(dtype)


def _truncated_normal(rng, shape, mean, stddev, dtype):
    # Redraw whole batches and keep the values within 2 stddev, as Keras' NumPy backend does.
    n = math.prod(shape)
    lo, hi = mean - 2 * stddev, mean + 2 * stddev
    kept = []
    count = 0
    while count < n:
        batch = rng.normal(loc=mean, scale=stddev, size=n)
        batch = batch[(batch >= lo) & (batch <= hi)]
        kept.append(batch)
        count += batch.size
    return np.concatenate(kept)[:n].astype(dtype).reshape(shape)


class RandomNormal(RandomInitializer):
    """Normal values ``N(mean, stddev**2)``.

    Args:
        mean: mean of the values.
        stddev: standard deviation of the values.
        seed: an int or ``None`` (see ``RandomInitializer``).
    """

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean = mean
        self.stddev = stddev
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None):
        return _normal(self._rng(), _shape(shape), self.mean, self.stddev, _float_dtype(dtype))

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(RandomInitializer):
    """Normal values with those beyond 2 standard deviations from the mean redrawn.

    Args:
        mean: mean of the (untruncated) distribution.
        stddev: standard deviation of the (untruncated) distribution.
        seed: an int or ``None`` (see ``RandomInitializer``).
    """

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean = mean
        self.stddev = stddev
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None):
        return _truncated_normal(
            self._rng(), _shape(shape), self.mean, self.stddev, _float_dtype(dtype)
        )

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class RandomUniform(RandomInitializer):
    """Uniform values in ``[minval, maxval)``.

    Args:
        minval: lower bound (inclusive).
        maxval: upper bound (exclusive).
        seed: an int or ``None`` (see ``RandomInitializer``).
    """

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval = minval
        self.maxval = maxval
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None):
        return _uniform(self._rng(), _shape(shape), self.minval, self.maxval, _float_dtype(dtype))

    def get_config(self):
        return {**super().get_config(), "minval": self.minval, "maxval": self.maxval}


class VarianceScaling(RandomInitializer):
    """Values whose scale adapts to the weight's fans.

    With ``n`` = fan_in, fan_out or their mean (per ``mode``) and ``s = scale / max(1, n)``:
    ``"truncated_normal"`` draws a 2-stddev truncated normal with stddev
    ``sqrt(s) / 0.87962566103423978`` (so the truncated result has stddev ``sqrt(s)``),
    ``"untruncated_normal"`` a normal with stddev ``sqrt(s)``, and ``"uniform"`` draws from
    ``[-sqrt(3 s), sqrt(3 s))``. ``"normal"`` is accepted as ``"truncated_normal"``.

    Args:
        scale: positive scaling factor.
        mode: ``"fan_in"``, ``"fan_out"`` or ``"fan_avg"``.
        distribution: ``"truncated_normal"``, ``"untruncated_normal"`` or ``"uniform"``.
        seed: an int or ``None`` (see ``RandomInitializer``).
        input_axes: optional list of axes counted as input units (see ``compute_fans``).
        output_axes: optional list of axes counted as output units.
    """

    def __init__(
        self,
        scale=1.0,
        mode="fan_in",
        distribution="truncated_normal",
        seed=None,
        input_axes=None,
        output_axes=None,
    ):
        if scale <= 0.0:
            raise ValueError(f"Argument `scale` must be positive float. Received: scale={scale}")
        modes = {"fan_in", "fan_out", "fan_avg"}
        if mode not in modes:
            raise ValueError(f"Invalid `mode` argument: {mode}. Please use one of {modes}")
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        distributions = {"uniform", "truncated_normal", "untruncated_normal"}
        if distribution not in distributions:
            raise ValueError(
                f"Invalid `distribution` argument: {distribution}."
                f"Please use one of {distributions}"
            )
        self.scale = scale
        self.mode = mode
        self.distribution = distribution
        self.input_axes = input_axes
        self.output_axes = output_axes
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None):
        shape = _shape(shape)
        dtype = _float_dtype(dtype)
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        scale = self.scale / max(1.0, n)
        rng = self._rng()
        if self.distribution == "truncated_normal":
            stddev = math.sqrt(scale) / 0.87962566103423978
            return _truncated_normal(rng, shape, 0.0, stddev, dtype)
        if self.distribution == "untruncated_normal":
            return _normal(rng, shape, 0.0, math.sqrt(scale), dtype)
        limit = math.sqrt(3.0 * scale)
        return _uniform(rng, shape, -limit, limit, dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }


class _FixedVarianceScaling(VarianceScaling):
    _scale = _mode = _distribution = None

    def __init__(self, seed=None, input_axes=None, output_axes=None):
        super().__init__(
            scale=self._scale,
            mode=self._mode,
            distribution=self._distribution,
            seed=seed,
            input_axes=input_axes,
            output_axes=output_axes,
        )

    def get_config(self):
        return {
            "seed": self._init_seed,
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }


class GlorotUniform(_FixedVarianceScaling):
    """Glorot (Xavier) uniform: ``U(-limit, limit)``, ``limit = sqrt(6 / (fan_in + fan_out))``.

    Args:
        seed: an int or ``None`` (see ``RandomInitializer``).
        input_axes: optional list of axes counted as input units.
        output_axes: optional list of axes counted as output units.
    """

    _scale, _mode, _distribution = 1.0, "fan_avg", "uniform"


class GlorotNormal(_FixedVarianceScaling):
    """Glorot (Xavier) normal: truncated normal with stddev ``sqrt(2 / (fan_in + fan_out))``.

    Args:
        seed: an int or ``None`` (see ``RandomInitializer``).
        input_axes: optional list of axes counted as input units.
        output_axes: optional list of axes counted as output units.
    """

    _scale, _mode, _distribution = 1.0, "fan_avg", "truncated_normal"


class HeUniform(_FixedVarianceScaling):
    """He uniform: ``U(-limit, limit)``, ``limit = sqrt(6 / fan_in)``.

    Args:
        seed: an int or ``None`` (see ``RandomInitializer``).
        input_axes: optional list of axes counted as input units.
        output_axes: optional list of axes counted as output units.
    """

    _scale, _mode, _distribution = 2.0, "fan_in", "uniform"


class HeNormal(_FixedVarianceScaling):
    """He normal: truncated normal with stddev ``sqrt(2 / fan_in)``.

    Args:
        seed: an int or ``None`` (see ``RandomInitializer``).
        input_axes: optional list of axes counted as input units.
        output_axes: optional list of axes counted as output units.
    """

    _scale, _mode, _distribution = 2.0, "fan_in", "truncated_normal"


class LecunUniform(_FixedVarianceScaling):
    """LeCun uniform: ``U(-limit, limit)``, ``limit = sqrt(3 / fan_in)``.

    Args:
        seed: an int or ``None`` (see ``RandomInitializer``).
        input_axes: optional list of axes counted as input units.
        output_axes: optional list of axes counted as output units.
    """

    _scale, _mode, _distribution = 1.0, "fan_in", "uniform"


class LecunNormal(_FixedVarianceScaling):
    """LeCun normal: truncated normal with stddev ``sqrt(1 / fan_in)``.

    Args:
        seed: an int or ``None`` (see ``RandomInitializer``).
        input_axes: optional list of axes counted as input units.
        output_axes: optional list of axes counted as output units.
    """

    _scale, _mode, _distribution = 1.0, "fan_in", "truncated_normal"


class Orthogonal(RandomInitializer):
    """A (semi-)orthogonal matrix times ``gain``, from the QR decomposition of a normal matrix.

    The shape is viewed as ``(prod(shape[:-1]), shape[-1])``; the result has orthonormal
    columns, or orthonormal rows when there are fewer rows than columns.

    Args:
        gain: multiplicative factor.
        seed: an int or ``None`` (see ``RandomInitializer``).
    """

    def __init__(self, gain=1.0, seed=None):
        self.gain = gain
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None):
        shape = _shape(shape)
        if len(shape) < 2:
            raise ValueError(
                "The tensor to initialize must be at least two-dimensional. "
                f"Received: shape={shape} of rank {len(shape)}."
            )
        dtype = _float_dtype(dtype)
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = _normal(self._rng(), (max(rows, cols), min(rows, cols)), 0.0, 1.0, dtype)
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q.reshape(shape)).astype(dtype, copy=False)

    def get_config(self):
        return {**super().get_config(), "gain": self.gain}


ALL_OBJECTS = (
    Initializer,
    Constant,
    Identity,
    Ones,
    Zeros,
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    HeUniform,
    LecunNormal,
    LecunUniform,
    Orthogonal,
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
    VarianceScaling,
)
ALL_OBJECTS_DICT = {cls.__name__: cls for cls in ALL_OBJECTS}
ALL_OBJECTS_DICT.update(
    {
        "IdentityInitializer": Identity,
        "OrthogonalInitializer": Orthogonal,
        "normal": RandomNormal,
        "uniform": RandomUniform,
        "one": Ones,
        "zero": Zeros,
    }
)

# Keras' lower-case function aliases.
zeros, ones, constant, identity, orthogonal = Zeros, Ones, Constant, Identity, Orthogonal
random_normal, random_uniform, truncated_normal = RandomNormal, RandomUniform, TruncatedNormal
variance_scaling, glorot_uniform, glorot_normal = VarianceScaling, GlorotUniform, GlorotNormal
he_uniform, he_normal, lecun_uniform, lecun_normal = HeUniform, HeNormal, LecunUniform, LecunNormal


def serialize(initializer):
    """Returns the Keras 3 dict of an initializer (module ``"keras.initializers"``).

    Args:
        initializer: an ``Initializer`` instance.
    """
    if not hasattr(initializer, "get_config"):
        raise ValueError(f"Cannot serialize initializer {initializer!r}: it has no `get_config`.")
    return serialize_object(initializer, _MODULE)


def deserialize(config, custom_objects=None):
    """Builds an initializer from a Keras config dict or a name.

    Args:
        config: a dict with ``class_name`` and ``config``, or a string name.
        custom_objects: optional dict of extra names to classes.
    """
    return deserialize_object(config, ALL_OBJECTS_DICT, "initializer", custom_objects)


def get(identifier):
    """Resolves an initializer identifier.

    Args:
        identifier: ``None``, a name (``"glorot_uniform"``, ``"GlorotUniform"``, ``"zeros"``,
            ...), a config dict, a class, a callable ``(shape, dtype=None)``, or a NumPy array
            (returned, cast to the requested dtype, by a function that checks the shape).

    Returns:
        A callable initializer, or ``None``.
    """
    if isinstance(identifier, (np.ndarray, np.generic)):
        values = np.asarray(identifier)

        def initialize_fn(shape, dtype=None):
            if _shape(shape) != values.shape:
                raise ValueError(
                    f"Expected `shape` to be {values.shape} for direct tensor as "
                    f"initializer. Received shape={shape}"
                )
            return values.astype(dtype or config.floatx())

        return initialize_fn
    return get_object(identifier, ALL_OBJECTS_DICT, "initializer")

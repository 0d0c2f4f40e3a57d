"""``predict`` and ``evaluate`` on ``dask.array`` inputs, for data that does not fit in memory.

* ``predict`` returns a lazy dask array: one task per row chunk runs ``model.predict`` on that
  chunk (non-sample axes are first merged into one chunk). The model enters the graph once, as
  one key named after its config and weights, so a scheduler ships it to each worker once
  (by pickle: config + weights, see ``numdense.saving.pickling``).
* ``evaluate`` computes, per row chunk, the loss as a (weighted sum, count) pair and each
  metric's state, then adds them up: the same numbers as for NumPy input (up to float
  rounding), without ever holding the whole data set.

dask is optional: these functions import it; ``is_dask_input`` recognizes a dask array by its
type's module without importing dask.
"""

import copy
import threading

import numpy as np

# Serializes the model calls that read per-call layer state (activity losses) in threads.
_ACTIVITY_LOCK = threading.Lock()


def _is_dask_array(value):
    cls = type(value)
    return cls.__name__ == "Array" and cls.__module__.startswith("dask.")


def is_dask_input(*values):
    """True if any value, or any entry of a list, tuple or dict value, is a dask array."""
    for value in values:
        if isinstance(value, dict):
            value = list(value.values())
        items = value if isinstance(value, (list, tuple)) else [value]
        if any(_is_dask_array(v) for v in items):
            return True
    return False


def _dask():
    try:
        import dask
        import dask.array as da
    except ImportError:  # pragma: no cover - a dask array was given, so dask is installed
        raise ImportError("dask arrays as model inputs need dask: `pip install dask[array]`.")
    return dask, da


# -------------------------------------------------------------------------------- helpers
def _single(model, value, what):
    """The one array of a one-input (or one-output) functional model given as a list or dict."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise NotImplementedError(
                f"Model '{model.name}': dask arrays are supported for models with one input and "
                f"one output; `{what}` holds {len(value)} arrays."
            )
        value = value[0]
    return value


def _is_functional(model):
    from numdense.models.functional import Functional

    return isinstance(model, Functional)


def _check_single_io(model):
    if _is_functional(model) and (len(model.inputs) != 1 or len(model.outputs) != 1):
        raise NotImplementedError(
            f"Model '{model.name}' has {len(model.inputs)} inputs and {len(model.outputs)} "
            "outputs: dask arrays are supported for models with one input and one output only."
        )


def _as_dask(value, like, da, name):
    """``value`` as a dask array with ``like``'s row chunks and one chunk along other axes."""
    if value is None:
        return None
    if not _is_dask_array(value):
        value = np.asarray(value)
        if value.ndim == 0:
            raise ValueError(f"`{name}` must be a batched array; received a scalar.")
        return da.from_array(value, chunks=(like.chunks[0],) + value.shape[1:])
    if value.ndim == 0:
        raise ValueError(f"`{name}` must be a batched array; received a scalar.")
    if any(np.isnan(c) for c in value.chunks[0]):
        raise ValueError(
            f"`{name}` is a dask array with unknown chunk sizes; call `.compute_chunk_sizes()` "
            "on it first."
        )
    return value.rechunk((like.chunks[0],) + tuple(-1 for _ in value.shape[1:]))


def _merge_feature_chunks(x):
    """``x`` with every non-sample axis in one chunk (each task needs whole rows)."""
    if any(len(c) > 1 for c in x.chunks[1:]):
        x = x.rechunk({axis: -1 for axis in range(1, x.ndim)})
    return x


def _check_input_shape(model, x):
    if not model.built:
        model.build((None,) + tuple(x.shape[1:]))
    expected = tuple(model.inputs[0].shape)
    if len(expected) != x.ndim or any(
            e is not None and e != s for e, s in zip(expected[1:], x.shape[1:])):
        raise ValueError(
            f"Model '{model.name}' expects inputs of shape {expected}; received a dask array of "
            f"shape {tuple(x.shape)}."
        )


def _batch_size(batch_size):
    batch_size = 32 if batch_size is None else batch_size
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size <= 0:
        raise ValueError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}")
    return int(batch_size)


def delayed_model(model):
    """``model`` as one dask graph node, keyed by its class, config and weights (so a retrained
    model gets a new key and no stale cached result)."""
    dask, _ = _dask()
    from dask.base import tokenize

    token = tokenize(type(model).__qualname__, model.get_config(), model.get_weights())
    return dask.delayed(model, name=f"numdense-model-{token}", pure=True, traverse=False)


# -------------------------------------------------------------------------------- predict
def _predict_block(x, model, batch_size):
    out = model.predict(x, batch_size=batch_size, verbose=0)
    if isinstance(out, dict):
        out = list(out.values())
    return out[0] if isinstance(out, (list, tuple)) else out


def predict(model, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
    """``model.predict`` for a dask array ``x``: a lazy dask array of predictions.

    Nothing is computed until the result is (``.compute()``, ``.to_zarr()``...). Each row chunk
    of ``x`` becomes one task that predicts it in batches of ``batch_size``.

    Args:
        model: a numdense Sequential, or a functional model with one input and one output.
        x: a ``dask.array.Array`` of samples (or a one-element list/dict of one).
        batch_size: samples per batch inside each chunk (default 32).
        verbose: accepted for compatibility (a lazy result shows no progress bar).
        steps: predict only the first ``steps * batch_size`` samples.
        callbacks: accepted for Keras compatibility; not used by predict.

    Returns:
        A ``dask.array.Array`` with ``x``'s row chunks (for a dict-output model, a dict of it).
    """
    _, da = _dask()
    from dask.base import tokenize

    batch_size = _batch_size(batch_size)
    _check_single_io(model)
    x = _single(model, x, "x")
    if not _is_dask_array(x):
        raise TypeError(f"Expected a dask array for `x`; received {type(x).__name__}.")
    if x.ndim == 0:
        raise ValueError(
            f"Model '{model.name}' expects batched inputs for predict (a first axis of "
            "samples); received a scalar."
        )
    if steps is not None:
        x = x[:int(steps) * batch_size]
    _check_input_shape(model, x)
    x = _merge_feature_chunks(x)
    if _is_functional(model):
        out_shape, dtype = tuple(model.outputs[0].shape), model.outputs[0].dtype
    else:
        out_shape, dtype = tuple(model.compute_output_shape((None,) + x.shape[1:])), model.dtype
    if any(d is None for d in out_shape[1:]):
        raise NotImplementedError(
            f"Model '{model.name}' has an output shape {out_shape} with unknown non-batch "
            "dimensions; dask predict needs them known."
        )
    dtype = np.dtype(dtype)
    in_index = ("n",) + tuple(f"i{axis}" for axis in range(1, x.ndim))
    out_index = ("n",) + tuple(f"o{axis}" for axis in range(1, len(out_shape)))
    node = delayed_model(model)
    out = da.blockwise(
        _predict_block, out_index, x, in_index, node, None, batch_size, None,
        new_axes={f"o{axis}": out_shape[axis] for axis in range(1, len(out_shape))},
        concatenate=True, dtype=dtype, meta=np.empty((0,) * len(out_shape), dtype),
        name=f"numdense-predict-{model.name}-" + tokenize(x.name, node.key, batch_size),
    )
    if _is_functional(model) and model._output_keys is not None:
        return model._pack_outputs([out])
    return out


# ------------------------------------------------------------------------------- evaluate
class _EvalSpec:
    """What every chunk's task needs besides the model and the data (small, picklable)."""

    def __init__(self, model, batch_size, one_shot):
        from numdense.models.trainer import is_sparse_loss

        self.loss = model._loss_obj
        self.loss_weight = model._loss_weight
        self.sparse = is_sparse_loss(model._loss_obj)
        self.out_shape = tuple(model.output_shape)
        self.dtype = model.dtype
        self.batch_size = batch_size
        self.one_shot = one_shot
        self.metrics = []
        for metric, weighted in model._metrics or []:
            template = copy.deepcopy(metric)
            template.reset_state()
            self.metrics.append((template, weighted))


def _evaluate_block(x, y, sample_weight, model, spec):
    """One chunk: ``(loss numerator, loss denominator, samples, [updated metric copies])``."""
    from numdense import losses
    from numdense.models import data as data_utils
    from numdense.models.trainer import prepare_target

    x = data_utils.as_float_array(x, spec.dtype, "x")
    y = data_utils.as_float_array(y, spec.dtype, "y")
    data_utils.check_finite(x, "x")
    data_utils.check_finite(y, "y")
    y2 = prepare_target(y, spec.out_shape, spec.loss, spec.sparse)
    w = data_utils.sample_weights(x.shape[0], sample_weight, None, y2, spec.sparse, spec.dtype)
    yt = y2[:, 0] if spec.sparse else y2
    if spec.one_shot:
        # Keras' sum_over_batch_size loss is sum(w * values) / (number of values, or of
        # unmasked values): both parts add up over chunks.
        y_pred = model.predict(x, batch_size=spec.batch_size, verbose=0)
        dtype = spec.loss.dtype
        values, mask = spec.loss._values_and_mask(np.asarray(yt, dtype), np.asarray(y_pred, dtype))
        numerator = float(losses.reduce_weighted_values(values, w, mask, "sum", dtype))
        denominator = float(np.count_nonzero(mask)) if mask is not None else float(
            np.asarray(values).size)
    else:
        # Other reductions weigh each batch's loss by its size, as evaluate does for NumPy
        # input; the caller made chunk boundaries batch boundaries.
        numerator, denominator, preds = 0.0, 0.0, []
        activity = [l for l in model.layers if l.activity_regularizer is not None]
        for start in range(0, x.shape[0], spec.batch_size):
            sl = slice(start, start + spec.batch_size)
            if activity:
                with _ACTIVITY_LOCK:
                    y_pred = model(x[sl])
                    extra = sum(sum(l._activity_losses) for l in activity)
            else:
                y_pred, extra = model(x[sl]), 0.0
            loss = float(spec.loss(yt[sl], y_pred, sample_weight=w[sl])) * spec.loss_weight
            loss += model._penalties() + extra
            numerator += loss * len(y_pred)
            denominator += len(y_pred)
            preds.append(y_pred)
        y_pred = np.concatenate(preds) if preds else np.zeros((0,) + spec.out_shape[1:],
                                                               spec.dtype)
    updated = []
    for template, weighted in spec.metrics:
        metric = copy.deepcopy(template)
        if x.shape[0]:
            metric.update_state(y2, y_pred, sample_weight=w if weighted else None)
        updated.append(metric)
    return numerator, denominator, x.shape[0], updated


def _merge_metric(metric, parts):
    """Sets ``metric``'s state to the sum of the states of ``parts`` (copies of it)."""
    parts = [p for p in parts if p.variables]
    if hasattr(metric, "merge_state"):
        metric.reset_state()
        metric.merge_state(parts)
        return
    if not type(metric).__module__.startswith("numdense.metrics"):
        raise NotImplementedError(
            f"Metric '{metric.name}' ({type(metric).__name__}) cannot be combined over dask "
            "chunks: numdense knows its own metrics' states to be sums; give this class a "
            "`merge_state(metrics)` method that adds the states of `metrics` into its own."
        )
    metric.reset_state()
    if not parts:
        return
    total = copy.deepcopy(parts[0])
    for part in parts[1:]:
        for mine, theirs in zip(total.variables, part.variables):
            mine += theirs
    ours = metric.variables
    if len(ours) == len(total.variables) and all(
            a.shape == b.shape for a, b in zip(ours, total.variables)):
        for mine, theirs in zip(ours, total.variables):
            mine[...] = theirs
    else:  # a metric that creates its state on its first update (AUC)
        metric.__dict__.update(total.__dict__)


def evaluate(model, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
             steps=None, callbacks=None, return_dict=False):
    """``model.evaluate`` when ``x``, ``y`` or ``sample_weight`` is a dask array.

    Chunks are evaluated in parallel by the current dask scheduler; the per-chunk loss sums and
    metric states are added up on the caller's side. The result equals that of the same data
    as NumPy arrays up to float rounding.

    Args:
        model: a compiled numdense Sequential, or functional model with one input and output.
        x, y: samples and targets (dask arrays, or NumPy arrays beside a dask one).
        batch_size: samples per batch inside each chunk (default 32).
        verbose: "auto"/1 progress bar at the end, 2 one line, 0 silent.
        sample_weight: optional per-sample weights (dask or NumPy).
        steps: evaluate only the first ``steps`` batches.
        callbacks: accepted for Keras compatibility.
        return_dict: return ``{name: value}`` instead of a list.
    """
    dask, da = _dask()
    from numdense.utils.progbar import resolve_verbose

    if _is_functional(model) and getattr(model, "_specs", None) is not None:
        raise NotImplementedError(
            f"Model '{model.name}' was compiled for several inputs or outputs: dask arrays "
            "are supported for models with one input and one output only."
        )
    model._assert_compiled("evaluate")
    _check_single_io(model)
    verbose = resolve_verbose(verbose)
    batch_size = _batch_size(batch_size)
    x, y = _single(model, x, "x"), _single(model, y, "y")
    if y is None:
        raise ValueError("Argument `y` (the targets) is required for training and evaluation.")
    from numdense.models import data as data_utils

    x, y, sample_weight = (v if v is None or _is_dask_array(v) else np.asarray(v)
                           for v in (x, y, sample_weight))
    for name, value in (("x", x), ("y", y), ("sample_weight", sample_weight)):
        if value is not None and value.ndim == 0:
            raise ValueError(f"`{name}` must be a batched array; received a scalar.")
    ref = next(v for v in (x, y, sample_weight) if _is_dask_array(v))
    ref = _as_dask(ref, ref, da, "x" if ref is x else "y" if ref is y else "sample_weight")
    data_utils.check_lengths(x=x, y=y, sample_weight=sample_weight)
    x = _as_dask(x, ref, da, "x")
    y, sample_weight = _as_dask(y, x, da, "y"), _as_dask(sample_weight, x, da, "sample_weight")
    _check_input_shape(model, x)
    n = x.shape[0]
    if steps is not None:
        n = min(n, int(steps) * batch_size)
        x, y = x[:n], y[:n]
        sample_weight = None if sample_weight is None else sample_weight[:n]
    # The same choice as for NumPy input, so that the same formula gives the same number.
    one_shot = (steps is None and n
                and getattr(model._loss_obj, "reduction", None) == "sum_over_batch_size"
                and not any(l.activity_regularizer is not None for l in model.layers))
    if not one_shot:  # whole batches in every chunk
        rows = int(np.median(x.chunks[0])) if x.chunks[0] else batch_size
        x = x.rechunk({0: batch_size * max(1, round(rows / batch_size))})
        y, sample_weight = _as_dask(y, x, da, "y"), _as_dask(sample_weight, x, da,
                                                               "sample_weight")
    from numdense.models.trainer import prepare_target

    y_meta = prepare_target(np.zeros((0,) + tuple(y.shape[1:]), model.dtype), model.output_shape,
                            model._loss_obj, model._sparse_loss())
    model._build_metrics(y_meta, model.output_shape)
    spec = dask.delayed(_EvalSpec(model, batch_size, bool(one_shot)), pure=False, traverse=False)
    model_node = delayed_model(model)
    blocks = [b.to_delayed().ravel() for b in (x, y)]
    weights = (sample_weight.to_delayed().ravel() if sample_weight is not None
               else [None] * len(blocks[0]))
    task = dask.delayed(_evaluate_block, pure=True)
    parts = dask.compute(*[task(xb, yb, wb, model_node, spec)
                           for xb, yb, wb in zip(blocks[0], blocks[1], weights)])
    numerator = sum(p[0] for p in parts)
    denominator = sum(p[1] for p in parts)
    if one_shot:
        loss = (numerator / denominator if denominator else 0.0) * model._loss_weight
        loss += model._penalties()
    else:
        loss = numerator / denominator if denominator else float("nan")
    logs = {"loss": float(loss)}
    for i, (metric, _) in enumerate(model._metrics or []):
        _merge_metric(metric, [p[3][i] for p in parts])
        logs[metric.name] = float(metric.result())
    if verbose:
        from numdense.utils.progbar import Progbar

        total = max(-(-int(n) // batch_size), 1)
        Progbar(total, verbose=verbose).update(total, list(logs.items()))
    return model._result(logs, return_dict)

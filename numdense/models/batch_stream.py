"""``fit`` / ``evaluate`` / ``predict`` on streamed batches (Keras 3 semantics).

A stream is a ``PyDataset`` (indexable, ``len`` batches per pass), a Python generator or other
iterator (one pass, then exhausted) or a re-iterable object (a fresh ``iter()`` per pass). Each
element is one batch ``(x, y)``, ``(x, y, sample_weight)`` or ``(x,)``; only the batch in
flight (plus the read-ahead of a threaded ``PyDataset``) is in memory, so data can come from
disk chunk by chunk.

Epochs follow Keras' ``EpochIterator``: without ``steps_per_epoch`` an epoch is one pass; with
it, each epoch takes that many batches, continuing where the previous one stopped. A pass that
ends before ``steps_per_epoch`` batches warns and ends the epoch; an iterator, which cannot
restart, then ends training. Each batch is trained like ``train_on_batch`` (the compiled step
when the model allows it), so a stream of the batches that ``fit(x, y, shuffle=False)`` makes
gives the same weights and History.
"""

import collections
import itertools
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from numdense.utils.progbar import Progbar, resolve_verbose
from numdense.utils.py_dataset import PyDataset

RAN_OUT = (
    "Your input ran out of data; interrupting training. Make sure that your dataset or "
    "generator can generate at least `steps_per_epoch * epochs` batches."
)
# Compiled plans kept per fit, one per batch size met (the last batch of a pass is often short).
_MAX_PLANS = 4


def is_stream(x):
    """Whether ``x`` is a stream of batches (PyDataset, iterator or iterable) and not an array."""
    if isinstance(x, PyDataset):
        return True
    if x is None or isinstance(x, (np.ndarray, list, tuple, dict, str, bytes)):
        return False
    if hasattr(x, "shape") or hasattr(x, "__array__"):  # array-likes: Dask, zarr, memmap
        return False
    return hasattr(x, "__next__") or hasattr(x, "__iter__")


def _kind(x):
    return "PyDataset" if isinstance(x, PyDataset) else "generator"


def check_stream_args(x, y=None, sample_weight=None, batch_size=None, class_weight=None):
    """Keras' errors for arguments that a stream of batches carries itself."""
    kind = _kind(x)
    for name, value, what in (("y", y, "the targets"),
                              ("sample_weight", sample_weight, "the sample weights")):
        if value is not None:
            raise ValueError(
                f"When providing `x` as a {kind}, `{name}` should not be passed. Instead, "
                f"{what} should be included as part of the {kind}."
            )
    if batch_size is not None:
        raise ValueError(
            "The `batch_size` argument must not be specified for the given input type: a "
            f"{kind} yields whole batches. Received input: {type(x).__name__}, "
            f"batch_size: {batch_size!r}"
        )
    if class_weight is not None and kind != "PyDataset":
        raise ValueError(
            "Argument `class_weight` is not supported for Python generator inputs. "
            f"Received: class_weight={class_weight!r}"
        )


def refuse_stream(model, x, method):
    """NotImplementedError for a stream given to a model with several inputs or outputs."""
    if is_stream(x):
        raise NotImplementedError(
            f"`{method}()` on a generator or PyDataset supports models with one input and one "
            f"output; model '{model.name}' has {len(model.inputs)} inputs and "
            f"{len(model.outputs)} outputs. Pass arrays instead."
        )


def unpack(batch, index):
    """A stream element as ``(x, y, sample_weight)``, with None for the missing parts."""
    if isinstance(batch, list):
        batch = tuple(batch)
    elif isinstance(batch, dict):
        raise ValueError(
            f"Batch {index} of the input is a dict; numdense models take a single input, so each "
            "batch must be a tuple (inputs,), (inputs, targets) or "
            "(inputs, targets, sample_weights)."
        )
    elif not isinstance(batch, tuple):
        batch = (batch,)
    if len(batch) not in (1, 2, 3):
        raise ValueError(
            "Each batch of a generator or PyDataset must be a tuple, either (inputs,) or "
            f"(inputs, targets) or (inputs, targets, sample_weights). Received for batch {index}: "
            f"a tuple of {len(batch)} elements."
        )
    return batch + (None,) * (3 - len(batch))


class Source:
    """Hands out passes over a stream's raw batches.

    Args:
        data: the PyDataset, iterator or iterable.
        shuffle: read a PyDataset's batches in a new random order each pass.
        rng: NumPy generator for that order.
    """

    def __init__(self, data, shuffle=False, rng=None):
        self.data = data
        self.is_dataset = isinstance(data, PyDataset)
        self.one_shot = not self.is_dataset and hasattr(data, "__next__")
        self.shuffle = bool(shuffle) and self.is_dataset
        self.rng = rng if rng is not None else np.random.default_rng()
        if self.is_dataset:
            n = data.num_batches
            if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer))
                                  or n <= 0):
                raise ValueError(
                    f"A PyDataset must hold at least one batch; `num_batches` of "
                    f"{type(data).__name__} is {n!r}."
                )

    @property
    def num_batches(self):
        """Batches per pass, or None when unknown (an iterator) or infinite (a PyDataset whose
        ``num_batches`` is None)."""
        if not self.is_dataset:
            return None
        n = self.data.num_batches
        return None if n is None else int(n)

    @property
    def infinite(self):
        return self.is_dataset and self.num_batches is None

    def new_pass(self):
        if not self.is_dataset:
            return self.data if self.one_shot else iter(self.data)
        n = self.num_batches
        if n is None:
            order = itertools.count()
        else:
            order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        workers = self.data.workers
        if workers is None or workers <= 1:
            return (self.data[int(i)] for i in order)
        return _read_ahead(self.data, order, int(workers), max(1, int(self.data.max_queue_size)))

    def on_epoch_begin(self):
        if self.is_dataset:
            self.data.on_epoch_begin()

    def on_epoch_end(self):
        if self.is_dataset:
            self.data.on_epoch_end()


def _read_ahead(dataset, order, workers, ahead):
    """The batches ``dataset[i]`` for ``i`` in ``order``, in order, read by a thread pool that
    keeps at most ``ahead`` batches in flight."""
    with ThreadPoolExecutor(workers) as pool:
        indices = iter(order)
        pending = collections.deque(pool.submit(dataset.__getitem__, int(i))
                                    for i in itertools.islice(indices, ahead))
        while pending:
            batch = pending.popleft().result()
            nxt = next(indices, None)
            if nxt is not None:
                pending.append(pool.submit(dataset.__getitem__, int(nxt)))
            yield batch


class EpochFeeder:
    """Splits a ``Source`` into epochs of ``steps`` batches (one pass each when None)."""

    def __init__(self, source, steps=None, steps_name="steps_per_epoch"):
        if steps is None and source.infinite:
            raise ValueError(
                f"The PyDataset {type(source.data).__name__} is infinite (`num_batches` is "
                f"None): pass `{steps_name}` to say how many batches to take."
            )
        self.source = source
        self.steps = steps
        self.ran_out = False  # the last epoch's pass ended before `steps` batches
        self._it = None
        self._seen = 0  # batches taken from the current pass

    @property
    def steps_hint(self):
        """Batches per epoch for the progress bar, or None when unknown."""
        return self.steps or self.source.num_batches

    def epoch(self):
        """Generator over the next epoch's batches as ``(x, y, sample_weight)``."""
        self.ran_out = False
        self.source.on_epoch_begin()
        n = self.source.num_batches
        if self._it is None or self.steps is None or (n is not None and self._seen >= n):
            self._it, self._seen = self.source.new_pass(), 0
        count = 0
        while self.steps is None or count < self.steps:
            if n is not None and self._seen >= n:
                self.ran_out = self.steps is not None
                break
            try:
                batch = next(self._it)
            except StopIteration:
                self._it = None
                self.ran_out = self.steps is not None
                break
            self._seen += 1
            count += 1
            yield unpack(batch, count - 1)

    def end_epoch(self):
        self.source.on_epoch_end()


def _positive_steps(value, name):
    from numdense.models.trainer import _positive_int

    return None if value is None else _positive_int(value, name)


def _prepare(model, x, y, sample_weight, class_weight, index, method):
    if y is None:
        raise ValueError(
            f"`{method}` needs targets: each batch must be (inputs, targets) or (inputs, targets, "
            f"sample_weights). Batch {index} of the input has no targets."
        )
    if class_weight is not None and sample_weight is not None:
        raise ValueError("You cannot specify `class_weight` and `sample_weight` at the same time.")
    return model._prepare(x, y, sample_weight, class_weight)


class _BatchTrainer:
    """Trains a model one streamed batch at a time and keeps the epoch's loss and metrics."""

    def __init__(self, model, class_weight):
        self.model = model
        self.class_weight = class_weight
        self.plans = {}
        self.dropout_seeded = False

    def _plan(self, n, y_width):
        key = (n, y_width)
        if key not in self.plans:
            if len(self.plans) >= _MAX_PLANS:
                self.plans.pop(next(iter(self.plans)))
            plan = self.model._plan(n, y_width)
            if plan is not None and plan.has_dropout and not self.dropout_seeded:
                from numdense.utils.random import draw_seed

                plan.seed_dropout(draw_seed())
                self.dropout_seeded = True
            self.plans[key] = plan
        return self.plans[key]

    def step(self, x, y, w):
        """One gradient update; returns ``(loss, y_pred)`` with ``y_pred`` on the host."""
        model = self.model
        n = x.shape[0]
        if not n:
            raise ValueError("The input yielded an empty batch; every batch needs a sample.")
        plan = self._plan(n, y.shape[1])
        if plan is None:
            from numdense import backend

            loss, y_pred = model._python_train_step(x, y, w)
            return float(loss), backend.to_host(y_pred)
        losses, sizes = np.zeros(1), np.zeros(1)
        lrs = model.optimizer.learning_rates(model.optimizer.iterations, 1)
        store = np.zeros((n if model._metrics else 0, model.output_shape[-1]), model.dtype)
        plan.run(x, y, w, np.arange(n, dtype=np.int64), 0, 1, lrs, losses, sizes, store, False)
        return float(losses[0]), store

    def run_epoch(self, batches, cbs):
        """Trains on ``batches``; returns the epoch logs (sample-weighted mean loss, metrics)."""
        model = self.model
        losses, sizes = [], []
        loss_sum = 0.0
        for step, (x, y, sw) in enumerate(batches):
            cbs.on_train_batch_begin(step)
            x, y, w = _prepare(model, x, y, sw, self.class_weight, step, "fit")
            model._build_metrics(y, model.output_shape)
            if step == 0:
                _reset_metrics(model)
            loss, y_pred = self.step(x, y, w)
            losses.append(loss)
            sizes.append(x.shape[0])
            loss_sum += loss * x.shape[0]
            _update_metrics(model, y, y_pred, w)
            cbs.on_train_batch_end(step, {"loss": loss_sum / sum(sizes)})
            if model.stop_training:
                break
        logs = model._running_logs(np.array(losses), np.array(sizes, dtype=np.float64),
                                   len(losses))
        logs.update(_metric_logs(model))
        return logs


def _reset_metrics(model):
    for metric, _ in model._metrics or []:
        metric.reset_state()


def _update_metrics(model, y, y_pred, w):
    for metric, weighted in model._metrics or []:
        metric.update_state(y, y_pred, sample_weight=w if weighted else None)


def _metric_logs(model, prefix=""):
    return {prefix + m.name: float(m.result()) for m, _ in model._metrics or []}


def _evaluate_batches(model, batches, on_batch_end=None):
    """The sample-count-weighted mean loss and the metrics over ``batches``; None if empty."""
    sparse = model._sparse_loss()
    loss_sum, count = 0.0, 0
    for step, (x, y, sw) in enumerate(batches):
        x, y, w = _prepare(model, x, y, sw, None, step, "evaluate")
        model._build_metrics(y, model.output_shape)
        if step == 0:
            _reset_metrics(model)
        y_pred = model(x)
        yt = y[:, 0] if sparse else y
        loss = float(model._loss_obj(yt, y_pred, sample_weight=w)) * model._loss_weight
        loss += model._penalties() + sum(
            sum(l._activity_losses) for l in model.layers if l.activity_regularizer is not None)
        loss_sum += loss * x.shape[0]
        count += x.shape[0]
        _update_metrics(model, y, y_pred, w)
        if on_batch_end is not None:
            on_batch_end(step, {"loss": loss_sum / count})
    if not count:
        return None
    logs = {"loss": loss_sum / count}
    logs.update(_metric_logs(model))
    return logs


def _validation_runner(model, validation_data, validation_steps, validation_batch_size):
    """A function returning the validation logs (None when a stream had no batches left)."""
    if validation_data is None:
        return None
    if is_stream(validation_data):
        if validation_batch_size is not None:
            raise ValueError(
                "The `validation_batch_size` argument must not be specified when "
                "`validation_data` is a generator or PyDataset (it yields whole batches). "
                f"Received: validation_batch_size={validation_batch_size!r}"
            )
        feeder = EpochFeeder(Source(validation_data), validation_steps, "validation_steps")

        def run_stream():
            logs = _evaluate_batches(model, feeder.epoch())
            feeder.end_epoch()
            if logs is None:
                warnings.warn("`validation_data` ran out of data; no validation this epoch. "
                              "Pass a PyDataset or set `validation_steps`.", stacklevel=4)
            return logs

        return run_stream
    if not isinstance(validation_data, (list, tuple)) or len(validation_data) not in (2, 3):
        raise ValueError(
            "`validation_data` must be a tuple (x_val, y_val) or "
            "(x_val, y_val, val_sample_weight), a generator or a PyDataset."
        )
    arrays = model._prepare(*validation_data)
    batch_size = 32 if validation_batch_size is None else _positive_steps(
        validation_batch_size, "validation_batch_size")
    return lambda: model._evaluate_arrays(*arrays, batch_size=batch_size, steps=validation_steps)


def fit_stream(model, x, y, batch_size, epochs, verbose, callbacks, validation_split,
               validation_data, shuffle, class_weight, sample_weight, initial_epoch,
               steps_per_epoch, validation_steps, validation_batch_size, validation_freq):
    """``Model.fit`` for a stream ``x``; the arguments are ``fit``'s."""
    from numdense import callbacks as callbacks_module
    from numdense.models.trainer import _positive_int, epoch_range
    from numdense.utils.random import draw_seed

    model._assert_compiled("fit")
    if getattr(model, "_distribute_strategy", None) is not None:
        raise NotImplementedError(
            "`fit` on a generator or PyDataset is not supported under a distribution strategy; "
            "pass arrays instead."
        )
    verbose = resolve_verbose(verbose)
    check_stream_args(x, y, sample_weight, batch_size, class_weight)
    if validation_split and validation_data is None:
        raise ValueError(
            "Argument `validation_split` is only supported for tensors or NumPy arrays. "
            f"Found incompatible type in the input: {type(x).__name__}. Pass "
            "`validation_data` instead."
        )
    initial_epoch, epochs = epoch_range(epochs, initial_epoch)
    validation_freq = _positive_int(validation_freq, "validation_freq")
    steps_per_epoch = _positive_steps(steps_per_epoch, "steps_per_epoch")
    validation_steps = _positive_steps(validation_steps, "validation_steps")
    feeder = EpochFeeder(Source(x, shuffle, np.random.default_rng(draw_seed())), steps_per_epoch)
    trainer = _BatchTrainer(model, class_weight)
    validate = _validation_runner(model, validation_data, validation_steps, validation_batch_size)
    cbs = callbacks_module.CallbackList(
        callbacks, add_history=True, add_progbar=verbose != 0, model=model, verbose=verbose,
        epochs=epochs, steps=feeder.steps_hint,
    )
    model.stop_training = False
    logs = None
    started = False
    for epoch in range(initial_epoch, epochs):
        batches = feeder.epoch()
        first = next(batches, None)
        if first is None:
            feeder.end_epoch()
            if not started:
                raise ValueError(
                    f"The {_kind(x)} passed to `fit` yielded no batches. It must yield at least "
                    "one batch (inputs, targets) or (inputs, targets, sample_weights)."
                )
            warnings.warn(RAN_OUT, stacklevel=3)
            break
        if not started:
            cbs.on_train_begin()
            started = True
        cbs.on_epoch_begin(epoch)
        logs = trainer.run_epoch(itertools.chain([first], batches), cbs)
        batches.close()
        feeder.end_epoch()
        exhausted = feeder.ran_out
        if exhausted:
            warnings.warn(RAN_OUT, stacklevel=3)
        if validate is not None and (epoch + 1) % validation_freq == 0:
            val_logs = validate()
            if val_logs is not None:
                logs.update({"val_" + k: v for k, v in val_logs.items()})
        cbs.on_epoch_end(epoch, logs)
        if model.stop_training or (exhausted and feeder.source.one_shot):
            break
    if not started:
        cbs.on_train_begin()
    cbs.on_train_end(logs)
    model.history = cbs.history
    return model.history


def _progress(verbose, target):
    return Progbar(target, verbose=verbose) if verbose else None


def evaluate_stream(model, x, y, batch_size, verbose, sample_weight, steps, return_dict):
    """``Model.evaluate`` for a stream ``x``; the arguments are ``evaluate``'s."""
    model._assert_compiled("evaluate")
    verbose = resolve_verbose(verbose)
    check_stream_args(x, y, sample_weight, batch_size)
    feeder = EpochFeeder(Source(x), _positive_steps(steps, "steps"), "steps")
    bar = _progress(verbose, feeder.steps_hint)
    seen = [0]

    def on_batch_end(step, logs):
        seen[0] = step + 1
        if bar is not None:
            bar.update(step + 1, list(logs.items()), finalize=False)

    logs = _evaluate_batches(model, feeder.epoch(), on_batch_end)
    feeder.end_epoch()
    if logs is None:
        raise ValueError(f"The {_kind(x)} passed to `evaluate` yielded no batches.")
    if bar is not None:
        bar.target = seen[0]
        bar.update(seen[0], list(logs.items()), finalize=True)
    return model._result(logs, return_dict)


def predict_stream(model, x, batch_size, verbose, steps):
    """``Model.predict`` for a stream ``x``: the predictions for the inputs of every batch
    (the ``x`` of ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``), concatenated."""
    from numdense import backend
    from numdense.layers.layer import to_float_array

    verbose = resolve_verbose(verbose)
    check_stream_args(x, batch_size=batch_size)
    feeder = EpochFeeder(Source(x), _positive_steps(steps, "steps"), "steps")
    bar = _progress(verbose, feeder.steps_hint)
    outputs = []
    for step, (xb, _, _) in enumerate(feeder.epoch()):
        if not isinstance(xb, (list, tuple, dict)):  # several inputs: the model checks them
            xb = to_float_array(xb, model.dtype, what="the input of predict")
        outputs.append(_to_host(model(xb), backend))
        if bar is not None:
            bar.update(step + 1, finalize=False)
    feeder.end_epoch()
    if not outputs:
        raise ValueError(f"The {_kind(x)} passed to `predict` yielded no batches.")
    if bar is not None:
        bar.target = len(outputs)
        bar.update(len(outputs), finalize=True)
    return _concatenate(outputs)


def _to_host(out, backend):
    if isinstance(out, dict):
        return {k: backend.to_host(v) for k, v in out.items()}
    if isinstance(out, (list, tuple)):
        return [backend.to_host(v) for v in out]
    return backend.to_host(out)


def _concatenate(outputs):
    """The batches' predictions joined along the samples (per output for several outputs)."""
    first = outputs[0]
    if isinstance(first, dict):
        return {k: np.concatenate([o[k] for o in outputs], axis=0) for k in first}
    if isinstance(first, list):
        return [np.concatenate([o[i] for o in outputs], axis=0) for i in range(len(first))]
    return np.concatenate(outputs, axis=0)

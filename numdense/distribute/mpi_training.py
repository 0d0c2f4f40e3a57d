"""``fit`` and ``evaluate`` of a model compiled under an ``MPIStrategy``.

A step on every rank: forward and backward on the local batch (the compiled Dense-stack kernels
``sequential_gradients`` / ``sequential_update`` when the model allows, else the layers' own
training methods), with the loss weights scaled so that the local gradients sum to the gradient of the *global* batch
(``sum_over_batch_size`` divides by the global batch size, not the local one); then one
allreduce of a flat buffer ``[gradients..., local loss, stop flag]``; then the same optimizer
update on every rank (regularizer gradients, clipping and constraints inside it, applied once to
the summed gradient). Penalties of weight regularizers are added to the reported loss once.

The step count of an epoch is the largest local one, so a rank whose shard is shorter sends
zeros in the last steps; with the near-equal shards of ``MPIStrategy.shard`` the global batches
are exactly those of one process with ``batch_size * ranks``.
"""

import hashlib
import time

import numpy as np

from numdense.distribute.mpi_strategy import DistributedError
from numdense.models.trainer import _lazy, _positive_int, epoch_range
from numdense.utils.progbar import resolve_verbose

_REDUCTIONS = ("sum_over_batch_size", "sum")


# ------------------------------------------------------------------------------ agreement
def _describe(model, **settings):
    """What every rank must agree on for the collectives to line up."""
    layers = [(type(l).__name__, [tuple(int(d) for d in w.shape) for w in l.weights])
              for l in model.layers]
    metrics = [m.name for m in model.metrics]
    return {
        "model": type(model).__name__, "dtype": str(model.dtype), "layers": layers,
        "optimizer": type(model.optimizer).__name__,
        "loss": getattr(model._loss_obj, "name", repr(model._loss_obj)), "metrics": metrics,
        **settings,
    }


def _check_agreement(model, strategy, **settings):
    """Raises DistributedError on every rank if any rank's model or fit settings differ."""
    desc = _describe(model, **settings)
    digest = np.frombuffer(
        hashlib.sha256(repr(sorted(desc.items())).encode()).digest()[:8], np.int64)
    all_digests = strategy.allgather_ints(digest, "the model agreement check")
    if (all_digests == all_digests[0]).all():
        return
    descs = strategy.allgather_objects(desc)
    for r, other in enumerate(descs):
        diff = {k: other.get(k) for k in descs[0] if other.get(k) != descs[0][k]}
        if diff:
            theirs = {k: descs[0][k] for k in diff}
            raise DistributedError(
                f"MPIStrategy: rank {r} does not run the same model or fit settings as rank 0: "
                f"rank {r} has {diff}, rank 0 has {theirs}. Every rank must build the same "
                "model and call fit/evaluate with the same arguments (only the data differ)."
            )


def _state_arrays(model):
    """Model weights then optimizer variables: what rank 0 broadcasts when training starts."""
    arrays = [w.value for w in model.weights]
    if model.optimizer is not None and model.optimizer.built:
        arrays += [v.value for v in model.optimizer.variables]
    return arrays


def _broadcast_state(model, strategy):
    arrays = _state_arrays(model)
    flat = np.concatenate([np.asarray(a, dtype=np.float64).reshape(-1) for a in arrays]
                          or [np.zeros(0)])
    strategy.broadcast_(flat, "the broadcast of rank 0's weights")
    offset = 0
    for a in arrays:
        a[...] = flat[offset:offset + a.size].reshape(a.shape)
        offset += a.size


# ------------------------------------------------------------------------------ metrics
def _reduce_metric_states(model, strategy, extra):
    """Sums ``extra`` (float64 values) and every metric's state over ranks; returns the summed
    ``extra`` and the metric results (the metric objects hold the global state after this)."""
    metrics = model.metrics
    states = [v for m in metrics for v in m.variables]
    flat = np.concatenate([np.asarray(extra, dtype=np.float64)]
                          + [np.asarray(v, dtype=np.float64).reshape(-1) for v in states])
    strategy.allreduce_(flat, "the reduction of losses and metrics")
    offset = len(extra)
    for v in states:
        v[...] = flat[offset:offset + v.size].reshape(v.shape)
        offset += v.size
    return flat[:len(extra)], {m.name: float(m.result()) for m in metrics}


def _local_metric_states(model, y, y_pred, weights):
    """Fills every metric's state from the local samples (reset when there are none)."""
    if y_pred is None or not len(y_pred):
        for m in model.metrics:
            m.reset_state()
        return
    model._metric_results(y, y_pred, weights)


def _evaluate_local(model, strategy, x, y, weights, batch_size, steps):
    """Loss and metrics of the samples of every rank, on every rank."""
    n = x.shape[0]
    if steps is not None:
        n = min(n, int(steps) * batch_size)
    if n:
        logs = model._evaluate_arrays(x, y, weights, batch_size=batch_size, steps=steps)
        local_loss = logs["loss"] * n
    else:
        _local_metric_states(model, None, None, None)
        local_loss = 0.0
    (loss_sum, count), results = _reduce_metric_states(model, strategy, [local_loss, n])
    logs = {"loss": float(loss_sum / count) if count else float("nan")}
    logs.update(results)
    return logs


# ------------------------------------------------------------------------------ training
def _flat_views(flat, shapes):
    views, offset = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        views.append(flat[offset:offset + size].reshape(shape))
        offset += size
    return views


class _LayerSteps:
    """Local gradients through the layers' Python training methods (any model)."""

    def __init__(self, model):
        self.model = model
        self.variables = model.trainable_weights
        shapes = [tuple(v.shape) for v in self.variables]
        self.grad_flat = np.zeros(sum(int(np.prod(s)) for s in shapes) + 2, dtype=model.dtype)
        self.views = _flat_views(self.grad_flat, shapes)
        self.sparse = model._sparse_loss()

    def gradients(self, x, y, weights, order, start, count, global_batch, with_penalties):
        model = self.model
        idx = order[start:start + count]
        xb, yb, wb = x[idx], y[idx], weights[idx]
        loss_obj = model._loss_obj
        if loss_obj.reduction == "sum_over_batch_size":
            wb = wb * (count / global_batch)
        y_pred, activity = model._train_forward_pass(xb)
        yt = yb[:, 0] if self.sparse else yb
        scale = model._loss_weight
        loss = float(loss_obj(yt, y_pred, sample_weight=wb)) * scale
        dy = np.asarray(loss_obj.grad(yt, y_pred, sample_weight=wb), dtype=model.dtype)
        if scale != 1.0:
            dy = dy * scale
        activity_loss, extra = model._activity_terms(activity, batch_size=global_batch)
        grads = model._train_backward_pass(dy, extra)
        for view, v in zip(self.views, self.variables):
            np.copyto(view, grads[id(v)])
        self._pred = y_pred
        return loss + activity_loss + (model._penalties() if with_penalties else 0.0)

    def output(self, count):
        return self._pred

    def update(self, learning_rate):
        # optimizer.apply reads the learning rate (or schedule) itself.
        self.model.optimizer.apply(self.views, self.variables)


def _stepper(model, batch_size, y_width):
    plan = None
    if not getattr(model, "_force_python_path", False):
        plan = _lazy()[5].build(model, model._loss_obj, model.optimizer, batch_size, y_width,
                                flat_gradients=True)
    # A DenseStackPlan offers the same gradients / output / update / grad_flat as _LayerSteps.
    return _LayerSteps(model) if plan is None else plan


def _train_step(model, strategy, steps, x, y, weights, order, start, count, global_batch,
                learning_rate):
    """Local gradients, one allreduce of the flat buffer, the update on every rank. Returns
    the global batch loss, or None when rank 0 asked to stop (no update then)."""
    flat = steps.grad_flat
    if count:
        # Rank 0 alone adds the weight penalties, so that the sum counts them once.
        loss = steps.gradients(x, y, weights, order, start, count, global_batch,
                               strategy.is_chief)
    else:
        flat[:] = 0
        loss = model._penalties() if strategy.is_chief else 0.0
    flat[-2] = loss
    flat[-1] = 1.0 if (strategy.is_chief and model.stop_training) else 0.0
    strategy.allreduce_(flat, "the gradient allreduce of a training step")
    if flat[-1] > 0:
        return None
    steps.update(learning_rate)
    return float(flat[-2])


def _check_supported(model):
    if getattr(model, "device", "cpu") != "cpu":
        raise NotImplementedError("MPIStrategy trains models on the 'cpu' device only.")
    reduction = getattr(model._loss_obj, "reduction", None)
    if reduction not in _REDUCTIONS:
        raise NotImplementedError(
            f"MPIStrategy supports losses with reduction in {_REDUCTIONS}; the loss "
            f"'{getattr(model._loss_obj, 'name', model._loss_obj)}' has reduction={reduction!r}."
        )


def _epoch_sync(model, strategy):
    """Rank 0's callbacks may stop training or change the learning rate: share both."""
    opt = model.optimizer
    settable = getattr(opt, "_learning_rate_var", None) is not None
    state = np.array([float(model.stop_training), opt.learning_rate if settable else 0.0])
    strategy.broadcast_(state, "the end-of-epoch synchronisation")
    model.stop_training = bool(state[0])
    if settable and not strategy.is_chief:
        opt.learning_rate = float(state[1])


def fit(model, strategy, x=None, y=None, batch_size=None, epochs=1, verbose="auto",
        callbacks=None, validation_split=0.0, validation_data=None, shuffle=True,
        class_weight=None, sample_weight=None, initial_epoch=0, steps_per_epoch=None,
        validation_steps=None, validation_batch_size=None, validation_freq=1):
    """Data-parallel ``Model.fit`` (arguments as there; ``x``/``y`` are this rank's shard and
    ``batch_size`` the per-rank batch)."""
    model._assert_compiled("fit")
    _check_supported(model)
    verbose = resolve_verbose(verbose) if strategy.is_chief else 0
    batch_size = 32 if batch_size is None else _positive_int(batch_size, "batch_size")
    initial_epoch, epochs = epoch_range(epochs, initial_epoch)
    validation_freq = _positive_int(validation_freq, "validation_freq")
    x, y, weights, val = model._fit_arrays(x, y, sample_weight, class_weight, validation_data,
                                           validation_split)
    model._build_metrics(y, model.output_shape)
    variables = model.trainable_weights
    if not model.optimizer.built:
        model.optimizer.build(variables)
    _check_agreement(
        model, strategy, batch_size=batch_size, epochs=epochs, initial_epoch=initial_epoch,
        steps_per_epoch=steps_per_epoch, validation=val is not None,
        validation_freq=validation_freq, validation_steps=validation_steps,
        validation_batch_size=validation_batch_size, features=tuple(x.shape[1:]),
    )
    steps_impl = _stepper(model, batch_size, y.shape[1])  # builds the optimizer's slots
    _broadcast_state(model, strategy)

    counts = strategy.allgather_ints([x.shape[0]], "the exchange of shard sizes")[:, 0]
    steps = int(max(-(-counts // batch_size)))
    if steps_per_epoch is not None:
        steps = min(steps, _positive_int(steps_per_epoch, "steps_per_epoch"))
    global_sizes = [int(np.clip(counts - s * batch_size, 0, batch_size).sum()) for s in range(steps)]

    callbacks_module = _lazy()[0]
    cbs = callbacks_module.CallbackList(
        callbacks if strategy.is_chief else None, add_history=True,
        add_progbar=verbose != 0, model=model, verbose=verbose, epochs=epochs, steps=steps,
    )
    from numdense.utils.random import draw_seed

    rng = np.random.default_rng(draw_seed() + 7919 * strategy.rank)
    if getattr(steps_impl, "has_dropout", False):
        steps_impl.seed_dropout(draw_seed() + 7919 * strategy.rank)
    track = bool(model.metrics)
    n = x.shape[0]
    batch_losses = np.zeros(max(steps, 1))
    batch_sizes = np.zeros(max(steps, 1))
    model.stop_training = False
    cbs.on_train_begin()
    logs = None
    for epoch in range(initial_epoch, epochs):
        cbs.on_epoch_begin(epoch)
        order = (rng.permutation(n) if shuffle else np.arange(n)).astype(np.int64)
        preds, done = [], 0
        lrs = model.optimizer.learning_rates(model.optimizer.iterations, steps)
        for s in range(steps):
            cbs.on_train_batch_begin(s)
            start = s * batch_size
            count = max(0, min(batch_size, n - start))
            loss = _train_step(model, strategy, steps_impl, x, y, weights, order, start, count,
                               global_sizes[s], lrs[s])
            if loss is None:
                model.stop_training = True
                break
            batch_losses[s] = loss
            batch_sizes[s] = global_sizes[s]
            if track and count:
                preds.append(np.array(steps_impl.output(count)))
            done = s + 1
            cbs.on_train_batch_end(s, model._running_logs(batch_losses, batch_sizes, done))
        logs = model._running_logs(batch_losses, batch_sizes, done)
        if track:
            seen = order[:min(n, done * batch_size)]
            local_pred = np.concatenate(preds) if preds else None
            _local_metric_states(model, y[seen], local_pred, weights[seen])
            logs.update(_reduce_metric_states(model, strategy, [])[1])
        if val is not None and (epoch + 1) % validation_freq == 0:
            val_logs = _evaluate_local(model, strategy, *val,
                                       batch_size=validation_batch_size or batch_size,
                                       steps=validation_steps)
            logs.update({"val_" + k: v for k, v in val_logs.items()})
        cbs.on_epoch_end(epoch, logs)
        _epoch_sync(model, strategy)
        if model.stop_training:
            break
    cbs.on_train_end(logs)
    model.history = cbs.history
    return model.history


def evaluate(model, strategy, x=None, y=None, batch_size=None, verbose="auto",
             sample_weight=None, steps=None, callbacks=None, return_dict=False):
    """Data-parallel ``Model.evaluate``: every rank passes its shard; every rank returns the
    loss and metrics of all the shards together."""
    model._assert_compiled("evaluate")
    verbose = resolve_verbose(verbose) if strategy.is_chief else 0
    batch_size = 32 if batch_size is None else _positive_int(batch_size, "batch_size")
    x, y, weights = model._prepare(x, y, sample_weight)
    model._build_metrics(y, model.output_shape)
    _check_agreement(model, strategy, evaluate_batch_size=batch_size, evaluate_steps=steps,
                     features=tuple(x.shape[1:]))
    t0 = time.perf_counter()
    logs = _evaluate_local(model, strategy, x, y, weights, batch_size, steps)
    if verbose:
        from numdense.utils.progbar import Progbar

        bar = Progbar(1, verbose=verbose)
        bar._start = t0
        bar.update(1, list(logs.items()))
    return model._result(logs, return_dict)

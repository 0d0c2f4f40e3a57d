"""``compile`` / ``fit`` / ``evaluate`` / ``train_on_batch`` / ``test_on_batch`` (Keras 3).

Training runs one of two paths with identical semantics:

* the compiled path (``DenseStackPlan``): a whole chunk of steps in one Numba call, used for
  Sequential stacks of Dense layers with builtin activations, losses, regularizers and
  constraints;
* the Python path: per batch, each layer's ``_train_forward`` / ``_train_backward`` (kernel
  calls) and ``optimizer.apply``; used for everything else (e.g. a custom Python activation).
"""

import time

import numpy as np

from numdense import backend
from numdense.models import data as data_utils
from numdense.utils.progbar import resolve_verbose

# Run the compiled loop in chunks of about this many seconds, so that a terminal progress bar
# and KeyboardInterrupt stay responsive.
_CHUNK_SECONDS = 0.1


def _lazy():
    """The training modules, imported on first use so that inference-only imports stay light."""
    from numdense import callbacks, losses, metrics, optimizers
    from numdense.kernels import loss_kinds
    from numdense.models.dense_stack_plan import DenseStackPlan

    return callbacks, losses, metrics, optimizers, loss_kinds, DenseStackPlan


_BATCH_HOOKS = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end")


def _needs_batch_hooks(callback_list, callbacks_module):
    """True if a callback does something per batch (the compiled loop then runs one step per
    call). History and the progress bar work from chunk ends, TerminateOnNaN from the loop's own
    non-finite check."""
    quiet = (callbacks_module.History, callbacks_module.ProgbarLogger,
             callbacks_module.TerminateOnNaN)
    base = callbacks_module.Callback
    for cb in callback_list.callbacks:
        if isinstance(cb, quiet):
            continue
        for hook in _BATCH_HOOKS:
            method = getattr(cb, hook, None)
            if getattr(method, "__func__", None) is not getattr(base, hook, None):
                return True
    return False


def _resolve_loss(identifier):
    losses_module = _lazy()[1]
    if identifier is None:
        raise ValueError(
            "No loss to compute. Provide a `loss` argument in `compile()`, e.g. "
            "model.compile(optimizer='adam', loss='mean_squared_error')."
        )
    if isinstance(identifier, losses_module.Loss):
        return identifier
    loss = losses_module.get(identifier)
    if isinstance(loss, losses_module.Loss):
        return loss
    name = identifier if isinstance(identifier, str) else getattr(loss, "__name__", "loss")
    return losses_module.LossFunctionWrapper(loss, name=name)


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return int(value)


def epoch_range(epochs, initial_epoch):
    """``(initial_epoch, epochs)`` as ints, or a ValueError naming the argument."""
    out = []
    for name, value in (("initial_epoch", initial_epoch), ("epochs", epochs)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(
                f"`{name}` must be a non-negative integer. Received: {name}={value!r}")
        out.append(int(value))
    return tuple(out)


def epoch_orders(rng, count, n, shuffle):
    """``(count, n)`` int64 sample orders for ``count`` epochs: a random permutation per epoch
    (one seed per epoch drawn from ``rng``), or ``0 .. n-1`` without ``shuffle``."""
    orders = np.empty((count, n), dtype=np.int64)
    if shuffle:
        from numdense.kernels.cpu.shuffle import shuffled_orders_into

        shuffled_orders_into(rng.integers(0, 2**63 - 1, size=count, dtype=np.int64), orders)
    else:
        orders[:] = np.arange(n)
    return orders


def validation_tuple(validation_data):
    """``validation_data`` as a tuple ``(x_val, y_val)`` or ``(x_val, y_val, sample_weight)``,
    or a ValueError."""
    if not isinstance(validation_data, (list, tuple)) or len(validation_data) not in (2, 3):
        raise ValueError(
            "`validation_data` must be a tuple (x_val, y_val) or "
            "(x_val, y_val, val_sample_weight)."
        )
    return tuple(validation_data)


def is_sparse_loss(loss_obj):
    """Whether ``loss_obj`` takes integer class labels (sparse categorical crossentropy)."""
    spec = loss_obj.kernel_spec()
    if spec is not None:
        return spec[0] in _lazy()[4].SPARSE
    return "sparse" in getattr(loss_obj, "name", "")


def prepare_target(y, out_shape, loss_obj, sparse):
    """The targets ``y`` checked against an output of shape ``out_shape`` for ``loss_obj``:
    sparse labels (validated class indices) as ``(n, 1)``-like 2-D arrays, dense targets with
    the output's shape (a missing trailing axis of size 1 is added)."""
    if sparse:
        if y.ndim == len(out_shape):
            if y.shape[-1] != 1:
                raise ValueError(
                    f"Sparse labels must have shape {out_shape[:-1] + (1,)} or "
                    f"{out_shape[:-1]}; received y of shape {y.shape}."
                )
            y = y[..., 0]
        if y.ndim != len(out_shape) - 1:
            raise ValueError(
                f"Sparse labels must have shape {out_shape[:-1]}; received y of shape {y.shape}."
            )
        classes = out_shape[-1]
        bad = (y < 0) | (y >= classes) | (y != np.floor(y))
        if bad.any():
            i = int(np.argwhere(bad.reshape(-1))[0][0])
            raise ValueError(
                f"Received a label value of {y.reshape(-1)[i]} (at index {i}), which is "
                f"outside the valid range of [0, {classes - 1}] for a model with {classes} "
                "outputs (labels must be integers)."
            )
        y2 = np.ascontiguousarray(y.reshape(y.shape[0], int(np.prod(y.shape[1:]))))
    else:
        if y.ndim == len(out_shape) - 1 and out_shape[-1] == 1:
            y = y[..., None]
        if tuple(y.shape[1:]) != tuple(out_shape[1:]):
            raise ValueError(
                f"Targets `y` of shape {y.shape} do not match the model output shape "
                f"{out_shape} for loss '{loss_obj.name}'."
            )
        y2 = np.ascontiguousarray(y)
    return y2


class Trainer:
    """Training methods mixed into ``Model``."""

    compiled = False
    optimizer = None
    loss = None
    history = None
    stop_training = False
    _distribute_strategy = None

    # ---------------------------------------------------------------- compile
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1,
                jit_compile="auto", auto_scale_loss=True):
        """Configures the model for training.

        Args:
            optimizer: optimizer name or instance (default ``"rmsprop"``).
            loss: loss name, function or ``Loss`` instance.
            loss_weights: a float scaling the loss (single-output models).
            metrics: list of metric names, functions or ``Metric`` instances; ``"accuracy"``
                picks binary, categorical or sparse categorical accuracy from the data, as Keras.
            weighted_metrics: metrics that also receive the sample weights.
            run_eagerly, steps_per_execution, jit_compile, auto_scale_loss: accepted for Keras
                compatibility; numdense always runs compiled Numba kernels.
        """
        self.optimizer = _lazy()[3].get(optimizer)
        self._loss_obj = None if loss is None else _resolve_loss(loss)
        self.loss = loss
        if loss_weights is not None and not isinstance(loss_weights, (int, float)):
            if isinstance(loss_weights, (list, tuple)) and len(loss_weights) == 1:
                loss_weights = loss_weights[0]
            else:
                raise ValueError(
                    "`loss_weights` must be a single float for a single-output model. "
                    f"Received: loss_weights={loss_weights!r}"
                )
        self._loss_weight = 1.0 if loss_weights is None else float(loss_weights)
        for name, value in (("metrics", metrics), ("weighted_metrics", weighted_metrics)):
            if value is not None and not isinstance(value, (list, tuple)):
                raise TypeError(f"Expected `{name}` to be a list or tuple. Received: {value!r}")
        self._metric_ids = list(metrics or [])
        self._weighted_metric_ids = list(weighted_metrics or [])
        self._metrics = None
        self._plans = {}
        self.compiled = True
        from numdense.distribute.strategy import get_strategy

        self._distribute_strategy = get_strategy()
        self.stop_training = False

    def _assert_compiled(self, method):
        if not self.compiled:
            raise ValueError(f"You must call `compile()` before calling `{method}()`.")
        if self._loss_obj is None:
            raise ValueError(
                "No loss to compute. Provide a `loss` argument in `compile()`."
            )

    @property
    def metrics(self):
        """The compiled metric objects (built on the first fit/evaluate)."""
        return [m for m, _ in (self._metrics or [])]

    @property
    def metrics_names(self):
        return ["loss"] + [m.name for m, _ in (self._metrics or [])]

    # ------------------------------------------------------------------ data
    def _sparse_loss(self):
        return is_sparse_loss(self._loss_obj)

    def _prepare(self, x, y, sample_weight=None, class_weight=None):
        """Validated arrays (x, y2d, weights) for training/evaluation; raises before any change."""
        dtype = self.dtype
        x = data_utils.as_float_array(x, dtype, "x")
        if y is None:
            raise ValueError("Argument `y` (the targets) is required for training and evaluation.")
        y = data_utils.as_float_array(y, dtype, "y")
        if x.ndim == 0 or y.ndim == 0:
            raise ValueError(f"`x` and `y` must be batched arrays; received shapes {x.shape} and {y.shape}.")
        data_utils.check_lengths(x=x, y=y)
        data_utils.check_finite(x, "x")
        data_utils.check_finite(y, "y")
        if not self.built:
            self.build((None,) + x.shape[1:])
        expected = tuple(self.input_shape[1:])
        if tuple(x.shape[1:]) != expected and None not in expected:
            raise ValueError(
                f"Model '{self.name}' expects inputs of shape {(None,) + expected}; received "
                f"x of shape {x.shape}."
            )
        sparse = self._sparse_loss()
        y2 = prepare_target(y, self.output_shape, self._loss_obj, sparse)
        weights = data_utils.sample_weights(x.shape[0], sample_weight, class_weight, y2, sparse,
                                            dtype)
        return x, y2, weights

    def _fit_arrays(self, x, y, sample_weight, class_weight, validation_data, validation_split):
        """``(x, y, weights, val)`` checked for ``fit``; ``val`` is None or the validation
        ``(x, y, weights)`` (from ``validation_data``, else the last ``validation_split`` of
        the data)."""
        x, y, weights = self._prepare(x, y, sample_weight, class_weight)
        val = None
        if validation_data is not None:
            val = self._prepare(*validation_tuple(validation_data))
        elif validation_split:
            (x, y, weights), val = data_utils.validation_split_arrays([x, y, weights],
                                                                      validation_split)
        return x, y, weights, val

    # --------------------------------------------------------------- metrics
    def _build_metrics(self, y, y_pred_shape):
        if self._metrics is not None:
            return
        metrics_module = _lazy()[2]
        built = []
        for ids, weighted in ((self._metric_ids, False), (self._weighted_metric_ids, True)):
            for identifier in ids:
                metric = metrics_module.get_metric(identifier, y.shape, y_pred_shape)
                built.append((metric, weighted))
        self._metrics = built

    def _metric_results(self, y, y_pred, weights, prefix=""):
        logs = {}
        for metric, weighted in self._metrics or []:
            metric.reset_state()
            metric.update_state(y, y_pred, sample_weight=weights if weighted else None)
            logs[prefix + metric.name] = float(metric.result())
        return logs

    # ------------------------------------------------------------ Python path
    def _penalties(self):
        total = 0.0
        for v in self.trainable_weights:
            if v.regularizer is None:
                continue
            spec = v.regularizer.kernel_spec()
            if backend.is_device_array(v.value) and spec is not None:
                # Reduced on the device: only the scalar comes back to the host.
                from numdense.kernels.cuda.regularizers import l1l2_penalty

                total += l1l2_penalty(v.value, *spec)
            else:
                total += float(v.regularizer(backend.to_host(v.value)))
        return total

    def _device_loss_and_grad(self, yt, y_pred, wb, loss_obj=None, loss_weight=None):
        """The loss of a batch on the GPU: ``(loss, dy)`` with ``dy`` a device array.

        The per-sample weights (sample weights, the 1/N of the reduction, ``loss_weights``) are
        formed on the host as for the CPU, then one CUDA kernel computes the loss gradient and
        the weighted total."""
        loss_obj = self._loss_obj if loss_obj is None else loss_obj
        loss_weight = self._loss_weight if loss_weight is None else loss_weight
        spec = loss_obj.kernel_spec()
        if spec is None:
            raise NotImplementedError(
                f"Loss '{getattr(loss_obj, 'name', loss_obj)}' has no kernel form and "
                "cannot be trained on the 'cuda' device; use a builtin loss or the CPU device."
            )
        from numdense import config, losses

        n = int(y_pred.shape[0])
        w = losses.reduction_weights((n,), wb, None, loss_obj.reduction, self.dtype)
        w = np.ascontiguousarray(np.asarray(w, dtype=np.float64) * loss_weight,
                                 dtype=self.dtype)
        dy = backend.empty(tuple(y_pred.shape), self.dtype, "cuda")
        cuda_losses = backend.kernel_module("losses", "cuda")
        loss = cuda_losses.loss_value_and_grad_into(
            backend.to_device(np.ascontiguousarray(yt, dtype=self.dtype)), y_pred,
            backend.to_device(w), dy, spec[0], spec[1], config.epsilon())
        return float(loss), dy

    def _python_train_step(self, xb, yb, wb):
        """One step through the layers' Python training methods; returns (loss, y_pred).

        For a model on the GPU the batch is copied to the device once, every layer, the loss
        and the optimizer update run there, and ``y_pred`` is a device array."""
        if getattr(self, "device", "cpu") == "cuda":
            return self._device_train_step(xb, yb, wb)
        y_pred, activity = self._train_forward_pass(xb)
        yt = yb if not self._sparse_loss() else yb[:, 0]
        weight_scale = self._loss_weight
        loss = float(self._loss_obj(yt, y_pred, sample_weight=wb)) * weight_scale
        dy = np.asarray(self._loss_obj.grad(yt, y_pred, sample_weight=wb), dtype=self.dtype)
        dy = dy * weight_scale if weight_scale != 1.0 else dy
        activity_loss, extra = self._activity_terms(activity)
        loss += activity_loss + self._penalties()
        grads = self._train_backward_pass(dy, extra)
        variables = self.trainable_weights
        self.optimizer.apply([grads[id(v)] for v in variables], variables)
        return loss, y_pred

    @staticmethod
    def _activity_terms(activity, batch_size=None):
        """The activity-regularizer loss of ``[(key, layer, output)]`` and, per key, the
        gradient it adds to that output. The penalty is divided by ``batch_size`` (default: the
        outputs' batch; a data-parallel step passes the global batch)."""
        loss, extra = 0.0, {}
        for key, layer, out in activity:
            batch = batch_size or out.shape[0] or 1
            loss += float(layer.activity_regularizer(out)) / batch
            g = np.zeros_like(out)
            layer.activity_regularizer.add_gradient(np.ascontiguousarray(out), g)
            extra[key] = g / batch
        return loss, extra

    def _train_forward_pass(self, x):
        """Forward through the layers for training: ``(y_pred, activity)`` where ``activity``
        lists ``(key, layer, output)`` for the layers with an activity regularizer."""
        activity = []
        for layer in self.layers:
            x = layer._train_forward(x)
            if layer.activity_regularizer is not None:
                activity.append((id(layer), layer, x))
        return x, activity

    def _train_backward_pass(self, dy, extra):
        """Backward through the layers from dL/dy_pred; ``extra`` adds gradients to the outputs
        of the layers it names (by key). Returns ``{id(variable): gradient}``."""
        grads = {}
        for layer in reversed(self.layers):
            if id(layer) in extra:
                dy = dy + extra[id(layer)]
            dy = layer._train_backward(dy)
            grads.update(layer._grads)
        return grads

    def _device_train_step(self, xb, yb, wb):
        if any(l.activity_regularizer is not None for l in self.layers):
            raise NotImplementedError(
                "Activity regularizers are not supported on the 'cuda' device yet."
            )
        y_pred, _ = self._train_forward_pass(
            backend.to_device(np.ascontiguousarray(xb, dtype=self.dtype)))
        yt = yb if not self._sparse_loss() else yb[:, 0]
        loss, dy = self._device_loss_and_grad(yt, y_pred, wb)
        loss += self._penalties()
        grads = self._train_backward_pass(dy, {})
        variables = self.trainable_weights
        self.optimizer.apply([grads[id(v)] for v in variables], variables)
        return loss, y_pred

    # -------------------------------------------------------------------- fit
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1):
        """Trains the model for a fixed number of epochs.

        Args:
            x: input data (array-like), a ``dask.array.Array`` (streamed one row chunk at a
                time, see ``numdense.models.dask_fit``), or a generator or ``PyDataset`` of
                batches.
            y: targets (array-like; integer labels for sparse losses).
            batch_size: samples per gradient update (default 32); the last partial batch of an
                epoch is kept.
            epochs: index of the epoch to stop at (epochs run from ``initial_epoch``).
            verbose: "auto" or 1 (progress bar), 2 (one line per epoch), 0 (silent).
            callbacks: list of ``numdense.callbacks.Callback``.
            validation_split: fraction of the data, taken from the end before shuffling, to
                evaluate on at the end of each epoch.
            validation_data: ``(x_val, y_val)`` or ``(x_val, y_val, sample_weight)``; overrides
                ``validation_split``.
            shuffle: reshuffle the training samples every epoch.
            class_weight: dict mapping class index to a weight for the loss.
            sample_weight: per-sample weights for the loss.
            initial_epoch: epoch at which to start (to resume a run).
            steps_per_epoch: batches per epoch (default: all samples).
            validation_steps, validation_batch_size: batches and batch size for validation.
            validation_freq: validate every this many epochs.

        Returns:
            A ``History`` whose ``history`` maps ``loss``, metric names and ``val_*`` to lists.
        """
        from numdense.models import batch_stream
        if batch_stream.is_stream(x):  # a generator or PyDataset of batches
            return batch_stream.fit_stream(
                self, x, y, batch_size, epochs, verbose, callbacks, validation_split,
                validation_data, shuffle, class_weight, sample_weight, initial_epoch,
                steps_per_epoch, validation_steps, validation_batch_size, validation_freq)
        from numdense.models import dask_support
        if dask_support.is_dask_input(x, y, sample_weight):  # streamed chunk by chunk
            from numdense.models import dask_fit
            return dask_fit.fit(
                self, x, y, batch_size, epochs, verbose, callbacks, validation_split,
                validation_data, shuffle, class_weight, sample_weight, initial_epoch,
                steps_per_epoch, validation_steps, validation_batch_size, validation_freq)
        self._assert_compiled("fit")
        if self._distribute_strategy is not None:
            return self._distribute_strategy.fit(
                self, x=x, y=y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                callbacks=callbacks, validation_split=validation_split,
                validation_data=validation_data, shuffle=shuffle, class_weight=class_weight,
                sample_weight=sample_weight, initial_epoch=initial_epoch,
                steps_per_epoch=steps_per_epoch, validation_steps=validation_steps,
                validation_batch_size=validation_batch_size, validation_freq=validation_freq)
        verbose = resolve_verbose(verbose)
        batch_size = 32 if batch_size is None else _positive_int(batch_size, "batch_size")
        initial_epoch, epochs = epoch_range(epochs, initial_epoch)
        validation_freq = _positive_int(validation_freq, "validation_freq")
        x, y, weights, val = self._fit_arrays(x, y, sample_weight, class_weight,
                                              validation_data, validation_split)
        n = x.shape[0]
        steps = -(-n // batch_size)
        if steps_per_epoch is not None:
            steps = min(steps, _positive_int(steps_per_epoch, "steps_per_epoch"))
        self._build_metrics(y, self.output_shape)

        plan = self._plan(batch_size, y.shape[1])
        callbacks_module = _lazy()[0]
        cbs = callbacks_module.CallbackList(
            callbacks, add_history=True, add_progbar=verbose != 0, model=self,
            verbose=verbose, epochs=epochs, steps=steps,
        )
        batch_hooks = _needs_batch_hooks(cbs, callbacks_module)
        stop_on_nan = any(isinstance(c, callbacks_module.TerminateOnNaN) for c in cbs.callbacks)
        from numdense.utils.random import draw_seed

        rng = np.random.default_rng(draw_seed())
        if plan is not None and plan.has_dropout:
            plan.seed_dropout(draw_seed())
        self.stop_training = False
        batch_losses = np.zeros(max(steps, 1))
        batch_sizes = np.zeros(max(steps, 1))
        track = bool(self._metrics)
        pred_store = np.zeros((n if (track and plan) else 0,) + (self.output_shape[-1],), self.dtype)
        cbs.on_train_begin()
        quiet = (callbacks_module.History, callbacks_module.TerminateOnNaN)
        if (plan is not None and verbose == 0 and val is None and not track
                and all(isinstance(cb, quiet) for cb in cbs.callbacks)):
            logs = self._fit_whole_epochs(plan, cbs, x, y, weights, n, steps, rng, shuffle,
                                          initial_epoch, epochs, stop_on_nan)
            cbs.on_train_end(logs)
            self.history = cbs.history
            return self.history
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch)
            order = epoch_orders(rng, 1, n, shuffle)[0]
            logs = {}
            preds = []
            done = 0
            if plan is not None:
                lrs = self.optimizer.learning_rates(self.optimizer.iterations, steps)
                chunk = 1 if batch_hooks else steps
                while done < steps:
                    end = min(steps, done + chunk)
                    if batch_hooks:
                        cbs.on_train_batch_begin(done)
                    t0 = time.perf_counter()
                    ran = plan.run(x, y, weights, order, done, end, lrs, batch_losses,
                                   batch_sizes, pred_store, stop_on_nan)
                    elapsed = time.perf_counter() - t0
                    cbs.on_train_batch_end(ran - 1, self._running_logs(batch_losses, batch_sizes, ran))
                    if not batch_hooks and ran == end:
                        per_step = elapsed / max(end - done, 1)
                        chunk = max(1, int(_CHUNK_SECONDS / max(per_step, 1e-9)))
                    done = ran
                    if ran < end:  # stopped on a non-finite loss
                        self.stop_training = True
                    if self.stop_training:
                        break
            else:
                for s in range(steps):
                    cbs.on_train_batch_begin(s)
                    idx = order[s * batch_size:(s + 1) * batch_size]
                    loss, y_pred = self._python_train_step(x[idx], y[idx], weights[idx])
                    batch_losses[s] = loss
                    batch_sizes[s] = len(idx)
                    if track:
                        preds.append(backend.to_host(y_pred))
                    done = s + 1
                    cbs.on_train_batch_end(s, self._running_logs(batch_losses, batch_sizes, done))
                    if stop_on_nan and not np.isfinite(loss):
                        self.stop_training = True
                    if self.stop_training:
                        break
            logs = self._running_logs(batch_losses, batch_sizes, done)
            if track and done:
                seen = order[:min(n, done * batch_size)]
                y_pred = pred_store[:len(seen)] if plan is not None else np.concatenate(preds)
                logs.update(self._metric_results(y[seen], y_pred, weights[seen]))
            if val is not None and (epoch + 1) % validation_freq == 0:
                val_logs = self._evaluate_arrays(*val, batch_size=validation_batch_size or batch_size,
                                                 steps=validation_steps)
                logs.update({"val_" + k: v for k, v in val_logs.items()})
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbs.on_train_end(logs if epochs > initial_epoch else None)
        self.history = cbs.history
        return self.history

    def _fit_whole_epochs(self, plan, cbs, x, y, weights, n, steps, rng, shuffle, first, epochs,
                          stop_on_nan):
        """Silent fits with nothing to report between epochs run many epochs per compiled call
        (chunks of about ``_CHUNK_SECONDS``); History still gets every epoch's loss."""
        epoch, chunk, logs = first, 1, None
        # With History alone (the usual silent fit) a chunk's epoch losses go straight to it:
        # the callback dispatch cost more than a small model's whole epoch.
        history_only = all(type(cb) is _lazy()[0].History for cb in cbs.callbacks)
        while epoch < epochs:
            count = min(chunk, epochs - epoch)
            orders = epoch_orders(rng, count, n, shuffle)
            lrs = self.optimizer.learning_rates(self.optimizer.iterations, count * steps)
            losses, sizes = np.zeros(count * steps), np.zeros(count * steps)
            t0 = time.perf_counter()
            ran = plan.run_epochs(x, y, weights, orders, steps, lrs, losses, sizes, stop_on_nan)
            elapsed = time.perf_counter() - t0
            whole = self._epoch_losses(losses, sizes, steps, min(count, ran // steps)).tolist()
            if history_only:  # every epoch ran whole: only TerminateOnNaN cuts a chunk short
                for cb in cbs.callbacks:
                    cb.record_losses(epoch, whole)
                logs = {"loss": whole[-1]} if whole else logs
            else:
                for j in range(count):
                    start = j * steps
                    if start >= ran:
                        break
                    done = min(steps, ran - start)
                    if j < len(whole):
                        logs = {"loss": whole[j]}
                    else:
                        logs = self._running_logs(losses[start:], sizes[start:], done)
                    cbs.on_epoch_begin(epoch + j)
                    cbs.on_train_batch_end(done - 1, logs)
                    cbs.on_epoch_end(epoch + j, logs)
            epoch += count
            if ran < count * steps or self.stop_training:
                self.stop_training = True
                break
            chunk = max(1, int(_CHUNK_SECONDS * count / max(elapsed, 1e-9)))
        return logs

    @staticmethod
    def _epoch_losses(batch_losses, batch_sizes, steps, epochs):
        """The loss of each of ``epochs`` whole epochs of ``steps`` batches, as
        ``_running_logs`` computes it (NumPy reduces each row as it reduces a 1-D array)."""
        if not steps or not epochs:
            return np.zeros(0)
        losses = batch_losses[:epochs * steps].reshape(epochs, steps)
        sizes = batch_sizes[:epochs * steps].reshape(epochs, steps)
        return (losses * sizes).sum(axis=1) / sizes.sum(axis=1)

    @staticmethod
    def _running_logs(batch_losses, batch_sizes, count):
        sizes = batch_sizes[:count]
        total = sizes.sum()
        loss = float((batch_losses[:count] * sizes).sum() / total) if total else float("nan")
        return {"loss": loss}

    def _plan(self, batch_size, y_width):
        if getattr(self, "_force_python_path", False):  # tests compare both paths
            return None
        key = (batch_size, y_width, id(self.optimizer), tuple(id(l) for l in self.layers),
               tuple(l.trainable for l in self.layers))
        if key not in self._plans:
            self._plans.clear()
            self._plans[key] = _lazy()[5].build(self, self._loss_obj, self.optimizer,
                                                    batch_size, y_width)
        return self._plans[key]

    # --------------------------------------------------------------- evaluate
    def _evaluate_arrays(self, x, y, weights, batch_size=32, steps=None):
        sparse = self._sparse_loss()
        one_shot = (steps is None and x.shape[0]
                    and getattr(self._loss_obj, "reduction", None) == "sum_over_batch_size"
                    and not any(l.activity_regularizer is not None for l in self.layers))
        if one_shot:
            # With the default reduction the batch-size-weighted mean of the batch losses is
            # the weighted mean over all samples, so one loss call over all outputs suffices.
            y_pred = self.predict(x, batch_size=batch_size, verbose=0)
            yt = y[:, 0] if sparse else y
            loss = float(self._loss_obj(yt, y_pred, sample_weight=weights)) * self._loss_weight
            logs = {"loss": loss + self._penalties()}
            logs.update(self._metric_results(y, y_pred, weights))
            return logs
        n = x.shape[0]
        total_steps = -(-n // batch_size)
        if steps is not None:
            total_steps = min(total_steps, int(steps))
        loss_sum, count, preds = 0.0, 0, []
        for s in range(total_steps):
            sl = slice(s * batch_size, (s + 1) * batch_size)
            xb, yb, wb = x[sl], y[sl], weights[sl]
            y_pred = self(xb)
            yt = yb[:, 0] if sparse else yb
            loss = float(self._loss_obj(yt, y_pred, sample_weight=wb)) * self._loss_weight
            loss += self._penalties() + sum(
                sum(l._activity_losses) for l in self.layers if l.activity_regularizer is not None
            )
            loss_sum += loss * len(xb)
            count += len(xb)
            preds.append(y_pred)
        logs = {"loss": loss_sum / count if count else float("nan")}
        if preds:
            used = slice(0, count)
            logs.update(self._metric_results(y[used], np.concatenate(preds), weights[used]))
        return logs

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False):
        """Returns the loss (plus metrics) of the model on the given data.

        Args:
            x, y: data and targets.
            batch_size: samples per batch (default 32).
            verbose: "auto"/1 progress bar, 2 one line, 0 silent.
            sample_weight: per-sample weights for the loss.
            steps: number of batches to evaluate (default: all).
            callbacks: accepted for Keras compatibility.
            return_dict: return ``{name: value}`` instead of a list.

        Returns:
            The scalar loss when there are no metrics, else ``[loss, *metrics]`` (or a dict).
        """
        from numdense.models import dask_support
        if dask_support.is_dask_input(x, y, sample_weight):
            return dask_support.evaluate(self, x, y, batch_size, verbose, sample_weight, steps,
                                         callbacks, return_dict)
        from numdense.models import batch_stream
        if batch_stream.is_stream(x):
            return batch_stream.evaluate_stream(self, x, y, batch_size, verbose, sample_weight,
                                                steps, return_dict)
        self._assert_compiled("evaluate")
        if self._distribute_strategy is not None:
            return self._distribute_strategy.evaluate(
                self, x=x, y=y, batch_size=batch_size, verbose=verbose,
                sample_weight=sample_weight, steps=steps, return_dict=return_dict)
        verbose = resolve_verbose(verbose)
        batch_size = 32 if batch_size is None else _positive_int(batch_size, "batch_size")
        x, y, weights = self._prepare(x, y, sample_weight)
        self._build_metrics(y, self.output_shape)
        t0 = time.perf_counter()
        logs = self._evaluate_arrays(x, y, weights, batch_size=batch_size, steps=steps)
        if verbose:
            from numdense.utils.progbar import Progbar

            total = -(-x.shape[0] // batch_size) if steps is None else min(int(steps), -(-x.shape[0] // batch_size))
            bar = Progbar(max(total, 1), verbose=verbose)
            bar._start = t0
            bar.update(max(total, 1), list(logs.items()))
        return self._result(logs, return_dict)

    def _result(self, logs, return_dict):
        """Keras' return form: the dict, the scalar loss alone, or ``[loss, *metrics]``."""
        if return_dict:
            return logs
        values = [logs["loss"]] + [logs[m.name] for m, _ in self._metrics or []]
        return values[0] if len(values) == 1 else values

    # --------------------------------------------------------- single batches
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """Runs one gradient update on one batch; returns the loss (and metrics)."""
        self._assert_compiled("train_on_batch")
        x, y, weights = self._prepare(x, y, sample_weight, class_weight)
        n = x.shape[0]
        if not n:
            raise ValueError("`x` is empty: train_on_batch needs at least one sample.")
        self._build_metrics(y, self.output_shape)
        plan = self._plan(n, y.shape[1])
        batch_losses, batch_sizes = np.zeros(1), np.zeros(1)
        if plan is not None:
            lrs = self.optimizer.learning_rates(self.optimizer.iterations, 1)
            store = np.zeros((n if self._metrics else 0, self.output_shape[-1]), self.dtype)
            plan.run(x, y, weights, np.arange(n, dtype=np.int64), 0, 1, lrs, batch_losses,
                     batch_sizes, store, False)
            y_pred = store
        else:
            batch_losses[0], y_pred = self._python_train_step(x, y, weights)
            y_pred = backend.to_host(y_pred)
        logs = {"loss": float(batch_losses[0])}
        if self._metrics:
            logs.update(self._metric_results(y, y_pred, weights))
        return self._result(logs, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """Returns the loss (and metrics) on one batch, without updating the model."""
        self._assert_compiled("test_on_batch")
        x, y, weights = self._prepare(x, y, sample_weight)
        self._build_metrics(y, self.output_shape)
        logs = self._evaluate_arrays(x, y, weights, batch_size=max(x.shape[0], 1))
        return self._result(logs, return_dict)

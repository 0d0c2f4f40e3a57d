"""Training a functional model: the graph's forward/backward passes and multi-input /
multi-output ``compile`` / ``fit`` / ``evaluate`` (Keras 3 semantics).

A model with one input and one output trains through ``Trainer`` exactly as a ``Sequential``
(only the forward/backward passes run the graph). With several inputs or outputs:

* ``x`` / ``y`` are lists (in ``inputs`` / ``outputs`` order) or dicts keyed by input / output
  name;
* ``loss`` is one loss (applied to every output), a list, or a dict by output name (a ``None``
  entry or a missing name: no loss for that output); ``loss_weights`` a list or dict;
* ``metrics`` a list with one entry (a metric or a list of metrics) per output, a dict by
  output name, or a flat list of metrics of another length, applied to every output;
* the total loss is the weighted sum of the output losses plus regularization; logs hold
  ``loss``, ``<output>_<metric>`` and, with several losses, ``<output>_loss`` (unweighted).
"""

import numpy as np

from numdense import backend
from numdense.models import batch_stream
from numdense.models import data as data_utils
from numdense.models.trainer import (Trainer, _lazy, _positive_int, epoch_range, _resolve_loss,
                                     is_sparse_loss, prepare_target, validation_tuple)
from numdense.utils.progbar import resolve_verbose

# Per-call state a layer keeps for its backward pass; saved per node for shared layers.
_NODE_STATE = ("_cache", "_mask")


def _add(a, b):
    if backend.is_device_array(a) or backend.is_device_array(b):
        from numdense.layers.merging.base_merge import flat

        a, b = backend.to_device(a), backend.to_device(b)
        out = backend.empty(tuple(a.shape), a.dtype, "cuda")
        backend.kernel_module("merge", "cuda").add_into(flat(a), flat(b), flat(out))
        return out
    return a + b


def _accumulate(store, key, value):
    store[key] = _add(store[key], value) if key in store else value


class _OutputSpec:
    """What ``compile`` asked for one output: loss, weight and metrics."""

    def __init__(self, name, loss, weight, metric_ids, weighted_ids):
        self.name = name
        self.loss = loss
        self.weight = 1.0 if weight is None else float(weight)
        self.metric_ids = metric_ids
        self.weighted_ids = weighted_ids
        self.metrics = None
        self.sparse = loss is not None and is_sparse_loss(loss)


class FunctionalTrainer(Trainer):
    """``Trainer`` for graphs of layers (mixed into ``Functional``)."""

    _specs = None

    # ------------------------------------------------------- graph passes
    def _graph_forward(self, xs):
        values = {id(t): x for t, x in zip(self._input_tensors, xs)}
        states, activity = [], []
        for node in self._exec_nodes:
            layer = node.layer
            args = [values[id(t)] for t in node.keras_inputs]
            out = layer._train_forward(args if node.list_call else args[0])
            states.append({a: getattr(layer, a) for a in _NODE_STATE if hasattr(layer, a)})
            values[id(node.output_tensors[0])] = out
            if layer.activity_regularizer is not None:
                activity.append((id(node), layer, out))
        self._node_states = states
        return [values[id(t)] for t in self._output_tensors], activity

    def _graph_backward(self, dys, extra):
        """Gradients of every variable reached from the outputs' ``dys`` (None: no gradient
        from that output); a shared layer's node gradients and a reused tensor's incoming
        gradients are summed."""
        grads, pending = {}, {}
        for t, dy in zip(self._output_tensors, dys):
            if dy is not None:
                _accumulate(pending, id(t), dy)
        for node, state in zip(reversed(self._exec_nodes), reversed(self._node_states)):
            dy = pending.pop(id(node.output_tensors[0]), None)
            if id(node) in extra:
                dy = extra[id(node)] if dy is None else _add(dy, extra[id(node)])
            if dy is None:
                continue
            layer = node.layer
            for attr, value in state.items():
                setattr(layer, attr, value)
            dx = layer._train_backward(dy)
            for key, g in layer._grads.items():
                _accumulate(grads, key, g)
            for t, g in zip(node.keras_inputs, dx if node.list_call else [dx]):
                _accumulate(pending, id(t), g)
        self._node_states = None
        return grads

    def _train_forward_pass(self, x):
        outs, activity = self._graph_forward([x])
        return outs[0], activity

    def _train_backward_pass(self, dy, extra):
        return self._graph_backward([dy], extra)

    def _plan(self, batch_size, y_width):
        return None  # the compiled whole-loop path is for Sequential Dense stacks

    def _apply_gradients(self, grads):
        variables = self.trainable_weights
        values = []
        for v in variables:
            g = grads.get(id(v))
            if g is None:  # a variable no loss depends on
                g = np.zeros(v.shape, v.dtype) if not backend.is_device_array(v.value) \
                    else backend.to_device(np.zeros(v.shape, v.dtype))
            values.append(g)
        self.optimizer.apply(values, variables)

    # ------------------------------------------------------------- helpers
    @property
    def _single_io(self):
        return (len(self._input_tensors) == 1 and len(self._output_tensors) == 1
                and self._output_keys is None and self._input_keys is None)

    def _by_output_name(self, mapping, what):
        """The values of a dict keyed by output names, in output order (None where missing)."""
        names = self.output_names
        unknown = [k for k in mapping if k not in names]
        if unknown:
            raise ValueError(
                f"Unknown output name(s) {unknown} in {what}: model '{self.name}' has outputs "
                f"{names}."
            )
        return [mapping.get(k) for k in names]

    def _per_output(self, value, arg, broadcast):
        """``value`` as one entry per output (list, dict by name, or one value for all)."""
        names, n = self.output_names, len(self.output_names)
        if value is None:
            return [None] * n
        if isinstance(value, dict):
            return self._by_output_name(value, f"the `{arg}` dict")
        if isinstance(value, (list, tuple)):
            if len(value) != n:
                raise ValueError(
                    f"`{arg}` has {len(value)} entries, but model '{self.name}' has {n} outputs "
                    f"{names}. Pass one entry per output, or a dict by output name."
                )
            return list(value)
        if not broadcast:
            raise ValueError(
                f"`{arg}` must be a list or a dict by output name for model '{self.name}' with "
                f"{n} outputs {names}; received {value!r}."
            )
        return [value] * n

    def _per_output_metrics(self, metrics, arg):
        if metrics is None:
            return [[] for _ in self.output_names]
        if isinstance(metrics, dict):
            entries = self._per_output(metrics, arg, broadcast=False)
        elif isinstance(metrics, (list, tuple)):
            n = len(self.output_names)
            nested = any(isinstance(m, (list, tuple)) for m in metrics)
            if len(metrics) == n:
                entries = list(metrics)
            elif nested:
                self._per_output(list(metrics), arg, broadcast=False)  # raises
            else:
                entries = [list(metrics)] * n
        else:
            raise TypeError(f"Expected `{arg}` to be a list, tuple or dict. Received: {metrics!r}")
        return [[] if e is None else list(e) if isinstance(e, (list, tuple)) else [e]
                for e in entries]

    @staticmethod
    def _single(value, names):
        """A one-output ``loss``/``loss_weights`` given per output, reduced to its entry."""
        if isinstance(value, dict):
            return value.get(names[0])
        if isinstance(value, (list, tuple)) and len(value) == 1:
            return value[0]
        return value

    @staticmethod
    def _single_metrics(value, names):
        """One-output ``metrics`` given per output (dict, list of one list) as a flat list."""
        if isinstance(value, dict):
            value = value.get(names[0])
        if value is None:
            return None
        if not isinstance(value, (list, tuple)):
            return [value]
        if len(value) == 1 and isinstance(value[0], (list, tuple)):
            return list(value[0])
        return value

    # ------------------------------------------------------------- compile
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1,
                jit_compile="auto", auto_scale_loss=True):
        """Configures the model for training (see the module docstring for several outputs).

        Args:
            optimizer: optimizer name or instance.
            loss: a loss, or one per output (list or dict by output name).
            loss_weights: a float, or one per output (list or dict).
            metrics: list of metrics, one list per output, or a dict by output name.
            weighted_metrics: as ``metrics``, computed with the sample weights.
            run_eagerly, steps_per_execution, jit_compile, auto_scale_loss: accepted for Keras
                compatibility.
        """
        self._compile_args = dict(loss=loss, loss_weights=loss_weights, metrics=metrics,
                                  weighted_metrics=weighted_metrics)
        names = self.output_names
        if self._single_io:
            self._specs = None
            if isinstance(loss, dict) and set(loss) - set(names):
                self._per_output(loss, "loss", True)  # raises naming the unknown output
            for arg, value in (("metrics", metrics), ("weighted_metrics", weighted_metrics),
                               ("loss_weights", loss_weights)):
                if isinstance(value, dict) and set(value) - set(names):
                    self._per_output(value, arg, True)
            metrics = self._single_metrics(metrics, names)
            weighted_metrics = self._single_metrics(weighted_metrics, names)
            return Trainer.compile(
                self, optimizer, self._single(loss, names), self._single(loss_weights, names),
                metrics, weighted_metrics, run_eagerly, steps_per_execution, jit_compile,
                auto_scale_loss)
        losses = self._per_output(loss, "loss", broadcast=True)
        weights = self._per_output(loss_weights, "loss_weights", broadcast=False)
        metric_ids = self._per_output_metrics(metrics, "metrics")
        weighted_ids = self._per_output_metrics(weighted_metrics, "weighted_metrics")
        resolved = [None if l is None else _resolve_loss(l) for l in losses]
        Trainer.compile(self, optimizer, None, None, None, None)
        self.loss = loss
        self._specs = [_OutputSpec(*args) for args in
                       zip(names, resolved, weights, metric_ids, weighted_ids)]

    def _refuse_strategy(self, method):
        if self._distribute_strategy is not None:
            raise NotImplementedError(
                f"`{method}()` under {self._distribute_strategy!r} supports models with one "
                f"input and one output; model '{self.name}' has {len(self.inputs)} inputs and "
                f"{len(self.outputs)} outputs.")

    def _assert_multi_compiled(self, method):
        if not self.compiled:
            raise ValueError(f"You must call `compile()` before calling `{method}()`.")
        if all(s.loss is None for s in self._specs):
            raise ValueError("No loss to compute. Provide a `loss` argument in `compile()`.")

    # ---------------------------------------------------------------- data
    def _unwrap_single(self, x, y):
        """``x``/``y`` of a one-input, one-output model given as lists or dicts, unwrapped."""
        if isinstance(x, dict) or isinstance(x, (list, tuple)) and x and all(
                isinstance(a, np.ndarray) for a in x):
            x = self._flat_inputs(x)[0]
        if isinstance(y, dict) or isinstance(y, (list, tuple)) and y and all(
                isinstance(a, np.ndarray) for a in y):
            y = self._flat_targets(y)[0]
        return x, y

    def _flat_targets(self, y):
        names, n = self.output_names, len(self.output_names)
        if isinstance(y, dict):
            return self._by_output_name(y, "`y`")
        if n == 1 and not isinstance(y, (list, tuple)):
            return [y]
        if not isinstance(y, (list, tuple)) or len(y) != n:
            got = len(y) if isinstance(y, (list, tuple)) else 1
            raise ValueError(
                f"Model '{self.name}' has {n} outputs {names}, but `y` holds {got} target "
                "array(s). Pass a list with one array per output, or a dict by output name."
            )
        return list(y)

    def _prepare_multi(self, x, y, sample_weight=None, class_weight=None):
        if class_weight is not None:
            raise ValueError(
                "`class_weight` is only supported for models with a single output; use "
                "`sample_weight` instead."
            )
        xs = self._flat_inputs(x)
        xs = [data_utils.as_float_array(a, t.dtype, f"x['{name}']")
              for a, t, name in zip(xs, self._input_tensors, self.input_names)]
        xs = self._check_input_arrays(xs)
        if y is None:
            raise ValueError("Argument `y` (the targets) is required for training and evaluation.")
        ys = []
        for spec, target, tensor in zip(self._specs, self._flat_targets(y),
                                        self._output_tensors):
            if spec.loss is None:
                ys.append(None)
                continue
            if target is None:
                raise ValueError(f"Missing targets for output '{spec.name}' in `y`.")
            arr = data_utils.as_float_array(target, self.dtype, f"y['{spec.name}']")
            if arr.ndim == 0:
                raise ValueError(f"Targets for output '{spec.name}' must be a batched array.")
            data_utils.check_finite(arr, f"y['{spec.name}']")
            try:
                ys.append(prepare_target(arr, tensor.shape, spec.loss, spec.sparse))
            except ValueError as e:
                raise ValueError(f"Output '{spec.name}': {e}") from None
        named = {f"x['{n}']": a for n, a in zip(self.input_names, xs)}
        named.update({f"y['{s.name}']": a for s, a in zip(self._specs, ys) if a is not None})
        data_utils.check_lengths(**named)
        for name, arr in named.items():
            if name.startswith("x"):
                data_utils.check_finite(arr, name)
        n = xs[0].shape[0]
        weights = data_utils.sample_weights(n, sample_weight, None, None, False, self.dtype)
        return xs, ys, weights

    # ------------------------------------------------------------- metrics
    def _build_multi_metrics(self, ys):
        metrics_module = _lazy()[2]
        for spec, y, tensor in zip(self._specs, ys, self._output_tensors):
            if spec.metrics is not None:
                continue
            shape = y.shape if y is not None else tensor.shape
            spec.metrics = (
                [(metrics_module.get_metric(m, shape, tensor.shape), False)
                 for m in spec.metric_ids]
                + [(metrics_module.get_metric(m, shape, tensor.shape), True)
                   for m in spec.weighted_ids])

    def _multi_metric_logs(self, ys, preds, weights):
        """``<output>_<metric>`` values, unique names as Keras makes them."""
        logs, seen = {}, {}
        for weighted_pass in (False, True):
            for spec, y, p in zip(self._specs, ys, preds):
                for metric, weighted in spec.metrics or []:
                    if weighted != weighted_pass or y is None:
                        continue
                    metric.reset_state()
                    metric.update_state(y, p, sample_weight=weights if weighted else None)
                    name = f"{spec.name}_{metric.name}"
                    if name in seen:
                        if weighted:
                            name = f"{spec.name}_weighted_{metric.name}"
                        if name in seen:
                            seen[name] += 1
                            name = f"{name}_{seen[name] - 1}"
                    seen.setdefault(name, 1)
                    logs[name] = float(metric.result())
        return logs

    def _loss_names(self):
        with_loss = [s for s in self._specs if s.loss is not None]
        return [f"{s.name}_loss" for s in with_loss] if len(with_loss) > 1 else []

    def _ordered_logs(self, loss, per_output, metric_logs):
        logs = {"loss": loss}
        logs.update(metric_logs)
        for name in self._loss_names():
            logs[name] = per_output[name]
        return logs

    def _multi_result(self, logs, return_dict):
        if return_dict:
            return logs
        head = ["loss"] + self._loss_names()
        values = [logs[k] for k in head] + [logs[k] for k in sorted(logs) if k not in head]
        return values[0] if len(values) == 1 else values

    # ---------------------------------------------------------------- steps
    def _output_losses(self, ys, outs, weights, with_grad):
        """``(total, {<output>_loss: unweighted}, dys)`` of one batch."""
        total, per, dys = 0.0, {}, []
        on_device = any(backend.is_device_array(o) for o in outs)
        for spec, y, out in zip(self._specs, ys, outs):
            if spec.loss is None:
                dys.append(None)
                continue
            yt = y[:, 0] if spec.sparse else y
            if on_device and with_grad:
                value, dy = self._device_loss_and_grad(yt, out, weights, spec.loss, spec.weight)
                raw = value / spec.weight if spec.weight else float(
                    spec.loss(yt, backend.to_host(out), sample_weight=weights))
            else:
                host = backend.to_host(out)
                raw = float(spec.loss(yt, host, sample_weight=weights))
                value = raw * spec.weight
                dy = None
                if with_grad:
                    dy = np.asarray(spec.loss.grad(yt, host, sample_weight=weights), self.dtype)
                    dy = dy * spec.weight if spec.weight != 1.0 else dy
            per[f"{spec.name}_loss"] = raw
            total += value
            dys.append(dy)
        return total, per, dys

    def _multi_train_step(self, xs, ys, weights):
        on_device = self.device == "cuda"
        if on_device:
            xs = [backend.to_device(np.ascontiguousarray(x, self.dtype)) for x in xs]
        outs, activity = self._graph_forward(xs)
        if activity and on_device:
            raise NotImplementedError(
                "Activity regularizers are not supported on the 'cuda' device yet.")
        total, per, dys = self._output_losses(ys, outs, weights, with_grad=True)
        activity_loss, extra = self._activity_terms(activity)
        total += activity_loss + self._penalties()
        grads = self._graph_backward(dys, extra)
        self._apply_gradients(grads)
        return total, per, [backend.to_host(o) for o in outs]

    def _evaluate_multi(self, xs, ys, weights, batch_size=32, steps=None):
        n = xs[0].shape[0]
        total_steps = -(-n // batch_size)
        if steps is not None:
            total_steps = min(total_steps, int(steps))
        loss_sum, per_sum, count, preds = 0.0, {}, 0, []
        for s in range(total_steps):
            sl = slice(s * batch_size, (s + 1) * batch_size)
            outs = self._run_batch([x[sl] for x in xs])
            yb = [None if y is None else y[sl] for y in ys]
            total, per, _ = self._output_losses(yb, outs, weights[sl], with_grad=False)
            total += self._penalties() + sum(
                sum(l._activity_losses) for l in self.layers if l.activity_regularizer is not None)
            b = xs[0][sl].shape[0]
            loss_sum += total * b
            for k, v in per.items():
                per_sum[k] = per_sum.get(k, 0.0) + v * b
            count += b
            preds.append(outs)
        nan = float("nan")
        per_mean = {k: v / count for k, v in per_sum.items()} if count else {}
        metric_logs = {}
        if preds:
            flat = [np.concatenate([p[k] for p in preds]) for k in range(len(self._specs))]
            used = slice(0, count)
            metric_logs = self._multi_metric_logs(
                [None if y is None else y[used] for y in ys], flat, weights[used])
        return self._ordered_logs(loss_sum / count if count else nan,
                                  {k: per_mean.get(k, nan) for k in self._loss_names()},
                                  metric_logs)

    # --------------------------------------------------------- public API
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1):
        """Trains the model (see ``Trainer.fit``; ``x``/``y`` per input/output for several)."""
        if self._specs is None:
            x, y = self._unwrap_single(x, y)
            if isinstance(validation_data, (list, tuple)) and len(validation_data) >= 2:
                validation_data = self._unwrap_single(*validation_data[:2]) + tuple(
                    validation_data[2:])
            return Trainer.fit(self, x, y, batch_size, epochs, verbose, callbacks,
                               validation_split, validation_data, shuffle, class_weight,
                               sample_weight, initial_epoch, steps_per_epoch, validation_steps,
                               validation_batch_size, validation_freq)
        self._assert_multi_compiled("fit")
        self._refuse_strategy("fit")
        batch_stream.refuse_stream(self, x, "fit")
        verbose = resolve_verbose(verbose)
        batch_size = 32 if batch_size is None else _positive_int(batch_size, "batch_size")
        validation_freq = _positive_int(validation_freq, "validation_freq")
        initial_epoch, epochs = epoch_range(epochs, initial_epoch)
        xs, ys, weights = self._prepare_multi(x, y, sample_weight, class_weight)
        val = None
        if validation_data is not None:
            val = self._prepare_multi(*validation_tuple(validation_data))
        elif validation_split:
            arrays = xs + ys + [weights]
            train, held = data_utils.validation_split_arrays(arrays, validation_split)
            k = len(xs)
            xs, ys, weights = train[:k], train[k:-1], train[-1]
            val = (held[:k], held[k:-1], held[-1])
        n = xs[0].shape[0]
        steps = -(-n // batch_size)
        if steps_per_epoch is not None:
            steps = min(steps, _positive_int(steps_per_epoch, "steps_per_epoch"))
        self._build_multi_metrics(ys)
        callbacks_module = _lazy()[0]
        cbs = callbacks_module.CallbackList(
            callbacks, add_history=True, add_progbar=verbose != 0, model=self,
            verbose=verbose, epochs=epochs, steps=steps)
        stop_on_nan = any(isinstance(c, callbacks_module.TerminateOnNaN) for c in cbs.callbacks)
        from numdense.utils.random import draw_seed

        rng = np.random.default_rng(draw_seed())
        track = any(s.metrics for s in self._specs)
        self.stop_training = False
        cbs.on_train_begin()
        logs = None
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch)
            order = (rng.permutation(n) if shuffle else np.arange(n)).astype(np.int64)
            loss_sum, per_sum, count, preds = 0.0, {}, 0, []
            for s in range(steps):
                cbs.on_train_batch_begin(s)
                idx = order[s * batch_size:(s + 1) * batch_size]
                total, per, outs = self._multi_train_step(
                    [a[idx] for a in xs], [None if a is None else a[idx] for a in ys],
                    weights[idx])
                loss_sum += total * len(idx)
                for k, v in per.items():
                    per_sum[k] = per_sum.get(k, 0.0) + v * len(idx)
                count += len(idx)
                if track:
                    preds.append(outs)
                running = {"loss": loss_sum / count}
                running.update({k: per_sum[k] / count for k in self._loss_names()})
                cbs.on_train_batch_end(s, running)
                if stop_on_nan and not np.isfinite(total):
                    self.stop_training = True
                if self.stop_training:
                    break
            metric_logs = {}
            if track and preds:
                seen = order[:count]
                flat = [np.concatenate([p[k] for p in preds]) for k in range(len(self._specs))]
                metric_logs = self._multi_metric_logs(
                    [None if a is None else a[seen] for a in ys], flat, weights[seen])
            nan = float("nan")
            logs = self._ordered_logs(
                loss_sum / count if count else nan,
                {k: per_sum[k] / count if count else nan for k in self._loss_names()},
                metric_logs)
            if val is not None and (epoch + 1) % validation_freq == 0:
                val_logs = self._evaluate_multi(*val, batch_size=validation_batch_size
                                                or batch_size, steps=validation_steps)
                logs.update({"val_" + k: v for k, v in val_logs.items()})
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbs.on_train_end(logs)
        self.history = cbs.history
        return self.history

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False):
        """Loss and metrics on data (see ``Trainer.evaluate``). With several outputs the list
        is ``[loss, <output>_loss..., other metrics in name order]``, as Keras 3 orders it."""
        from numdense.models import dask_support
        if dask_support.is_dask_input(x, y, sample_weight):
            return dask_support.evaluate(self, x, y, batch_size, verbose, sample_weight, steps,
                                         callbacks, return_dict)
        if self._specs is None:
            x, y = self._unwrap_single(x, y)
            return Trainer.evaluate(self, x, y, batch_size, verbose, sample_weight, steps,
                                    callbacks, return_dict)
        self._assert_multi_compiled("evaluate")
        self._refuse_strategy("evaluate")
        batch_stream.refuse_stream(self, x, "evaluate")
        verbose = resolve_verbose(verbose)
        batch_size = 32 if batch_size is None else _positive_int(batch_size, "batch_size")
        xs, ys, weights = self._prepare_multi(x, y, sample_weight)
        self._build_multi_metrics(ys)
        logs = self._evaluate_multi(xs, ys, weights, batch_size=batch_size, steps=steps)
        if verbose:
            from numdense.utils.progbar import Progbar

            total = max(-(-xs[0].shape[0] // batch_size), 1)
            Progbar(total, verbose=verbose).update(total, list(logs.items()))
        return self._multi_result(logs, return_dict)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict=False):
        """One gradient update on one batch; returns the loss (and metrics)."""
        if self._specs is None:
            x, y = self._unwrap_single(x, y)
            return Trainer.train_on_batch(self, x, y, sample_weight, class_weight, return_dict)
        self._assert_multi_compiled("train_on_batch")
        xs, ys, weights = self._prepare_multi(x, y, sample_weight, class_weight)
        if not xs[0].shape[0]:
            raise ValueError("`x` is empty: train_on_batch needs at least one sample.")
        self._build_multi_metrics(ys)
        total, per, outs = self._multi_train_step(xs, ys, weights)
        logs = self._ordered_logs(total, per, self._multi_metric_logs(ys, outs, weights))
        return self._multi_result(logs, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """Loss (and metrics) on one batch, without updating the model."""
        if self._specs is None:
            x, y = self._unwrap_single(x, y)
            return Trainer.test_on_batch(self, x, y, sample_weight, return_dict)
        self._assert_multi_compiled("test_on_batch")
        xs, ys, weights = self._prepare_multi(x, y, sample_weight)
        self._build_multi_metrics(ys)
        logs = self._evaluate_multi(xs, ys, weights, batch_size=max(xs[0].shape[0], 1))
        return self._multi_result(logs, return_dict)

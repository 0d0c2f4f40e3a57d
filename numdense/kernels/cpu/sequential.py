"""Compiled whole-model loops for stacks of Dense layers: inference and training steps.

One Numba function runs many training steps (gather the batch, forward through every layer,
loss and its gradient, backward, one optimizer update per parameter) without returning to
Python, so a step costs a few kernel calls and no allocation. Per-layer and per-parameter
arrays arrive as address tables (``_views``: one int64 row of data address, rows, cols per
array) with small per-layer parameter arrays, so a single compiled function (per dtype) serves
every Dense stack; the caller keeps the tabled arrays alive. The tiny kernels on a step's path
are inlined (``inline="always"``): a call to a Numba function that is not inlined costs tens
of nanoseconds, as much as a tiny layer's arithmetic. The training loop and its batch step are
compiled without reference counting (``kernel(refcounted=False)``): every array they touch is
borrowed from the caller, and the counting calls on their views had been a quarter of a tiny
model's step.
"""

import numpy as np

from numdense.kernels.cpu._jit import as_dtype_of, kernel
from numdense.kernels.cpu._views import at1, at2, from_bits, view1, view2
from numdense.kernels import optimizer_kinds
from numdense.kernels.cpu.dense import dense_backward_into, dense_forward_into
from numdense.kernels.cpu.gather import gather_batch_into, gather_rows_into
from numdense.kernels.cpu.losses import loss_value_and_grad_into
from numdense.kernels.cpu.optimizers import (
    adam_apply_step_into,
    adam_coefficients,
    grad_sq_norm_with_reg,
    optimizer_begin_step,
    optimizer_update_call,
    update_epilogue,
    update_prologue,
)
from numdense.kernels.cpu.regularizers import l1l2_penalty


@kernel
def seed_dropout(seed):
    """Seeds the generator that the training loop draws dropout masks from."""
    np.random.seed(seed)


# Columns of a ``forward_plan`` row.
_W, _K, _N, _B, _NB, _KIND, _P0 = 0, 1, 2, 3, 4, 5, 6


def forward_plan(ws, bs, kinds, params):
    """The int64 (L, 9) table ``sequential_forward`` reads a stack of Dense layers from.

    Args:
        ws: the L kernels, (d_l, d_{l+1}) C-contiguous arrays of one float dtype, each layer's
            input width the previous layer's output width.
        bs: the L biases, (d_{l+1},) arrays of that dtype, or (0,) for a layer without one.
        kinds: the L activation ids (``numdense.kernels.activation_kinds``).
        params: the L activation parameter triples.

    A row holds the kernel's address, d_l, d_{l+1}, the bias's address and length, the
    activation id and its parameters' float64 bits. The caller keeps the arrays alive.

    Raises:
        ValueError: for arrays of another dtype, rank, layout or chain of widths.
    """
    if not ws:
        raise ValueError("forward_plan: a stack needs at least one layer")
    dtype = ws[0].dtype
    plan = np.zeros((len(ws), 9), dtype=np.int64)
    for l, (w, b) in enumerate(zip(ws, bs)):
        if (w.dtype != dtype or b.dtype != dtype or w.ndim != 2 or b.ndim != 1
                or not w.flags.c_contiguous or not b.flags.c_contiguous):
            raise ValueError(
                f"forward_plan: layer {l} must have a 2-D kernel and a 1-D bias, C-contiguous, "
                f"of dtype {dtype}; received {w.dtype} {w.shape} and {b.dtype} {b.shape}")
        if l and w.shape[0] != ws[l - 1].shape[1]:
            raise ValueError(
                f"forward_plan: layer {l} takes {w.shape[0]} inputs but layer {l - 1} gives "
                f"{ws[l - 1].shape[1]}")
        if b.shape[0] not in (0, w.shape[1]):
            raise ValueError(f"forward_plan: layer {l}'s bias has {b.shape[0]} items, not "
                             f"{w.shape[1]} or 0")
        plan[l, :_KIND] = w.ctypes.data, w.shape[0], w.shape[1], b.ctypes.data, b.shape[0]
        plan[l, _KIND] = kinds[l]
        plan[l, _P0:] = np.asarray(params[l], dtype=np.float64).view(np.int64)
    return plan


@kernel(inline="always")
def _plan_layer(h, plan, l, out, empty):
    row = plan[l]
    dense_forward_into(h, at2(row[_W], row[_K], row[_N], h), at1(row[_B], row[_NB], out), out,
                       empty, row[_KIND], from_bits(row[_P0]), from_bits(row[_P0 + 1]),
                       from_bits(row[_P0 + 2]))


@kernel
def sequential_forward(x, out, plan):
    """out = the output of a stack of Dense layers for the batch x, in one call.

    x: (rows, d_0) C-contiguous float32 or float64; out: (rows, d_L) C-contiguous, of x's
    dtype, written; plan: the int64 table of ``forward_plan`` for arrays of x's dtype. Each
    hidden layer's output is allocated here. One compiled variant per dtype serves every
    depth (``model(x)``'s latency path: one dispatch for the whole stack).
    """
    empty = np.empty((0, 0), dtype=out.dtype)
    last = plan.shape[0] - 1
    h = out if last == 0 else np.empty((x.shape[0], plan[0, _N]), dtype=out.dtype)
    _plan_layer(x, plan, 0, h, empty)
    for l in range(1, last + 1):
        dst = out if l == last else np.empty((x.shape[0], plan[l, _N]), dtype=out.dtype)
        _plan_layer(h, plan, l, dst, empty)
        h = dst


@kernel(inline="always")
def _copy_rows(src, count, dst, start):
    """dst[start:start+count] = src[:count], as loops: a slice assignment would compile Numba's
    broadcasting and its error message, seconds of the loop's cold compile."""
    for i in range(count):
        for j in range(src.shape[1]):
            dst[start + i, j] = src[i, j]


@kernel
def _dropout(y, mask, out, rate):
    scale = 1.0 / (1.0 - rate)
    for i in range(y.shape[0]):
        for j in range(y.shape[1]):
            keep = scale if np.random.random() >= rate else 0.0
            mask[i, j] = keep
            out[i, j] = y[i, j] * keep


@kernel
def _activity_penalty_and_grad(y, dy, l1, l2, scale):
    """Adds ``scale * d/dy (l1*sum|y| + l2*sum y^2)`` to dy; returns the scaled penalty."""
    total = 0.0
    for i in range(y.shape[0]):
        for j in range(y.shape[1]):
            v = y[i, j]
            s = 1.0 if v > 0 else (-1.0 if v < 0 else 0.0)
            total += l1 * abs(v) + l2 * v * v
            dy[i, j] += scale * (l1 * s + 2.0 * l2 * v)
    return total * scale


@kernel
def _multiply_into(a, b):
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            a[i, j] *= b[i, j]


@kernel(inline="always")
def _update_parameters(x, opt_kind, opt_hp, opt_state, lr, t, params, pgrads, slot_m, slot_v,
                       slot_u, trainable, reg_l1, reg_l2, weight_decay, c_kind, c_p0, c_p1,
                       c_p2, c_axis, c_rows, c_cols, clipvalue, clipnorm, global_clipnorm):
    """One optimizer step of every trainable parameter (``optimizer_update_into``'s steps),
    after ``optimizer_begin_step``; ``x`` gives the dtype of the tabled arrays.

    Adam and AdamW, the common case, compute their per-step scalars once for all parameters
    and apply the rule inline: for a tiny model a full ``optimizer_update_into`` per parameter
    cost more than the rest of the step.
    """
    optimizer_begin_step(opt_kind, opt_hp, opt_state, t)
    P = params.shape[0]
    scale = 1.0
    if global_clipnorm > 0.0:
        total = 0.0
        for p in range(P):
            if trainable[p]:
                total += grad_sq_norm_with_reg(view1(params, p, x), view1(pgrads, p, x),
                                               reg_l1[p], reg_l2[p])
        norm = np.sqrt(total)
        if norm > global_clipnorm:
            scale = global_clipnorm / norm
    if opt_kind == optimizer_kinds.ADAM or opt_kind == optimizer_kinds.ADAMW:
        coefficients = adam_coefficients(x, opt_hp, lr, t)
        amsgrad = opt_hp[3] != 0.0
        for p in range(P):
            if trainable[p]:
                w = view1(params, p, x)
                g = view1(pgrads, p, x)
                update_prologue(w, g, reg_l1[p], reg_l2[p], clipvalue, clipnorm, scale)
                adam_apply_step_into(w, g, view1(slot_m, p, x), view1(slot_v, p, x),
                                     view1(slot_u, p, x), coefficients, amsgrad, lr,
                                     weight_decay[p])
                update_epilogue(w, c_kind[p], c_p0[p], c_p1[p], c_p2[p], c_axis[p], c_rows[p],
                                c_cols[p])
        return
    for p in range(P):
        if trainable[p]:
            optimizer_update_call(opt_kind, view1(params, p, x), view1(pgrads, p, x),
                                  view1(slot_m, p, x), view1(slot_v, p, x), view1(slot_u, p, x),
                                  opt_hp, opt_state, lr, t, reg_l1[p], reg_l2[p], clipvalue,
                                  clipnorm, scale, weight_decay[p], c_kind[p], c_p0[p], c_p1[p],
                                  c_p2[p], c_axis[p], c_rows[p], c_cols[p])


@kernel(refcounted=False)
def _batch_gradients(x, y, sample_weight, order, start, nb, denominator, with_penalties, layers,
                     buffers, loss_spec, penalties):
    """Gather, forward, loss and backward of one batch (``sequential_gradients``), arguments
    grouped in tuples.

    A call, not inlined: inlining copies the callee's IR once per block (Numba deep-copies the
    variable scope with each), and this body, with the layer kernels inlined into it, made up
    6-7 s of the training loop's cold compile. The call costs no measurable time per step."""
    ws, bs, kinds, act_params, dropout_rates, act_l1, act_l2 = layers
    xb, yb, wb, zs, acts, outs, masks, grads, dzs, gws, gbs = buffers
    loss_kind, loss_p0, loss_eps, logits_loss = loss_spec
    params, trainable, reg_l1, reg_l2 = penalties
    L = ws.shape[0]
    xs = xb[:nb]
    no_dx = xb[:0]  # the first layer's unused input gradient: a view, not a per-step allocation
    ys = yb[:nb]
    rows = order[start:start + nb]
    gather_batch_into(x, rows, xs)
    gather_rows_into(y, rows, ys)
    weights = wb[:nb]
    for i in range(nb):
        weights[i] = sample_weight[rows[i]] / denominator

    # Forward.
    h = xs
    for l in range(L):
        act = view2(acts, l, x)[:nb]
        dense_forward_into(h, view2(ws, l, x), view1(bs, l, x), act, view2(zs, l, x)[:nb],
                           kinds[l], act_params[l, 0], act_params[l, 1], act_params[l, 2])
        h = view2(outs, l, x)[:nb]
        if dropout_rates[l] > 0.0:
            _dropout(act, view2(masks, l, x)[:nb], h, dropout_rates[l])

    # Loss and its gradient w.r.t. the last layer output (or its logits).
    # One call site for each inlined kernel (loss here, backward below): every site is a copy
    # of its code in the compiled loop.
    last = L - 1
    if logits_loss:
        predicted, d_predicted = view2(zs, last, x)[:nb], view2(dzs, last, x)[:nb]
    else:
        predicted, d_predicted = h, view2(grads, last, x)[:nb]
    loss = loss_value_and_grad_into(ys, predicted, weights, d_predicted, loss_kind, loss_p0,
                                    loss_eps)
    if with_penalties:
        for p in range(params.shape[0]):
            if trainable[p] and (reg_l1[p] != 0.0 or reg_l2[p] != 0.0):
                loss += l1l2_penalty(view1(params, p, x), reg_l1[p], reg_l2[p])

    # Backward.
    for l in range(L - 1, -1, -1):
        g = view2(grads, l, x)[:nb]
        z = view2(zs, l, x)[:nb]
        dz = view2(dzs, l, x)[:nb]
        if dropout_rates[l] > 0.0 and not (logits_loss and l == last):
            _multiply_into(g, view2(masks, l, x)[:nb])
        if act_l1[l] != 0.0 or act_l2[l] != 0.0:  # never on a folded last layer
            loss += _activity_penalty_and_grad(view2(acts, l, x)[:nb], g, act_l1[l], act_l2[l],
                                               1.0 / denominator)
        h_in = xs if l == 0 else view2(outs, l - 1, x)[:nb]
        dx = view2(grads, l - 1, x)[:nb] if l > 0 else no_dx
        if logits_loss and l == last:
            # dz already holds d loss / d logits: a linear backward passes it through.
            y_l, dy_l, kind = z, dz, 0
        else:
            y_l, dy_l, kind = view2(acts, l, x)[:nb], g, kinds[l]
        dense_backward_into(h_in, view2(ws, l, x), z, y_l, dy_l, dz, dx, view2(gws, l, x),
                            view1(gbs, l, x), kind, act_params[l, 0], act_params[l, 1],
                            act_params[l, 2], l > 0)
    return loss


@kernel
def sequential_gradients(
    x, y, sample_weight, order, start, nb, denominator, with_penalties,
    ws, bs, kinds, act_params, dropout_rates, act_l1, act_l2,
    xb, yb, wb, zs, acts, outs, masks, grads, dzs, gws, gbs,
    loss_kind, loss_p0, loss_eps, logits_loss, params, trainable, reg_l1, reg_l2,
):
    """The gradients of one batch: gather rows ``order[start:start+nb]`` (nb >= 1), forward,
    loss, backward into ``gws`` / ``gbs`` (and so the ``pgrads`` views of them).

    The sample weights and activity penalties are divided by ``denominator`` (the batch size
    of the step: ``nb`` in one process, the global batch when ranks sum their gradients).
    Returns the loss of the batch, plus the weight-regularizer penalties when
    ``with_penalties``. Arguments as in ``sequential_train_epochs``; the model output is left in
    ``outs[L-1][:nb]``. With ``sequential_update`` this is one step of
    ``sequential_train_epochs`` cut in two (a data-parallel step sums the gradients across
    ranks in between).
    """
    return _batch_gradients(
        x, y, sample_weight, order, start, nb, denominator, with_penalties,
        (ws, bs, kinds, act_params, dropout_rates, act_l1, act_l2),
        (xb, yb, wb, zs, acts, outs, masks, grads, dzs, gws, gbs),
        (loss_kind, loss_p0, loss_eps, logits_loss), (params, trainable, reg_l1, reg_l2),
    )


@kernel
def sequential_update(
    iterations, lr, opt_kind, opt_hp, opt_state, params, pgrads, slot_m, slot_v, slot_u,
    trainable, reg_l1, reg_l2, weight_decay, c_kind, c_p0, c_p1, c_p2, c_axis, c_rows, c_cols,
    clipvalue, clipnorm, global_clipnorm, like,
):
    """One optimizer step over every trainable parameter from the gradients in ``pgrads``
    (regularizer gradients, clipping, weight decay and constraints inside the update);
    advances ``iterations[0]``. Arguments as in ``sequential_train_epochs``; ``lr`` is the
    step's learning rate; ``like``: any array of the parameters' dtype."""
    t = iterations[0] + 1
    _update_parameters(like, opt_kind, opt_hp, opt_state, lr, t, params, pgrads, slot_m, slot_v,
                       slot_u, trainable, reg_l1, reg_l2, weight_decay, c_kind, c_p0, c_p1, c_p2,
                       c_axis, c_rows, c_cols, clipvalue, clipnorm, global_clipnorm)
    iterations[0] = t


@kernel(refcounted=False)
def sequential_train_epochs(
    orders, x, y, sample_weight, steps, first_step, last_step, batch_size, lrs, iterations,
    ws, bs, kinds, act_params, dropout_rates, act_l1, act_l2,
    xb, yb, wb, zs, acts, outs, masks, grads, dzs, gws, gbs,
    loss_kind, loss_p0, loss_eps, logits_loss,
    opt_kind, opt_hp, opt_state, params, pgrads, slot_m, slot_v, slot_u, trainable,
    reg_l1, reg_l2, weight_decay, c_kind, c_p0, c_p1, c_p2, c_axis, c_rows, c_cols,
    clipvalue, clipnorm, global_clipnorm, batch_losses, batch_sizes, pred_store, stop_on_nan,
):
    """Runs training steps ``first_step <= s < last_step`` of each of E epochs back to back.

    This is the one entry point Python calls, so the training loop is compiled once per dtype
    (and its step is not a separate function, which the linked caller would optimize again).

    Data: x (n, d0), y (n, k) (sparse labels as (n, 1) floats), sample_weight (n,) (sample and
    class weights combined), orders (E, n) int64: epoch e visits the samples in the order
    ``orders[e]``; its batch s covers ``orders[e][s*batch_size : (s+1)*batch_size]`` (the last
    batch may be partial). ``steps`` is the number of steps of an epoch; a partial range (part
    of one epoch, for per-batch callbacks) needs E = 1. lrs: float64 learning rate of each step
    ((E*steps,): epoch e's steps at ``e*steps``); iterations: int64 (1,) optimizer step count,
    advanced in place.

    Every array named below as a table is an address table (``_views.address_table``) of
    C-contiguous arrays of x's dtype, one row per layer (L) or per trainable parameter (P).

    Layers: ws / bs tables of kernels and biases ((0,) = no bias); kinds, act_params
    activation ids and parameters; dropout_rates (L,) rate of a Dropout after each layer (0 =
    none); act_l1 / act_l2 (L,) activity-regularizer coefficients.

    Buffers (batch_size rows): xb, yb, wb batch copies (arrays); tables zs pre-activations,
    acts activation outputs, outs layer outputs after dropout (may be the same arrays as acts),
    masks dropout masks, grads upstream gradients of each layer output, dzs scratch, gws / gbs
    parameter gradients (gbs[l] is (0,) without bias).

    Loss: loss_kind / loss_p0 / loss_eps; logits_loss = 1 when the last layer's activation is
    folded into the loss (softmax or sigmoid with a crossentropy, computed from logits as Keras'
    TensorFlow backend does), so the loss reads the last pre-activation.

    Optimizer: tables params, pgrads (flat 1-D views of ws/bs and gws/gbs), slot_m / slot_v /
    slot_u; trainable (P,) int64, reg_l1 / reg_l2 / weight_decay, constraint specs c_* and
    their 2-D view shapes c_rows / c_cols; clipvalue, clipnorm, global_clipnorm (<= 0 = off).

    Writes batch_losses / batch_sizes ((E*steps,) each, at epoch e's offset e*steps): the total
    loss (incl. penalties) and size of each batch, and, when pred_store has n rows, the model
    outputs of the batch into pred_store rows start..start+nb (epoch order, for training
    metrics); updates weights and slots in place. Returns the step index one past the last step
    run, counted from the first epoch's step 0: E*steps after whole epochs, less when a loss
    that is not finite in the model's dtype stopped the run (after that step's update) and
    stop_on_nan is set.
    """
    n = x.shape[0]
    last = ws.shape[0] - 1
    layers = (ws, bs, kinds, act_params, dropout_rates, act_l1, act_l2)
    buffers = (xb, yb, wb, zs, acts, outs, masks, grads, dzs, gws, gbs)
    loss_spec = (loss_kind, loss_p0, loss_eps, logits_loss)
    penalties = (params, trainable, reg_l1, reg_l2)
    for e in range(orders.shape[0]):
        order = orders[e]
        for s in range(first_step, last_step):
            i = e * steps + s
            start = s * batch_size
            nb = min(batch_size, n - start)
            loss = _batch_gradients(x, y, sample_weight, order, start, nb, nb, True, layers,
                                    buffers, loss_spec, penalties)
            # The loss as the model's dtype reports it (a float32 model overflows at 3.4e38, as
            # Keras' float32 loss does).
            loss_in_dtype = as_dtype_of(loss, x)
            batch_losses[i] = loss_in_dtype
            batch_sizes[i] = nb
            if pred_store.shape[0] > 0:
                _copy_rows(view2(outs, last, x), nb, pred_store, start)

            t = iterations[0] + 1
            _update_parameters(x, opt_kind, opt_hp, opt_state, lrs[i], t, params, pgrads,
                               slot_m, slot_v, slot_u, trainable, reg_l1, reg_l2, weight_decay,
                               c_kind, c_p0, c_p1, c_p2, c_axis, c_rows, c_cols, clipvalue,
                               clipnorm, global_clipnorm)
            iterations[0] = t
            # Like Keras' TerminateOnNaN, stop after the step whose loss is not finite (its
            # update is applied, as in the per-layer path).
            if stop_on_nan and not np.isfinite(loss_in_dtype):
                return i + 1
    return (orders.shape[0] - 1) * steps + last_step

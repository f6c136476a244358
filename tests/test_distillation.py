"""Distillation losses: NumPy references, masks, gradients, inside keras' Distiller."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_rdkl.distillation import GlobalPointerDistillation
from keras_rdkl.distillation import SoftmaxDistillation
from keras_rdkl.distillation import zlpr_teacher_student
from tests._grad import grad

MASK = -1e12


# --- NumPy references written from the formulas -----------------------------
def np_sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def ref_gp(teacher, student, T, axes=(-2, -1)):
    t = np.asarray(teacher, "float64")
    s = np.asarray(student, "float64")
    valid = (t > -2e4) & (s > -2e4)
    s_, t_ = np.where(valid, s, 0) / T, np.where(valid, t, 0) / T
    per = np.where(valid, (np_sigmoid(s_) - np_sigmoid(t_)) * (s_ - t_), 0.0)
    return T**2 * per.sum(axis=axes).mean()


def _np_zlpr(q, x, axes):
    """Soft-label ZLPR from its formula; x = -inf marks excluded classes."""
    keep = np.isfinite(x)
    x0 = np.where(keep, x, 0.0)
    pos = np.where(keep, q * np.exp(-x0), 0.0).sum(axis=axes)
    neg = np.where(keep, (1 - q) * np.exp(x0), 0.0).sum(axis=axes)
    return np.log1p(pos) + np.log1p(neg)


def ref_gp_zlpr(teacher, student, T, axes=(-2, -1)):
    t = np.asarray(teacher, "float64")
    s = np.asarray(student, "float64")
    valid = (t > -2e4) & (s > -2e4)
    tt = np.where(valid, t / T, -np.inf)
    ss = np.where(valid, s / T, -np.inf)
    q = np.where(valid, np_sigmoid(2 * np.where(valid, tt, 0.0)), 0.0)
    return T**2 * (_np_zlpr(q, ss, axes) - _np_zlpr(q, tt, axes)).mean()


def ref_softmax(teacher, student, T, divergence):
    t = np.asarray(teacher, "float64")
    s = np.asarray(student, "float64")
    valid = (t > -2e4) & (s > -2e4)
    out = []
    for tr, sr, vr in zip(
        t.reshape(-1, t.shape[-1]),
        s.reshape(-1, s.shape[-1]),
        valid.reshape(-1, t.shape[-1]),
        strict=True,
    ):
        if not vr.any():
            out.append(0.0)
            continue
        q = np.exp(tr[vr] / T - (tr[vr] / T).max())
        q /= q.sum()
        p = np.exp(sr[vr] / T - (sr[vr] / T).max())
        p /= p.sum()
        if divergence == "kl":
            out.append(np.sum(q * (np.log(q) - np.log(p))))
        else:
            out.append(np.sum((q - p) * (np.log(q) - np.log(p))))
    return T**2 * np.mean(out)


def gp_logits(rng, b=2, h=3, length=5, lengths=(5, 3)):
    x = rng.normal(size=(b, h, length, length)).astype("float32") * 3
    tril = np.tril(np.ones((length, length), bool), -1)
    x[:, :, tril] = MASK
    for i, n in enumerate(lengths):
        x[i, :, n:, :] = -np.inf
        x[i, :, :, n:] = -np.inf
    return x


def _num(x):
    return float(ops.convert_to_numpy(x))


# --- values -----------------------------------------------------------------
@pytest.mark.parametrize("divergence", ["sigmoid", "zlpr"])
@pytest.mark.parametrize("T", [1.0, 2.5])
def test_global_pointer_matches_numpy_with_masks(T, divergence):
    rng = np.random.default_rng(0)
    teacher = gp_logits(rng)
    student = gp_logits(rng)
    student[1, 0, 0, 1] = MASK  # masked in the student only: excluded too
    loss = GlobalPointerDistillation(temperature=T, divergence=divergence)
    value = _num(loss.compute_loss(teacher, student))
    reference = ref_gp if divergence == "sigmoid" else ref_gp_zlpr
    assert np.isfinite(value) and value > 0
    assert value == pytest.approx(reference(teacher, student, T), rel=1e-5, abs=1e-6)


def test_global_pointer_mask_equivalence_and_zero_at_equality():
    rng = np.random.default_rng(1)
    t = gp_logits(rng, b=1, lengths=(5,))
    s = gp_logits(rng, b=1, lengths=(5,))
    loss = GlobalPointerDistillation(temperature=1.0)
    # Masking the padded tail in both equals dropping the tail.
    t_pad, s_pad = t.copy(), s.copy()
    t_pad[..., 3:, :] = t_pad[..., :, 3:] = -np.inf
    s_pad[..., 3:, :] = s_pad[..., :, 3:] = MASK
    a = _num(loss.compute_loss(t_pad, s_pad))
    b = _num(loss.compute_loss(t[..., :3, :3], s[..., :3, :3]))
    assert a == pytest.approx(b, rel=1e-6)
    assert _num(loss.compute_loss(t, t)) == pytest.approx(0.0, abs=1e-7)


def test_global_pointer_flat_axis():
    rng = np.random.default_rng(2)
    t = rng.normal(size=(4, 7)).astype("float32")
    s = rng.normal(size=(4, 7)).astype("float32")
    loss = GlobalPointerDistillation(temperature=2.0, axis=-1)
    assert _num(loss.compute_loss(t, s)) == pytest.approx(
        ref_gp(t, s, 2.0, axes=-1), rel=1e-5
    )


def test_global_pointer_gradient_closed_form_and_masked_positions():
    # d/ds_i of T^2/N * (sig(s/T) - sig(t/T))(s - t)/T
    #   = T/N * [sig'(s/T)/T (s - t) + (sig(s/T) - sig(t/T))]
    rng = np.random.default_rng(3)
    teacher = gp_logits(rng, b=2, h=1, length=4, lengths=(4, 2))
    student = gp_logits(rng, b=2, h=1, length=4, lengths=(4, 2))
    T = 2.0
    loss = GlobalPointerDistillation(temperature=T)
    g = grad(lambda v: loss.compute_loss(teacher, v), student)
    assert np.all(np.isfinite(g))
    s, t = student.astype("float64"), teacher.astype("float64")
    valid = (s > -2e4) & (t > -2e4)
    ss, tt = np.where(valid, s, 0) / T, np.where(valid, t, 0) / T
    sig = np_sigmoid(ss)
    ref = T / 2 * (sig * (1 - sig) * (ss - tt) + sig - np_sigmoid(tt))
    ref = np.where(valid, ref, 0.0)
    np.testing.assert_allclose(g, ref, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("T", [1.0, 3.0])
def test_global_pointer_zlpr_is_zero_with_zero_gradient_at_the_teacher(T):
    # sigmoid(2t) targets make s = t the minimum of the soft-label ZLPR,
    # whatever the number of spans: value 0 and gradient 0 there.
    rng = np.random.default_rng(11)
    teacher = gp_logits(rng, b=2, h=2, length=6, lengths=(6, 4))
    loss = GlobalPointerDistillation(temperature=T, divergence="zlpr")
    assert _num(loss.compute_loss(teacher, teacher)) == pytest.approx(0.0, abs=1e-6)
    g = grad(lambda v: loss.compute_loss(teacher, v), teacher)
    np.testing.assert_allclose(g, 0.0, atol=1e-6)
    # Anywhere else it is positive and its gradient matches finite differences.
    student = teacher + np.where(
        teacher > -2e4, rng.normal(size=teacher.shape), 0.0
    ).astype("float32")
    g = grad(lambda v: loss.compute_loss(teacher, v), student)
    assert np.all(np.isfinite(g))
    assert np.all(g[student <= -2e4] == 0.0)
    i = tuple(np.argwhere(student > -2e4)[3])
    h = 1e-3
    up, down = student.astype("float64"), student.astype("float64")
    up[i] += h
    down[i] -= h
    fd = (ref_gp_zlpr(teacher, up, T) - ref_gp_zlpr(teacher, down, T)) / (2 * h)
    assert g[i] == pytest.approx(fd, rel=1e-3, abs=1e-6)


def test_global_pointer_zlpr_extreme_and_float16_finite():
    t = np.array([[1e4, -1e4, 0.0, -np.inf, 3.0]], "float32")
    s = np.array([[-1e4, 1e4, 0.0, 5.0, -np.inf]], "float32")
    loss = GlobalPointerDistillation(axis=-1, divergence="zlpr")
    assert np.isfinite(_num(loss.compute_loss(t, s)))
    assert np.isfinite(
        _num(loss.compute_loss(ops.cast(t, "float16"), ops.cast(s, "float16")))
    )
    g = grad(lambda v: loss.compute_loss(t, v), s)
    assert np.all(np.isfinite(g))


def ref_zlpr_nan_teacher(teacher, student, T):
    """Per-row divergence over the last axis; a NaN teacher drops its class."""
    t = np.asarray(teacher, "float64")
    s = np.asarray(student, "float64")
    out = []
    for tr, sr in zip(t, s, strict=True):
        keep = ~np.isnan(tr) & (tr > -2e4) & (sr > -2e4)
        tt, ss = tr[keep] / T, sr[keep] / T
        q = np_sigmoid(2 * tt)

        def z(x, q=q):
            return np.log1p(np.sum(q * np.exp(-x))) + np.log1p(
                np.sum((1 - q) * np.exp(x))
            )

        out.append(z(ss) - z(tt))
    return np.array(out)


@pytest.mark.parametrize("T", [1.0, 2.0])
def test_zlpr_teacher_student_leaves_nan_teacher_entries_out(T):
    rng = np.random.default_rng(5)
    teacher = (rng.normal(size=(3, 6)) * 2).astype("float32")
    student = (rng.normal(size=(3, 6)) * 2).astype("float32")
    teacher[0, 1] = np.nan
    teacher[1, [0, 4]] = np.nan
    teacher[2, :] = np.nan  # no target at all: 0
    student[1, 2] = MASK  # masked in the student: left out too
    value = ops.convert_to_numpy(zlpr_teacher_student(teacher, student, T, axis=-1))
    assert np.all(np.isfinite(value))
    np.testing.assert_allclose(
        value, ref_zlpr_nan_teacher(teacher, student, T), rtol=1e-5, atol=1e-6
    )
    assert value[2] == 0.0
    # The same as the call on the classes that have a teacher logit.
    kept = zlpr_teacher_student(
        teacher[:1, [0, 2, 3, 4, 5]], student[:1, [0, 2, 3, 4, 5]], T, axis=-1
    )
    assert float(value[0]) == pytest.approx(
        float(ops.convert_to_numpy(kept)[0]), rel=1e-5
    )
    g = grad(lambda v: ops.sum(zlpr_teacher_student(teacher, v, T, axis=-1)), student)
    assert np.all(np.isfinite(g))
    assert np.all(g[np.isnan(teacher)] == 0.0)
    # Central differences of the NumPy reference on a kept class.
    h = 1e-3
    up, down = student.astype("float64"), student.astype("float64")
    up[0, 2] += h
    down[0, 2] -= h
    fd = (
        ref_zlpr_nan_teacher(teacher, up, T).sum()
        - ref_zlpr_nan_teacher(teacher, down, T).sum()
    ) / (2 * h)
    assert g[0, 2] == pytest.approx(fd, rel=1e-3, abs=1e-6)
    # Through the loss class too (GlobalPointer grid with a NaN teacher span).
    grid_t = gp_logits(rng)
    grid_s = gp_logits(rng)
    grid_t[0, 1, 0, 2] = np.nan
    loss = GlobalPointerDistillation(temperature=T, divergence="zlpr")
    reference = grid_t.copy()
    reference[0, 1, 0, 2] = MASK  # a NaN teacher counts as masked
    assert _num(loss.compute_loss(grid_t, grid_s)) == pytest.approx(
        ref_gp_zlpr(reference, grid_s, T), rel=1e-5, abs=1e-6
    )


@pytest.mark.parametrize("divergence", ["kl", "symmetric"])
@pytest.mark.parametrize("T", [1.0, 3.0])
def test_softmax_matches_numpy_with_masks(divergence, T):
    rng = np.random.default_rng(4)
    t = rng.normal(size=(2, 3, 6)).astype("float32") * 2
    s = rng.normal(size=(2, 3, 6)).astype("float32") * 2
    t[0, 0, 4:] = -np.inf
    s[1, 2, 0] = MASK
    t[1, 1, :] = MASK  # fully masked row: 0
    loss = SoftmaxDistillation(temperature=T, divergence=divergence)
    value = _num(loss.compute_loss(t, s))
    assert value == pytest.approx(ref_softmax(t, s, T, divergence), rel=1e-5, abs=1e-6)


def test_softmax_kl_gradient_is_cross_entropy_gradient():
    # With a fixed teacher KL and soft-label CE differ by a constant:
    # d/ds T^2 KL(q || softmax(s/T)) / N = T (p - q) / N.
    rng = np.random.default_rng(5)
    t = rng.normal(size=(3, 5)).astype("float32")
    s = rng.normal(size=(3, 5)).astype("float32")
    T = 2.0
    g = grad(lambda v: SoftmaxDistillation(temperature=T).compute_loss(t, v), s)
    q = np.exp(t / T) / np.exp(t / T).sum(-1, keepdims=True)
    p = np.exp(s / T) / np.exp(s / T).sum(-1, keepdims=True)
    np.testing.assert_allclose(g, T * (p - q) / 3, rtol=1e-4, atol=1e-6)


def test_extreme_and_float16_logits_finite():
    t = np.array([[1e4, -1e4, 0.0, -np.inf]], "float32")
    s = np.array([[-1e4, 1e4, 0.0, 5.0]], "float32")
    for loss in (SoftmaxDistillation(), GlobalPointerDistillation(axis=-1)):
        assert np.isfinite(_num(loss.compute_loss(t, s)))
        v = _num(loss.compute_loss(ops.cast(t, "float16"), ops.cast(s, "float16")))
        assert np.isfinite(v)


def test_bad_arguments():
    for bad in (0, -1.0, float("inf"), "2", True):
        with pytest.raises(ValueError, match="temperature"):
            GlobalPointerDistillation(temperature=bad)
        with pytest.raises(ValueError, match="temperature"):
            SoftmaxDistillation(temperature=bad)
    with pytest.raises(ValueError, match="divergence"):
        SoftmaxDistillation(divergence="js")
    with pytest.raises(ValueError, match="'sigmoid', 'zlpr'"):
        GlobalPointerDistillation(divergence="softmax")
    with pytest.raises(ValueError, match="axis"):
        GlobalPointerDistillation(axis="last")
    with pytest.raises(ValueError, match="teacher_outputs"):
        GlobalPointerDistillation().validate_outputs(
            np.zeros((1, 2, 3, 3)), np.zeros((1, 2, 4, 4))
        )


def test_serialization_round_trip():
    for loss in (
        GlobalPointerDistillation(temperature=2.0, axis=(-2, -1)),
        GlobalPointerDistillation(temperature=1.5, axis=-1, divergence="zlpr"),
        SoftmaxDistillation(temperature=4.0, divergence="symmetric"),
    ):
        restored = keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(loss)
        )
        assert type(restored) is type(loss)
        assert restored.get_config() == loss.get_config()


# --- inside keras.distillation.Distiller ------------------------------------
def _gp_model(seed, heads=2, length=6, units=8):
    """A tiny GlobalPointer-shaped model: [B, L, F] -> masked [B, heads, L, L]."""
    inp = keras.Input((length, 4))
    q = keras.layers.Dense(
        heads * units, kernel_initializer=keras.initializers.GlorotUniform(seed)
    )(inp)
    k = keras.layers.Dense(
        heads * units, kernel_initializer=keras.initializers.GlorotUniform(seed + 1)
    )(inp)

    def scores(args):
        q, k = args
        q = ops.reshape(q, (-1, length, heads, units))
        k = ops.reshape(k, (-1, length, heads, units))
        s = ops.einsum("bmhd,bnhd->bhmn", q, k)
        keep = ops.triu(ops.ones((length, length), "bool"))
        return ops.where(keep, s, MASK)

    return keras.Model(
        inp, keras.layers.Lambda(scores, output_shape=(heads, length, length))([q, k])
    )


@pytest.mark.parametrize("divergence", ["sigmoid", "zlpr"])
def test_distiller_fit_global_pointer(divergence):
    from keras_rdkl.losses import MultilabelCategoricalCrossentropy

    rng = np.random.default_rng(6)
    x = rng.normal(size=(16, 6, 4)).astype("float32")
    y = np.triu(rng.uniform(size=(16, 2, 6, 6)) < 0.1).astype("float32")
    teacher, student = _gp_model(0), _gp_model(10)
    distiller = keras.distillation.Distiller(
        teacher=teacher,
        student=student,
        distillation_losses=GlobalPointerDistillation(
            temperature=2.0, divergence=divergence
        ),
        student_loss_weight=0.5,
    )
    distiller.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss=MultilabelCategoricalCrossentropy(axis=(-2, -1)),
    )
    w_teacher = [w.copy() for w in teacher.get_weights()]
    hist = distiller.fit(x, y, batch_size=8, epochs=3, verbose=0)
    assert all(np.isfinite(v) for v in hist.history["loss"])
    assert hist.history["distillation_loss"][-1] < hist.history["distillation_loss"][0]
    for a, b in zip(w_teacher, teacher.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # teacher frozen


def test_distiller_fit_softmax_pure_distillation_matches_teacher():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(64, 5)).astype("float32")
    teacher = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4)])
    student = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4)])
    y = np.argmax(teacher.predict(x, verbose=0), -1)
    distiller = keras.distillation.Distiller(
        teacher=teacher,
        student=student,
        distillation_losses=SoftmaxDistillation(temperature=2.0),
        student_loss_weight=0.0,
    )
    distiller.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    before = _num(SoftmaxDistillation(2.0).compute_loss(teacher(x), student(x)))
    distiller.fit(x, y, batch_size=16, epochs=5, verbose=0)
    after = _num(SoftmaxDistillation(2.0).compute_loss(teacher(x), student(x)))
    assert after < 0.5 * before

"""protocols/svm.py: TCGL's released linear SVM (liblinear -s 2, C=100, no bias) on per-video features."""

import json
import logging
import sys

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from scipy.optimize import minimize

from experiment.config import SvmConfig
from protocols.svm import svm_probe

from helpers import compose_cfg, smoke_overrides

CFG = OmegaConf.structured(SvmConfig)  # the svm protocol's defaults


def clusters(n_per, classes, d, spread, seed, clips=None):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, d)) * 5
    y = np.repeat(np.arange(classes), n_per)
    x = centres[y] + spread * rng.normal(size=(len(y), d))
    if clips:  # clip features whose average over the clips is x
        noise = rng.normal(size=(len(y), clips, d))
        x = x[:, None, :] + noise - noise.mean(1, keepdims=True)
    perm = rng.permutation(len(y))
    return torch.tensor(x[perm], dtype=torch.float32), torch.tensor(y[perm])


def test_the_release_settings_are_the_defaults():
    assert (CFG.C, CFG.bias, CFG.tol, CFG.max_iter) == (100.0, False, 0.01, 1000)


@pytest.mark.parametrize("clips", [None, 3])
def test_separable_clusters_are_classified_perfectly(clips):
    xtr, ytr = clusters(20, 7, 16, 0.3, seed=0, clips=clips)
    xte, yte = clusters(10, 7, 16, 0.3, seed=0, clips=clips)  # same centres (same seed), fresh draws below
    xte = xte + 0.05 * torch.randn(xte.shape, generator=torch.Generator().manual_seed(1))
    m = svm_probe(xtr, ytr, xte, yte, num_classes=7, cfg=CFG, seed=0)
    assert set(m) == {"top1", "top5", "train_top1", "converged", "n_iter"}
    assert m["top1"] == m["top5"] == m["train_top1"] == 1.0 and m["converged"] == 1.0
    assert all(isinstance(v, float) for v in m.values())  # records take numbers (no bools)
    assert m == svm_probe(xtr, ytr, xte, yte, num_classes=7, cfg=CFG, seed=5)  # deterministic, seed-free


def test_two_classes_and_labels_absent_from_training():
    xtr, ytr = clusters(15, 2, 8, 0.3, seed=2)
    assert svm_probe(xtr, ytr, xtr, ytr, num_classes=2, cfg=CFG, seed=0)["top1"] == 1.0
    # classes 0 and 1 trained out of 5: a test video of class 4 can never be predicted, even at top-5
    m = svm_probe(xtr, ytr, xtr[:4], torch.tensor([4, 4, 4, 4]), num_classes=5, cfg=CFG, seed=0)
    assert m["top1"] == m["top5"] == 0.0


def primal(w, x, t, C):
    """liblinear -s 2 for one one-vs-rest problem (t = +-1), no bias: 0.5||w||^2 + C sum max(0, 1 - t w.x)^2."""
    m = np.maximum(0.0, 1.0 - t * (x @ w))
    return 0.5 * w @ w + C * m @ m, w - 2 * C * x.T @ (t * m)


def test_the_fit_minimises_liblinears_primal_objective():
    """Overlapping classes (many active margins), a tight tolerance: sklearn's weights reach the minimum that L-BFGS
    finds from another start on the same smooth objective, class by class (one-vs-rest, no bias)."""
    from sklearn.svm import LinearSVC

    x, y = clusters(30, 4, 10, 4.0, seed=3)
    x, y = x.double().numpy(), y.numpy()
    cfg = OmegaConf.merge(CFG, {"tol": 1e-8})
    m = svm_probe(x, y, x, y, num_classes=4, cfg=cfg, seed=0)
    assert m["converged"] == 1.0 and m["train_top1"] < 1.0  # not separable: the loss term is active
    clf = LinearSVC(penalty="l2", loss="squared_hinge", dual=False, C=100.0, fit_intercept=False, tol=1e-8).fit(x, y)
    assert np.all(clf.intercept_ == 0) and clf.coef_.shape == (4, 10)  # no bias, one vector per class
    assert m["train_top1"] == float((clf.predict(x) == y).mean())  # the fit svm_probe makes
    rng = np.random.default_rng(0)
    for c in range(4):
        t = np.where(y == c, 1.0, -1.0)
        res = minimize(
            primal,
            rng.normal(size=x.shape[1]),
            args=(x, t, 100.0),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": 20000, "ftol": 1e-15, "gtol": 1e-10},
        )
        ours = primal(clf.coef_[c], x, t, 100.0)[0]
        assert ours <= res.fun * (1 + 1e-6) and res.fun <= ours * (1 + 1e-6), (c, ours, res.fun)
        assert np.allclose(clf.coef_[c], res.x, rtol=1e-3, atol=1e-4 * np.abs(res.x).max())


def test_shuffled_labels_give_chance():
    x, y = clusters(40, 10, 20, 0.5, seed=4)
    y = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))]
    m = svm_probe(x[:200], y[:200], x[200:], y[200:], num_classes=10, cfg=CFG, seed=0)
    assert m["top1"] < 0.22 and m["top5"] < 0.7  # chance: 0.1 and 0.5 (200 test videos)


def test_stopping_at_max_iter_is_logged_and_recorded(caplog):
    x, y = clusters(30, 4, 10, 4.0, seed=3)
    cfg = OmegaConf.merge(CFG, {"tol": 1e-12, "max_iter": 1})
    with caplog.at_level(logging.WARNING, logger="protocols.svm"):
        m = svm_probe(x, y, x, y, num_classes=4, cfg=cfg, seed=0)
    assert m["converged"] == 0.0 and m["n_iter"] == 1.0
    assert "max_iter=1" in caplog.text


def test_missing_scikit_learn_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.svm", None)  # `from sklearn.svm import ...` raises ImportError
    x, y = clusters(5, 2, 4, 0.3, seed=0)
    with pytest.raises(ImportError, match=r"pip install scikit-learn, or drop svm from protocols"):
        svm_probe(x, y, x, y, num_classes=2, cfg=CFG, seed=0)


def test_bad_labels_are_rejected():
    x, y = clusters(5, 3, 4, 0.3, seed=0)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        svm_probe(x, y, x, y, num_classes=2, cfg=CFG, seed=0)
    with pytest.raises(ValueError, match="at least 2 classes"):
        svm_probe(x, torch.zeros_like(y), x, y, num_classes=3, cfg=CFG, seed=0)


def test_protocol_svm_writes_a_record_through_the_run(tiny_data, tmp_path):
    from experiment.app import run
    from results.records import load_records

    cfg = compose_cfg(
        *smoke_overrides(tiny_data, tmp_path, "method=random", "protocols=[svm]", "dataset.eval_on=[ucf101]")
    )
    (path,) = run(cfg)
    rec = json.loads(path.read_text())
    assert rec["protocol"] == "svm" and path.name.startswith("random__")
    assert set(rec["metrics"]) == {"top1", "top5", "train_top1", "converged", "n_iter"}
    assert rec["n_videos"] == rec["extra"]["n_test"] and rec["config"]["protocol"]["svm"]["C"] == 100.0
    df = load_records(tmp_path / "records")
    assert set(df.protocol) == {"svm"} and df[df.metric == "top1"]["value"].between(0, 1).all()

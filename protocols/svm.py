"""Linear SVM on frozen, per-video features: TCGL's released linear evaluation (eval_svm_feature_perf.py).

The TCGL release trains liblinear with ``-s 2 -c 100`` (L2-regularised L2-loss support vector classification,
solved in the primal) on one feature vector per video (the clip features averaged), with liblinear's defaults
otherwise: no bias term (``-B -1``), stopping tolerance ``-e 0.01``, at most 1000 Newton iterations, no feature
scaling and no model selection; it trains on the official train list and reports the accuracy on the test list.
Here the training set is our train and val parts together (val is carved from the official train list, so
together they are that list) and nothing is selected on val. Each one-vs-rest problem (liblinear's multiclass
scheme for ``-s 2``, one weight vector per class, a single one for two classes) minimises the primal objective

    0.5 * ||w||^2 + C * sum_i max(0, 1 - y_i w^T x_i)^2,     y_i = +1 for the class, -1 for the rest,

and a video's prediction is the class of the highest decision value w_c^T x.

scikit-learn's ``LinearSVC(penalty="l2", loss="squared_hinge", dual=False, fit_intercept=False)`` is exactly that
solver: ``sklearn.svm._base._get_liblinear_solver_type`` maps (squared_hinge, l2, dual=False) to liblinear solver
type 2, ``multi_class="ovr"`` (the default) is liblinear's own one-vs-rest, ``fit_intercept=False`` passes bias -1
(``_fit_liblinear``), and ``tol``/``max_iter`` are liblinear's ``-e`` and its iteration limit. The release ran
multi-core liblinear (``-n 32``), which parallelises the same Newton iterations (only the floating-point summation
order differs); sklearn's copy runs single-threaded. ``dual=False`` is deterministic (``random_state`` only seeds the
dual solvers; it is passed anyway). Top-5 ranks the classes by decision value.

A fit that stops at ``max_iter`` is not silent: it is logged as a warning and the metrics say so (``converged`` 0.0,
``n_iter`` = ``max_iter``). scikit-learn is imported on first use only (the GPU machine does not have it).
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import torch

from protocols.registry import EvalInputs, Outcome, Protocol, register

log = logging.getLogger(__name__)


def per_video(x) -> np.ndarray:
    """[N, n_clips, D] clip features (or [N, D] video features) -> [N, D] float64, averaged over the clips."""
    x = torch.as_tensor(x).detach().cpu().double()
    if x.ndim == 3:
        x = x.mean(1)
    if x.ndim != 2:
        raise ValueError(f"features must be [N, n_clips, D] or [N, D], got {tuple(x.shape)}")
    return x.numpy()


def _labels(y) -> np.ndarray:
    return torch.as_tensor(y).detach().cpu().long().numpy()


def topk_hits(scores: np.ndarray, classes: np.ndarray, y: np.ndarray, k: int) -> float:
    """Fraction of rows whose label is among the ``k`` classes of highest score (ties: the lower class first)."""
    k = min(k, len(classes))
    top = classes[np.argsort(-scores, axis=1, kind="stable")[:, :k]]
    return float((top == y[:, None]).any(1).mean())


def svm_probe(train_x, train_y, test_x, test_y, num_classes: int, cfg, seed: int) -> dict[str, float]:
    """Fit the linear SVM on (``train_x``, ``train_y``) and evaluate it on the test videos.

    Features are [N, n_clips, D] (averaged over the clips here) or [N, D]; labels [N] in [0, num_classes).
    ``cfg``: ``C``, ``bias`` (false: no bias term, as the release), ``tol``, ``max_iter``.
    Returns ``top1``, ``top5`` (test, video level), ``train_top1``, ``converged`` (1.0 or 0.0) and ``n_iter``
    (the most iterations any one-vs-rest problem took)."""
    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.svm import LinearSVC
    except ImportError as e:
        raise ImportError(
            "protocol svm needs scikit-learn: pip install scikit-learn, or drop svm from protocols "
            f"(e.g. protocols=[linear,retrieval]) ({e})"
        ) from e
    xtr, xte, ytr, yte = per_video(train_x), per_video(test_x), _labels(train_y), _labels(test_y)
    if len(xtr) != len(ytr) or len(xte) != len(yte):
        raise ValueError("one label per video is required")
    if xtr.shape[1] != xte.shape[1]:
        raise ValueError(f"train and test features differ in size: {xtr.shape[1]} vs {xte.shape[1]}")
    for name, y in (("train", ytr), ("test", yte)):
        if len(y) and (y.min() < 0 or y.max() >= num_classes):
            raise ValueError(f"{name} labels must be in [0, {num_classes}), got {y.min()}..{y.max()}")
    if not (np.isfinite(xtr).all() and np.isfinite(xte).all()):
        raise ValueError("features must be finite")
    if len(np.unique(ytr)) < 2:
        raise ValueError(f"the SVM needs at least 2 classes in its training set, got {np.unique(ytr).tolist()}")
    max_iter = int(cfg.max_iter)
    clf = LinearSVC(
        penalty="l2",
        loss="squared_hinge",
        dual=False,
        C=float(cfg.C),
        fit_intercept=bool(cfg.bias),
        intercept_scaling=1.0,
        tol=float(cfg.tol),
        max_iter=max_iter,
        random_state=int(seed),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # reported below, once, with the numbers
        clf.fit(xtr, ytr)
    n_iter = int(clf.n_iter_)
    converged = n_iter < max_iter
    if not converged:
        log.warning(
            "svm: liblinear stopped at max_iter=%d before reaching tol=%g (C=%g, %d videos, %d features); "
            "the record says converged=0",
            max_iter,
            float(cfg.tol),
            float(cfg.C),
            *xtr.shape,
        )

    def scores(x: np.ndarray) -> np.ndarray:
        s = clf.decision_function(x)
        return np.stack([-s, s], 1) if s.ndim == 1 else s  # two classes: one weight vector, for classes_[1]

    return {
        "top1": topk_hits(scores(xte), clf.classes_, yte, 1),
        "top5": topk_hits(scores(xte), clf.classes_, yte, 5),
        "train_top1": topk_hits(scores(xtr), clf.classes_, ytr, 1),
        "converged": float(converged),
        "n_iter": float(n_iter),
    }


@register("svm")
class LinearSVM(Protocol):
    """Opt-in (``protocols=[linear,svm]``): trained on the official train list (our train + val parts)."""

    def run(self, x: EvalInputs) -> Outcome:
        f = x.features
        metrics = svm_probe(
            torch.cat([f["train"]["pooled"], f["val"]["pooled"]]),
            torch.cat([f["train"]["labels"], f["val"]["labels"]]),
            f["test"]["pooled"],
            f["test"]["labels"],
            num_classes=x.evalset.index.num_classes,
            cfg=x.settings,
            seed=x.seed,
        )
        return Outcome(metrics, len(f["test"]["labels"]))

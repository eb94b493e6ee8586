"""k-fold cross-validation: the one rule training and evaluation share.

Volumes are sorted by path; volume ``i`` of the sorted list is in fold ``i % k`` (the paper's 5-fold split
with the order made independent of how the files were listed).
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

PathLike = Union[str, Path]


def fold_of(index: int, folds: int) -> int:
    """The fold of the ``index``-th volume of the sorted list: ``index % folds``."""
    return int(index) % max(1, int(folds))


def check_fold(folds: int, fold: Optional[int]) -> None:
    if int(folds) < 1:
        raise ValueError(f"folds must be a positive integer, got {folds}")
    if fold is not None and not 0 <= int(fold) < int(folds):
        raise ValueError(f"fold must be between 0 and {int(folds) - 1}, got {fold}")


def select_fold(paths: Sequence[PathLike], folds: int = 1, fold: Optional[int] = None) -> List[Tuple[Path, int]]:
    """Sort ``paths`` and return ``(path, fold)`` for the volumes to evaluate (all, or only fold ``fold``)."""
    check_fold(folds, fold)
    ordered = sorted((Path(p) for p in paths), key=str)
    chosen = [(path, fold_of(i, folds)) for i, path in enumerate(ordered)]
    if fold is not None:
        chosen = [(path, f) for path, f in chosen if f == int(fold)]
    return chosen


def kfold_split(paths: Sequence[PathLike], folds: int, fold: int) -> Tuple[List[Path], List[Path]]:
    """``(train, test)``: the test scans are fold ``fold`` of ``select_fold``; ``folds < 2`` keeps all for training."""
    paths = [Path(p) for p in paths]
    if folds < 2:
        return paths, []
    if len(paths) < folds:
        raise ValueError(f"{folds}-fold cross-validation needs at least {folds} scans, got {len(paths)}")
    check_fold(folds, fold)
    test = [path for path, f in select_fold(paths, folds) if f == fold]
    return [p for p in paths if p not in test], test

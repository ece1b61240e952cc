"""ALBEF's retrieval recall protocol (arXiv 2107.07651), reproduced exactly.

``itm_eval`` is ALBEF's ``Retrieval.py::itm_eval``: R@1/5/10 for text retrieval (image -> text,
"TR") and image retrieval (text -> image, "IR"). ``rerank_scores`` builds the score matrix ALBEF
evaluates after reranking: the ITC similarity picks the top-k candidates per query, the ITM head
scores only those, everything else stays at -100. Keeping the protocol identical means our
numbers are comparable with the paper's tables and with the Java benchmark, which reports the same
keys.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

# The score modes by their one name, the labels of reranker/ScoreMode.java. Evaluation reranks with
# the two that need no first-stage score; "blend" adds Elasticsearch's first-stage score.
RERANK_MODES = ("itm", "itm_plus_itc")
# The manifest's "score" section: the final score exactly as reranker/ScoreFormula.java computes it
# (ScoreFormulaTest checks the shipped manifest against that code).
SCORE = {
    "itm": "itm_logits[:, 1]",
    "itc": "dot(query_embedding, candidate_embedding)",
    "modes": {"itm": "itm", "itm_plus_itc": "itm + itc_weight * itc",
              "blend": "query_weight * first_stage + rescore_query_weight * itm"},
    "final": "raw + 1 if raw >= 0 else 1 / (1 - raw)",
    "unscored": "first_stage (blend: query_weight * first_stage), and below the window capped under the window's lowest score",
    "weights": "itc_weight: the request's, else rerank.itc_weight; query_weight, rescore_query_weight: the request's, else 1",
}
NOT_RERANKED = -100.0

_TABLE_COLUMNS = (
    ("TR R@1", "txt_r1"),
    ("TR R@5", "txt_r5"),
    ("TR R@10", "txt_r10"),
    ("IR R@1", "img_r1"),
    ("IR R@5", "img_r5"),
    ("IR R@10", "img_r10"),
    ("RSUM", "rsum"),
)


def _recalls(ranks: np.ndarray) -> tuple[float, float, float]:
    return tuple(float(100.0 * np.mean(ranks < k)) for k in (1, 5, 10))


def itm_eval(
    scores_i2t: np.ndarray,
    scores_t2i: np.ndarray,
    img2txt: list[list[int]],
    txt2img: list[int],
) -> dict:
    """Recall@K as ALBEF's ``itm_eval``.

    Image -> text: a row's rank is the best (smallest) position of any of its ground-truth texts
    in ``np.argsort(score)[::-1]``. Text -> image: the position of its one image. ``R@K`` is
    ``100 * mean(rank < K)``. Ties fall wherever ``np.argsort``'s default sort leaves them, as
    in ALBEF; real-valued model scores rarely tie.
    """
    scores_i2t = np.asarray(scores_i2t)
    scores_t2i = np.asarray(scores_t2i)
    n_img, n_txt = scores_i2t.shape
    if scores_t2i.shape != (n_txt, n_img):
        raise ValueError(
            f"scores_t2i must be [{n_txt}, {n_img}] to match scores_i2t, got [{list(scores_t2i.shape)}]"
        )
    if len(img2txt) != n_img or len(txt2img) != n_txt:
        raise ValueError(
            f"need {n_img} img2txt and {n_txt} txt2img entries, "
            f"got [{len(img2txt)}] and [{len(txt2img)}]"
        )

    i2t_ranks = np.zeros(n_img)
    for index, score in enumerate(scores_i2t):
        order = np.argsort(score)[::-1]
        position = np.empty(n_txt, dtype=np.int64)
        position[order] = np.arange(n_txt)
        i2t_ranks[index] = min(position[t] for t in img2txt[index])

    t2i_ranks = np.zeros(n_txt)
    for index, score in enumerate(scores_t2i):
        order = np.argsort(score)[::-1]
        t2i_ranks[index] = np.where(order == txt2img[index])[0][0]

    tr1, tr5, tr10 = _recalls(i2t_ranks)
    ir1, ir5, ir10 = _recalls(t2i_ranks)
    tr_mean = (tr1 + tr5 + tr10) / 3
    ir_mean = (ir1 + ir5 + ir10) / 3
    return {
        "txt_r1": tr1,
        "txt_r5": tr5,
        "txt_r10": tr10,
        "txt_r_mean": tr_mean,
        "img_r1": ir1,
        "img_r5": ir5,
        "img_r10": ir10,
        "img_r_mean": ir_mean,
        "r_mean": (tr_mean + ir_mean) / 2,
        "rsum": tr1 + tr5 + tr10 + ir1 + ir5 + ir10,
    }


def rerank_scores(
    sim: np.ndarray,
    k: int,
    score_fn: Callable[[int, np.ndarray], np.ndarray],
    mode: str = "itm",
    itc_weight: float = 1.0,
) -> np.ndarray:
    """The reranked ``[Q, C]`` score matrix, as ALBEF builds it for evaluation.

    Every cell starts at -100. For each query ``q`` the top-``k`` candidates by ``sim[q]`` get
    ``score_fn(q, topk_idx)`` (mode ``"itm"``, ALBEF) or ``score_fn(q, topk_idx) +
    itc_weight * sim[q, topk_idx]`` (mode ``"itm_plus_itc"``: BLIP's with the default weight 1, the
    plugin's ``score_mode: itm_plus_itc`` with its ``itc_weight``). The top-k is
    ``np.argsort(-sim[q], kind="stable")[:k]``: highest first, and equal similarities keep the
    lower candidate index first, so ties are deterministic (ALBEF's ``torch.topk`` leaves them
    unspecified). ``k`` larger than ``C`` is clamped to ``C``; ``score_fn`` receives the
    indices in that order and must return ``k`` scores.
    """
    if mode not in RERANK_MODES:
        raise ValueError(f"unknown rerank mode [{mode}], valid modes: {list(RERANK_MODES)}")
    sim = np.asarray(sim)
    if sim.ndim != 2:
        raise ValueError(f"sim must be [Q, C], got shape [{list(sim.shape)}]")
    if k < 1:
        raise ValueError(f"k must be positive, got [{k}]")
    n_queries, n_candidates = sim.shape
    k = min(int(k), n_candidates)
    scores = np.full((n_queries, n_candidates), NOT_RERANKED, dtype=np.float32)
    for q in range(n_queries):
        topk_idx = np.argsort(-sim[q], kind="stable")[:k]
        fused = np.asarray(score_fn(q, topk_idx), dtype=np.float64).reshape(-1)
        if fused.shape != (k,):
            raise ValueError(f"score_fn must return [{k}] scores for query [{q}], got [{fused.shape[0]}]")
        if mode == "itm_plus_itc":
            fused = fused + itc_weight * sim[q, topk_idx]
        scores[q, topk_idx] = fused
    return scores


def format_table(results: dict[str, dict]) -> str:
    """A fixed-width table: one row per setting ("ITC", "ITC+ITM k=16", ...), recalls in %.

    Python's ``format`` with ``f`` never consults the locale, so the decimal point is always
    ``.`` (the same output on every machine, and easy to diff against Java's report).
    """
    name_width = max([len("setting")] + [len(name) for name in results])
    widths = [max(len(title), 7) for title, _ in _TABLE_COLUMNS]
    header = "setting".ljust(name_width) + "".join(
        "  " + title.rjust(width) for (title, _), width in zip(_TABLE_COLUMNS, widths)
    )
    lines = [header, "-" * len(header)]
    for name, metrics in results.items():
        cells = []
        for (title, key), width in zip(_TABLE_COLUMNS, widths):
            if key not in metrics:
                raise KeyError(f"results for [{name}] lack [{key}]")
            cells.append("  " + format(float(metrics[key]), ".2f").rjust(width))
        lines.append(name.ljust(name_width) + "".join(cells))
    return "\n".join(lines)

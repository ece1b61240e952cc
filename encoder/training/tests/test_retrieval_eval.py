"""ALBEF's recall protocol and the reranked score matrix, on hand-built scores."""

import numpy as np
import pytest

from retrieval_eval import format_table, itm_eval, rerank_scores

KEYS = {"txt_r1", "txt_r5", "txt_r10", "txt_r_mean", "img_r1", "img_r5", "img_r10",
        "img_r_mean", "r_mean", "rsum"}


def test_perfect_diagonal_is_all_100():
    scores = np.eye(12) + 0.01 * np.arange(12)  # off-diagonal values differ, diagonal wins
    result = itm_eval(scores, scores.T, [[i] for i in range(12)], list(range(12)))
    assert set(result) == KEYS
    assert all(isinstance(v, float) for v in result.values())
    assert {k: v for k, v in result.items() if k != "rsum"} == {k: 100.0 for k in KEYS - {"rsum"}}
    assert result["rsum"] == 600.0


def test_known_permutation_gives_computed_ranks():
    # 12 images, 12 texts, text i belongs to image i. Image i ranks its text at position
    # ranks[i] by construction; texts rank their image with the transposed scores.
    n = 12
    ranks = [0, 0, 1, 2, 4, 4, 5, 9, 9, 10, 11, 3]
    scores = np.zeros((n, n))
    rng = np.random.default_rng(0)
    for i, rank in enumerate(ranks):
        others = [t for t in rng.permutation(n) if t != i]
        order = others[:rank] + [i] + others[rank:]  # best first
        scores[i, order] = np.arange(n, 0, -1)
    t2i = np.tile(np.arange(n, 0, -1.0), (n, 1))  # every text ranks image 0 first, then 1, ...
    result = itm_eval(scores, t2i, [[i] for i in range(n)], list(range(n)))
    r = np.array(ranks)
    assert result["txt_r1"] == pytest.approx(100 * np.mean(r < 1))  # 2/12
    assert result["txt_r5"] == pytest.approx(100 * np.mean(r < 5))  # 7/12
    assert result["txt_r10"] == pytest.approx(100 * np.mean(r < 10))  # 10/12
    assert result["img_r1"] == pytest.approx(100 / 12)  # text t ranks its image at position t
    assert result["img_r5"] == pytest.approx(500 / 12)
    assert result["img_r10"] == pytest.approx(1000 / 12)
    tr_mean = (result["txt_r1"] + result["txt_r5"] + result["txt_r10"]) / 3
    ir_mean = (result["img_r1"] + result["img_r5"] + result["img_r10"]) / 3
    assert result["txt_r_mean"] == pytest.approx(tr_mean)
    assert result["r_mean"] == pytest.approx((tr_mean + ir_mean) / 2)
    assert result["rsum"] == pytest.approx(sum(result[k] for k in
                                               ("txt_r1", "txt_r5", "txt_r10", "img_r1", "img_r5", "img_r10")))


def test_any_ground_truth_caption_counts_for_text_retrieval():
    # Image 0 owns texts 0 and 1, image 1 owns 2 and 3. For image 0 the 2nd caption (text 1)
    # ranks first while its 1st is last: rank 0. Image 1's best own caption is at position 1.
    img2txt = [[0, 1], [2, 3]]
    txt2img = [0, 0, 1, 1]
    i2t = np.array([[0.1, 0.9, 0.5, 0.4],
                    [0.9, 0.1, 0.5, 0.2]])
    t2i = np.array([[0.9, 0.1], [0.2, 0.8], [0.1, 0.9], [0.3, 0.7]])
    result = itm_eval(i2t, t2i, img2txt, txt2img)
    assert result["txt_r1"] == 50.0 and result["txt_r5"] == 100.0
    assert result["img_r1"] == 75.0 and result["img_r5"] == 100.0


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError, match=r"\[3, 2\]"):
        itm_eval(np.zeros((2, 3)), np.zeros((2, 3)), [[0], [1]], [0, 1, 1])


def test_rerank_fills_only_top_k():
    sim = np.array([[0.1, 0.9, 0.3, 0.8, 0.2],
                    [0.5, 0.4, 0.3, 0.2, 0.1],
                    [0.0, 0.0, 0.7, 0.0, 0.0]], dtype=np.float32)
    calls = []

    def score_fn(q, idx):
        calls.append((q, idx.tolist()))
        return np.full(len(idx), 10.0 + q)

    scores = rerank_scores(sim, 2, score_fn)
    # Row 2 has a 4-way tie behind 0.7: the stable sort keeps the lowest index (0) first.
    assert calls == [(0, [1, 3]), (1, [0, 1]), (2, [2, 0])]
    expected = np.full(sim.shape, -100.0, dtype=np.float32)
    expected[0, [1, 3]] = 10
    expected[1, [0, 1]] = 11
    expected[2, [2, 0]] = 12
    np.testing.assert_array_equal(scores, expected)


def test_rerank_itm_plus_itc_adds_similarity():
    sim = np.array([[0.25, 0.5, 0.125]], dtype=np.float32)
    scores = rerank_scores(sim, 2, lambda q, idx: np.array([1.0, 2.0]), mode="itm_plus_itc")
    # top-2 is [1, 0]: scores 1.0 + 0.5 and 2.0 + 0.25
    np.testing.assert_array_equal(scores, [[2.25, 1.5, -100.0]])
    weighted = rerank_scores(sim, 2, lambda q, idx: np.array([1.0, 2.0]), mode="itm_plus_itc", itc_weight=4.0)
    np.testing.assert_array_equal(weighted, [[3.0, 3.0, -100.0]])  # 1 + 4 x 0.5 and 2 + 4 x 0.25


def test_rerank_clamps_k_to_candidates():
    sim = np.array([[0.3, 0.1, 0.2]])
    seen = []
    scores = rerank_scores(sim, 16, lambda q, idx: seen.append(len(idx)) or -idx.astype(float))
    assert seen == [3]
    np.testing.assert_array_equal(scores, [[0.0, -1.0, -2.0]])


def test_rerank_rejects_unknown_mode_and_wrong_score_count():
    with pytest.raises(ValueError, match=r"\[itm\+itc\].*'itm', 'itm_plus_itc'"):
        rerank_scores(np.zeros((1, 3)), 2, lambda q, idx: np.zeros(2), mode="itm+itc")
    with pytest.raises(ValueError, match=r"\[2\] scores"):
        rerank_scores(np.zeros((1, 3)), 2, lambda q, idx: np.zeros(3))


def test_reranked_matrix_feeds_itm_eval():
    # ITC puts the right text second for every image; ITM fixes it inside the top 2.
    n = 4
    sim = np.eye(n) * 0.5 + np.roll(np.eye(n), 1, axis=1) * 0.9
    itm = lambda q, idx: (idx == q).astype(float)
    i2t = rerank_scores(sim, 2, itm)
    t2i = rerank_scores(sim.T, 2, itm)
    gt = [[i] for i in range(n)], list(range(n))
    assert itm_eval(sim, sim.T, *gt)["txt_r1"] == 0.0
    assert itm_eval(i2t, t2i, *gt)["rsum"] == 600.0


def test_format_table():
    row = {"txt_r1": 50.0, "txt_r5": 75.5, "txt_r10": 100.0, "img_r1": 1.234, "img_r5": 5.0,
           "img_r10": 9.999, "rsum": 241.733}
    table = format_table({"ITC": row, "ITC+ITM k=16": dict(row, txt_r1=60.0)})
    lines = table.splitlines()
    assert len(lines) == 4
    assert lines[0].split() == ["setting", "TR", "R@1", "TR", "R@5", "TR", "R@10",
                                "IR", "R@1", "IR", "R@5", "IR", "R@10", "RSUM"]
    assert lines[2].split() == ["ITC", "50.00", "75.50", "100.00", "1.23", "5.00", "10.00", "241.73"]
    assert lines[3].startswith("ITC+ITM k=16") and "60.00" in lines[3]
    assert len({len(line) for line in lines}) == 1  # fixed width
    with pytest.raises(KeyError, match=r"\[bad\].*\[rsum\]"):
        format_table({"bad": {k: 0.0 for k in row if k != "rsum"}})

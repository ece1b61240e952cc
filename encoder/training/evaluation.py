"""ALBEF's retrieval evaluation of a model on an eval split: ITC embeddings of every image and
caption, then ITM scores for each query's ITC top-k (the metrics themselves: retrieval_eval.py)."""

from __future__ import annotations

import numpy as np
import torch

import retrieval_eval
from model import ALBEF
from tokenizer import TextTokenizer


@torch.no_grad()
def embed_eval_set(model: ALBEF, dataset, tokenizer: TextTokenizer, device, batch_size=128, max_images=None):
    """ITC embeddings and token features of every image and text of an eval split."""
    n_images = len(dataset) if max_images is None else min(max_images, len(dataset))
    image_embeds, image_feats = [], []
    for start in range(0, n_images, batch_size):
        pixels = torch.stack([dataset[i][0] for i in range(start, min(n_images, start + batch_size))]).to(device)
        embedding, feats = model.encode_image(pixels)
        image_embeds.append(embedding.float())
        image_feats.append(feats.float())
    text_ids = [t for t in range(len(dataset.texts)) if dataset.txt2img[t] < n_images]
    text_embeds, text_feats, text_masks = [], [], []
    for start in range(0, len(text_ids), batch_size):
        ids, mask = tokenizer.encode_batch([dataset.texts[t] for t in text_ids[start : start + batch_size]])
        ids, mask = ids.to(device), mask.to(device)
        embedding, feats = model.encode_text(ids, mask)
        text_embeds.append(embedding.float())
        # Pad every batch to max_tokens so all texts stack into one tensor.
        pad = tokenizer.max_tokens - ids.shape[1]
        n = model.cfg.feature_layers
        feats = feats.view(ids.shape[0], n, ids.shape[1], -1)
        feats = torch.nn.functional.pad(feats, (0, 0, 0, pad)).view(ids.shape[0], n * tokenizer.max_tokens, -1)
        text_feats.append(feats.float())
        text_masks.append(torch.nn.functional.pad(mask, (0, pad)))
    img2txt_index = {t: j for j, t in enumerate(text_ids)}
    img2txt = [[img2txt_index[t] for t in dataset.img2txt[i]] for i in range(n_images)]
    txt2img = [dataset.txt2img[t] for t in text_ids]
    return (
        torch.cat(image_embeds), torch.cat(image_feats), torch.cat(text_embeds), torch.cat(text_feats),
        torch.cat(text_masks), img2txt, txt2img,
    )


@torch.no_grad()
def itm_match_scores(model: ALBEF, text_feats, text_mask, image_feats) -> torch.Tensor:
    """ITM match logits of row-aligned (caption, image) pairs; a side given as one row is paired
    with every row of the other (one query against its candidates)."""
    n = max(len(text_feats), len(image_feats))
    text_feats, text_mask, image_feats = (t.expand(n, *t.shape[1:]) for t in (text_feats, text_mask, image_feats))
    # One mask row per image token of a layer: with bridge layers the features hold feature_layers layers.
    image_mask = torch.ones(n, image_feats.shape[1] // model.cfg.feature_layers, dtype=torch.long, device=image_feats.device)
    return model.itm_logits(text_feats, text_mask, image_feats, image_mask)[:, 1]


def blend_row(k: int, itc_weight: float) -> str:
    """evaluate's name for the row that ranks ITC's top-k by ITM logit + itc_weight x ITC cosine."""
    return f"ITC+ITM k={k} +{itc_weight:g}·ITC"


def evaluate(model: ALBEF, dataset, tokenizer: TextTokenizer, device, k_values, max_images=None, batch_size=128,
             itc_weights=()):
    """ALBEF's retrieval evaluation: the ITC similarity matrix, then ITM scores for the top-k
    candidates of every query (the rest stay at -100). ITM scores are computed once for the
    largest k and reused for the smaller ones (their top-k is a prefix), and for the rows
    ``ITC+ITM k=K +W·ITC`` of each of ``itc_weights``: ITM logit + W x ITC cosine (W = 1 is BLIP's
    score; see retrieval_eval.rerank_scores)."""
    model.eval()
    image_embed, image_feats, text_embed, text_feats, text_mask, img2txt, txt2img = embed_eval_set(
        model, dataset, tokenizer, device, batch_size, max_images
    )
    sim_i2t = (image_embed @ text_embed.T).cpu().numpy()
    results = {"ITC": retrieval_eval.itm_eval(sim_i2t, sim_i2t.T, img2txt, txt2img)}
    cache: dict[tuple[str, int, int], float] = {}

    def itm_scores(pixels_side: str):
        def score(query: int, candidates: np.ndarray) -> np.ndarray:
            missing = [int(c) for c in candidates if (pixels_side, query, int(c)) not in cache]
            for start in range(0, len(missing), batch_size):
                chunk = torch.tensor(missing[start : start + batch_size], device=device)
                one = slice(query, query + 1)
                if pixels_side == "i2t":  # query image, candidate texts
                    scores = itm_match_scores(model, text_feats[chunk], text_mask[chunk], image_feats[one])
                else:  # query text, candidate images
                    scores = itm_match_scores(model, text_feats[one], text_mask[one], image_feats[chunk])
                for c, s in zip(chunk.tolist(), scores.float().tolist()):
                    cache[(pixels_side, query, c)] = s
            return np.array([cache[(pixels_side, query, int(c))] for c in candidates], dtype=np.float32)

        return score

    for k in sorted(k_values, reverse=True):
        i2t = retrieval_eval.rerank_scores(sim_i2t, k, itm_scores("i2t"))
        t2i = retrieval_eval.rerank_scores(sim_i2t.T, k, itm_scores("t2i"))
        results[f"ITC+ITM k={k}"] = retrieval_eval.itm_eval(i2t, t2i, img2txt, txt2img)
        for w in itc_weights:
            i2t = retrieval_eval.rerank_scores(sim_i2t, k, itm_scores("i2t"), "itm_plus_itc", w)
            t2i = retrieval_eval.rerank_scores(sim_i2t.T, k, itm_scores("t2i"), "itm_plus_itc", w)
            results[blend_row(k, w)] = retrieval_eval.itm_eval(i2t, t2i, img2txt, txt2img)
    model.train()
    return dict(sorted(results.items(), key=lambda kv: (kv[0] != "ITC", len(kv[0]), kv[0])))

"""The manifest's ``fusion`` section: what each input of the fusion (ITM) graph is and where it
comes from, so that one runtime serves every model family without special cases.

Model families differ in what the ITM needs. Our ALBEF-style fusion encoder reads the text
encoder's token features; BLIP's ITM runs its whole text encoder, with cross-attention, from the
token ids (BLIP, Li et al. 2022, section 3.1: the image-grounded text encoder), so a caption
document stores its ids, not features. A family names each fusion-graph input once, by modality
(``text.token_ids``, ``image.token_features``); :func:`fusion_section` turns that into one
declaration per search direction, where each input's source is the query's or the candidate's
quantity, and into what each document kind must store.

Quantities (``<side>.<quantity>``, ``side`` is ``query`` or ``candidate``):

* ``token_ids``: the tokenizer's ids, int64 ``[batch, tokens]`` (text only). A candidate's are
  its stored ids.
* ``attention_mask``: int64 ``[batch, tokens]``, 1 on the text's real tokens, 0 on padding
  (text only). Never stored: a candidate's is 1 over its stored tokens.
* ``token_features``: the modality's encoder output ``token_features``, float32
  ``[batch, layer_tokens, width]``. A candidate's are its stored blob.
* ``token_mask``: int64 ``[batch, tokens_per_layer]``, 1 on each token row, 0 on batch padding.
  Never stored: derived from the token features.

Every document stores its ``embedding`` (the ITC vector the kNN first stage searches) and the
quantities above that are stored (``token_ids``, ``token_features``) of its modality that the
fusion graph reads. A model without an ITC head (BridgeTower's and ViLT's retrieval models) has no
embedding: its documents store only what the fusion graph reads, and another bundle's vectors make
the first stage (``fusion_section(..., embedding=False)``).
"""

from __future__ import annotations

MODALITIES = ("text", "image")
DIRECTIONS = {"text_to_image": ("text", "image"), "image_to_text": ("image", "text")}  # (query, candidate)
DOCUMENT_KINDS = {"image": "image", "caption": "text"}  # document kind -> its modality
QUANTITIES = {"token_ids": ("text",), "attention_mask": ("text",), "token_features": MODALITIES,
              "token_mask": MODALITIES}
STORED = ("token_ids", "token_features")
ENCODER_GRAPHS = {"text": "text_encoder", "image": "image_encoder"}


def fusion_section(inputs: dict[str, str], graph: str = "fusion_itm", embedding: bool = True) -> dict:
    """The declaration for a fusion graph whose inputs, in graph order, map a name to
    ``<modality>.<quantity>``. ``embedding``: whether the model has ITC vectors, which every
    document then stores; without them a document stores only what the fusion graph reads."""
    parsed = {name: _parse(name, source, MODALITIES) for name, source in inputs.items()}
    directions = {}
    for direction, (query, candidate) in DIRECTIONS.items():
        side = {query: "query", candidate: "candidate"}
        directions[direction] = {"query": query, "candidate": candidate, "inputs": [
            {"name": name, "source": f"{side[modality]}.{quantity}"} for name, (modality, quantity) in parsed.items()]}
    documents = {}
    for kind, modality in DOCUMENT_KINDS.items():
        read = [q for m, q in parsed.values() if m == modality and q in STORED]
        documents[kind] = {"stores": (["embedding"] if embedding else []) + sorted(set(read), key=read.index)}
    return {"graph": graph, "directions": directions, "documents": documents}


def _parse(name: str, source: str, sides) -> tuple[str, str]:
    side, _, quantity = source.partition(".")
    if side not in sides:
        raise ValueError(f"fusion input [{name}] has source [{source}]; its prefix must be one of {list(sides)}")
    if quantity not in QUANTITIES:
        raise ValueError(f"fusion input [{name}] has source [{source}]; valid quantities: {list(QUANTITIES)}")
    if side in MODALITIES and side not in QUANTITIES[quantity]:
        raise ValueError(f"fusion input [{name}] has source [{source}]: {side} has no {quantity}")
    return side, quantity


def check_manifest(manifest: dict) -> None:
    """Raise ``ValueError`` naming the field where the ``fusion`` section disagrees with the graphs
    it describes: input names and order, a quantity of the wrong modality, a ``token_features``
    source whose encoder graph has no such output, a document that does not store what its
    direction reads, or one that stores an ``embedding`` its encoder graph does not output."""
    fusion = manifest["fusion"]
    graphs = manifest["graphs"]
    if fusion["graph"] not in graphs:
        raise ValueError(f"fusion.graph [{fusion['graph']}] is not in graphs {sorted(graphs)}")
    names = [t["name"] for t in graphs[fusion["graph"]]["inputs"]]
    stores = {DOCUMENT_KINDS[kind]: set(doc["stores"]) for kind, doc in fusion["documents"].items()}
    for kind, doc in fusion["documents"].items():
        encoder = ENCODER_GRAPHS[DOCUMENT_KINDS[kind]]
        if "embedding" in doc["stores"] and "embedding" not in [t["name"] for t in graphs[encoder]["outputs"]]:
            raise ValueError(f"fusion.documents.{kind}.stores has [embedding] but graphs.{encoder} has no "
                             f"embedding output")
    for direction, (query, candidate) in DIRECTIONS.items():
        declared = fusion["directions"][direction]
        field = f"fusion.directions.{direction}"
        if [i["name"] for i in declared["inputs"]] != names:
            raise ValueError(f"{field}.inputs {[i['name'] for i in declared['inputs']]} are not the inputs of "
                             f"graphs.{fusion['graph']} {names}")
        if (declared["query"], declared["candidate"]) != (query, candidate):
            raise ValueError(f"{field} has query [{declared['query']}] and candidate [{declared['candidate']}]; "
                             f"expected [{query}] and [{candidate}]")
        modality = {"query": query, "candidate": candidate}
        for entry in declared["inputs"]:
            side, quantity = _parse(entry["name"], entry["source"], ("query", "candidate"))
            where = f"{field} input [{entry['name']}] source [{entry['source']}]"
            if modality[side] not in QUANTITIES[quantity]:
                raise ValueError(f"{where}: the {side} is {modality[side]}, which has no {quantity}")
            if quantity == "token_features":
                outputs = [t["name"] for t in graphs[ENCODER_GRAPHS[modality[side]]]["outputs"]]
                if "token_features" not in outputs:
                    raise ValueError(f"{where}: graphs.{ENCODER_GRAPHS[modality[side]]} has no token_features output")
            if side == "candidate" and quantity in STORED and quantity not in stores[candidate]:
                kind = next(k for k, m in DOCUMENT_KINDS.items() if m == candidate)
                raise ValueError(f"{where}: fusion.documents.{kind}.stores lacks [{quantity}]")

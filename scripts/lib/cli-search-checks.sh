# Checks of `bin/fuserank create-index` and `bin/fuserank search` against a live node with the
# plugin: bash functions that return 0 (pass) or 1 (fail), printing why on stderr when they fail,
# in the style of scripts/smoke-test's checks. Source this file; it defines functions only.
#
# The caller sets:
#   url             the node, e.g. http://127.0.0.1:9250 (the plugin installed, security off)
#   FUSERANK_ROOT   the repository root (scripts/lib/common.sh sets it); the CLI must be built
#                   (mvn package: index-tools/target) and models/fuserank-small present
# Optional: CLI_CHECK_IMAGES / CLI_CHECK_CAPTIONS (index names, default cli-images / cli-captions),
# CLI_CHECK_IMAGE_PIPELINE / CLI_CHECK_CAPTION_PIPELINE (default cli-fuserank-images / -captions).
#
# Call them in this order (the search checks use the indices the first ones leave behind):
#
#   source "$FUSERANK_ROOT/scripts/lib/cli-search-checks.sh"
#   check "create-index creates the image index with its pipeline"      cli_create_index_creates
#   check "create-index refuses an existing index, naming it"           cli_create_index_refuses_existing
#   check "create-index --overwrite deletes and recreates the index"    cli_create_index_overwrite_recreates
#   check "the reference images and captions are indexed (CLI indices)" cli_reference_documents_indexed
#   check "search (table) ranks each reference caption's image first"   cli_search_table_finds_each_image
#   check "search --json ranks each caption's image first, ITM and ITC" cli_search_json_finds_each_image
#   check "client-side, plugin-side and REST scores agree to the digit" cli_search_paths_agree   (caption and image queries)
#   check "search --image on a caption index ranks its caption first"   cli_search_image_finds_each_caption
#   check "search argument errors exit 2 naming the value"              cli_search_bad_arguments_exit_2
#   cli_checks_cleanup    # deletes the indices and pipelines the checks made
#
# (`check NAME FUNCTION` is scripts/smoke-test's runner: it counts and prints ok / FAILED.)

cli_fuserank() { "$FUSERANK_ROOT/bin/fuserank" "$@"; }
cli_model() { printf '%s\n' "$FUSERANK_ROOT/models/fuserank-small"; }
cli_images_index() { printf '%s\n' "${CLI_CHECK_IMAGES:-cli-images}"; }
cli_captions_index() { printf '%s\n' "${CLI_CHECK_CAPTIONS:-cli-captions}"; }
cli_image_pipeline() { printf '%s\n' "${CLI_CHECK_IMAGE_PIPELINE:-cli-fuserank-images}"; }
cli_caption_pipeline() { printf '%s\n' "${CLI_CHECK_CAPTION_PIPELINE:-cli-fuserank-captions}"; }
cli_why() { printf '  %s\n' "$*" >&2; return 1; }
cli_es() { curl -sS -H 'Content-Type: application/json' "$@"; }
cli_reference_caption() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["captions"][int(sys.argv[2])])' \
    "$(cli_model)/reference/reference.json" "$1"
}
# cli_has URL TEXT: GET URL answers with TEXT in its body (read whole first: no early-closed pipe under pipefail).
cli_has() {
  local body
  body="$(cli_es "$1")" || return 1
  grep -qF -- "$2" <<<"$body"
}
# cli_bulk INDEX NDJSON: a bulk request with refresh that reports no item errors.
cli_bulk() {
  local response
  response="$(printf '%s' "$2" | curl -fsS -H 'Content-Type: application/x-ndjson' \
    -XPOST "$url/$1/_bulk?refresh=true" --data-binary @-)" || return 1
  grep -qF '"errors":false' <<<"$response"
}
cli_count() {
  cli_es "$url/$1/_count" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("count", -1))'
}

# create-index with --pipeline on a fresh name: exit 0, a JSON line on stdout, the mapping sized from
# the manifest (128 dims, dot_product, int8_hnsw) and the pipeline as the index's default.
cli_create_index_creates() {
  local index pipeline out
  index="$(cli_images_index)" pipeline="$(cli_image_pipeline)"
  cli_es -XDELETE "$url/$index" >/dev/null 2>&1
  out="$(cli_fuserank create-index "$index" --model "$(cli_model)" --pipeline "$pipeline" --url "$url" 2>&1)" \
    || cli_why "create-index $index exited $?: $out" || return 1
  grep -q "\"index\":\"$index\"" <<<"$out" || cli_why "stdout was [$out]" || return 1
  cli_es "$url/$index/_mapping" | python3 -c '
import json, sys
m = json.load(sys.stdin)[sys.argv[1]]["mappings"]
v = m["properties"]["image_vector"]
assert (v["dims"], v["similarity"], v["index_options"]["type"]) == (128, "dot_product", "int8_hnsw"), v
assert m["_source"]["excludes"] == ["image_features"], m
assert m["properties"]["image_features"] == {"type": "binary", "doc_values": True}, m
assert m["properties"]["image"]["type"] == "binary", m
' "$index" || cli_why "the mapping of [$index] is not the documented one" || return 1
  cli_has "$url/$index/_settings" "\"default_pipeline\":\"$pipeline\"" \
    || cli_why "[$index] has no index.default_pipeline [$pipeline]" || return 1
  cli_has "$url/_ingest/pipeline/$pipeline" '"fuserank":{"model_id":"fuserank-small","image_field":"image"' \
    || cli_why "pipeline [$pipeline] is not the fuserank processor"
}

# A second create-index on the same name: exit 1, the error names the index, the index is untouched.
cli_create_index_refuses_existing() {
  local index err rc
  index="$(cli_images_index)"
  cli_es -XPUT "$url/$index/_doc/keep?refresh=true&pipeline=_none" -d '{"image": "aGVsbG8="}' >/dev/null || return 1
  err="$(cli_fuserank create-index "$index" --model "$(cli_model)" --url "$url" 2>&1 >/dev/null)"; rc=$?
  [ "$rc" = 1 ] || cli_why "exit $rc, not 1: $err" || return 1
  grep -qF "index [$index] already exists" <<<"$err" || cli_why "the error does not name [$index]: $err" || return 1
  [ "$(cli_count "$index")" = 1 ] || cli_why "[$index] lost its document"
}

# --overwrite: exit 0, the index is empty again and has its mapping and default pipeline.
cli_create_index_overwrite_recreates() {
  local index pipeline out
  index="$(cli_images_index)" pipeline="$(cli_image_pipeline)"
  out="$(cli_fuserank create-index "$index" --model "$(cli_model)" --pipeline "$pipeline" --overwrite --url "$url" 2>&1)" \
    || cli_why "create-index --overwrite exited $?: $out" || return 1
  grep -q '"recreated":true' <<<"$out" || cli_why "stdout was [$out]" || return 1
  [ "$(cli_count "$index")" = 0 ] || cli_why "[$index] still has documents" || return 1
  cli_has "$url/$index/_mapping" '"image_vector":{"type":"dense_vector","dims":128' \
    || cli_why "[$index] lost its mapping" || return 1
  cli_has "$url/$index/_settings" "\"default_pipeline\":\"$pipeline\"" \
    || cli_why "[$index] lost index.default_pipeline"
}

# The four reference images into the image index (through its default pipeline, as the smoke
# test's bulk request), a caption index made by create-index --kind caption and its captions.
cli_reference_documents_indexed() {
  local images captions reference bulk="" i caption out
  images="$(cli_images_index)" captions="$(cli_captions_index)" reference="$(cli_model)/reference"
  for i in 00 01 02 03; do
    bulk+='{"index":{"_id":"'$i'"}}'$'\n''{"image":"'"$(base64 -w0 "$reference/images/$i.png")"'"}'$'\n'
  done
  cli_bulk "$images" "$bulk" || cli_why "the image bulk request failed" || return 1
  [ "$(cli_count "$images")" = 4 ] || cli_why "[$images] does not hold 4 images" || return 1
  out="$(cli_fuserank create-index "$captions" --kind caption --model "$(cli_model)" --pipeline "$(cli_caption_pipeline)" \
    --overwrite --url "$url" 2>&1)" || cli_why "create-index --kind caption exited $?: $out" || return 1
  bulk=""
  for i in 0 1 2 3; do
    caption="$(cli_reference_caption $i)"
    bulk+='{"index":{"_id":"0'$i'"}}'$'\n''{"caption":"'"$caption"'"}'$'\n'
  done
  cli_bulk "$captions" "$bulk" || cli_why "the caption bulk request failed" || return 1
  [ "$(cli_count "$captions")" = 4 ] || cli_why "[$captions] does not hold 4 captions"
}

# The table's first row after the header is rank 1: "   1  <id>  <score>  <itm>  <itc>".
cli_search_table_finds_each_image() {
  local i out row
  for i in 0 1 2 3; do
    out="$(cli_fuserank search "$(cli_images_index)" --text "$(cli_reference_caption $i)" --model "$(cli_model)" \
      --url "$url" --parts 2>/dev/null)" || cli_why "search for caption $i exited $?" || return 1
    [[ "$(head -n 1 <<<"$out")" =~ ^rank\ +_id\ +score\ +itm\ +itc$ ]] || cli_why "no table header in [$out]" || return 1
    row="$(sed -n 2p <<<"$out")"
    # rank 1 is the caption's image, and its ITM and ITC parts came from the explanation (numbers, not "-").
    [[ "$row" =~ ^\ +1\ +0${i}\ +[0-9.]+\ +-?[0-9.]+\ +-?[0-9.]+$ ]] || cli_why "caption $i: first row [$row]" || return 1
  done
}

cli_search_json_finds_each_image() {
  local i out
  for i in 0 1 2 3; do
    out="$(cli_fuserank search "$(cli_images_index)" --text "$(cli_reference_caption $i)" --model "$(cli_model)" \
      --url "$url" --json --parts 2>/dev/null)" || cli_why "search --json for caption $i exited $?" || return 1
    python3 -c '
import json, sys
lines = [json.loads(l) for l in sys.stdin.read().splitlines()]
top = lines[0]
assert len(lines) == 4, lines
assert [h["rank"] for h in lines] == [1, 2, 3, 4], lines
assert top["_id"] == sys.argv[1], top
assert isinstance(top["itm"], float) and isinstance(top["itc"], float), top
assert top["itm"] > max(h["itm"] for h in lines[1:]), lines
' "0$i" <<<"$out" || cli_why "caption $i: --json gave [$out]" || return 1
  done
}

# The scores of the CLI's plugin-side search, its --client-side rerank and the documented REST body
# (with explain) are the same floats for every hit of every reference caption and image, parts too:
# one definition (reranker/ScoreFormula), computed by the same code on both sides. The checker is
# the recall harness stage's (scripts/test), here on the four reference documents.
cli_search_paths_agree() {
  local ann out
  ann="$(mktemp --suffix=.json)"
  python3 -c '
import json, sys
reference = json.load(open(sys.argv[1] + "/reference.json"))
json.dump([{"image": "images/0%d.png" % i, "caption": [c]} for i, c in enumerate(reference["captions"][:4])], sys.stdout)
' "$(cli_model)/reference" >"$ann"
  out="$(python3 "$FUSERANK_ROOT/benchmarks/scripts/check_score_agreement.py" --url "$url" --ann "$ann" \
    --image-root "$(cli_model)/reference" --images "$(cli_images_index)" --captions "$(cli_captions_index)" 2>&1)" \
    || { rm -f "$ann"; cli_why "the three paths differ: $out"; return 1; }
  rm -f "$ann"
  grep -q "text->image: 4 queries .*: 4 identical" <<<"$out" && grep -q "image->text: 4 queries .*: 4 identical" <<<"$out" \
    || cli_why "not 4 + 4 queries compared: $out"
}

# Image -> text: an image query searches the caption index (text_vector, rescored against
# text_features) and ranks the image's own caption first, with the caption in the table.
cli_search_image_finds_each_caption() {
  local i out row
  for i in 0 1 2 3; do
    out="$(cli_fuserank search "$(cli_captions_index)" --image "$(cli_model)/reference/images/0$i.png" \
      --model "$(cli_model)" --url "$url" --parts 2>/dev/null)" || cli_why "image 0$i search exited $?" || return 1
    row="$(sed -n 2p <<<"$out")"
    [[ "$row" =~ ^\ +1\ +0${i}\ +[0-9.]+\ +-?[0-9.]+\ +-?[0-9.]+\ +(.*)$ ]] || cli_why "image 0$i: first row [$row]" || return 1
    [ "${BASH_REMATCH[1]}" = "$(cli_reference_caption $i)" ] || cli_why "image 0$i: caption column [${BASH_REMATCH[1]}]" || return 1
    out="$(cli_fuserank search "$(cli_captions_index)" --image "$(cli_model)/reference/images/0$i.png" \
      --model "$(cli_model)" --url "$url" --json 2>/dev/null)" || cli_why "image 0$i search --json exited $?" || return 1
    out="$(head -n 1 <<<"$out")"
    grep -q "\"_id\":\"0$i\"" <<<"$out" || cli_why "image 0$i: --json top hit [$out]" || return 1
  done
}

cli_search_bad_arguments_exit_2() {
  local err rc
  err="$(cli_fuserank search "$(cli_images_index)" --text a --image "$(cli_model)/reference/images/00.png" \
    --model "$(cli_model)" --url "$url" 2>&1 >/dev/null)"; rc=$?
  [ "$rc" = 2 ] && grep -qF "give either --text or --image, not both" <<<"$err" \
    || cli_why "--text with --image: exit $rc, [$err]" || return 1
  err="$(cli_fuserank search "$(cli_images_index)" --text a --score-mode max --model "$(cli_model)" --url "$url" 2>&1 >/dev/null)"; rc=$?
  [ "$rc" = 2 ] && grep -qF -- "--score-mode [max]" <<<"$err" || cli_why "--score-mode max: exit $rc, [$err]" || return 1
  err="$(cli_fuserank create-index cli-never --model "$(cli_model)" --index-options ivf --url "$url" 2>&1 >/dev/null)"; rc=$?
  [ "$rc" = 2 ] && grep -qF -- "--index-options [ivf]" <<<"$err" || cli_why "--index-options ivf: exit $rc, [$err]" || return 1
  [ "$(cli_es -o /dev/null -w '%{http_code}' "$url/cli-never")" = 404 ] || cli_why "[cli-never] was created"
}

cli_checks_cleanup() {
  cli_es -XDELETE "$url/$(cli_images_index),$(cli_captions_index)?ignore_unavailable=true" >/dev/null 2>&1
  cli_es -XDELETE "$url/_ingest/pipeline/$(cli_image_pipeline)" >/dev/null 2>&1
  cli_es -XDELETE "$url/_ingest/pipeline/$(cli_caption_pipeline)" >/dev/null 2>&1
  return 0
}

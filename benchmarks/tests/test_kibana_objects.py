"""Structural checks of example-queries/kibana/fuserank.ndjson, the Kibana saved objects over the
benchmark results index (benchmarks/src/main/resources/results-index.json).

No Kibana runs here: these tests check what an import needs (one JSON object a line, unique ids,
every reference resolving inside the file, the attributes Kibana's dashboard schema accepts) and
that every field a chart reads exists in the results mapping with a type its operation can use.
"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NDJSON = ROOT / "example-queries" / "kibana" / "fuserank.ndjson"
MAPPING = ROOT / "benchmarks" / "src" / "main" / "resources" / "results-index.json"

# What Kibana 9.0 writes for these types; an import migrates older versions up and refuses newer ones.
CORE_MIGRATION_VERSION = "8.8.0"
TYPE_MIGRATION_VERSIONS = {"index-pattern": "8.0.0", "lens": "8.9.0", "dashboard": "10.2.0"}
# Kibana's dashboard attribute schema (model versions 1 and 2) forbids any other key.
DASHBOARD_ATTRIBUTES = {"title", "description", "kibanaSavedObjectMeta", "timeRestore", "timeFrom", "timeTo",
                        "refreshInterval", "controlGroupInput", "panelsJSON", "optionsJSON", "hits", "version"}
RECORDS = {"recall", "latency", "ann"}
NUMERIC = {"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float"}
METRIC_OPERATIONS = {"average", "max", "min", "sum", "median", "percentile", "last_value", "standard_deviation"}
DASHBOARD_COLUMNS = 48


def lines():
    return [line for line in NDJSON.read_text(encoding="utf-8").split("\n") if line.strip()]


def parsed():
    return [json.loads(line) for line in lines()]


def saved_objects():
    """The saved objects, without the export summary line Kibana appends (and skips on import)."""
    return [o for o in parsed() if "exportedCount" not in o]


def of_type(kind):
    return [o for o in saved_objects() if o["type"] == kind]


def by_key():
    return {(o["type"], o["id"]): o for o in saved_objects()}


def mapping_fields():
    return json.loads(MAPPING.read_text(encoding="utf-8"))["mappings"]["properties"]


def benchmarks_view():
    [view] = [o for o in of_type("index-pattern") if o["attributes"]["title"] == "fuserank-benchmarks*"]
    return view


def layers(lens):
    return lens["attributes"]["state"]["datasourceStates"]["formBased"]["layers"]


def kql_terms(query):
    """(field, value) for each `field : value` of a KQL query (values unquoted)."""
    return [(m.group(1), m.group(3) if m.group(3) is not None else m.group(2))
            for m in re.finditer(r'([\w@.]+)\s*:\s*("([^"]*)"|[^\s()]+)', query)]


def test_every_line_is_one_json_object_and_the_file_ends_with_a_newline():
    text = NDJSON.read_text(encoding="utf-8")
    assert text.endswith("\n")
    for number, line in enumerate(lines(), 1):
        assert isinstance(json.loads(line), dict), "line %d is not a JSON object" % number


def test_the_export_summary_is_last_and_counts_the_objects():
    *objects, summary = parsed()
    assert all("exportedCount" not in o for o in objects)
    assert summary == {"excludedObjects": [], "excludedObjectsCount": 0, "exportedCount": len(objects),
                       "missingRefCount": 0, "missingReferences": []}


def test_every_object_has_the_export_fields_of_kibana_9():
    for o in saved_objects():
        assert {"type", "id", "attributes", "references", "coreMigrationVersion", "typeMigrationVersion"} <= o.keys(), o["id"]
        assert o["type"] in TYPE_MIGRATION_VERSIONS, o["type"]
        assert o["coreMigrationVersion"] == CORE_MIGRATION_VERSION, o["id"]
        assert o["typeMigrationVersion"] == TYPE_MIGRATION_VERSIONS[o["type"]], o["id"]
        assert o["managed"] is False, o["id"]
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", o["id"]), o["id"]
        assert isinstance(o["references"], list)
        for reference in o["references"]:
            assert set(reference) == {"id", "name", "type"}, (o["id"], reference)


def test_ids_are_unique():
    ids = [o["id"] for o in saved_objects()]
    assert len(ids) == len(set(ids)), ids


def test_every_reference_resolves_to_an_object_in_the_file():
    objects = by_key()
    for o in saved_objects():
        names = [r["name"] for r in o["references"]]
        assert len(names) == len(set(names)), (o["id"], names)
        for reference in o["references"]:
            assert (reference["type"], reference["id"]) in objects, (o["id"], reference)


def test_the_data_views():
    views = {o["attributes"]["title"]: o["attributes"] for o in of_type("index-pattern")}
    assert set(views) == {"fuserank-images*", "fuserank-benchmarks*"}
    assert "timeFieldName" not in views["fuserank-images*"]
    assert views["fuserank-benchmarks*"]["timeFieldName"] == "@timestamp"
    assert mapping_fields()["@timestamp"]["type"] == "date"
    for attributes in views.values():
        assert attributes["name"]
        # Kibana keeps these as JSON in strings; "fields": "[]" lets it read the fields from the index.
        for key in ("fields", "fieldAttrs", "fieldFormatMap", "runtimeFieldMap", "sourceFilters"):
            json.loads(attributes[key])


def test_there_are_charts_of_recall_and_of_latency_percentiles_against_k_split_by_mode():
    charts = {}
    for lens in of_type("lens"):
        [layer] = lens["attributes"]["state"]["visualization"]["layers"]
        columns = layers(lens)[layer["layerId"]]["columns"]
        x, split = columns[layer["xAccessor"]], columns[layer["splitAccessor"]]
        charts[lens["id"]] = (x["sourceField"], split["sourceField"],
                              sorted(columns[a]["sourceField"] for a in layer["accessors"]),
                              lens["attributes"]["state"]["query"]["query"])
    assert ("k", "mode", ["r_mean"], 'record : "recall"') in charts.values()
    assert ("k", "mode", ["latency_p50_ms", "latency_p95_ms", "latency_p99_ms"],
            'record : "latency" and concurrency : 1') in charts.values()


@pytest.mark.parametrize("lens_id", [o["id"] for o in of_type("lens")])
def test_each_lens_chart_reads_fields_of_the_results_index(lens_id):
    lens = by_key()[("lens", lens_id)]
    attributes, fields = lens["attributes"], mapping_fields()
    assert attributes["title"] and attributes["visualizationType"] == "lnsXY"
    state = attributes["state"]
    assert set(state["datasourceStates"]) == {"formBased"}
    # Each layer reads the benchmarks data view, through the reference Lens names after the layer.
    view = benchmarks_view()
    expected = [{"id": view["id"], "name": "indexpattern-datasource-layer-" + layer_id, "type": "index-pattern"}
                for layer_id in layers(lens)]
    assert sorted(lens["references"], key=lambda r: r["name"]) == sorted(expected, key=lambda r: r["name"])
    for layer_id, layer in layers(lens).items():
        columns = layer["columns"]
        assert sorted(layer["columnOrder"]) == sorted(columns), layer_id
        # Lens orders bucket columns before metric columns.
        bucketed = [columns[c]["isBucketed"] for c in layer["columnOrder"]]
        assert bucketed == sorted(bucketed, reverse=True), layer_id
        for column_id, column in columns.items():
            field = column["sourceField"]
            assert field in fields, "%s: column %s reads [%s], not in results-index.json" % (lens_id, column_id, field)
            kind = fields[field]["type"]
            operation = column["operationType"]
            if operation in METRIC_OPERATIONS:
                assert kind in NUMERIC and not column["isBucketed"], (column_id, field, kind)
            elif operation == "terms":
                assert kind in NUMERIC | {"keyword"} and column["isBucketed"], (column_id, field, kind)
            elif operation == "date_histogram":
                assert kind == "date" and column["isBucketed"], (column_id, field, kind)
            else:
                pytest.fail("%s: operation [%s] is not checked here" % (column_id, operation))
            assert column["dataType"] == ("number" if kind in NUMERIC else "date" if kind == "date" else "string"), column_id
            assert column["label"], column_id
    # The chart's layers and accessors are the datasource's layers and columns.
    visualization = state["visualization"]
    assert {layer["layerId"] for layer in visualization["layers"]} == set(layers(lens))
    for layer in visualization["layers"]:
        columns = layers(lens)[layer["layerId"]]["columns"]
        assert layer["layerType"] == "data"
        assert columns[layer["xAccessor"]]["isBucketed"]
        assert columns[layer["splitAccessor"]]["isBucketed"]
        assert layer["accessors"] and all(not columns[a]["isBucketed"] for a in layer["accessors"])
        assert {layer["xAccessor"], layer["splitAccessor"], *layer["accessors"]} == set(columns)
    # The query's fields exist too, and it selects a record kind the harness writes.
    assert state["query"]["language"] == "kuery"
    terms = kql_terms(state["query"]["query"])
    assert terms, state["query"]
    for field, value in terms:
        assert field in fields, "%s: the query reads [%s], not in results-index.json" % (lens_id, field)
        if field == "record":
            assert value in RECORDS, value
    assert state["filters"] == []


def test_the_dashboard_shows_every_chart_from_panels_that_reference_them():
    [dashboard] = of_type("dashboard")
    attributes = dashboard["attributes"]
    assert set(attributes) <= DASHBOARD_ATTRIBUTES, set(attributes) - DASHBOARD_ATTRIBUTES
    assert attributes["title"]
    json.loads(attributes["optionsJSON"])
    search_source = json.loads(attributes["kibanaSavedObjectMeta"]["searchSourceJSON"])
    assert search_source["query"]["language"] == "kuery"
    if attributes["timeRestore"]:
        assert attributes["timeFrom"] and attributes["timeTo"]
    panels = json.loads(attributes["panelsJSON"])
    references = {r["name"]: r for r in dashboard["references"]}
    lens_ids = {o["id"] for o in of_type("lens")}
    shown = []
    for panel in panels:
        index = panel["panelIndex"]
        assert panel["gridData"]["i"] == index
        assert panel["type"] == "lens"
        # Kibana names a panel's reference "<panelIndex>:<panelRefName>".
        reference = references["%s:%s" % (index, panel["panelRefName"])]
        assert reference["type"] == "lens" and reference["id"] in lens_ids, reference
        shown.append(reference["id"])
    assert sorted(shown) == sorted(lens_ids), "every chart once on the dashboard"
    assert len(references) == len(panels), "no reference without its panel"
    indices = [p["panelIndex"] for p in panels]
    assert len(indices) == len(set(indices))


def test_the_dashboard_panels_fit_the_grid_without_overlapping():
    [dashboard] = of_type("dashboard")
    cells = set()
    for panel in json.loads(dashboard["attributes"]["panelsJSON"]):
        grid = panel["gridData"]
        assert grid["x"] >= 0 and grid["y"] >= 0 and grid["w"] > 0 and grid["h"] > 0
        assert grid["x"] + grid["w"] <= DASHBOARD_COLUMNS, panel["panelIndex"]
        mine = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not cells & mine, "panel %s overlaps another" % panel["panelIndex"]
        cells |= mine

package io.fuserank.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fuserank.encoder.ModelBundle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code fuserank create-index}: the image or caption index for a model bundle, its vector field
 * sized from the bundle's manifest, and optionally the ingest pipeline that encodes documents on
 * the nodes (set as the index's default pipeline).
 */
@Command(name = "create-index", mixinStandardHelpOptions = true, versionProvider = FuseRankCli.Version.class,
    description = {
        "Create an image (or caption) index for a model bundle: a dense_vector field with the manifest's dims and "
            + "similarity, a binary doc-values token-features field left out of _source, and the image (or caption) field.",
        "With --pipeline, also put the ingest pipeline that encodes documents on the nodes (the fuserank processor) "
            + "and make it the index's default pipeline."
    })
final class CreateIndexCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Mixin
    ConnectionOptions connection;

    @Parameters(index = "0", paramLabel = "INDEX", description = "The index to create.")
    String index;

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "The model bundle directory (its manifest gives dims, similarity and codec).")
    Path model;

    @Option(names = "--model-id", paramLabel = "ID", description = "The model id the plugin serves the bundle as, in the pipeline (default: the bundle directory's name).")
    String modelId;

    @Option(names = "--kind", defaultValue = "image", paramLabel = "KIND", description = "image or caption (default: ${DEFAULT-VALUE}).")
    String kind;

    @Option(names = "--index-options", defaultValue = IndexMappings.DEFAULT_INDEX_OPTIONS, paramLabel = "TYPE",
        description = "dense_vector index_options type: hnsw, int8_hnsw, int4_hnsw, bbq_hnsw, flat, int8_flat, int4_flat, bbq_flat, bbq_disk (default: ${DEFAULT-VALUE}).")
    String indexOptions;

    @Option(names = "--m", paramLabel = "N", description = "HNSW connections per node (default 16; *hnsw types only).")
    Integer m;

    @Option(names = "--ef-construction", paramLabel = "N", description = "HNSW candidates while building the graph (default 100; *hnsw types only).")
    Integer efConstruction;

    @Option(names = "--shards", paramLabel = "N", description = "index.number_of_shards (default: the cluster's).")
    Integer shards;

    @Option(names = "--replicas", paramLabel = "N", description = "index.number_of_replicas (default: the cluster's).")
    Integer replicas;

    @Option(names = "--codec", paramLabel = "CODEC", description = "Token-feature codec the pipeline writes: fp32, fp16 or int8 (default: the manifest's).")
    String codec;

    @Option(names = "--pipeline", paramLabel = "NAME", description = "Also put this ingest pipeline (the fuserank processor) and set it as index.default_pipeline.")
    String pipeline;

    @Option(names = "--overwrite", description = "Delete and recreate the index if it exists (and replace a different pipeline of that name).")
    boolean overwrite;

    @Option(names = "--dry-run", description = "Print the request bodies and send nothing.")
    boolean dryRun;

    @Override
    public Integer call() {
        IndexKind indexKind = kindOrUsage();
        if (codec != null) {
            try {
                IndexMappings.validateCodec(codec);
            } catch (IllegalArgumentException e) {
                throw CommandSupport.usage(spec, e.getMessage());
            }
        }
        if (shards != null && shards < 1) {
            throw CommandSupport.usage(spec, "--shards [" + shards + "] must be at least 1");
        }
        if (replicas != null && replicas < 0) {
            throw CommandSupport.usage(spec, "--replicas [" + replicas + "] must be at least 0");
        }
        if (pipeline != null && pipeline.isBlank()) {
            throw CommandSupport.usage(spec, "--pipeline [" + pipeline + "] is empty");
        }
        IndexMappings.VectorIndexOptions options = new IndexMappings.VectorIndexOptions(indexOptions, m, efConstruction);
        // Argument checks that need no model first, so that a typo fails before the bundle is read.
        try {
            options.validate();
        } catch (IllegalArgumentException e) {
            throw CommandSupport.usage(spec, e.getMessage());
        }
        ModelBundle bundle = CommandSupport.loadBundle(spec, model);
        String id = modelId != null ? modelId : CommandSupport.modelId(model);
        ObjectNode indexBody;
        try {
            indexBody = IndexMappings.indexBody(indexKind, bundle.embeddingDim(), bundle.similarity(), options, shards, replicas, pipeline);
        } catch (IllegalArgumentException e) {
            throw CommandSupport.usage(spec, e.getMessage());
        }
        ObjectNode pipelineBody = pipeline == null ? null : IndexMappings.pipelineBody(indexKind, id, codec);
        if (codec != null && pipeline == null) {
            CommandSupport.log(spec, "warning: --codec [%s] only applies to the ingest pipeline; without --pipeline it changes nothing", codec);
        }
        if (dryRun) {
            ObjectNode out = EsHttp.JSON.createObjectNode();
            out.put("index", index).set("index_body", indexBody);
            if (pipelineBody != null) {
                out.put("pipeline", pipeline).set("pipeline_body", pipelineBody);
            }
            spec.commandLine().getOut().println(out.toPrettyString());
            spec.commandLine().getOut().flush();
            return CommandSupport.OK;
        }
        try (EsHttp es = EsHttp.connect(connection)) {
            return create(es, indexBody, pipelineBody, bundle);
        } catch (IllegalArgumentException e) {
            throw CommandSupport.usage(spec, e.getMessage());
        } catch (IOException e) {
            return CommandSupport.fail(spec, e.getMessage());
        }
    }

    private int create(EsHttp es, ObjectNode indexBody, ObjectNode pipelineBody, ModelBundle bundle) throws IOException {
        String indexPath = "/" + EsHttp.segment(index);
        boolean exists = es.exists(indexPath);
        if (exists && overwrite == false) {
            return CommandSupport.fail(spec, "index [" + index + "] already exists; use --overwrite to delete and recreate it");
        }
        if (pipelineBody != null) {
            String pipelinePath = "/_ingest/pipeline/" + EsHttp.segment(pipeline);
            JsonNode current = existingPipeline(es, pipelinePath);
            // Only the processors count: newer nodes add their own fields (dates) to a stored pipeline.
            if (current != null && current.path("processors").equals(pipelineBody.path("processors")) == false && overwrite == false) {
                return CommandSupport.fail(spec, "ingest pipeline [" + pipeline + "] already exists with other processors: "
                    + current.path("processors") + "; use --overwrite to replace it");
            }
            es.send("PUT", pipelinePath, pipelineBody);
            CommandSupport.log(spec, "%s ingest pipeline [%s]", current == null ? "created" : "updated", pipeline);
        }
        if (exists) {
            es.send("DELETE", indexPath, (String) null);
            CommandSupport.log(spec, "deleted the existing index [%s]", index);
        }
        JsonNode response = es.send("PUT", indexPath, indexBody);
        JsonNode vector = indexBody.path("mappings").path("properties").path(kindOrUsage().vectorField());
        CommandSupport.log(spec, "created index [%s]: %s [%s] %d dims, %s, index_options %s%s", index, kind,
            kindOrUsage().vectorField(), bundle.embeddingDim(), bundle.similarity(), vector.path("index_options"),
            pipeline == null ? "" : ", default pipeline [" + pipeline + "]");
        ObjectNode out = EsHttp.JSON.createObjectNode()
            .put("index", index)
            .put("kind", kind)
            .put("acknowledged", response.path("acknowledged").asBoolean(false))
            .put("recreated", exists);
        if (pipeline != null) {
            out.put("pipeline", pipeline);
        }
        spec.commandLine().getOut().println(out);
        spec.commandLine().getOut().flush();
        return CommandSupport.OK;
    }

    /** The stored pipeline body, or null when there is none of that name. */
    private JsonNode existingPipeline(EsHttp es, String pipelinePath) throws IOException {
        try {
            JsonNode all = es.send("GET", pipelinePath, (String) null);
            JsonNode current = all.path(pipeline);
            return current.isMissingNode() ? null : current;
        } catch (EsHttp.EsException e) {
            if (e.status() == 404) {
                return null;
            }
            throw e;
        }
    }

    private IndexKind kindOrUsage() {
        try {
            return IndexKind.fromLabel(kind);
        } catch (IllegalArgumentException e) {
            throw CommandSupport.usage(spec, e.getMessage());
        }
    }
}

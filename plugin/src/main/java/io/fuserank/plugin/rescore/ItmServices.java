package io.fuserank.plugin.rescore;

import io.fuserank.plugin.FuseRankSettings;
import io.fuserank.plugin.model.InferenceService;

/**
 * What the rescorer needs from its node: the inference service (the fusion encoder runs on the
 * plugin's pool, never on the search thread) and {@link FuseRankSettings#MAX_RESCORE_WINDOW}.
 * Rescorer builders are created by parsing and by reading the wire, so the plugin hands this in
 * through the parser and reader it registers, filled once the node's components exist.
 */
public record ItmServices(InferenceService inference, int maxWindow) {
}

package io.fuserank.plugin.rescore;

import io.fuserank.plugin.FuseRankSettings;
import io.fuserank.plugin.model.InlineInference;

/**
 * What the rescorer needs from its node: the bounded inline inference the fusion encoder runs
 * through on the search thread ({@link FuseRankSettings#MAX_CONCURRENT_RESCORES},
 * {@link FuseRankSettings#RESCORE_QUEUE_SIZE}) and
 * {@link FuseRankSettings#MAX_RESCORE_WINDOW}, and the {@link RescoredWindows} that hand each rescore's parts to its explain.
 * Rescorer builders are created by parsing and by reading the wire, so the plugin hands this in
 * through the parser and reader it registers, filled once the node's components exist.
 */
public record ItmServices(InlineInference inference, int maxWindow, RescoredWindows windows) {
}

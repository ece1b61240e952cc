package io.fuserank.benchmarks.recall;

/**
 * How a query is answered. The in-engine rerank modes are the plugin's {@code fuserank_itm}
 * {@code score_mode}s: ALBEF ranks the ITC top-k by the ITM score alone ({@code itm}); BLIP adds
 * the ITC similarity to it ({@code itm_plus_itc}).
 */
enum Mode {
    /** Brute-force ITC in this process over the in-process embeddings: the ANN-free reference. */
    EXACT_ITC("exact_itc", null),
    /** The node's HNSW knn on the ITC vectors, nothing else. */
    KNN_ITC("knn_itc", null),
    /** knn, then the plugin's ITM rescore of the top k (ALBEF). */
    KNN_ITM("knn_itm", "itm"),
    /** knn, then ITM + ITC over the top k (BLIP). */
    KNN_ITM_ITC("knn_itm_itc", "itm_plus_itc"),
    /** What a user builds without the plugin: knn hits with their token features fetched through the search API and scored by the reranker library in the client. */
    CLIENT_RERANK("client_rerank", "itm");

    private final String label;
    private final String scoreMode;

    Mode(String label, String scoreMode) {
        this.label = label;
        this.scoreMode = scoreMode;
    }

    String label() {
        return label;
    }

    /** The rescorer's score_mode; null for the modes that do not rerank. */
    String scoreMode() {
        return scoreMode;
    }

    boolean reranks() {
        return scoreMode != null;
    }

    /** One mode at one rerank window ({@code k} = 0 for the modes that do not rerank). */
    record Setting(Mode mode, int k) {
        Setting {
            if (mode.reranks() != (k > 0)) {
                throw new IllegalArgumentException("mode [" + mode.label + "] " + (mode.reranks() ? "needs a window k > 0" : "takes no window") + ", got k [" + k + "]");
            }
        }

        String label() {
            return k == 0 ? mode.label : mode.label + " k=" + k;
        }
    }
}

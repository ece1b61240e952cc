package io.fuserank.plugin.query;

import org.elasticsearch.xcontent.ParseField;
import org.elasticsearch.xcontent.XContentParseException;

import java.util.List;
import java.util.function.Supplier;

/**
 * Runs an object parser and makes its unknown-field error list every valid field: Elasticsearch's
 * own message only suggests near misses ({@code did you mean}), which leaves a user who guessed a
 * name far off (say {@code query} for {@code text}) with nothing to go on.
 */
public final class FieldListing {

    private FieldListing() {
    }

    public static <T> T parse(Supplier<T> parse, List<ParseField> fields) {
        try {
            return parse.get();
        } catch (XContentParseException e) {
            if (e.getCause() == null && e.getMessage().contains("] unknown field [")) {
                XContentParseException listed = new XContentParseException(e.getMessage() + " (valid fields: "
                    + fields.stream().map(ParseField::getPreferredName).toList() + ")");
                listed.setStackTrace(e.getStackTrace());
                throw listed;
            }
            throw e;
        }
    }
}

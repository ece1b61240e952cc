package io.fuserank.plugin.query;

import org.elasticsearch.common.ParsingException;
import org.elasticsearch.xcontent.ParseField;
import org.elasticsearch.xcontent.XContentLocation;
import org.elasticsearch.xcontent.XContentParseException;

import java.util.List;
import java.util.function.Supplier;

/**
 * Runs the object parser of one of the plugin's request objects ({@code fuserank_text},
 * {@code fuserank_image}, {@code fuserank_itm}) so that the error a user reads first, the REST
 * response's {@code root_cause}, names the option at fault and its value:
 * <ul>
 *   <li>an unknown field's error lists every valid field: Elasticsearch's own message only
 *       suggests near misses ({@code did you mean}), which leaves a user who guessed a name far
 *       off (say {@code query} for {@code text}) with nothing to go on;</li>
 *   <li>a value that the parser, a field's value parser or the object's constructor rejects with
 *       an {@link IllegalArgumentException} (a blank text, bad base64, a missing required field)
 *       surfaces as a {@link ParsingException} carrying that exception's message. The parser wraps
 *       it in "Failed to build [fuserank_text] after last required field arrived" or "failed to
 *       parse field [image]", and the enclosing parsers wrap it again; Elasticsearch reports as
 *       root cause the innermost Elasticsearch exception of such a chain, never a plain Java one,
 *       so without this the user would read only the wrappers.</li>
 * </ul>
 */
public final class OptionParsing {

    private OptionParsing() {
    }

    /** {@code parse}'s result; {@code name} is the object's name, prefixed to a message that lacks it. */
    public static <T> T parse(String name, Supplier<T> parse, List<ParseField> fields) {
        try {
            return parse.get();
        } catch (XContentParseException e) {
            if (e.getCause() == null && e.getMessage().contains("] unknown field [")) {
                XContentParseException listed = new XContentParseException(e.getMessage() + " (valid fields: "
                    + fields.stream().map(ParseField::getPreferredName).toList() + ")");
                listed.setStackTrace(e.getStackTrace());
                throw listed;
            }
            IllegalArgumentException reason = firstPlainIllegalArgument(e);
            if (reason != null) {
                throw badValue(name, e.getLocation(), reason);
            }
            throw e;
        } catch (IllegalArgumentException e) {
            // thrown by the parser itself, unwrapped, for a missing required field ("Required [text]")
            throw badValue(name, null, e);
        }
    }

    private static ParsingException badValue(String name, XContentLocation location, IllegalArgumentException reason) {
        String message = reason.getMessage().startsWith("[" + name + "]") ? reason.getMessage() : "[" + name + "] " + reason.getMessage();
        return new ParsingException(location, message, reason);
    }

    /** The first exception of the chain that is a plain {@link IllegalArgumentException}: ours, not a parser's wrapper. */
    private static IllegalArgumentException firstPlainIllegalArgument(Throwable e) {
        for (Throwable t = e; t != null && t.getCause() != t; t = t.getCause()) {
            if (t instanceof IllegalArgumentException iae && t instanceof XContentParseException == false) {
                return iae;
            }
        }
        return null;
    }
}

package io.fuserank.plugin.rescore;

import org.elasticsearch.client.Request;
import org.elasticsearch.client.RestClient;
import org.elasticsearch.common.Strings;
import org.elasticsearch.test.rest.ObjectPath;
import org.elasticsearch.xcontent.json.JsonXContent;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

import static org.junit.Assert.assertFalse;

/** REST calls the imported-model search suites make alike: bulk through a pipeline, search, the hits' ids. */
final class SearchTestRequests {

    private SearchTestRequests() {
    }

    /** A refreshed bulk through {@code pipeline}; any item error fails the test. */
    static void bulk(RestClient client, String body, String pipeline) throws IOException {
        Request request = new Request("POST", "/_bulk");
        request.addParameter("refresh", "true");
        request.addParameter("pipeline", pipeline);
        request.setJsonEntity(body);
        ObjectPath response = ObjectPath.createFromResponse(client.performRequest(request));
        assertFalse(response.toString(), response.evaluate("errors"));
    }

    /** One bulk index action and its one-field source. */
    static String bulkLine(String index, String id, String field, String value) {
        return "{\"index\": {\"_index\": \"" + index + "\", \"_id\": \"" + id + "\"}}\n{" + quote(field) + ": " + quote(value) + "}\n";
    }

    static ObjectPath search(RestClient client, String index, String body) throws IOException {
        Request request = new Request("POST", "/" + index + "/_search");
        request.setJsonEntity(body);
        return ObjectPath.createFromResponse(client.performRequest(request));
    }

    /** The hits' ids, in order. */
    static List<String> ids(ObjectPath response) throws IOException {
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < response.evaluateArraySize("hits.hits"); i++) {
            ids.add(response.evaluate("hits.hits." + i + "._id"));
        }
        return ids;
    }

    /** {@code value} as a JSON string. */
    static String quote(String value) {
        try {
            return Strings.toString(JsonXContent.contentBuilder().value(value));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }
}

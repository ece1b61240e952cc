package io.fuserank.tools;

import co.elastic.clients.elasticsearch.ElasticsearchClient;
import co.elastic.clients.transport.rest5_client.Rest5ClientTransport;
import co.elastic.clients.transport.rest5_client.low_level.Request;
import co.elastic.clients.transport.rest5_client.low_level.Response;
import co.elastic.clients.transport.rest5_client.low_level.ResponseException;
import co.elastic.clients.transport.rest5_client.low_level.Rest5Client;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.MissingNode;
import org.apache.hc.core5.http.HttpEntity;
import org.apache.hc.core5.http.ParseException;
import org.apache.hc.core5.http.io.entity.EntityUtils;

import java.io.Closeable;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * Raw JSON requests through the official client's low-level {@link Rest5Client} (the plugin's
 * query vector builders, rescorer and processor have no typed classes in the Java client). Every
 * failure is an {@link EsException} whose message has Elasticsearch's error type and reason.
 */
final class EsHttp implements Closeable {

    static final ObjectMapper JSON = new ObjectMapper();

    private final ElasticsearchClient client;
    private final Rest5Client rest;

    EsHttp(ElasticsearchClient client) {
        this.client = client;
        this.rest = ((Rest5ClientTransport) client._transport()).restClient();
    }

    static EsHttp connect(ConnectionOptions options) throws IOException {
        return new EsHttp(options.connect());
    }

    /** A failed request: the HTTP status (0 when the node could not be reached) and a one-line reason. */
    static final class EsException extends IOException {
        private final int status;

        EsException(int status, String message, Throwable cause) {
            super(message, cause);
            this.status = status;
        }

        int status() {
            return status;
        }
    }

    /** One path segment (an index or pipeline name), percent-encoded. */
    static String segment(String name) {
        return URLEncoder.encode(name, StandardCharsets.UTF_8).replace("+", "%20");
    }

    /** Sends a request with an optional JSON body; returns the parsed response (MissingNode for an empty body). */
    JsonNode send(String method, String endpoint, JsonNode body) throws EsException {
        return send(method, endpoint, body == null ? null : body.toString());
    }

    JsonNode send(String method, String endpoint, String body) throws EsException {
        Request request = new Request(method, endpoint);
        if (body != null) {
            request.setJsonEntity(body);
        }
        Response response;
        try {
            // Rest5Client returns 4xx answers and throws only for 5xx ones.
            response = rest.performRequest(request);
        } catch (ResponseException e) {
            response = e.getResponse();
        } catch (ConnectException e) {
            throw new EsException(0, "cannot connect to Elasticsearch at " + rest.getNodes() + ": " + e.getMessage(), e);
        } catch (IOException e) {
            throw new EsException(0, String.format(Locale.ROOT, "%s %s failed: %s", method, endpoint, e), e);
        }
        int status = response.getStatusCode();
        if (status >= 300) {
            throw new EsException(status, String.format(Locale.ROOT, "%s %s answered %d: %s", method, endpoint, status, reason(response)), null);
        }
        try {
            return parse(response.getEntity());
        } catch (IOException e) {
            throw new EsException(status, String.format(Locale.ROOT, "%s %s: %s", method, endpoint, e.getMessage()), e);
        }
    }

    /** Whether {@code HEAD endpoint} answers 200 (false on 404). */
    boolean exists(String endpoint) throws EsException {
        Request request = new Request("HEAD", endpoint);
        int status;
        try {
            status = rest.performRequest(request).getStatusCode();
        } catch (ResponseException e) {
            status = e.getResponse().getStatusCode();
        } catch (ConnectException e) {
            throw new EsException(0, "cannot connect to Elasticsearch at " + rest.getNodes() + ": " + e.getMessage(), e);
        } catch (IOException e) {
            throw new EsException(0, String.format(Locale.ROOT, "HEAD %s failed: %s", endpoint, e), e);
        }
        if (status == 200 || status == 404) {
            return status == 200;
        }
        throw new EsException(status, String.format(Locale.ROOT, "HEAD %s answered %d", endpoint, status), null);
    }

    private static JsonNode parse(HttpEntity entity) throws IOException {
        if (entity == null) {
            return MissingNode.getInstance();
        }
        try {
            String text = EntityUtils.toString(entity, StandardCharsets.UTF_8);
            return text.isBlank() ? MissingNode.getInstance() : JSON.readTree(text);
        } catch (ParseException e) {
            throw new IOException("cannot read the response: " + e.getMessage(), e);
        }
    }

    /** Elasticsearch's {@code error.type: error.reason} (and the root cause's, when it differs), else the body. */
    static String reason(Response response) {
        String text;
        try {
            text = response.getEntity() == null ? "" : EntityUtils.toString(response.getEntity(), StandardCharsets.UTF_8);
        } catch (IOException | ParseException e) {
            return "(unreadable body: " + e.getMessage() + ")";
        }
        return reason(text);
    }

    static String reason(String text) {
        try {
            JsonNode error = JSON.readTree(text).path("error");
            if (error.isTextual()) {
                return error.asText();
            }
            if (error.isObject()) {
                String reason = error.path("type").asText() + ": " + error.path("reason").asText();
                JsonNode root = error.path("root_cause").path(0);
                String rootReason = root.path("reason").asText("");
                if (rootReason.isEmpty() == false && rootReason.equals(error.path("reason").asText()) == false) {
                    reason += " (root cause " + root.path("type").asText() + ": " + rootReason + ")";
                }
                JsonNode caused = error.path("caused_by");
                if (caused.isObject() && rootReason.isEmpty()) {
                    reason += " (caused by " + caused.path("type").asText() + ": " + caused.path("reason").asText() + ")";
                }
                return reason;
            }
        } catch (IOException e) {
            // not JSON: the body as it is
        }
        return text.length() > 500 ? text.substring(0, 500) + "..." : text;
    }

    @Override
    public void close() throws IOException {
        client.close();
    }
}

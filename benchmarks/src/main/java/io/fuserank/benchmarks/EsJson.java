package io.fuserank.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.MissingNode;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Locale;

/**
 * Plain JSON over HTTP/1.1 to one Elasticsearch node with the JDK's client, for the ANN comparison
 * and the recall harness: no auth, no retries. The JDK client opens a connection per concurrent
 * request, where the CLI's Rest5Client caps connections per route (10 by default) and would queue
 * requests in the client at concurrency 16, counting that wait as engine latency. A
 * non-2xx answer is an {@link IOException} with Elasticsearch's error type and reason.
 */
public final class EsJson {

    private final ObjectMapper json;
    private final URI base;
    private final HttpClient http;
    private final Duration timeout;

    public EsJson(URI base, ObjectMapper json, Duration timeout) {
        if (!"http".equals(base.getScheme()) && !"https".equals(base.getScheme())) {
            throw new IllegalArgumentException("--url [" + base + "] must be an http:// or https:// URL");
        }
        String text = base.toString();
        this.base = URI.create(text.endsWith("/") ? text.substring(0, text.length() - 1) : text);
        this.json = json;
        this.timeout = timeout;
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build();
    }

    public URI base() {
        return base;
    }

    public JsonNode send(String method, String path, String body) throws IOException {
        return send(method, path, body, "application/json");
    }

    /** A bulk request body: newline-delimited JSON, ending with a newline. */
    public JsonNode bulk(String path, String ndjson) throws IOException {
        return send("POST", path, ndjson, "application/x-ndjson");
    }

    /** Whether {@code HEAD path} answers 200 (false on 404). */
    public boolean exists(String path) throws IOException {
        HttpResponse<Void> response = call(HttpRequest.newBuilder(base.resolve(path)).timeout(timeout)
            .method("HEAD", HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.discarding(), "HEAD", path);
        if (response.statusCode() == 200 || response.statusCode() == 404) {
            return response.statusCode() == 200;
        }
        throw new IOException(String.format(Locale.ROOT, "HEAD %s answered %d", path, response.statusCode()));
    }

    private JsonNode send(String method, String path, String body, String contentType) throws IOException {
        HttpRequest.Builder request = HttpRequest.newBuilder(base.resolve(path)).timeout(timeout);
        if (body == null) {
            request.method(method, HttpRequest.BodyPublishers.noBody());
        } else {
            request.header("Content-Type", contentType).method(method, HttpRequest.BodyPublishers.ofString(body));
        }
        HttpResponse<String> response = call(request.build(), HttpResponse.BodyHandlers.ofString(), method, path);
        String text = response.body();
        if (response.statusCode() >= 300) {
            throw new IOException(String.format(Locale.ROOT, "%s %s answered %d: %s", method, path, response.statusCode(), reason(text)));
        }
        return text == null || text.isBlank() ? MissingNode.getInstance() : json.readTree(text);
    }

    private <T> HttpResponse<T> call(HttpRequest request, HttpResponse.BodyHandler<T> handler, String method, String path)
        throws IOException {
        try {
            return http.send(request, handler);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(method + " " + path + " interrupted", e);
        } catch (IOException e) {
            throw new IOException(String.format(Locale.ROOT, "%s %s%s failed: %s", method, base, path, e), e);
        }
    }

    /** {@code error.type: error.reason} of an Elasticsearch error body, else the body (cut at 500 characters). */
    private String reason(String text) {
        try {
            JsonNode error = json.readTree(text).path("error");
            if (error.isObject()) {
                return error.path("type").asText() + ": " + error.path("reason").asText();
            }
            if (error.isTextual()) {
                return error.asText();
            }
        } catch (IOException e) {
            // not JSON: the body as it is
        }
        return text.length() > 500 ? text.substring(0, 500) + "..." : text;
    }
}

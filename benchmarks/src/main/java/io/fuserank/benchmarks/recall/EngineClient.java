package io.fuserank.benchmarks.recall;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Locale;

/**
 * JSON over HTTP to one Elasticsearch node, for timed queries. The JDK client is used instead of
 * the CLI's Rest5Client because the low-level client caps connections per route (10 by default),
 * which would queue requests in the client at concurrency 16 and count that wait as engine
 * latency; the JDK client opens a connection per concurrent request.
 */
final class EngineClient {

    static final ObjectMapper JSON = new ObjectMapper();

    private final URI base;
    private final HttpClient http;

    EngineClient(String url) {
        this.base = URI.create(url.endsWith("/") ? url : url + "/");
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build();
    }

    String url() {
        return base.toString();
    }

    /** Sends {@code body} (may be null) and returns the parsed answer; an IOException naming the status and ES's reason otherwise. */
    JsonNode send(String method, String path, Object body) throws IOException {
        HttpRequest.BodyPublisher publisher = body == null ? HttpRequest.BodyPublishers.noBody()
            : HttpRequest.BodyPublishers.ofString(body instanceof String s ? s : JSON.writeValueAsString(body));
        HttpRequest request = HttpRequest.newBuilder(base.resolve(path))
            .timeout(Duration.ofSeconds(120))
            .header("Content-Type", path.endsWith("_bulk") ? "application/x-ndjson" : "application/json")
            .method(method, publisher)
            .build();
        HttpResponse<String> response;
        try {
            response = http.send(request, HttpResponse.BodyHandlers.ofString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted waiting for " + method + " " + path, e);
        } catch (IOException e) {
            throw new IOException(String.format(Locale.ROOT, "%s %s%s failed: %s", method, base, path, e), e);
        }
        if (response.statusCode() >= 300) {
            String text = response.body();
            throw new IOException(String.format(Locale.ROOT, "%s %s answered %d: %s", method, path, response.statusCode(),
                text.length() > 600 ? text.substring(0, 600) + "..." : text));
        }
        String text = response.body();
        return text.isBlank() ? JSON.createObjectNode() : JSON.readTree(text);
    }

    boolean exists(String index) throws IOException {
        try {
            send("HEAD", index, null);
            return true;
        } catch (IOException e) {
            if (e.getMessage() != null && e.getMessage().contains("answered 404")) {
                return false;
            }
            throw e;
        }
    }

    JsonNode search(String index, Object body) throws IOException {
        return send("POST", index + "/_search", body);
    }
}

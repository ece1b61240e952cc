package io.fuserank.tools;

import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.function.Function;

/**
 * A stand-in for an Elasticsearch node on a loopback port: answers each request with what the
 * given function returns and records every request, so a command's HTTP conversation can be
 * checked without a cluster.
 */
final class FakeNode implements AutoCloseable {

    record Request(String method, String uri, String body) {
        String line() {
            return method + " " + uri;
        }
    }

    record Answer(int status, String body) {
        static Answer json(String body) {
            return new Answer(200, body);
        }
    }

    private final HttpServer server;
    final List<Request> requests = Collections.synchronizedList(new ArrayList<>());

    FakeNode(Function<Request, Answer> answers) throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", exchange -> {
            String body = new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            Request request = new Request(exchange.getRequestMethod(), exchange.getRequestURI().toString(), body);
            requests.add(request);
            Answer answer = answers.apply(request);
            byte[] bytes = answer.body().getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().add("Content-Type", "application/json");
            exchange.getResponseHeaders().add("X-elastic-product", "Elasticsearch");
            boolean head = request.method().equals("HEAD");
            exchange.sendResponseHeaders(answer.status(), head || bytes.length == 0 ? -1 : bytes.length);
            if (head == false && bytes.length > 0) {
                try (OutputStream out = exchange.getResponseBody()) {
                    out.write(bytes);
                }
            }
            exchange.close();
        });
        server.start();
    }

    String url() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    List<String> lines() {
        synchronized (requests) {
            return requests.stream().map(Request::line).toList();
        }
    }

    Request request(String line) {
        synchronized (requests) {
            return requests.stream().filter(r -> r.line().equals(line)).findFirst()
                .orElseThrow(() -> new AssertionError("no request [" + line + "] in " + lines()));
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}

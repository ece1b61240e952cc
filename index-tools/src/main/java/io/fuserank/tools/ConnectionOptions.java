package io.fuserank.tools;

import co.elastic.clients.elasticsearch.ElasticsearchClient;
import co.elastic.clients.json.jackson.JacksonJsonpMapper;
import co.elastic.clients.transport.rest5_client.Rest5ClientTransport;
import co.elastic.clients.transport.rest5_client.low_level.Rest5Client;
import org.apache.hc.core5.http.Header;
import org.apache.hc.core5.http.message.BasicHeader;
import org.apache.hc.core5.util.Timeout;
import picocli.CommandLine.Option;

import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * The connection options every command shares (a picocli mixin): node URLs, an API key or basic
 * auth, a CA certificate for TLS, and timeouts; {@link #connect()} builds the official
 * Elasticsearch Java client from them.
 */
public final class ConnectionOptions {

    @Option(names = "--url", split = ",", defaultValue = "http://127.0.0.1:9200", paramLabel = "URL",
        description = "Elasticsearch node URL(s), comma-separated (default: ${DEFAULT-VALUE}).")
    List<URI> urls;

    @Option(names = "--api-key", paramLabel = "KEY", description = "API key (the encoded form), sent as 'Authorization: ApiKey KEY'.")
    String apiKey;

    @Option(names = "--user", paramLabel = "USER:PASSWORD", description = "Basic authentication.")
    String user;

    @Option(names = "--ca-cert", paramLabel = "PEM", description = "CA certificate (PEM) to trust for https URLs.")
    Path caCertificate;

    @Option(names = "--connect-timeout", defaultValue = "10", paramLabel = "SECONDS", description = "Connect timeout (default: ${DEFAULT-VALUE} s).")
    int connectTimeoutSeconds;

    @Option(names = "--request-timeout", defaultValue = "120", paramLabel = "SECONDS", description = "Response timeout per request (default: ${DEFAULT-VALUE} s).")
    int requestTimeoutSeconds;

    /** A client for these options; close it (it owns an HTTP client and its threads). */
    public ElasticsearchClient connect() throws IOException {
        if (apiKey != null && user != null) {
            throw new IllegalArgumentException("give either --api-key or --user, not both");
        }
        for (URI url : urls) {
            if (!"http".equals(url.getScheme()) && !"https".equals(url.getScheme())) {
                throw new IllegalArgumentException("--url [" + url + "] must be an http:// or https:// URL");
            }
        }
        var builder = Rest5Client.builder(urls)
            .setDefaultHeaders(headers())
            .setRequestConfigCallback(config -> config
                .setConnectionRequestTimeout(Timeout.ofSeconds(connectTimeoutSeconds))
                .setResponseTimeout(Timeout.ofSeconds(requestTimeoutSeconds)))
            .setConnectionConfigCallback(config -> config.setConnectTimeout(Timeout.ofSeconds(connectTimeoutSeconds)));
        if (caCertificate != null) {
            builder.setSSLContext(trusting(caCertificate));
        }
        return new ElasticsearchClient(new Rest5ClientTransport(builder.build(), new JacksonJsonpMapper()));
    }

    private Header[] headers() {
        List<Header> headers = new ArrayList<>();
        if (apiKey != null) {
            headers.add(new BasicHeader("Authorization", "ApiKey " + apiKey));
        }
        if (user != null) {
            if (!user.contains(":")) {
                throw new IllegalArgumentException("--user [" + user + "] must be USER:PASSWORD");
            }
            headers.add(new BasicHeader("Authorization",
                "Basic " + Base64.getEncoder().encodeToString(user.getBytes(StandardCharsets.UTF_8))));
        }
        return headers.toArray(new Header[0]);
    }

    /** An SSL context that trusts exactly the given CA certificate (e.g. the node's http_ca.crt). */
    static SSLContext trusting(Path pem) throws IOException {
        try (InputStream in = Files.newInputStream(pem)) {
            KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
            store.load(null, null);
            int n = 0;
            for (Certificate certificate : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                store.setCertificateEntry("ca-" + n++, certificate);
            }
            if (n == 0) {
                throw new IllegalArgumentException("--ca-cert [" + pem + "] holds no certificate");
            }
            TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            trust.init(store);
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(null, trust.getTrustManagers(), null);
            return context;
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("--ca-cert [" + pem + "] is not a usable PEM certificate: " + e.getMessage(), e);
        }
    }
}

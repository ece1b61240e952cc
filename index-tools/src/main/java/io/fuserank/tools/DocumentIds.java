package io.fuserank.tools;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * Document ids derived from an image's path relative to its source root, so that indexing the same
 * files again (a rerun, {@code --resume}, or the same tree given as {@code --dir} instead of
 * {@code --karpathy}) overwrites documents instead of duplicating them.
 *
 * <p>The id is the sha1 hex of the normalised relative path: fixed length (an {@code _id} may have
 * at most 512 bytes, a path may not), no characters that need escaping in URLs, and the same on
 * every platform because the path is normalised to forward slashes first. A caption's id is the
 * sha1 hex of its image's normalised path, {@code #} and its position among that image's
 * captions: the digits after the last {@code #} are the position, so no two (path, position)
 * pairs share an id.
 */
final class DocumentIds {

    private DocumentIds() {
    }

    /** {@code ./a//b/../c.png} and {@code a\c.png} both become {@code a/c.png}. */
    static String normalize(String relativePath) {
        String slashes = relativePath.replace('\\', '/');
        Path normalized = Path.of(slashes).normalize();
        StringBuilder out = new StringBuilder();
        for (Path part : normalized) {
            if (!out.isEmpty()) {
                out.append('/');
            }
            out.append(part);
        }
        return (slashes.startsWith("/") ? "/" : "") + out;
    }

    /** The id of the image at {@code relativePath} (normalised first). */
    static String forPath(String relativePath) {
        return sha1(normalize(relativePath));
    }

    /** The id of caption {@code index} of the image at {@code relativePath}: sha1 hex of {@code path#index}. */
    static String forCaption(String relativePath, int index) {
        return sha1(normalize(relativePath) + "#" + index);
    }

    private static String sha1(String key) {
        try {
            MessageDigest sha1 = MessageDigest.getInstance("SHA-1");
            return HexFormat.of().formatHex(sha1.digest(key.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-1", e);
        }
    }
}

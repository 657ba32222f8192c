package io.mert.model.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import org.yaml.snakeyaml.LoaderOptions;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

/**
 * A YAML config as a tree with fairseq-style dotted keys ({@code optimization.max_update}), the
 * {@code key=value} overrides fairseq/hydra users type on the command line, and a stable hash.
 */
public final class ConfigTree {

    /** Longest config document read (characters); real configs are a few KiB. */
    public static final int MAX_CODE_POINTS = 1 << 20;
    /** Deepest nesting of mappings/sequences; fairseq configs are two levels deep. */
    public static final int MAX_NESTING = 32;
    /** Aliases allowed for collections: bounds "billion laughs" documents (SnakeYAML's own default is 50). */
    public static final int MAX_ALIASES = 20;

    private static final ObjectMapper YAML = new ObjectMapper(YAMLFactory.builder()
            .loaderOptions(loaderOptions())
            .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
            .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES)
            .build())
            .enable(com.fasterxml.jackson.core.JsonParser.Feature.STRICT_DUPLICATE_DETECTION);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final ObjectNode root;

    private ConfigTree(ObjectNode root) {
        this.root = root;
    }

    private static LoaderOptions loaderOptions() {
        LoaderOptions o = new LoaderOptions();
        o.setCodePointLimit(MAX_CODE_POINTS);
        o.setNestingDepthLimit(MAX_NESTING);
        o.setMaxAliasesForCollections(MAX_ALIASES);
        o.setAllowRecursiveKeys(false);
        return o;
    }

    public static ConfigTree empty() {
        return new ConfigTree(JsonNodeFactory.instance.objectNode());
    }

    public static ConfigTree parse(String yaml, String origin) {
        if (yaml.length() > MAX_CODE_POINTS)
            throw new ConfigException(origin + ": " + yaml.length() + " characters is larger than a config may be (limit " + MAX_CODE_POINTS + ")");
        JsonNode n;
        try {
            rejectAliases(yaml, origin);
            n = YAML.readTree(yaml);
        } catch (IOException | RuntimeException e) { // SnakeYAML reports some limits as an unchecked YAMLException
            throw new ConfigException(origin + ": not valid YAML: " + e.getMessage(), e);
        }
        if (n == null || n.isMissingNode() || n.isNull()) return empty();
        if (!n.isObject()) throw new ConfigException(origin + ": the top level must be a mapping of sections, got " + n.getNodeType());
        return new ConfigTree((ObjectNode) n);
    }

    /**
     * Jackson does not expand YAML aliases: {@code *name} would silently become the string "name".
     * So aliases are refused with a clear message (which also rules out "billion laughs" documents).
     */
    private static void rejectAliases(String yaml, String origin) throws IOException {
        try (com.fasterxml.jackson.dataformat.yaml.YAMLParser p = (com.fasterxml.jackson.dataformat.yaml.YAMLParser) YAML.createParser(yaml)) {
            while (p.nextToken() != null) {
                if (p.isCurrentAlias()) {
                    throw new ConfigException(origin + " line " + p.currentLocation().getLineNr() + ": YAML alias '*" + p.getText()
                            + "' is not supported in configs; write the value out");
                }
            }
        }
    }

    /** A tree from plain maps and lists, e.g. the config stored in a checkpoint's trainer_state.json. */
    public static ConfigTree fromMap(java.util.Map<String, Object> map) {
        JsonNode n = JSON.valueToTree(map);
        if (!n.isObject()) throw new ConfigException("a config must be a mapping of sections");
        return new ConfigTree((ObjectNode) n);
    }

    public static ConfigTree load(Path file) {
        try {
            long size = Files.size(file);
            if (size > 4L * MAX_CODE_POINTS)
                throw new ConfigException("config " + file + " is " + size + " bytes, larger than a config may be (limit " + MAX_CODE_POINTS + " characters)");
            return parse(Files.readString(file, StandardCharsets.UTF_8), file.toString());
        } catch (IOException e) {
            throw new ConfigException("cannot read config " + file + ": " + e.getMessage(), e);
        }
    }

    /** Applies {@code section.key=value} overrides; the value is parsed as YAML (numbers, lists, booleans). */
    public ConfigTree withOverrides(List<String> overrides) {
        ObjectNode copy = root.deepCopy();
        for (String o : overrides) {
            int eq = o.indexOf('=');
            if (eq <= 0) throw new ConfigException("override '" + o + "' is not of the form section.key=value");
            String key = o.substring(0, eq).trim();
            String raw = o.substring(eq + 1);
            JsonNode value;
            try {
                value = raw.isEmpty() ? JsonNodeFactory.instance.nullNode() : YAML.readTree(raw);
            } catch (IOException | RuntimeException e) { // not YAML: the text itself
                value = JsonNodeFactory.instance.textNode(raw);
            }
            if (value == null || value.isMissingNode()) value = JsonNodeFactory.instance.textNode(raw);
            String[] path = key.split("\\.", -1);
            for (String segment : path)
                if (segment.isEmpty()) throw new ConfigException("override '" + o + "': key '" + key + "' has an empty section or name");
            ObjectNode node = copy;
            for (int i = 0; i < path.length - 1; i++) {
                JsonNode child = node.get(path[i]);
                if (child == null || !child.isObject()) child = node.putObject(path[i]);
                node = (ObjectNode) child;
            }
            node.set(path[path.length - 1], value);
        }
        return new ConfigTree(copy);
    }

    /** The node at a dotted key, or null. */
    public JsonNode get(String dottedKey) {
        JsonNode n = root;
        for (String p : dottedKey.split("\\.")) {
            if (n == null || !n.isObject()) return null;
            n = n.get(p);
        }
        return (n == null || n.isNull()) ? null : n;
    }

    /** The tree as plain maps and lists (for JSON documents such as trainer_state.json). */
    @SuppressWarnings("unchecked")
    public java.util.Map<String, Object> asMap() {
        return JSON.convertValue(root, java.util.Map.class);
    }

    public ObjectNode root() {
        return root.deepCopy();
    }

    public String toYaml() {
        try {
            return YAML.writeValueAsString(root);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** SHA-256 of the canonical JSON form: equal configs hash equal regardless of YAML layout. */
    public String hash() {
        try {
            JsonNode sorted = JSON.readTree(JSON.writer().with(com.fasterxml.jackson.databind.SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS)
                    .writeValueAsString(JSON.treeToValue(root, Object.class)));
            byte[] canon = JSON.writeValueAsBytes(sorted);
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(canon));
        } catch (IOException | NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}

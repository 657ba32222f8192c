package io.mert.model.hf;

import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Path;

/** Files written by {@code tools/reference/make_hf_fixtures.py} under {@code reference/hf/}. */
final class HfFixtures {

    private HfFixtures() {
    }

    static Path path(String relative) {
        URL url = HfFixtures.class.getResource("/reference/hf/" + relative);
        if (url == null) throw new IllegalStateException("test resource reference/hf/" + relative + " is missing");
        try {
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }
}

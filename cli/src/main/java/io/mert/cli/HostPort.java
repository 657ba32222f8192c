package io.mert.cli;

/** A {@code host:port} pair from the command line. */
record HostPort(String host, int port) {
    static HostPort parse(String s) {
        int colon = s.lastIndexOf(':');
        if (colon <= 0 || colon == s.length() - 1) {
            throw new IllegalArgumentException("'" + s + "' is not HOST:PORT (for example 10.0.0.5:2552)");
        }
        try {
            int port = Integer.parseInt(s.substring(colon + 1));
            if (port < 0 || port > 65535) throw new NumberFormatException();
            return new HostPort(s.substring(0, colon), port);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + s + "': the port must be a number between 0 and 65535");
        }
    }
}

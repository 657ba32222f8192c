package io.mert.data.audio;

/**
 * Decoded PCM: one array per channel, all the same length, nominally in [-1, 1].
 *
 * @param format        what the file contained
 * @param channels      {@code [channel][frame]}
 * @param sampleRate    frames per second
 * @param bitsPerSample resolution of integer-coded sources (WAV PCM, FLAC); 0 for float WAV, lossy codecs and
 *                      anything decoded by ffmpeg (which hands over float)
 */
public record DecodedAudio(AudioFormat format, float[][] channels, int sampleRate, int bitsPerSample) {
    public int channelCount() { return channels.length; }

    public int frames() { return channels[0].length; }

    public double seconds() { return frames() / (double) sampleRate; }

    /** Mean of the channels, as MERT (and fairseq's HuBERT loader) downmix multichannel audio. */
    public float[] mono() {
        if (channels.length == 1) return channels[0].clone();
        int n = frames();
        float[] out = new float[n];
        double norm = 1.0 / channels.length;
        for (int i = 0; i < n; i++) {
            double sum = 0;
            for (float[] c : channels) sum += c[i];
            out[i] = (float) (sum * norm);
        }
        return out;
    }
}

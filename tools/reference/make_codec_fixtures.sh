#!/usr/bin/env bash
# Writes the Opus, AAC and ffmpeg-fallback fixtures for mert-trainer's audio decoders
# (OpusDecoderReferenceTest, AacDecoderReferenceTest, FfmpegFallbackTest). Run by hand, not by CI,
# from the repository root:
#
#     sudo apt-get install -y opus-tools ffmpeg flac wesnoth-1.16-music
#     tools/reference/make_codec_fixtures.sh
#
# Source music: Mattias Westlund, "Traveling Minstrels" (The Battle for Wesnoth OST, GPL-2.0-or-later),
# 44.1 kHz stereo Ogg Vorbis as Debian ships it. Short excerpts keep every fixture under 200 KB.
# Each lossy fixture is encoded by the reference encoder and decoded by the reference decoder:
#   Opus  opusenc (libopus)            / opusdec --rate 48000 --no-dither (libopus, float build, no dither)
#   AAC   ffmpeg -c:a aac (native enc) / ffmpeg's native (float) AAC decoder, written as 16-bit
# References are stored as FLAC (16-bit), which the FLAC decoder reads bit-exactly (its own test).
# The fallback fixtures are lossless codecs we do not decode natively (WavPack, ALAC-in-MP4) made from
# the committed chord fixtures, so ffmpeg's decode must equal the source WAV exactly.
set -euo pipefail
cd "$(dirname "$0")/../.."
A=data/src/test/resources/audio
MUSIC=${MUSIC:-/usr/share/games/wesnoth/1.16/data/core/music/traveling_minstrels.ogg}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
ff() { ffmpeg -v error -nostdin -y "$@"; }

# 2 s stereo excerpt at 44.1 kHz, 16-bit (the encoders' input)
ff -ss 30 -t 2 -i "$MUSIC" -c:a pcm_s16le "$T/music44s.wav"

# --- Opus: stereo (channel mapping family 0), mono (family 0) and 4 channels (family 1, multistream)
opusenc --quiet --serial 2306 --bitrate 96 "$T/music44s.wav" "$A/music48s.opus"
ff -i "$T/music44s.wav" -t 1 -ac 1 -c:a pcm_s16le "$T/music44m.wav"
opusenc --quiet --serial 2306 --bitrate 48 "$T/music44m.wav" "$A/music48m.opus"
# 4 channels: the stereo music plus its mid and side, 0.5 s (opusenc maps 4 channels with family 1)
ff -i "$T/music44s.wav" -t 0.5 -filter_complex "[0:a]pan=4c|c0=c0|c1=c1|c2=0.5*c0+0.5*c1|c3=0.5*c0-0.5*c1" -c:a pcm_s16le "$T/music44q.wav"
opusenc --quiet --serial 2306 --bitrate 160 "$T/music44q.wav" "$A/music48q.opus"
for n in music48s music48m music48q; do
  opusdec --quiet --rate 48000 --no-dither "$A/$n.opus" "$T/$n.opus.wav"
  flac -8 -f --silent -o "$A/$n.opus.flac" "$T/$n.opus.wav"
done

# --- AAC-LC in MP4 (.m4a); ffmpeg writes an edit list that hides the encoder's 1024 priming samples.
# Perceptual noise substitution (PNS) off: JAAD as JCodec 0.2.5 ships it decodes PNS wrongly (its noise
# generator collapses to 0 and the channel turns to NaN, i.e. silence), so such files go to ffmpeg.
ff -i "$T/music44s.wav" -c:a aac -b:a 128k -aac_pns 0 "$A/music44s.m4a"
ff -i "$A/music44s.m4a" -c:a pcm_s16le "$T/music44s.m4a.wav"
flac -8 -f --silent -o "$A/music44s.m4a.flac" "$T/music44s.m4a.wav"
# the same AAC frames as ADTS (.aac): no edit list, so decoders output the priming too
ff -i "$A/music44s.m4a" -c:a copy -f adts "$A/music44s.aac"

# ffmpeg's AAC encoder with its defaults (PNS on): what the Java decoder hands to ffmpeg
ff -i "$T/music44s.wav" -t 1 -c:a aac -b:a 96k "$A/music44pns.m4a"

# --- formats only the ffmpeg fallback decodes (lossless: decode == source)
ff -i "$A/chord44s.wav" -c:a wavpack "$A/chord44s.wv"
ff -i "$A/chord22m.wav" -c:a alac "$A/chord22m.alac.m4a"

ls -l "$A"/music48?.opus* "$A"/music44s.* "$A"/music44pns.m4a "$A"/chord44s.wv "$A"/chord22m.alac.m4a

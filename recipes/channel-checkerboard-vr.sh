#!/usr/bin/env bash
# channel-checkerboard-vr: the space-channel context prior (hyco.image.channel_checkerboard_vr)
# on the shipped default model's frozen transforms; trained, resumed and exported exactly as
# checkerboard-vr (see that recipe; FRESH=1 after the transforms are retrained).
#   bash recipes/channel-checkerboard-vr.sh [STEPS_THIS_RUN] [THREADS]
MODEL=channel-checkerboard-vr exec bash "$(dirname "$0")/checkerboard-vr.sh" "$@"

#!/usr/bin/env bash
# Rasterizes the SVG sources in icons/src/ into the PNGs Tauri and the tray use.
# Needs rsvg-convert (Debian: librsvg2-bin). The PNGs are committed; run this after editing an SVG.
set -euo pipefail
cd "$(dirname "$0")"
rsvg-convert -w 32 -h 32 src/app.svg -o 32x32.png
rsvg-convert -w 128 -h 128 src/app.svg -o 128x128.png
rsvg-convert -w 256 -h 256 src/app.svg -o 128x128@2x.png
rsvg-convert -w 512 -h 512 src/app.svg -o icon.png
mkdir -p tray
for svg in src/tray-*.svg; do
  name=$(basename "$svg" .svg)
  rsvg-convert -w 64 -h 64 "$svg" -o "tray/${name#tray-}.png"
done

#!/bin/sh
# Draws Baton's icons with ImageMagick. The PNGs are committed; run this only to change them.
# Tray icons are 64x64 RGBA (tray hosts scale them to 16-32 px), so shapes are bold and simple:
#   free   - an open ring: nobody holds the desktop
#   held   - a solid disc with a baton across it: someone holds it
#   paused - a disc with two bars: hand-offs are paused
set -eu
cd "$(dirname "$0")"
convert -size 64x64 xc:none -fill none -stroke '#2e8b57' -strokewidth 8 \
    -draw 'circle 32,32 32,8' PNG32:tray-free.png
convert -size 64x64 xc:none -fill '#d9822b' -draw 'circle 32,32 32,4' \
    -stroke white -strokewidth 9 -draw 'line 19,45 45,19' PNG32:tray-held.png
convert -size 64x64 xc:none -fill '#3b6fd1' -draw 'circle 32,32 32,4' \
    -fill white -draw 'rectangle 21,18 28,46' -draw 'rectangle 36,18 43,46' PNG32:tray-paused.png
convert -size 256x256 xc:none -fill '#1f4e3d' -draw 'roundrectangle 8,8 248,248 48,48' \
    -stroke '#f2b84b' -strokewidth 30 -draw 'line 72,184 184,72' \
    -stroke none -fill '#f2b84b' -draw 'circle 72,184 72,164' -draw 'circle 184,72 184,52' \
    PNG32:icon.png
# The Windows and macOS icons, from the same drawing (Pillow, from PyPI: pip install pillow).
python3 -c "
from PIL import Image
im = Image.open('icon.png')
im.save('icon.ico', sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)])
im.save('icon.icns')
"

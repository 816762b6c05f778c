#!/usr/bin/env bash
# Vulkan headers new enough for the pinned llama.cpp (>= 1.3.272, VK_EXT_layer_settings) on a
# Debian 12 machine, whose own libvulkan-dev is 1.3.239 (docs/gpu.md, "Vulkan headers").
#
# Downloads Debian 13's libvulkan-dev with apt, from the Debian mirror this machine already
# uses, through a private apt configuration: the system's sources, lists and installed
# packages stay as they are. Unpacks only its headers into
#   ${FORGE_CACHE_DIR:-$HOME/.cache/Forge}/vulkan-headers/<version>/include
# and prints that folder's parent: give it to the build as VULKAN_SDK (CMake takes
# $VULKAN_SDK/include first; the loader library is still the system's libvulkan-dev).
# Idempotent: once unpacked, it prints the cached folder without touching the network.
set -euo pipefail

SUITE=trixie            # Debian 13
VERSION=1.4.309.0-1     # pinned: a new version is a new folder, never a silent change
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

root="${FORGE_CACHE_DIR:-$HOME/.cache/Forge}/vulkan-headers"
sdk="$root/$VERSION"
if [ -f "$sdk/include/vulkan/vulkan_core.h" ]; then
  echo "$sdk"
  exit 0
fi

# The mirror of this machine's own Debian main suite (FORGE_DEBIAN_MIRROR overrides it).
mirror_of_main() {
  . /etc/os-release
  apt-cache policy | awk -v suite="${VERSION_CODENAME:-bookworm}/main" \
    '$3 == suite && $2 ~ /^(https?|file):/ { print $2; exit }'
}
mirror="${FORGE_DEBIAN_MIRROR:-$(mirror_of_main)}"
if [ -z "$mirror" ]; then  # no package lists yet on a brand-new machine
  apt-get update -qq >&2
  mirror="$(mirror_of_main)"
fi
if [ -z "$mirror" ]; then
  echo "vulkan_headers.sh: no Debian mirror configured for apt; set FORGE_DEBIAN_MIRROR." >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/vulkan-headers.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
chmod 755 "$work"  # apt downloads as its unprivileged _apt user, into the current folder
if [ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$work"; fi
echo "deb [signed-by=$KEYRING] $mirror $SUITE main" >"$work/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=$work/none"
          -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache"
          -o "Acquire::Languages=none")
apt-get "${apt_opts[@]}" -qq update >&2  # the suite's signed index: the .deb is checked by it
(cd "$work" && apt-get "${apt_opts[@]}" -qq download "libvulkan-dev=$VERSION" >&2)
dpkg-deb -x "$work"/libvulkan-dev_*.deb "$work/x"
mkdir -p "$root"
rm -rf "$sdk.partial"
mkdir -p "$sdk.partial"
mv "$work/x/usr/include" "$sdk.partial/include"
grep -q '#define VK_HEADER_VERSION ' "$sdk.partial/include/vulkan/vulkan_core.h"
rm -rf "$sdk"
mv "$sdk.partial" "$sdk"
echo "$sdk"

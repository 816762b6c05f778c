#!/usr/bin/env bash
# Sign (when credentials are present), package and notarise Forge.app as a dmg.
#   installer/macos/make_dmg.sh dist/Forge.app dist/Forge-VERSION-macos-arm64.dmg
# Signing needs MACOS_SIGN_IDENTITY ("Developer ID Application: …", in the keychain; see
# import_certificate.sh). Notarising also needs APPLE_ID, APPLE_TEAM_ID and
# APPLE_APP_PASSWORD (an app-specific password). Without them each step is skipped with a
# notice, and the dmg holds the ad-hoc signed app PyInstaller made.
set -euo pipefail
app="$1"
dmg="$2"
here="$(cd "$(dirname "$0")" && pwd)"

notice() { echo "::notice::$*"; }

signed=no
if [ -n "${MACOS_SIGN_IDENTITY:-}" ]; then
  # Hardened runtime (required for notarisation), with the entitlements Python needs.
  codesign --force --deep --timestamp --options runtime \
    --entitlements "$here/entitlements.plist" --sign "$MACOS_SIGN_IDENTITY" "$app"
  codesign --verify --deep --strict --verbose=2 "$app"
  signed=yes
else
  notice "MACOS_SIGN_IDENTITY is not set: Forge.app is not signed with a Developer ID (users must right-click > Open the first time)."
fi

staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT
cp -R "$app" "$staging/"
ln -s /Applications "$staging/Applications"   # drag-to-install
rm -f "$dmg"
hdiutil create -volname "Forge" -srcfolder "$staging" -fs HFS+ -format UDZO -ov "$dmg"

if [ "$signed" = yes ]; then
  codesign --force --timestamp --sign "$MACOS_SIGN_IDENTITY" "$dmg"
fi

if [ "$signed" = yes ] && [ -n "${APPLE_ID:-}" ] && [ -n "${APPLE_TEAM_ID:-}" ] \
   && [ -n "${APPLE_APP_PASSWORD:-}" ]; then
  xcrun notarytool submit "$dmg" --apple-id "$APPLE_ID" --team-id "$APPLE_TEAM_ID" \
    --password "$APPLE_APP_PASSWORD" --wait
  xcrun stapler staple "$dmg"
else
  notice "Notarisation skipped (needs a signed app and APPLE_ID, APPLE_TEAM_ID, APPLE_APP_PASSWORD)."
fi
echo "$dmg"

#!/usr/bin/env bash
# Put the Developer ID certificate into a temporary keychain (release workflow, macOS job).
# Needs MACOS_CERTIFICATE (base64 of a .p12) and MACOS_CERTIFICATE_PASSWORD; without them it
# prints a notice and does nothing, so unsigned builds still work.
set -euo pipefail
if [ -z "${MACOS_CERTIFICATE:-}" ] || [ -z "${MACOS_CERTIFICATE_PASSWORD:-}" ]; then
  echo "::notice::No MACOS_CERTIFICATE in the environment: signing will be skipped."
  exit 0
fi
keychain="$RUNNER_TEMP/forge-signing.keychain-db"
password="$(uuidgen)"
echo "$MACOS_CERTIFICATE" | base64 --decode > "$RUNNER_TEMP/certificate.p12"
security create-keychain -p "$password" "$keychain"
security set-keychain-settings -lut 21600 "$keychain"
security unlock-keychain -p "$password" "$keychain"
security import "$RUNNER_TEMP/certificate.p12" -P "$MACOS_CERTIFICATE_PASSWORD" -A -t cert -f pkcs12 -k "$keychain"
security set-key-partition-list -S apple-tool:,apple: -k "$password" "$keychain" >/dev/null
security list-keychain -d user -s "$keychain" $(security list-keychains -d user | tr -d '"')
rm -f "$RUNNER_TEMP/certificate.p12"

"""The Info.plist entries of Forge.app (used by installer/forge.spec's BUNDLE step)."""

from __future__ import annotations

BUNDLE_ID = "io.github.forge-gui.Forge"
JSONL_UTI = "io.github.forge-gui.jsonl"


def info_plist(version: str) -> dict:
    return {
        "CFBundleName": "Forge",
        "CFBundleDisplayName": "Forge",
        "CFBundleIdentifier": BUNDLE_ID,
        "CFBundleShortVersionString": version,
        "CFBundleVersion": version,
        "CFBundleExecutable": "forge-gui",
        "NSHighResolutionCapable": True,
        "LSMinimumSystemVersion": "12.0",
        "NSHumanReadableCopyright": "MIT licence",
        # Finder's "Open With" and drag-on-icon: JSON Lines and JSON training data.
        "CFBundleDocumentTypes": [
            {"CFBundleTypeName": "JSON Lines training data", "CFBundleTypeRole": "Viewer",
             "LSHandlerRank": "Alternate", "LSItemContentTypes": [JSONL_UTI]},
            {"CFBundleTypeName": "JSON training data", "CFBundleTypeRole": "Viewer",
             "LSHandlerRank": "Alternate", "LSItemContentTypes": ["public.json"]},
        ],
        # macOS has no system type for .jsonl: declare one (imported, so another app's
        # declaration wins if present).
        "UTImportedTypeDeclarations": [
            {"UTTypeIdentifier": JSONL_UTI, "UTTypeDescription": "JSON Lines",
             "UTTypeConformsTo": ["public.text", "public.data"],
             "UTTypeTagSpecification": {"public.filename-extension": ["jsonl"],
                                        "public.mime-type": ["application/jsonl"]}},
        ],
    }

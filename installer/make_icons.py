"""Draw Forge's app icon with QPainter and write every size the installers need.

Run from the repository root (`python installer/make_icons.py`); the outputs are committed in
resources/icons/: forge-<N>.png (hicolor sizes), forge.ico (Windows, PNG
entries) and forge.icns (macOS, PNG entries). Drawing in code keeps the icon reproducible.
"""

from __future__ import annotations

import math
import struct
import sys
from pathlib import Path

from PySide6.QtCore import QBuffer, QIODevice, QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QGuiApplication,
    QImage,
    QLinearGradient,
    QPainter,
    QPainterPath,
    QPen,
    QRadialGradient,
)

OUT = Path(__file__).resolve().parents[1] / "resources" / "icons"
PNG_SIZES = [16, 24, 32, 48, 64, 128, 256, 512]
ICO_SIZES = [16, 24, 32, 48, 64, 128, 256]
# icns element types holding PNG data, by pixel size (Apple's "ic07".."ic14", "icp4".."icp6").
ICNS_TYPES = [(b"icp4", 16), (b"icp5", 32), (b"icp6", 64), (b"ic07", 128), (b"ic08", 256),
              (b"ic09", 512), (b"ic10", 1024), (b"ic11", 32), (b"ic12", 64), (b"ic13", 256),
              (b"ic14", 512)]


def draw(size: int) -> QImage:
    """The icon on a 1024-unit canvas: an anvil under a spark, on a dark rounded square."""
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.scale(size / 1024, size / 1024)

    background = QLinearGradient(0, 0, 0, 1024)
    background.setColorAt(0, QColor("#2b3440"))
    background.setColorAt(1, QColor("#12171d"))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QBrush(background))
    p.drawRoundedRect(QRectF(48, 48, 928, 928), 200, 200)

    glow = QRadialGradient(QPointF(512, 400), 360)
    glow.setColorAt(0, QColor(255, 140, 40, 170))
    glow.setColorAt(1, QColor(255, 140, 40, 0))
    p.setBrush(QBrush(glow))
    p.drawEllipse(QPointF(512, 400), 360, 360)

    anvil = QPainterPath()
    anvil.moveTo(180, 520)   # horn tip
    anvil.cubicTo(260, 520, 300, 560, 330, 560)
    anvil.lineTo(330, 500)
    anvil.lineTo(840, 500)   # flat face
    anvil.lineTo(840, 600)
    anvil.cubicTo(760, 610, 700, 650, 680, 720)   # waist
    anvil.lineTo(760, 800)
    anvil.lineTo(280, 800)
    anvil.lineTo(380, 720)
    anvil.cubicTo(360, 650, 300, 610, 250, 590)
    anvil.cubicTo(220, 570, 190, 550, 180, 520)
    metal = QLinearGradient(0, 500, 0, 800)
    metal.setColorAt(0, QColor("#d9dee4"))
    metal.setColorAt(1, QColor("#8a949f"))
    p.setBrush(QBrush(metal))
    p.setPen(QPen(QColor("#0d1116"), 14))
    p.drawPath(anvil)

    spark = QPainterPath()
    cx, cy, r_out, r_in = 560.0, 300.0, 190.0, 48.0
    for i in range(16):  # an eight-pointed star
        angle = i * math.pi / 8
        r = r_out if i % 2 == 0 else r_in
        point = QPointF(cx + r * math.cos(angle), cy + r * math.sin(angle))
        spark.moveTo(point) if i == 0 else spark.lineTo(point)
    spark.closeSubpath()
    fire = QRadialGradient(QPointF(cx, cy), r_out)
    fire.setColorAt(0, QColor("#fff6c2"))
    fire.setColorAt(0.35, QColor("#ffc93c"))
    fire.setColorAt(1, QColor("#ff6a00"))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QBrush(fire))
    p.drawPath(spark)
    p.end()
    return image


def png_bytes(image: QImage) -> bytes:
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(buffer.data())


def ico_bytes(pngs: dict[int, bytes]) -> bytes:
    """An ICO file whose entries are PNG images (supported since Windows Vista)."""
    header = struct.pack("<HHH", 0, 1, len(pngs))
    offset = 6 + 16 * len(pngs)
    entries, payload = b"", b""
    for size, data in pngs.items():
        dim = 0 if size >= 256 else size  # 0 means 256 in the ICO directory
        entries += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(data), offset)
        offset += len(data)
        payload += data
    return header + entries + payload


def icns_bytes(pngs: dict[int, bytes]) -> bytes:
    body = b"".join(kind + struct.pack(">I", 8 + len(pngs[size])) + pngs[size]
                    for kind, size in ICNS_TYPES)
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 (fonts, etc.)
    OUT.mkdir(parents=True, exist_ok=True)
    pngs = {size: png_bytes(draw(size)) for size in sorted(set(PNG_SIZES + [1024]))}
    for size in PNG_SIZES:
        (OUT / f"forge-{size}.png").write_bytes(pngs[size])
    (OUT / "forge.ico").write_bytes(ico_bytes({s: pngs[s] for s in ICO_SIZES}))
    (OUT / "forge.icns").write_bytes(icns_bytes(pngs))
    print(f"wrote {len(PNG_SIZES)} PNGs, forge.ico and forge.icns to {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

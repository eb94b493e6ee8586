"""Draw the SuperResolution3D icon (128x128): a blocky low-resolution brain slice turning into a smooth one, "4x".

Run from the repository root: ``python SuperResolution3D/Resources/Icons/make_icon.py``. Writes the extension
icon ``SuperResolution3D.png`` and the module icon ``SuperResolution3D/Resources/Icons/SuperResolution3D.png``.
"""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

SIZE = 128
SUPERSAMPLE = 4
BLOCK = 10  # low-resolution pixel size, in icon pixels
BACKGROUND = (18, 28, 46, 255)
ACCENT = (255, 196, 61, 255)


def brain_slice(n: int) -> np.ndarray:
    """An axial brain-like slice in [0, 1] on an n x n grid: folded cortex, white matter, ventricles."""
    y, x = np.mgrid[-1:1:complex(n), -1:1:complex(n)]
    x, y = x / 0.80, (y + 0.02) / 0.92
    angle = np.arctan2(y, x)
    radius = np.hypot(x, y)
    outline = 1.0 + 0.035 * np.sin(9 * angle) + 0.02 * np.sin(17 * angle + 1.0)
    inside = radius < outline
    depth = np.clip((outline - radius) / 0.30, 0, 1)
    folds = np.sin(24 * radius + 6 * np.sin(6 * angle) + 2 * np.sin(11 * angle))
    cortex = depth < 0.7
    tissue = np.where(cortex, 0.62 + 0.30 * folds * (1 - depth), 0.90)
    tissue = np.where(cortex & (folds < -0.75), 0.18, tissue)  # sulci: dark fluid between the folds
    fissure = (np.abs(x) < 0.03) & (np.abs(y) > 0.45)
    ventricles = (((x - 0.12) / 0.07) ** 2 + ((y + 0.02) / 0.24) ** 2 < 1) | (
        ((x + 0.12) / 0.07) ** 2 + ((y + 0.02) / 0.24) ** 2 < 1)
    image = np.where(inside, tissue, 0.0)
    image = np.where(fissure & inside, 0.15, image)
    image = np.where(ventricles, 0.15, image)
    return np.clip(image, 0, 1)


def to_rgba(values: np.ndarray) -> Image.Image:
    """Grey levels on a cool tint, transparent where there is no tissue."""
    v = values[..., None]
    rgb = (v * np.array([236, 242, 255]) + (1 - v) * np.array(BACKGROUND[:3])).astype(np.uint8)
    alpha = np.where(values > 0.01, 255, 0).astype(np.uint8)[..., None]
    return Image.fromarray(np.concatenate([rgb, alpha], axis=-1), "RGBA")


def draw_icon() -> Image.Image:
    big = SIZE * SUPERSAMPLE
    canvas = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=22 * SUPERSAMPLE, fill=BACKGROUND)

    slice_size = 100 * SUPERSAMPLE
    offset = ((big - slice_size) // 2, 6 * SUPERSAMPLE)
    smooth = brain_slice(slice_size)
    coarse_n = slice_size // (BLOCK * SUPERSAMPLE)
    coarse = brain_slice(coarse_n)
    blocky = np.kron(coarse, np.ones((BLOCK * SUPERSAMPLE, BLOCK * SUPERSAMPLE)))
    blocky = np.pad(blocky, ((0, slice_size - blocky.shape[0]), (0, slice_size - blocky.shape[1])))

    # Left of a slanted seam: the blocky low-resolution slice; right of it: the smooth super-resolved one.
    yy, xx = np.mgrid[0:slice_size, 0:slice_size]
    seam = xx < slice_size * 0.5 + (yy - slice_size / 2) * 0.25
    combined = np.where(seam, blocky, smooth)
    canvas.alpha_composite(to_rgba(combined), offset)

    seam_top = (offset[0] + slice_size * 0.5 - slice_size * 0.1, offset[1] + slice_size * 0.1)
    seam_bottom = (offset[0] + slice_size * 0.5 + slice_size * 0.1, offset[1] + slice_size * 0.9)
    draw.line([seam_top, seam_bottom], fill=ACCENT, width=3 * SUPERSAMPLE)

    font = None
    for name in ("DejaVuSans-Bold.ttf", "Arial Bold.ttf", "arialbd.ttf"):
        try:
            font = ImageFont.truetype(name, 34 * SUPERSAMPLE)
            break
        except OSError:
            continue
    if font is None:
        font = ImageFont.load_default(size=34 * SUPERSAMPLE)
    text = "4x"
    box = draw.textbbox((0, 0), text, font=font)
    width, height = box[2] - box[0], box[3] - box[1]
    position = (big - width - 9 * SUPERSAMPLE - box[0], big - height - 7 * SUPERSAMPLE - box[1])
    shadow = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    ImageDraw.Draw(shadow).text((position[0] + 2 * SUPERSAMPLE, position[1] + 2 * SUPERSAMPLE), text,
                                font=font, fill=(0, 0, 0, 200))
    canvas.alpha_composite(shadow.filter(ImageFilter.GaussianBlur(2 * SUPERSAMPLE)))
    ImageDraw.Draw(canvas).text(position, text, font=font, fill=ACCENT)
    return canvas.resize((SIZE, SIZE), Image.LANCZOS)


def main() -> None:
    root = Path(__file__).resolve().parents[3]
    icon = draw_icon()
    for path in (root / "SuperResolution3D.png", root / "SuperResolution3D" / "Resources" / "Icons" / "SuperResolution3D.png"):
        icon.save(path, optimize=True)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()

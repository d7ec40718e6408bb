"""Resize one image into web renditions with Pillow: no upscaling, metadata stripped.

Pure functions over bytes, no AWS: the handler (``app``) and the tests call the same code.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Sequence

from PIL import Image, ImageOps, UnidentifiedImageError

#: Source formats accepted (what Pillow identifies the bytes as, whatever the key or content type says).
ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF"})
#: Output format -> (Pillow format name, file extension, content type, save options).
OUTPUT_FORMATS = {
    "webp": ("WEBP", "webp", "image/webp", {"quality": 80, "method": 4}),
    "jpeg": ("JPEG", "jpg", "image/jpeg", {"quality": 82, "optimize": True, "progressive": True}),
}


class Rejected(Exception):
    """The object is not an image this pipeline will process; the reason is recorded, never retried."""


@dataclass(frozen=True)
class Rendition:
    width: int
    height: int
    format: str  # a key of OUTPUT_FORMATS
    body: bytes

    @property
    def extension(self) -> str:
        return OUTPUT_FORMATS[self.format][1]

    @property
    def content_type(self) -> str:
        return OUTPUT_FORMATS[self.format][2]


@dataclass(frozen=True)
class Processed:
    source_format: str
    width: int
    height: int
    renditions: list[Rendition]


def target_widths(original_width: int, widths: Sequence[int]) -> list[int]:
    """The widths to make: each asked width, capped at the original's (never upscaled), once each."""
    return sorted({min(width, original_width) for width in widths})


def process(data: bytes, *, widths: Sequence[int], formats: Sequence[str], max_pixels: int) -> Processed:
    """Decode ``data`` and encode one rendition per target width and output format.

    Raises ``Rejected`` for what is not worth retrying: not an image, a format outside
    ``ACCEPTED_FORMATS``, more than ``max_pixels`` pixels (a decompression bomb), or a corrupt file.
    """
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that; here any excess is refused.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise Rejected("not an image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Rejected(f"more than {max_pixels} pixels (decompression bomb)") from None
    source_format = image.format or "unknown"
    if source_format not in ACCEPTED_FORMATS:
        raise Rejected(f"image format {source_format} is not accepted")
    original_width, original_height = image.size
    if original_width * original_height > max_pixels:
        raise Rejected(f"{original_width}x{original_height} is more than {max_pixels} pixels (decompression bomb)")
    widths_to_make = target_widths(original_width, widths)
    try:
        # JPEG decodes at a reduced scale when the largest rendition is much smaller: less time and memory.
        largest = widths_to_make[-1]
        image.draft("RGB", (largest, max(1, round(original_height * largest / original_width))))
        image.load()
        image = ImageOps.exif_transpose(image)  # orientation is applied, then the EXIF itself is not kept
    except (OSError, SyntaxError, ValueError) as error:
        raise Rejected(f"corrupt image: {error}") from None
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    width, height = image.size
    renditions = []
    for target in target_widths(width, widths):
        resized = (
            image
            if target == width
            else image.resize((target, max(1, round(height * target / width))), Image.Resampling.LANCZOS)
        )
        for name in formats:
            pillow_format, _, _, options = OUTPUT_FORMATS[name]
            frame = resized.convert("RGB") if pillow_format == "JPEG" and resized.mode != "RGB" else resized
            buffer = io.BytesIO()
            # A fresh save writes no EXIF, ICC or XMP unless asked: the renditions carry no metadata.
            frame.save(buffer, pillow_format, **options)
            renditions.append(Rendition(frame.width, frame.height, name, buffer.getvalue()))
    return Processed(source_format, original_width, original_height, renditions)

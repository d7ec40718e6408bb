"""Resize one image into web renditions with Pillow: no upscaling, metadata stripped.

Pure functions over bytes, no AWS: the handler (``app``) and the tests call the same code.

Pillow is imported when the first image is processed, not with this module. Its import is most of
what the processor's cold start would cost beyond its AWS clients, and many cold starts process
no image at all (S3's test event, redeliveries of objects already done, records left for a later
delivery); the first image of an environment pays it instead (``make bench`` measures it). A
missing Pillow still fails init: the package is looked up then, without being imported.

Except under SnapStart: while Lambda initializes a SnapStart version it sets
``AWS_LAMBDA_INITIALIZATION_TYPE`` to ``snap-start``, and then Pillow is imported at init, with
every format plugin registered (which the first image would otherwise load too). That init runs
once, when the version is published, and each environment is restored from its snapshot: what it
imported costs nothing at restore, so deferring it would only slow the first image down.
"""

from __future__ import annotations

import importlib.util
import io
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

#: Source formats accepted (what Pillow identifies the bytes as, whatever the key or content type says).
ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF"})
#: Output format -> (Pillow format name, file extension, content type, save options).
OUTPUT_FORMATS = {
    "webp": ("WEBP", "webp", "image/webp", {"quality": 80, "method": 4}),
    "jpeg": ("JPEG", "jpg", "image/jpeg", {"quality": 82, "optimize": True, "progressive": True}),
}
#: The largest width or height each encoder writes (libwebp: 16383; libjpeg as Pillow builds it: 65500).
MAX_DIMENSION = {"webp": 16383, "jpeg": 65500}
#: EXIF orientations that swap width and height (a 90 or 270 degree turn, mirrored or not).
_TRANSPOSING_ORIENTATIONS = frozenset({5, 6, 7, 8})
_ORIENTATION_TAG = 0x0112


if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":  # see the module docstring
    from PIL import Image as _Image
    from PIL import ImageOps as _ImageOps  # noqa: F401  # imported for the snapshot

    _Image.init()
elif importlib.util.find_spec("PIL") is None:  # found, not imported: a missing layer fails init, not each object
    raise ImportError("Pillow is not installed: the image processor needs the Pillow layer ObjectPipeline attaches")


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


def rendition_sizes(width: int, height: int, widths: Sequence[int], max_dimension: int) -> list[tuple[int, int]]:
    """The (width, height) of each rendition of a ``width`` x ``height`` image: the target widths, each
    narrowed when needed so that neither side exceeds ``max_dimension`` (a tall image's height would)."""
    sizes = set()
    for target in target_widths(width, widths):
        target = min(target, max_dimension, max(1, width * max_dimension // height))
        sizes.add((target, min(max_dimension, max(1, round(height * target / width)))))
    return sorted(sizes)


def process(data: bytes, *, widths: Sequence[int], formats: Sequence[str], max_pixels: int) -> Processed:
    """Decode ``data`` and encode one rendition per target width and output format.

    The recorded width and height are the image as shown, its EXIF orientation applied. Raises
    ``Rejected`` for what is not worth retrying: not an image, a format outside ``ACCEPTED_FORMATS``,
    more than ``max_pixels`` pixels (a decompression bomb), a corrupt file, or one the encoders refuse.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError  # on first use: see the module docstring

    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that; here any excess is refused.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise Rejected("not an image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Rejected(f"more than {max_pixels} pixels (decompression bomb)") from None
    source_format = image.format or "unknown"
    if source_format not in ACCEPTED_FORMATS:
        raise Rejected(f"image format {source_format} is not accepted")
    stored_width, stored_height = image.size
    if stored_width * stored_height > max_pixels:
        raise Rejected(f"{stored_width}x{stored_height} is more than {max_pixels} pixels (decompression bomb)")
    try:
        turned = image.getexif().get(_ORIENTATION_TAG) in _TRANSPOSING_ORIENTATIONS
        # As shown: a 90 or 270 degree orientation swaps the stored sides.
        width, height = (stored_height, stored_width) if turned else (stored_width, stored_height)
        sizes = rendition_sizes(width, height, widths, min(MAX_DIMENSION[name] for name in formats))
        # JPEG decodes at a reduced scale when the largest rendition is much smaller: less time and memory.
        # draft() works on the stored image, so the largest rendition's sides are swapped back first.
        largest = sizes[-1]
        image.draft("RGB", largest[::-1] if turned else largest)
        image.load()
        image = ImageOps.exif_transpose(image)  # orientation is applied, then the EXIF itself is not kept
    except (OSError, SyntaxError, ValueError) as error:
        raise Rejected(f"corrupt image: {error}") from None
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    renditions = []
    for size in sizes:
        resized = image if size == image.size else image.resize(size, Image.Resampling.LANCZOS)
        for name in formats:
            pillow_format, _, _, options = OUTPUT_FORMATS[name]
            frame = resized.convert("RGB") if pillow_format == "JPEG" and resized.mode != "RGB" else resized
            buffer = io.BytesIO()
            try:
                # A fresh save writes no EXIF, ICC or XMP unless asked: the renditions carry no metadata.
                frame.save(buffer, pillow_format, **options)
            except (OSError, ValueError) as error:
                raise Rejected(f"cannot be encoded as {name} at {size[0]}x{size[1]}: {error}") from None
            renditions.append(Rendition(frame.width, frame.height, name, buffer.getvalue()))
    return Processed(source_format, width, height, renditions)

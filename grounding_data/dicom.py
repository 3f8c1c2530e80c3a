"""DICOM images read with pydicom as the 8-bit pictures a vision-language processor takes.

Grey images (MONOCHROME1/2) go through the DICOM display pipeline as pydicom implements it
(:mod:`pydicom.pixels`): the modality LUT (rescale slope / intercept, or a Modality LUT
Sequence), then the VOI LUT Sequence or the first window centre / width (LINEAR, LINEAR_EXACT
or SIGMOID), else the image's own min..max; MONOCHROME1 is inverted so that high values look
bright, as in MONOCHROME2. 12- and 16-bit data end up as 8-bit grey. Colour images (RGB, YBR)
come back as 8-bit RGB. The size is the DICOM ``Columns x Rows``: boxes stay in DICOM pixel
coordinates.

A compressed transfer syntax that needs a decoder pydicom does not have raises
:class:`DataError` naming the file and the package to install.

Example::

    >>> from pydicom.data import get_testdata_file
    >>> image = read_dicom(get_testdata_file("CT_small.dcm"))
    >>> image.mode, image.size
    ('L', (128, 128))
"""

from __future__ import annotations

from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from grounding_data.errors import DataError

if TYPE_CHECKING:  # pydicom is imported where a DICOM is read: listing the formats does not load it
    import pydicom

DICOM_SUFFIXES = (".dcm", ".dicom")
GREY = ("MONOCHROME1", "MONOCHROME2")
COLOUR = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT")
_JPEG_LS = ("1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81")
_JPEG_2000 = ("1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.201",
              "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203")


def is_dicom_path(path: str | Path) -> bool:
    """Whether ``path`` names a DICOM file by its suffix (``.dcm`` or ``.dicom``).

    Example::

        >>> is_dicom_path("train/000434271f63.dicom"), is_dicom_path("a.png")
        (True, False)
    """
    return Path(path).suffix.lower() in DICOM_SUFFIXES


def _install_hint(uid: str) -> str:
    if uid in _JPEG_LS:
        return "pip install pylibjpeg pylibjpeg-libjpeg (or: pip install pyjpegls)"
    if uid in _JPEG_2000:
        return "pip install pylibjpeg pylibjpeg-openjpeg"
    if uid.startswith("1.2.840.10008.1.2.4."):
        return "pip install pylibjpeg pylibjpeg-libjpeg"
    return "pip install python-gdcm"


def _read_header(path: Path, file: str | Path, row: int | str | None) -> pydicom.Dataset:
    import pydicom
    from pydicom.errors import InvalidDicomError

    if not path.is_file():
        raise DataError("missing image", f"no file {path}", file, row)
    try:
        return pydicom.dcmread(path, defer_size=1024)  # large values (the pixels) are read on access
    except (InvalidDicomError, OSError, ValueError) as exc:
        raise DataError("unreadable image", f"{path} is not a readable DICOM file: {exc}", file, row) from exc


def _check_decodable(ds: pydicom.Dataset, path: Path, file: str | Path, row: int | str | None) -> None:
    from pydicom.pixels import get_decoder

    meta = getattr(ds, "file_meta", None)
    uid = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
    if uid is None:
        return  # pydicom falls back to implicit VR little endian, which needs no decoder
    try:
        decoder = get_decoder(uid)
    except NotImplementedError:
        raise DataError("unsupported DICOM compression", f"{path}: pydicom has no decoder for {uid.name} "
                        f"({uid})", file, row) from None
    if not decoder.is_available:
        raise DataError("unsupported DICOM compression", f"{path}: pixel data is compressed as {uid.name} ({uid}) "
                        f"and no installed package decodes it; install one: {_install_hint(str(uid))}",
                        file, row)


def dicom_size(path: str | Path, file: str | Path | None = None, row: int | str | None = None) -> tuple[int, int]:
    """``(width, height)`` = ``(Columns, Rows)`` of a DICOM file, from its header.

    Also checks that pydicom can decode its pixel data (so a dataset fails at conversion,
    not in the middle of training). Errors name ``file``/``row`` (default: the DICOM itself).

    Example::

        >>> from pydicom.data import get_testdata_file
        >>> dicom_size(get_testdata_file("MR_small.dcm"))
        (64, 64)
    """
    path = Path(path)
    file = path if file is None else file
    ds = _read_header(path, file, row)
    if not any(tag in ds for tag in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise DataError("unreadable image", f"{path} has no pixel data", file, row)
    _check_decodable(ds, path, file, row)
    frames = int(ds.get("NumberOfFrames") or 1)
    if frames != 1:
        raise DataError("unreadable image", f"{path} has {frames} frames; one image per file is expected", file, row)
    return int(ds.Columns), int(ds.Rows)


def _unit_range(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    return np.zeros_like(values) if high <= low else (values - low) / (high - low)


def _voi_output_range(ds: pydicom.Dataset) -> tuple[float, float]:
    """The range pydicom's VOI transform maps onto: the LUT's nominal range (0 to 2**bits - 1), or
    the window's output range, read off :func:`pydicom.pixels.apply_windowing` at -inf and +inf."""
    from pydicom.pixels import apply_windowing

    if ds.get("VOILUTSequence"):
        return 0.0, float(2 ** int(ds.VOILUTSequence[0].LUTDescriptor[2]) - 1)
    low, high = apply_windowing(np.array([-np.inf, np.inf]), ds)
    return float(low), float(high)


def grey_to_unit(ds: pydicom.Dataset, pixels: np.ndarray) -> np.ndarray:
    """Stored grey values -> display values in [0, 1]: pydicom's modality LUT, then its VOI LUT or
    window (:func:`pydicom.pixels.apply_voi_lut`), else the image's own range; MONOCHROME1 inverted.

    Example::

        >>> from pydicom.data import get_testdata_file
        >>> import pydicom
        >>> ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))  # window centre 600, width 1600
        >>> unit = grey_to_unit(ds, ds.pixel_array)
        >>> round(float(unit.min()), 3), float(unit.max())
        (0.205, 1.0)
    """
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    values = np.asarray(apply_modality_lut(pixels, ds))
    if values.dtype.kind == "f" and np.array_equal(values, np.round(values)):
        values = values.astype(np.int64)  # a VOI LUT indexes by integer value
    if ds.get("VOILUTSequence") or ("WindowCenter" in ds and "WindowWidth" in ds):
        low, high = _voi_output_range(ds)
        shown = np.asarray(apply_voi_lut(values, ds), dtype=np.float64)
        unit = np.clip((shown - low) / (high - low), 0.0, 1.0)
    else:
        unit = _unit_range(values.astype(np.float64))
    return 1.0 - unit if ds.PhotometricInterpretation == "MONOCHROME1" else unit


def read_dicom(path: str | Path, file: str | Path | None = None, row: int | str | None = None) -> Image.Image:
    """The DICOM at ``path`` as an 8-bit PIL image: ``"L"`` for grey, ``"RGB"`` for colour.

    Raises ``DataError`` naming ``file``/``row`` (default: the DICOM itself): "missing
    image", "unreadable image" (not DICOM, no pixel data, several frames, an unsupported
    photometric interpretation) or "unsupported DICOM compression" (with the pip command).

    Example::

        >>> from pydicom.data import get_testdata_file
        >>> read_dicom(get_testdata_file("MR_small.dcm")).getextrema()  # window 600 +- 800, pixels 127..2145
        (52, 255)
    """
    path = Path(path)
    file = path if file is None else file
    dicom_size(path, file, row)
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path)
        pixels = ds.pixel_array
    except (InvalidDicomError, OSError, ValueError, RuntimeError, AttributeError) as exc:
        raise DataError("unreadable image", f"{path}: pixel data could not be decoded: {exc}", file, row) from exc
    kind = str(ds.PhotometricInterpretation)
    if kind in GREY:
        return Image.fromarray(np.round(grey_to_unit(ds, pixels) * 255.0).astype(np.uint8), mode="L")
    if kind in COLOUR and pixels.ndim == 3 and pixels.shape[-1] == 3:  # pydicom converts YBR to RGB
        if pixels.dtype != np.uint8:
            pixels = np.round(_unit_range(pixels.astype(np.float64)) * 255.0).astype(np.uint8)
        return Image.fromarray(pixels, mode="RGB")
    raise DataError("unreadable image", f"{path}: photometric interpretation {kind!r} is not supported "
                    f"(expected one of {', '.join(GREY + COLOUR)})", file, row)


def open_image(path: str | Path) -> Image.Image:
    """Any image file medloc reads, loaded into memory: DICOM through :func:`read_dicom`, others with PIL.

    Example::

        >>> from pydicom.data import get_testdata_file
        >>> open_image(get_testdata_file("CT_small.dcm")).size
        (128, 128)
    """
    if is_dicom_path(path):
        return read_dicom(path)
    with Image.open(path) as opened:
        opened.load()
        return opened

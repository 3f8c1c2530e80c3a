"""DICOM reading: pydicom's own bundled test files, and files written here in the RSNA and
VinDr-CXR layouts (modality LUT, window, VOI LUT, MONOCHROME1, 12/16 bit, compressed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from click.testing import CliRunner
from PIL import Image
from pydicom.data import get_testdata_file, get_testdata_files
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import get_decoder
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

import grounding_data
from grounding_data import DataError
from grounding_data.dicom import read_dicom
from medloc.app.cli import main
from medloc.evaluation import row_image
from medloc.app.run_data import training_dataset
from tests import data_fixtures as fx

JPEG_LS_FILE = "MR_small_jpeg_ls_lossless.dcm"


def write_dicom(path: Path, pixels: np.ndarray, *, photometric: str = "MONOCHROME2", bits_stored: int = 12,
                slope: float | None = None, intercept: float | None = None, window: tuple | None = None,
                voi_lut: list[int] | None = None) -> Path:
    """A single-frame grey DICOM as a scanner would write it (uint16 storage)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # digital X-ray
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, bits_stored, bits_stored - 1, 0
    if slope is not None:
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if voi_lut is not None:
        item = Dataset()
        item.LUTDescriptor = [len(voi_lut), 0, 16]  # 16-bit entries (8-bit ones are stored packed)
        item.add_new(0x00283006, "US", voi_lut)  # LUT Data
        ds.VOILUTSequence = [item]
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def gradient(height: int, width: int, top: int = 4095) -> np.ndarray:
    return np.linspace(0, top, height * width).round().reshape(height, width)


# pydicom's bundled files ---------------------------------------------------------------


def test_ct_small_applies_rescale_then_spans_the_image_range():
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    assert (float(ds.RescaleSlope), float(ds.RescaleIntercept)) == (1.0, -1024.0) and "WindowCenter" not in ds
    hu = ds.pixel_array.astype(np.float64) + -1024.0
    expected = np.round((hu - hu.min()) / (hu.max() - hu.min()) * 255).astype(np.uint8)
    image = read_dicom(get_testdata_file("CT_small.dcm"))
    assert (image.mode, image.size) == ("L", (128, 128))
    np.testing.assert_array_equal(np.asarray(image), expected)


def test_mr_small_uses_its_window_centre_and_width():
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    center, width = float(ds.WindowCenter), float(ds.WindowWidth)
    assert (center, width) == (600.0, 1600.0)
    x = ds.pixel_array.astype(np.float64)
    expected = np.round(np.clip((x - (center - 0.5)) / (width - 1) + 0.5, 0, 1) * 255).astype(np.uint8)
    np.testing.assert_array_equal(np.asarray(read_dicom(get_testdata_file("MR_small.dcm"))), expected)


def _windowed_grey_files() -> list[str]:
    """pydicom's bundled single-frame grey files that carry a window centre / width."""
    found = []
    for name in sorted(set(get_testdata_files("*.dcm"))):
        try:
            ds = pydicom.dcmread(name, stop_before_pixels=True)
        except pydicom.errors.InvalidDicomError:
            continue
        if (ds.get("PhotometricInterpretation") == "MONOCHROME2" and "WindowCenter" in ds
                and int(ds.get("NumberOfFrames") or 1) == 1 and "VOILUTSequence" not in ds):
            found.append(name)
    return found


@pytest.mark.parametrize("name", _windowed_grey_files(), ids=lambda name: Path(name).name)
def test_every_bundled_windowed_file_follows_the_standards_linear_window(name):
    try:
        ds = pydicom.dcmread(name)
        stored = ds.pixel_array
    except Exception as error:  # a compression this machine cannot decode
        pytest.skip(f"pydicom cannot decode it here: {error}")
    first = lambda value: float(value[0]) if isinstance(value, pydicom.multival.MultiValue) else float(value)
    center, width = first(ds.WindowCenter), first(ds.WindowWidth)
    x = stored.astype(np.float64) * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))
    expected = np.clip((x - (center - 0.5)) / (width - 1) + 0.5, 0, 1)  # PS3.3 C.11.2.1.2.1
    np.testing.assert_array_equal(np.asarray(read_dicom(name)), np.round(expected * 255).astype(np.uint8))


@pytest.mark.parametrize(("function", "expected"), [
    ("LINEAR_EXACT", lambda x: np.clip((x - 2000) / 1000 + 0.5, 0, 1)),  # PS3.3 C.11.2.1.3.2
    ("SIGMOID", lambda x: 1 / (1 + np.exp(-4 * (x - 2000) / 1000))),  # PS3.3 C.11.2.1.3.1
])
def test_linear_exact_and_sigmoid_windows(tmp_path, function, expected):
    pixels = gradient(8, 16)
    path = write_dicom(tmp_path / "w.dcm", pixels, window=(2000, 1000))
    ds = pydicom.dcmread(path)
    ds.VOILUTFunction = function
    ds.save_as(path)
    np.testing.assert_array_equal(np.asarray(read_dicom(path)), np.round(expected(pixels) * 255).astype(np.uint8))


def test_rle_compressed_copy_decodes_to_the_same_image():
    plain = np.asarray(read_dicom(get_testdata_file("MR_small.dcm")))
    np.testing.assert_array_equal(np.asarray(read_dicom(get_testdata_file("MR_small_RLE.dcm"))), plain)


def test_colour_dicom_comes_back_rgb():
    image = read_dicom(get_testdata_file("examples_rgb_color.dcm"))
    assert (image.mode, image.size) == ("RGB", (320, 240))


def test_multi_frame_dicom_is_refused_naming_the_frames():
    with pytest.raises(DataError, match=r"examples_ybr_color.dcm: unreadable image: .* has 30 frames"):
        read_dicom(get_testdata_file("examples_ybr_color.dcm"))


@pytest.mark.skipif(get_decoder(pydicom.dcmread(get_testdata_file(JPEG_LS_FILE), stop_before_pixels=True)
                                .file_meta.TransferSyntaxUID).is_available,
                    reason="a JPEG-LS decoder is installed")
def test_compressed_without_decoder_names_file_and_package():
    with pytest.raises(DataError, match=rf"{JPEG_LS_FILE}: unsupported DICOM compression: .*JPEG-LS.*"
                                        r"pip install pylibjpeg pylibjpeg-libjpeg"):
        read_dicom(get_testdata_file(JPEG_LS_FILE))


def test_not_a_dicom_and_missing_file(tmp_path):
    fake = fx.image(tmp_path / "x.png", 8, 8).rename(tmp_path / "x.dcm")
    with pytest.raises(DataError, match=r"x.dcm: unreadable image: .*x.dcm is not a readable DICOM file"):
        read_dicom(fake)
    with pytest.raises(DataError, match=r"labels.csv, line 4: missing image: no file .*gone.dcm"):
        read_dicom(tmp_path / "gone.dcm", "labels.csv", 4)


# files written here ------------------------------------------------------------------


def test_monochrome1_is_inverted(tmp_path):
    pixels = gradient(16, 20)
    mono2 = np.asarray(read_dicom(write_dicom(tmp_path / "m2.dcm", pixels)), dtype=np.int32)
    mono1 = np.asarray(read_dicom(write_dicom(tmp_path / "m1.dcm", pixels, photometric="MONOCHROME1")),
                       dtype=np.int32)
    assert (mono2[0, 0], mono2[-1, -1]) == (0, 255)
    np.testing.assert_array_equal(mono1 + mono2, 255)


@pytest.mark.parametrize("bits", [12, 16])
def test_12_and_16_bit_data_map_to_8_bit(tmp_path, bits):
    pixels = gradient(10, 10, top=2**bits - 1)
    image = read_dicom(write_dicom(tmp_path / "g.dcm", pixels, bits_stored=bits))
    expected = np.round(pixels / (2**bits - 1) * 255).astype(np.uint8)
    assert image.mode == "L"
    np.testing.assert_array_equal(np.asarray(image), expected)


def test_rescale_then_window_in_output_units(tmp_path):
    pixels = np.array([[400, 500, 600, 700]])  # HU = 2 * p - 1000: -200, 0, 200, 400
    path = write_dicom(tmp_path / "ct.dcm", pixels, slope=2.0, intercept=-1000.0, window=(0, 401))
    assert np.asarray(read_dicom(path)).tolist() == [[0, 128, 255, 255]]


def test_voi_lut_sequence_maps_stored_values(tmp_path):
    pixels = np.array([[0, 16, 1600, 4095]])
    path = write_dicom(tmp_path / "lut.dcm", pixels, voi_lut=[value * 16 for value in range(4096)])
    assert np.asarray(read_dicom(path)).tolist() == [[0, 1, 100, 255]]  # round(16 * x / 65535 * 255)


def _rsna_with_dicoms(root: Path) -> Path:
    fx.rsna(root)
    for png in (root / "stage_2_train_images").glob("*.png"):
        write_dicom(png.with_suffix(".dcm"), gradient(102, 102), photometric="MONOCHROME1")
        png.unlink()
    return root


def test_rsna_reads_dcm_files_when_no_png_copies(tmp_path):
    rows, report = grounding_data.read("rsna", _rsna_with_dicoms(tmp_path))
    assert [Path(r.image).suffix for r in rows] == [".dcm", ".dcm"]
    assert [(r.width, r.height) for r in rows] == [(102, 102), (102, 102)]
    np.testing.assert_allclose(rows[0].boxes, [[26.4, 15.2, 47.7, 53.1], [56.2, 15.2, 76.6, 62.8]])
    assert report.rows == 2


def test_vindr_reads_dicom_files_in_dicom_pixels(tmp_path):
    root = fx.vindr_physionet(tmp_path)
    (root / "train" / "a1.png").unlink()
    write_dicom(root / "train" / "a1.dicom", gradient(120, 100))  # Rows 120, Columns 100
    rows, _ = grounding_data.read("vindr-cxr", root)
    assert {Path(r.image).name for r in rows} == {"a1.dicom"}
    assert {(r.width, r.height) for r in rows} == {(100, 120)}
    small = write_dicom(root / "train" / "a1.dicom", gradient(30, 30))  # boxes reach x=90: outside a 30x30 DICOM
    assert small.is_file()
    with pytest.raises(DataError, match=r"annotations_train.csv, line 3: box outside image: .*30x30"):
        grounding_data.read("vindr-cxr", root)


def test_png_copy_is_preferred_over_the_dicom(tmp_path):
    root = fx.rsna(tmp_path)
    for png in (root / "stage_2_train_images").glob("*.png"):
        write_dicom(png.with_suffix(".dcm"), gradient(102, 102))
    rows, _ = grounding_data.read("rsna", root)
    assert {Path(r.image).suffix for r in rows} == {".png"}


@pytest.mark.skipif(get_decoder(pydicom.dcmread(get_testdata_file(JPEG_LS_FILE), stop_before_pixels=True)
                                .file_meta.TransferSyntaxUID).is_available,
                    reason="a JPEG-LS decoder is installed")
def test_compressed_dicom_in_a_dataset_names_line_and_package(tmp_path):
    fx.write(tmp_path / "stage_2_train_labels.csv", "patientId,x,y,width,height,Target\np1,5,5,10,10,1\n")
    (tmp_path / "stage_2_train_images").mkdir()
    shutil.copy(get_testdata_file(JPEG_LS_FILE), tmp_path / "stage_2_train_images" / "p1.dcm")
    with pytest.raises(DataError, match=r"stage_2_train_labels.csv, line 2: unsupported DICOM compression: "
                                        r".*p1.dcm.*pip install pylibjpeg pylibjpeg-libjpeg"):
        grounding_data.read("rsna", tmp_path)


def test_convert_exports_png_copies_and_points_rows_at_them(tmp_path):
    root = _rsna_with_dicoms(tmp_path / "rsna")
    out, pngs = tmp_path / "rsna.jsonl", tmp_path / "png"
    result = CliRunner().invoke(main, ["data", "convert", "--format", "rsna", "--root", str(root), "--out", str(out),
                                       "--export-images", str(pngs)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    images = [Path(r["image"]) for r in records]
    assert all(p.suffix == ".png" and p.parent == pngs.absolute() / "stage_2_train_images" for p in images)
    dicom = root / "stage_2_train_images" / f"{images[0].stem}.dcm"
    with Image.open(images[0]) as exported:
        np.testing.assert_array_equal(np.asarray(exported), np.asarray(read_dicom(dicom)))
    rows, report = grounding_data.read_jsonl(out)
    assert report.rows == 2 and rows[0].boxes == records[0]["boxes"]


def test_training_and_evaluation_open_dicom_rows(tmp_path):
    dicom = write_dicom(tmp_path / "a.dcm", gradient(24, 32))
    png = fx.image(tmp_path / "b.png", 16, 16)
    assert row_image({"image": str(dicom)}).size == (32, 24)
    rows = [{"image": str(dicom), "phrase": "the mass", "boxes": [[1, 1, 9, 9]], "width": 32, "height": 24},
            {"image": str(png), "phrase": "the dot", "boxes": [[1, 1, 4, 4]], "width": 16, "height": 16}]
    dataset = training_dataset(rows, "none", "grid-100")
    assert [dataset[i]["image"].size for i in range(2)] == [(32, 24), (16, 16)]
    np.testing.assert_array_equal(np.asarray(dataset[0]["image"].convert("L")), np.asarray(read_dicom(dicom)))

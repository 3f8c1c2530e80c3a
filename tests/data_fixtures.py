"""Tiny datasets written in exactly the released formats (for tests/test_data_*.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image


def image(path: Path, width: int, height: int, suffix_format: str | None = None) -> Path:
    """A small grey image at ``path`` (format from the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L" if path.suffix == ".png" else "RGB", (width, height), 90).save(path, suffix_format)
    return path


def mask(path: Path, width: int, height: int, rects: list[tuple[int, int, int, int]]) -> Path:
    """A 0/255 mask with filled [x1, y1, x2, y2) rectangles (JPEG or PNG by suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.zeros((height, width), np.uint8)
    for x1, y1, x2, y2 in rects:
        arr[y1:y2, x1:x2] = 255
    Image.fromarray(arr).save(path, quality=90) if path.suffix == ".jpg" else Image.fromarray(arr).save(path)
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def ham10000(root: Path) -> Path:
    write(root / "HAM10000_metadata.csv",
          "lesion_id,image_id,dx,dx_type,age,sex,localization\n"
          "HAM_0000118,ISIC_0027419,bkl,histo,80.0,male,scalp\n"
          "HAM_0002730,ISIC_0026769,mel,histo,80.0,male,scalp\n")
    image(root / "HAM10000_images_part_1" / "ISIC_0027419.jpg", 60, 45)
    image(root / "HAM10000_images_part_2" / "ISIC_0026769.jpg", 60, 45)
    seg = root / "HAM10000_segmentations_lesion_tschandl"
    mask(seg / "ISIC_0027419_segmentation.png", 60, 45, [(10, 5, 30, 25)])
    mask(seg / "ISIC_0026769_segmentation.png", 60, 45, [(5, 5, 15, 15), (40, 30, 50, 40)])
    return root


def tn3k(root: Path) -> Path:
    for split, names in (("trainval", ["0000", "0001"]), ("test", ["0000"])):
        for i, name in enumerate(names):
            image(root / f"{split}-image" / f"{name}.jpg", 64, 48)
            mask(root / f"{split}-mask" / f"{name}.jpg", 64, 48, [(8 + i, 8, 40, 30)])
    return root


def ms_cxr(root: Path) -> Path:
    header = "dicom_id,category_name,label_text,path,x,y,w,h,image_width,image_height,split\n"
    p1 = "files/p10/p10000032/s50414267/d1.jpg"
    p2 = "files/p11/p11000011/s51029426/d2.jpg"
    write(root / "MS_CXR_Local_Alignment_v1.1.0.csv", header
          + f"d1,Pneumonia,left basilar opacity,{p1},10,20,30,15,120,100,train\n"
          + f"d1,Pneumonia,left basilar opacity,{p1},60,22,20,18,120,100,train\n"
          + f"d1,Cardiomegaly,enlarged heart,{p1},40,40,50,40,120,100,train\n"
          + f"d2,Pneumothorax,right apical pneumothorax,{p2},5,5,20,10,80,90,test\n")
    image(root / p1, 120, 100)
    image(root / p2, 80, 90)
    return root


def chestx_ray8(root: Path) -> Path:
    write(root / "BBox_List_2017.csv",
          "Image Index,Finding Label,Bbox [x,y,w,h],,,\n"
          "00013118_008.png,Atelectasis,22.508,54.701,8.677,7.918\n"
          "00013118_008.png,Atelectasis,60.0,10.5,12.25,9.0,,,\n"
          "00014716_007.png,Atelectasis,29.4,27.9,19.2,12.4,,,\n"
          "00014716_007.png,Nodule,70.1,70.2,5.5,5.5,,,\n")
    image(root / "images" / "00013118_008.png", 102, 102)
    image(root / "images" / "00014716_007.png", 102, 102)
    write(root / "test_list.txt", "00013118_008.png\n")
    write(root / "train_val_list.txt", "00014716_007.png\n")
    return root


def vindr_physionet(root: Path) -> Path:
    write(root / "annotations" / "annotations_train.csv",
          "image_id,rad_id,class_name,x_min,y_min,x_max,y_max\n"
          "000434271f63a053c4128a0ba6352c7f,R2,No finding,,,,\n"
          "a1,R8,Aortic enlargement,50,20,70,40\n"
          "a1,R9,Aortic enlargement,51,21,71,41\n"
          "a1,R10,Aortic enlargement,52,22,72,42\n"
          "a1,R8,Nodule/Mass,10,60,20,70\n"
          "a1,R9,Nodule/Mass,80,80,90,90\n")
    image(root / "train" / "a1.png", 100, 120)
    return root


def vindr_kaggle(root: Path) -> Path:
    write(root / "train.csv",
          "image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max\n"
          "50a418190bc3fb1ef1633bf9678929b3,No finding,14,R11,,,,\n"
          "k1,Cardiomegaly,3,R10,30.0,50.0,90.0,80.0\n"
          "k1,Cardiomegaly,3,R9,31.0,51.0,91.0,81.0\n")
    image(root / "train" / "k1.png", 120, 100)
    return root


def rsna(root: Path) -> Path:
    write(root / "stage_2_train_labels.csv",
          "patientId,x,y,width,height,Target\n"
          "0004cfab-14fd-4e49-80ba-63a80b6bddd6,,,,,0\n"
          "00436515-870c-4b36-a041-de91049b9ab4,26.4,15.2,21.3,37.9,1\n"
          "00436515-870c-4b36-a041-de91049b9ab4,56.2,15.2,20.4,47.6,1\n"
          "00704310-78a8-4b38-8475-49f4573b2dbb,32.3,57.7,16.0,17.8,1\n")
    for pid in ("00436515-870c-4b36-a041-de91049b9ab4", "00704310-78a8-4b38-8475-49f4573b2dbb"):
        image(root / "stage_2_train_images" / f"{pid}.png", 102, 102)
    return root


def vlm_r1(root: Path) -> Path:
    records = [
        {"id": 1, "image": "train2014/COCO_1.jpg", "conversations": [
            {"from": "human", "value": "<image>Please provide the bounding box of: man on the left"},
            {"from": "gpt", "value": "[10, 12, 40, 50]"}]},
        {"id": 2, "image": ["train2014/COCO_2.jpg"], "conversations": [
            {"from": "human", "value": "<image>\nthe dog"},
            {"from": "gpt", "value": '<answer>{"bbox_2d": [5, 6, 25, 30], "label": "dog"}</answer>'}]},
        {"id": 3, "image": "train2014/COCO_2.jpg", "conversations": [
            {"from": "human", "value": "<image>both cats"},
            {"from": "gpt", "value": "<|box_start|>(100,200),(300,400)<|box_end|> and "
                                     "<|box_start|>(500,500),(600,700)<|box_end|>"}]},
    ]
    write(root / "rec.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    image(root / "images" / "train2014" / "COCO_1.jpg", 64, 64)
    image(root / "images" / "train2014" / "COCO_2.jpg", 50, 40)
    return root


def coco(root: Path) -> Path:
    doc = {
        "images": [{"id": 1, "file_name": "000001.jpg", "width": 64, "height": 48},
                   {"id": 2, "file_name": "000002.jpg", "width": 64, "height": 48}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 7, "bbox": [4.5, 5.0, 10.0, 8.0], "area": 80, "iscrowd": 0},
            {"id": 11, "image_id": 1, "category_id": 7, "bbox": [30, 20, 12, 10], "area": 120, "iscrowd": 0},
            {"id": 12, "image_id": 1, "category_id": 3, "bbox": [1, 1, 5, 5], "area": 25, "iscrowd": 0},
            {"id": 13, "image_id": 1, "category_id": 3, "bbox": [0, 0, 60, 40], "area": 2400, "iscrowd": 1},
        ],
        "categories": [{"id": 3, "name": "polyp", "supercategory": "lesion"},
                       {"id": 7, "name": "nodule", "supercategory": "lesion"}],
    }
    write(root / "annotations" / "instances_val.json", json.dumps(doc))
    image(root / "val" / "000001.jpg", 64, 48)
    image(root / "val" / "000002.jpg", 64, 48)
    return root


DRIMDB = ("What is the quality of the retinal image? A)It's a good retinal image., B)It's a outlier retinal image., "
          "C)it's a bad retinal image.")
STAGE = "Identify the cancer stage depicted in this picture. A)Stage Ib, B)Stage IIIc, C)Stage IIc, D)Stage 0"
BRAIN = "Which part of the body is shown? A)Brain, B)Knee"
RETINA = "What does this OCT scan show? A)Drusen, B)Normal retina, C)Macular hole"


def med_r1(root: Path) -> Path:
    """Med-R1's layout as released: ``Splits/{modality,question_type}/{train,test}/<Name>_<split>.json`` (the
    release's typos in the names), images under the OmniMedVQA folder. The trees are two splits of one
    pool: each question is in one file per tree, in possibly different splits; the OCT question's
    question-type file is missing (as ``Disease Diagnosis_train.json`` is from the shared copy).

    ======  ===================================  ======================================
    item    modality tree                         question_type tree
    ======  ===================================  ======================================
    drimdb  test/Fundus Photography               test/Lesion Grading
    stage   test/CT(Computed Tomography)          train/Lesion Grading
    brain   train/MR (Mag-netic Resonance ...)    test/Anatomy Identification
    retina  train/OCT (Optical Coherence ...      (none)
    ======  ===================================  ======================================
    """
    omni = root / "OmniMedVQA"
    paths = {name: f"Images/{name}/{name}_1.png" for name in ("DRIMDB", "Chest CT Scan", "BrainMRI", "OCTID")}
    for path in paths.values():
        image(omni / path, 32, 32)
    drimdb = {"image": paths["DRIMDB"], "problem": DRIMDB, "solution": "<answer> C </answer>"}
    stage = {"image": paths["Chest CT Scan"], "problem": STAGE, "solution": "<answer> A </answer>"}
    brain = {"image": paths["BrainMRI"], "problem": BRAIN, "solution": "<answer> A </answer>"}
    retina = {"image": paths["OCTID"], "problem": RETINA, "solution": "<answer> B </answer>"}
    splits = root / "Splits"
    files = {
        "modality/test/Fundus Photography_test.json": [drimdb],
        "modality/test/CT(Computed Tomography)_test.json": [stage],
        "modality/train/MR (Mag-netic Resonance Imaging)_train.json": [brain],
        "modality/train/OCT (Optical Coherence Tomography_train.json": [retina],
        "question_type/test/Lesion Grading_test.json": [drimdb],
        "question_type/train/Lesion Grading_train.json": [stage],
        "question_type/test/Anatomy Identification_test.json": [brain],
    }
    for name, items in files.items():
        write(splits / name, json.dumps(items, indent=4))
    return splits


KVASIR_BOXES = {  # image id -> (width, height, json boxes, mask rectangles); the mask of "b" also has a speck
    "a": (64, 48, [(8, 8, 40, 30)], [(8, 8, 40, 30)]),
    "b": (72, 56, [(2, 4, 20, 20), (40, 30, 66, 50)], [(2, 4, 20, 20), (40, 30, 66, 50), (0, 0, 1, 1)]),
}


def kvasir_seg(root: Path, boxes: dict | None = None) -> Path:
    """Kvasir-SEG as released: ``images/<id>.jpg``, ``masks/<id>.jpg`` (JPEG) and ``kavsir_bboxes.json``."""
    entries = {}
    for image_id, (width, height, json_boxes, rects) in (boxes or KVASIR_BOXES).items():
        image(root / "images" / f"{image_id}.jpg", width, height)
        mask(root / "masks" / f"{image_id}.jpg", width, height, rects)
        entries[image_id] = {"height": height, "width": width, "bbox": [
            {"label": "polyp", "xmin": x1, "ymin": y1, "xmax": x2, "ymax": y2} for x1, y1, x2, y2 in json_boxes]}
    write(root / "kavsir_bboxes.json", json.dumps(entries))
    return root

"""Task data for a rehearsal: real rows where a data root has them, else invented rows in each release's exact layout.

The synthetic files go through the same loaders as the real ones (medadapt-prompts picks the layout), so a rehearsal
checks the whole path from files to prompts. Notes of the long-context tasks (EHRNoteQA, n2c2) are long enough that
some exceed the scaled-down windows of the short-context stand-ins, as the real notes exceed the real windows.
"""

from __future__ import annotations

import json
import logging
import pickle
import random
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from medadapt.study.errors import StudyError

log = logging.getLogger("medadapt.study")

ROWS_PER_SPLIT = 12
IMAGE_SIDE = 64
# Words per synthetic clinical note (≈1.2 stand-in tokens a word), spread from short to ~3,000 tokens as the real
# notes: the longest overflow a scaled-down 2,048-token Llama-2 window (MediTron-7B's real one, which the study
# skipped), none overflow the scaled-down 4,096-token Llama-3 window.
LONG_NOTE_WORDS = (100, 400, 800, 1400, 2000)

_WORDS = (
    "patient", "presents", "with", "chest", "pain", "dyspnea", "fever", "cough", "history", "of", "hypertension",
    "diabetes", "mellitus", "asthma", "obesity", "coronary", "artery", "disease", "admitted", "for", "evaluation",
    "labs", "notable", "creatinine", "troponin", "glucose", "elevated", "normal", "imaging", "showed",
    "consolidation", "effusion", "no", "acute", "findings", "started", "on", "aspirin", "metformin", "insulin",
    "albuterol", "lisinopril", "discharged", "home", "follow", "up", "with", "cardiology", "clinic", "in", "two",
    "weeks", "vital", "signs", "stable",
)


def _text(rng: random.Random, n_words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n_words))


def _sentence(rng: random.Random, n_words: int = 12) -> str:
    return _text(rng, n_words).capitalize() + "."


def _jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def write_images(folder: Path, names: Iterable[str]) -> None:
    """Small generated images (a gradient and a square whose place depends on the name), in the format the name says."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(names):
        image = Image.new("RGB", (IMAGE_SIDE, IMAGE_SIDE), (20 * (index % 12), 90, 160))
        corner = (index * 7) % (IMAGE_SIDE // 2)
        ImageDraw.Draw(image).rectangle((corner, corner, corner + 20, corner + 20), fill=(230, 230, 230))
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path)


def _medqa(folder: Path, rng: random.Random) -> None:
    """MedQA US, 5 options: {train,dev,test}.jsonl with options {letter: text}, answer_idx and answer text."""
    for split in ("train", "dev", "test"):
        rows = []
        for i in range(ROWS_PER_SPLIT):
            options = {k: _text(rng, 3) + f" {k.lower()}{i}" for k in "ABCDE"}
            key = "ABCDE"[rng.randrange(5)]
            rows.append({"question": _sentence(rng, 40) + " Which is most likely?", "options": options,
                         "answer_idx": key, "answer": options[key], "meta_info": "step1"})
        _jsonl(folder / f"{split}.jsonl", rows)


def _mednli(folder: Path, rng: random.Random) -> None:
    labels = ("entailment", "contradiction", "neutral")
    for split in ("train", "dev", "test"):
        _jsonl(folder / f"mli_{split}_v1.jsonl", [
            {"sentence1": _sentence(rng), "sentence2": _sentence(rng, 6), "gold_label": labels[i % 3],
             "pairID": f"{split}-{i}"}
            for i in range(ROWS_PER_SPLIT)
        ])


def _ehrnoteqa(folder: Path, rng: random.Random) -> None:
    """30 level-1 rows (60/20/20 → 18/6/6) with one to three long discharge notes each."""
    rows = []
    for i in range(30):
        n_words = LONG_NOTE_WORDS[i % len(LONG_NOTE_WORDS)]
        rows.append({
            "category": "level1", "patient_id": 1000 + i,
            "note_1": _text(rng, n_words), "note_2": _text(rng, n_words // 4) if i % 2 else "", "note_3": None,
            "question": _sentence(rng, 10)[:-1] + "?",
            **{f"choice_{c}": _text(rng, 4) for c in "ABCDE"},
            "answer": "ABCDE"[i % 5],
        })
    _jsonl(folder / "EHRNoteQA_processed.jsonl", rows)


_N2C2_DISEASES = ("Asthma", "CAD", "Diabetes", "Obesity")


def _n2c2(folder: Path, rng: random.Random) -> None:
    """The i2b2 2008 obesity challenge XML: records and intuitive annotations, training and test."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = {"train": (range(1, 25), "obesity_patient_records_training.xml",
                       "obesity_standoff_intuitive_annotations_training.xml"),
             "test": (range(100, 112), "obesity_patient_records_test.xml",
                      "obesity_standoff_annotations_test_intuitive.xml")}
    for ids, records, judgments in parts.values():
        docs = "".join(
            f'<doc id="{i}"><text><![CDATA[\nRecord #{i}\n  DISCHARGE SUMMARY\n'
            f"{_text(rng, LONG_NOTE_WORDS[i % len(LONG_NOTE_WORDS)])}\n]]></text></doc>"
            for i in ids
        )
        (folder / records).write_text(
            f'<?xml version="1.0" encoding="UTF-8"?>\n<root><docs>{docs}</docs></root>', encoding="utf-8"
        )
        diseases = "".join(
            f'<disease name="{d}">' + "".join(f'<doc id="{i}" judgment="{"YNQ"[(i + k) % 3]}"/>' for i in ids)
            + "</disease>"
            for k, d in enumerate(_N2C2_DISEASES)
        )
        (folder / judgments).write_text(
            '<?xml version="1.0" encoding="UTF-8"?>\n<diseaseset>\n'
            f'<diseases source="intuitive">{diseases}</diseases>\n</diseaseset>',
            encoding="utf-8",
        )


def _sense(folder: Path, rng: random.Random, csv_name: str, keep_yaml: bool) -> None:
    """Adams et al.'s preprocessed sense CSV (sf, target_lf_sense, context) and the sf_lf_map.json inventory."""
    folder.mkdir(parents=True, exist_ok=True)
    inventory = {"AB": ["abortion", "ankle-brachial;ankle brachial"], "CVA": ["stroke", "costovertebral angle"],
                 "RA": ["rheumatoid arthritis", "right atrium", "room air"]}
    (folder / "sf_lf_map.json").write_text(json.dumps(inventory), encoding="utf-8")
    lines = ["sf,target_lf_sense,context"]
    for i in range(60):
        sf = list(inventory)[i % 3]
        sense = inventory[sf][i % len(inventory[sf])]
        lines.append(f'{sf},"{sense}","{_text(rng, 8)} {sf} {_text(rng, 8)}"')
    (folder / csv_name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    if keep_yaml:
        (folder / "mimic_sf.yaml").write_text("- AB\n- CVA\n- RA\n", encoding="utf-8")


def _closed_question(rng: random.Random, i: int) -> tuple[str, str]:
    return f"Is there {rng.choice(_WORDS)} in this image {i}?", "yes" if i % 2 else "no"


def _pathvqa(folder: Path, rng: random.Random) -> None:
    """The release pickles qas/<split>/<split>_qa.pkl (plain dicts) and images/<split>/<name>.jpg."""
    for split in ("train", "val", "test"):
        rows = []
        for i in range(ROWS_PER_SPLIT):
            question, answer = _closed_question(rng, i)
            rows.append({"image": f"{split}_{i:04d}", "question": question, "answer": answer})
        target = folder / "qas" / split / f"{split}_qa.pkl"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(pickle.dumps(rows))
        write_images(folder / "images" / split, [f"{r['image']}.jpg" for r in rows])


def _slake(folder: Path, rng: random.Random) -> None:
    """SLAKE 1.0 json arrays (English closed questions kept) and imgs/<name>."""
    names = [f"xmlab{i}/source.jpg" for i in range(6)]
    write_images(folder / "imgs", names)
    for split, file in (("train", "train.json"), ("val", "validate.json"), ("test", "test.json")):
        rows = []
        for i in range(ROWS_PER_SPLIT):
            question, answer = _closed_question(rng, i)
            rows.append({"img_id": i % 6, "img_name": names[i % 6], "question": question, "answer": answer,
                         "q_lang": "en", "answer_type": "CLOSED", "qid": f"{split}-{i}", "content_type": "Abnormal"})
        (folder / file).write_text(json.dumps(rows), encoding="utf-8")


def _mmmu(folder: Path, rng: random.Random, subset: str) -> None:
    """One MMMU subject in the hub layout: dev.jsonl (few-shot pool) and validation.jsonl (val/test), PNG images."""
    from medadapt.prompts.tasks.mmmu_loaders import mmmu_config

    base = folder / mmmu_config(subset)
    images = [f"img_{i}.png" for i in range(4)]
    write_images(base / "images", images)

    def row(split: str, i: int) -> dict[str, Any]:
        options = [_text(rng, 2) for _ in range(4)]
        # Some questions carry the image tag inline (the study's MMMU prompts keep it in the text).
        tag = " <image 1>" if i % 2 else ""
        return {"id": f"{split}_{subset}_{i}", "question": _sentence(rng, 14) + tag, "options": repr(options),
                "answer": "ABCD"[i % 4], "question_type": "multiple-choice",
                "image_1": str(base / "images" / images[i % 4]), "image_2": None}

    _jsonl(base / "dev.jsonl", [row("dev", i) for i in range(5)])
    _jsonl(base / "validation.jsonl", [row("validation", i) for i in range(2 * ROWS_PER_SPLIT)])


def _writer(task: str) -> Callable[[Path, random.Random], None] | None:
    """The synthetic writer of a task's family, or None when the rehearsal has none (real rows needed)."""
    from medadapt.prompts import get_task
    from medadapt.prompts.tasks.sense_loaders import SENSE_CSV_NAMES

    spec = get_task(task)
    writers: dict[str, Callable[[Path, random.Random], None]] = {
        "mednli": _mednli,
        "ehrnoteqa": _ehrnoteqa,
        "n2c2": _n2c2,
        "pathvqa": _pathvqa,
        "slake": _slake,
    }
    if spec.family == "medqa" and spec.subset == "5_options":
        return _medqa
    if spec.family == "sense":
        mimic = spec.subset == "mimic"
        csv_name = SENSE_CSV_NAMES[spec.subset or ""][0]
        return lambda folder, rng: _sense(folder, rng, csv_name, mimic)
    if spec.family == "mmmu":
        subset = spec.subset or ""
        return lambda folder, rng: _mmmu(folder, rng, subset)
    return writers.get(spec.family)


def _real_rows_usable(task: str, real_root: Path) -> bool:
    """Whether `real_root` has the task's test split, with its images on disk for a VQA task."""
    from medadapt.prompts import load_task

    try:
        data = load_task(task, real_root, "test")
    except (FileNotFoundError, KeyError, ValueError):
        return False
    if not data.examples:
        return False
    return all(Path(p).is_file() for example in data.examples[:5] for p in example.images)


def _link_real(folder: Path, real_folder: Path) -> None:
    """Mirror the real task folder: directories made here, files linked (synthetic files may sit beside them).

    Real directories, not links to them: the loaders search folders with `rglob`, which does not enter linked ones.
    """
    for entry in sorted(real_folder.rglob("*")):
        target = folder / entry.relative_to(real_folder)
        if entry.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(entry.resolve())


def build_rehearsal_data(tasks: Iterable[str], root: Path, real_root: Path | None) -> dict[str, str]:
    """Fill `root` with every task's data; return where each task's rows come from ('real: …' or 'synthetic')."""
    from medadapt.prompts import get_task

    root.mkdir(parents=True, exist_ok=True)
    sources: dict[str, str] = {}
    written: set[tuple[str, Path]] = set()
    for task in dict.fromkeys(tasks):
        spec = get_task(task)
        folder = root / spec.folder
        if real_root is not None and _real_rows_usable(task, real_root):
            real_folder = real_root / spec.folder if (real_root / spec.folder).is_dir() else real_root
            _link_real(folder, real_folder)
            sources[task] = f"real: {real_folder}"
            continue
        writer = _writer(task)
        if writer is None:
            where = f"in {real_root}" if real_root is not None else "(no real data root was given)"
            raise StudyError(
                f"rehearsal: task {task!r} has no synthetic rows and no usable real rows {where}; "
                "pass --data with the task's data (e.g. ../shared/data)"
            )
        key = (spec.family + (spec.subset or "" if spec.family == "mmmu" else ""), folder)
        if key not in written:
            writer(folder, random.Random(f"{spec.family}-{spec.subset}"))
            written.add(key)
        sources[task] = "synthetic"
    log.info("rehearsal data in %s: %s", root, sources)
    return sources

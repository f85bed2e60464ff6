"""Find each student's notebook in a folder or a .zip, as learning-management systems export.

Accepted layouts (mixed freely):

    <student_id>.ipynb
    <student_id>/<anything>.ipynb       (any depth below the student's folder)

Nothing is dropped: a student folder without a notebook, or with several, is still listed
with a flag saying so. Zip members are extracted one by one under a private folder; names
that would escape it, links and oversized archives are refused.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .results import Flag

MAX_UNZIPPED_BYTES = 2 * 2**30
MAX_MEMBERS = 20_000
IGNORED = ("__MACOSX", ".ipynb_checkpoints")


@dataclass
class Submission:
    """One student's candidate notebooks (several only when the student handed in several)."""

    student_id: str
    notebooks: list[Path] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    root: Path = Path()

    def relative(self, path: Path) -> str:
        return str(path.relative_to(self.root))


def safe_student_id(name: str) -> str:
    """Letters, digits, '.', '-' and '_' only (ids become file names of feedback pages)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name).strip("._") or "student"
    return cleaned[:100]


def _unzip(archive: Path, target: Path) -> Path:
    with zipfile.ZipFile(archive) as zipped:
        members = zipped.infolist()
        if len(members) > MAX_MEMBERS:
            raise ValueError(f"{archive.name} has {len(members)} files; at most {MAX_MEMBERS}")
        if sum(m.file_size for m in members) > MAX_UNZIPPED_BYTES:
            raise ValueError(f"{archive.name} unpacks to more than {MAX_UNZIPPED_BYTES} bytes")
        for member in members:
            parts = PurePosixPath(member.filename.replace("\\", "/")).parts
            is_link = (member.external_attr >> 16) & 0o170000 == 0o120000
            if member.is_dir() or is_link or not parts or any(p in ("..", "") for p in parts) \
                    or parts[0].startswith("/"):  # fmt: skip
                continue
            destination = target.joinpath(*parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            with zipped.open(member) as source, open(destination, "wb") as sink:
                shutil.copyfileobj(source, sink)
    return target


def _visible(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    return not any(p.startswith(".") or p in IGNORED for p in parts)


def collect(path: Path, staging: Path) -> list[Submission]:
    """List every student's notebooks under ``path`` (a folder or a .zip).

    Args:
        path: the submissions folder or archive.
        staging: an empty private folder (a zip is unpacked there).

    Returns:
        One Submission per student, sorted by student id.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no submissions at {path}")
    if path.is_file():
        if not zipfile.is_zipfile(path):
            raise ValueError(f"{path} is neither a folder nor a .zip archive")
        path = _unzip(path, staging / "unzipped")
    students: dict[str, Submission] = {}

    def entry(raw_name: str) -> Submission:
        student_id = safe_student_id(raw_name)
        submission = students.setdefault(student_id, Submission(student_id, root=path))
        if student_id != raw_name and not any(f.kind == "renamed_id" for f in submission.flags):
            submission.flags.append(Flag("renamed_id", f"the name {raw_name!r} was turned into "
                                         f"the id {student_id!r} (only letters, digits, '.', "
                                         "'-', '_' are kept)"))  # fmt: skip
        return submission

    for item in sorted(path.iterdir()):
        if not _visible(item, path) or item.is_symlink():
            continue
        if item.is_file() and item.suffix == ".ipynb":
            entry(item.stem).notebooks.append(item)
        elif item.is_dir():
            submission = entry(item.name)
            submission.notebooks += sorted(
                p for p in item.rglob("*.ipynb")
                if p.is_file() and not p.is_symlink() and _visible(p, path)
            )
    for submission in students.values():
        if not submission.notebooks:
            submission.flags.append(Flag("no_notebook", "no .ipynb file was found in the "
                                         "student's folder", review=True))  # fmt: skip
    return [students[s] for s in sorted(students)]

"""Package data: the checkout's templates/, runtime_c/, boards/ and cmake/ folders are
copied into the wheel as edgekd/_data/<folder>/ (edgekd/resources.py finds them there).

The folders stay at the top of the checkout, where the C and CMake sides use them as they
are; everything else about the package is in pyproject.toml.
"""
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
DATA_FOLDERS = ("templates", "runtime_c", "boards", "cmake")  # = edgekd.resources.DATA_FOLDERS
SKIP = ("__pycache__", "*.pyc", "*.o", "*.so", "*.elf")


class BuildPyWithData(build_py):
    """build_py that also copies the data folders into the built package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's folders directly
        import shutil

        for folder in DATA_FOLDERS:
            target = Path(self.build_lib) / "edgekd" / "_data" / folder
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(ROOT / folder, target, ignore=shutil.ignore_patterns(*SKIP))


setup(cmdclass={"build_py": BuildPyWithData})

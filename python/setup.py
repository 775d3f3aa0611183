"""pip install ./python: the sail package with the C library beside it.

The library is the one `make` built (../build/libsail.so) or $SAIL_LIB; it is
copied into the package, so `import sail` works from anywhere afterwards.
Offline with Debian's python3-pip and python3-setuptools (no downloads)."""
import os
import re
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def version():
    with open(os.path.join(HERE, "..", "include", "sail.h"), encoding="utf-8") as f:
        return re.search(r'#define SAIL_VERSION_STRING "([^"]+)"', f.read()).group(1)


class with_library(build_py):
    def run(self):
        super().run()
        lib = os.environ.get("SAIL_LIB") or os.path.join(HERE, "..", "build", "libsail.so")
        if not os.path.exists(lib):
            raise SystemExit("sail: %s is missing: run `make` first (or set SAIL_LIB)" % lib)
        shutil.copy(lib, os.path.join(self.build_lib, "sail", "libsail.so"))


setup(
    name="sail",
    version=version(),
    description="omni-modal embeddings (Chinese/English text, images, video) in one vector space",
    packages=["sail"],
    install_requires=["numpy"],
    cmdclass={"build_py": with_library},
    zip_safe=False,
)

"""Build heron's optional C extension (heron._speedups); metadata is in pyproject.toml.

``optional=True``: where it cannot be compiled (no C compiler), heron installs
without it and runs its pure-Python loaders instead (orm/loading.py).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("heron._speedups", sources=["src/heron/_speedups.c"], optional=True),
    ]
)

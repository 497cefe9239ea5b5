"""Builds the Cython kernels; all other metadata lives in pyproject.toml."""
from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [
    Extension(f"grammask.kernels.{name}", [f"grammask/kernels/{name}.pyx"],
              extra_compile_args=["-O3"])
    for name in ("_kernels", "_earley")
]

setup(ext_modules=cythonize(extensions, compiler_directives={"language_level": "3"}))

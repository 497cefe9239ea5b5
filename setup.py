"""Builds the Cython kernels; all other metadata lives in pyproject.toml."""
import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

# _kernels reads numpy arrays through numpy's C API (a typed memoryview per argument costs
# more than a memoised mask's whole fill)
extensions = [
    Extension(f"grammask.kernels.{name}", [f"grammask/kernels/{name}.pyx"],
              extra_compile_args=["-O3"], include_dirs=[numpy.get_include()],
              define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")])
    for name in ("_kernels", "_earley")
]

setup(ext_modules=cythonize(extensions, compiler_directives={"language_level": "3"}))

"""numba kernels by family; each has a plain-numpy reference in the tests.

Every kernel is `njit(parallel=True, cache=True, nogil=True)`: compiled once to the disk cache,
run on all cores, and free of the GIL so that a worker's event loop keeps answering while a
block is computed in a thread.
"""

"""Benchmarks run by `make bench`: the flash-sale load (`python -m bench.flash_sale`)."""

# rootfs: skeleton + deterministic tar layer writer (libarchive, libdeflate,
# libcrypto for sha256, pthreads for the parallel gzip).
ROOTFS_SRCS := rootfs/tree.c rootfs/hosttree.c rootfs/skeleton.c \
               rootfs/layer.c rootfs/gzip.c rootfs/spool.c rootfs/cache.c rootfs/files.c
ROOTFS_LIBS := $(call pkg_libs,libarchive libdeflate libcrypto) -lpthread
HOST_LIBS   += $(ROOTFS_LIBS)

UNIT_TESTS      += test_rootfs
test_rootfs_SRCS := $(ROOTFS_SRCS)
test_rootfs_LIBS := $(ROOTFS_LIBS)

# tests/bench/layers: layers of 1 MiB to 1 GiB and 100k files, mkimage vs umoci insert.
BENCHES += layers

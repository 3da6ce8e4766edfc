# images: OCI config/manifest/index (jansson), layout directory and
# docker-loadable archive writers (libarchive), reader (inspect).
IMAGES_SRCS := images/json.c images/write.c images/read.c images/sbom.c
# the OCI layout writer and the temporaries of every output
IMAGES_SRCS += images/layout.c images/temp.c
# how blobs (spooled layers too) reach the output
IMAGES_SRCS += images/blob.c
# several platforms under one image index
IMAGES_SRCS += images/index.c
IMAGES_LIBS := $(call pkg_libs,libarchive jansson libcrypto)
# the registry client (push, pull, --base): libcurl, worker threads
IMAGES_SRCS += images/ref.c images/registry_referrers.c images/auth.c images/registry.c images/registry_src.c \
               images/registry_push.c images/registry_pull.c \
               images/registry_out.c images/registry_parse.c images/base.c
IMAGES_LIBS += $(call pkg_libs,libcurl) -lpthread
HOST_LIBS   += $(IMAGES_LIBS)

UNIT_TESTS       += test_images
test_images_SRCS := $(IMAGES_SRCS) $(ROOTFS_SRCS)
test_images_LIBS := $(IMAGES_LIBS) $(ROOTFS_LIBS)

# tests/bench/image: mkimage vs umoci, time and service-layer size.
BENCHES += image
# tests/bench/registry: push and re-push, mkimage vs skopeo copy.
BENCHES += registry

UNIT_TESTS         += test_registry
test_registry_SRCS := $(IMAGES_SRCS) $(ROOTFS_SRCS)
test_registry_LIBS := $(IMAGES_LIBS) $(ROOTFS_LIBS)

# Several platforms: the --arch/--platform list parser and the image index.
UNIT_TESTS          += test_multiarch
test_multiarch_SRCS  = builder/opts.c builder/envcheck.c builder/elf.c builder/strv.c $(INIT_GRAMMAR_SRCS) \
                       $(IMAGES_SRCS) $(ROOTFS_SRCS)
test_multiarch_LIBS := $(call pkg_libs,libelf libcap) $(IMAGES_LIBS) $(ROOTFS_LIBS)

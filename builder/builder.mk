# builder/: the mkimage CLI (host, glibc, dynamic).  Every builder/*.c is
# part of mkimage; the other folders' library sources come from their
# fragments.
BUILDER_SRCS  := $(sort $(wildcard builder/*.c))
# The init's value grammar (pure: no syscalls), so that mkimage checks at
# build time with the init's own rules what the image's ENV gives it.
INIT_GRAMMAR_SRCS := init/grammar.c init/parse.c
MKIMAGE_SRCS  := $(BUILDER_SRCS) $(ROOTFS_SRCS) $(IMAGES_SRCS) $(POLICIES_SRCS) $(INIT_GRAMMAR_SRCS)
BUILDER_LIBS  := $(call pkg_libs,jansson libelf libcap)
MKIMAGE_LIBS   = $(HOST_LIBS) $(BUILDER_LIBS)
# (host_objs is defined after the fragments are included: spell it out)
MKIMAGE_OBJS  := $(patsubst %.c,$(BUILD)/obj/%.o,$(MKIMAGE_SRCS))

BINS += $(BUILD)/bin/mkimage

$(BUILD)/bin/mkimage: $(MKIMAGE_OBJS)
	@mkdir -p $(@D)
	$(CC) $(HOST_LDFLAGS) -o $@ $^ $(MKIMAGE_LIBS)

# The same mkimage under ASan+UBSan, beside the real one (so that it finds
# the init, the policies and the sysroot the same way): `make stress` runs
# the integration tests once more with it (MKIMAGE=build/bin/mkimage-asan).
$(BUILD)/bin/mkimage-asan: $(patsubst %.c,$(BUILD)/asan/obj/%.o,$(MKIMAGE_SRCS))
	@mkdir -p $(@D)
	$(CC) $(ASAN_LDFLAGS) -o $@ $^ $(MKIMAGE_LIBS)

# Unit tests of the builder's pure modules.
UNIT_TESTS += test_elf test_builder_opts test_builder_build
test_elf_SRCS := builder/elf.c builder/strv.c
ELF_LIBS := $(call pkg_libs,libelf)
test_elf_LIBS := $(ELF_LIBS)
test_builder_opts_SRCS := builder/opts.c builder/envcheck.c builder/elf.c builder/strv.c images/json.c images/sbom.c \
                          $(INIT_GRAMMAR_SRCS)
test_builder_opts_LIBS := $(call pkg_libs,libelf jansson libcrypto libcap)
test_builder_build_SRCS := builder/build.c builder/build_go.c builder/build_c.c builder/util.c builder/copy.c builder/elf.c builder/strv.c \
                           $(IMAGES_SRCS) $(ROOTFS_SRCS)
test_builder_build_LIBS := $(ELF_LIBS) $(IMAGES_LIBS) $(ROOTFS_LIBS)
BENCHES += build

# The manual page (the same text as `mkimage help TOPIC`).
INSTALL_EXTRA += install -d $(DESTDIR)$(PREFIX)/share/man/man1 && \
	install -m 0644 builder/mkimage.1 $(DESTDIR)$(PREFIX)/share/man/man1/;

# The SBOM: Go build information, the package list, the SPDX writer.
UNIT_TESTS += test_sbom
test_sbom_SRCS := builder/goinfo.c builder/sbom.c images/sbom.c images/json.c
SBOM_LIBS := $(call pkg_libs,jansson libcrypto)
test_sbom_LIBS := $(SBOM_LIBS)

# The base image family for FROM (mkimage base; README "Base images"):
# build/images/static-ARCH.tar and static-debug-ARCH.tar (each with its SPDX
# SBOM beside it, .spdx.json) for amd64 and arm64, one platform each for
# `docker load`; and static.tar and static-debug.tar, both platforms under
# one image index, which `make publish REGISTRY=HOST/NAMESPACE` pushes
# through mkimage's own push as minbase/static:VERSION, :latest and :debug
# (the SBOM of each platform with it, under the referrers tag).  Credentials
# come from where docker and podman keep them; PUBLISH_FLAGS adds push
# options (e.g. --registry-ca PEM).  The arm64 debug image takes busybox
# from Debian's busybox-static:arm64, fetched with apt-get download (not
# installed: it would replace the host's).
IMAGES_OUT    := $(BUILD)/images
MKIMAGE       ?= $(BUILD)/bin/mkimage
PUBLISH_FLAGS ?=
BUSYBOX_ARM64 := $(BUILD)/busybox-arm64/bin/busybox
$(BUSYBOX_ARM64):
	@rm -rf $(BUILD)/busybox-arm64 && mkdir -p $(BUILD)/busybox-arm64/deb
	cd $(BUILD)/busybox-arm64/deb && apt-get download -q busybox-static:arm64
	dpkg-deb -x $(BUILD)/busybox-arm64/deb/busybox-static_*_arm64.deb $(BUILD)/busybox-arm64
# checked before anything is built
ifneq ($(filter publish,$(MAKECMDGOALS)),)
ifeq ($(REGISTRY),)
$(error publish: give REGISTRY=HOST/NAMESPACE (e.g. make publish REGISTRY=ghcr.io/me))
endif
endif
images: build-all $(BUSYBOX_ARM64)
	@mkdir -p $(IMAGES_OUT)
	for a in amd64 arm64; do \
		$(MKIMAGE) base --arch $$a -q --tag minbase/static:$(VERSION) \
			-o $(IMAGES_OUT)/static-$$a.tar --sbom $(IMAGES_OUT)/static-$$a.spdx.json && \
		MINBASE_BUSYBOX_ARM64=$(BUSYBOX_ARM64) $(MKIMAGE) base --debug --arch $$a -q \
			--tag minbase/static:debug -o $(IMAGES_OUT)/static-debug-$$a.tar \
			--sbom $(IMAGES_OUT)/static-debug-$$a.spdx.json || exit 1; \
	done
	$(MKIMAGE) base --arch amd64,arm64 -q --tag minbase/static:$(VERSION) -o $(IMAGES_OUT)/static.tar
	MINBASE_BUSYBOX_ARM64=$(BUSYBOX_ARM64) $(MKIMAGE) base --debug --arch amd64,arm64 -q \
		--tag minbase/static:debug -o $(IMAGES_OUT)/static-debug.tar
	@ls -l $(IMAGES_OUT)
# The same bytes under two tags: the second push finds every blob there.
publish: images
	$(MKIMAGE) push $(IMAGES_OUT)/static.tar $(REGISTRY)/minbase/static:$(VERSION) $(PUBLISH_FLAGS)
	$(MKIMAGE) push $(IMAGES_OUT)/static.tar $(REGISTRY)/minbase/static:latest $(PUBLISH_FLAGS)
	$(MKIMAGE) push $(IMAGES_OUT)/static-debug.tar $(REGISTRY)/minbase/static:debug $(PUBLISH_FLAGS)
.PHONY: images publish

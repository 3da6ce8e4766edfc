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
# build/images/static-ARCH.tar and static-debug-ARCH.tar for amd64 and
# arm64.  The arm64 debug image takes busybox from Debian's
# busybox-static:arm64, fetched with apt-get download (not installed: it
# would replace the host's).  `make publish REGISTRY=HOST/NAMESPACE` pushes
# the host's architecture as minbase/static:VERSION, :latest and :debug
# through mkimage's own push, each an index of amd64 and arm64.
IMAGES_OUT    := $(BUILD)/images
BUSYBOX_ARM64 := $(BUILD)/busybox-arm64/bin/busybox
$(BUSYBOX_ARM64):
	@rm -rf $(BUILD)/busybox-arm64 && mkdir -p $(BUILD)/busybox-arm64/deb
	cd $(BUILD)/busybox-arm64/deb && apt-get download -q busybox-static:arm64
	dpkg-deb -x $(BUILD)/busybox-arm64/deb/busybox-static_*_arm64.deb $(BUILD)/busybox-arm64
images: build-all $(BUSYBOX_ARM64)
	@mkdir -p $(IMAGES_OUT)
	for a in amd64 arm64; do \
		$(BUILD)/bin/mkimage base --arch $$a -q --tag minbase/static:$(VERSION) \
			-o $(IMAGES_OUT)/static-$$a.tar --sbom $(IMAGES_OUT)/static-$$a.spdx.json && \
		MINBASE_BUSYBOX_ARM64=$(BUSYBOX_ARM64) $(BUILD)/bin/mkimage base --debug --arch $$a -q \
			--tag minbase/static:debug -o $(IMAGES_OUT)/static-debug-$$a.tar \
			--sbom $(IMAGES_OUT)/static-debug-$$a.spdx.json || exit 1; \
	done
	@ls -l $(IMAGES_OUT)
publish: build-all $(BUSYBOX_ARM64)
	@test -n "$(REGISTRY)" || { echo "publish: give REGISTRY=HOST/NAMESPACE" >&2; exit 2; }
	$(BUILD)/bin/mkimage base --arch amd64,arm64 --push $(REGISTRY)/minbase/static:$(VERSION)
	$(BUILD)/bin/mkimage base --arch amd64,arm64 --push $(REGISTRY)/minbase/static:latest
	MINBASE_BUSYBOX_ARM64=$(BUSYBOX_ARM64) $(BUILD)/bin/mkimage base --debug --arch amd64,arm64 \
		--push $(REGISTRY)/minbase/static:debug
.PHONY: images publish

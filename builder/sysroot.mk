# The musl sysroots for the init: kernel headers that musl-gcc hides, plus
# libcap and libseccomp built static against musl from Debian's own source
# packages.  Versions and the upstream tarballs' sha256 are pinned; each
# result is cached under its directory and only rebuilt when this file
# changes.  Two sysroots: build/sysroot for the host (x86_64, musl-gcc) and
# build/sysroot-aarch64 for arm64 images (aarch64-linux-gnu-gcc with
# Debian's musl-dev:arm64 specs; `make deps` installs both toolchains).

LIBCAP_VERSION      := 2.66
LIBCAP_SHA256       := 15c40ededb3003d70a283fe587a36b7d19c8b3b554e33f86129c059a4bb466b2
LIBSECCOMP_VERSION  := 2.5.4
LIBSECCOMP_SHA256   := d82902400405cf0068574ef3dc1fe5f5926207543ba1ae6f8e7a1576351dcbdb

# The third-party builds are run through a variable, never as $(MAKE) in a
# recipe: GNU make runs a line that names $(MAKE) even under `make -n`, so
# `make -n` on a fresh clone ran configure and make in trees that were not
# unpacked (exit 2).  Through SUBMAKE the line is printed like any other.
# (MAKEFLAGS is emptied: these are other projects' makefiles, which get
# neither our -n nor a jobserver they were not marked to share.)
SUBMAKE = MAKEFLAGS= $(MAKE)

SYSROOT_STAMP := $(SYSROOT)/.stamp
SRC_DIR       := $(BUILD)/src

# arm64: the cross compiler, its flags, and where its objects go (the rule
# is the musl one of the Makefile with this compiler and sysroot).
SYSROOT_A64       := $(BUILD)/sysroot-aarch64
SYSROOT_A64_STAMP := $(SYSROOT_A64)/.stamp
A64_HEADERS       := /usr/aarch64-linux-gnu/include
MUSL_A64_CC       := aarch64-linux-gnu-gcc -specs /usr/lib/aarch64-linux-musl/musl-gcc.specs
# aarch64 code is larger than x86_64's (fixed-size instructions, and musl's
# printf pulls in soft-float long double helpers there): the init fits its
# 128 KiB budget with link-time optimisation and without unwind tables,
# which its C needs none of (no exceptions, no cancellation, one thread).
MUSL_A64_CFLAGS   := $(COMMON) $(HARDEN) -Os -ffunction-sections -fdata-sections \
                     -fno-asynchronous-unwind-tables -fno-unwind-tables -flto \
                     -isystem $(SYSROOT_A64)/include -isystem $(SYSROOT_A64)/kh
MUSL_A64_LDFLAGS  := -Os -flto -static -Wl,--gc-sections -Wl,-z,relro,-z,now -Wl,--build-id=none \
                     -L$(SYSROOT_A64)/lib -s

HOST_ASM          := /usr/include/$(shell gcc -dumpmachine)/asm
A64_CONFIGURE     := --host=aarch64-linux-gnu
A64_MAKE          := AR=aarch64-linux-gnu-ar RANLIB=aarch64-linux-gnu-ranlib

sysroot: $(SYSROOT_STAMP) $(SYSROOT_A64_STAMP)

# $(call sysroot_recipe,SYSROOT,CC,SRCDIR,LINUX,ASM,ASM-GENERIC,CONFIGURE-ARGS,MAKE-ARGS)
# SRCDIR is where the tarballs are unpacked (one per sysroot: the two are
# built from the same downloads, in separate trees).
define sysroot_recipe
	@rm -rf $(1) && mkdir -p $(1)/kh $(1)/include/sys $(1)/lib $(3)
	ln -s $(4) $(1)/kh/linux
	ln -s $(5) $(1)/kh/asm
	ln -s $(6) $(1)/kh/asm-generic
	builder/fetch-source $(SRC_DIR) libcap2 libcap2_$(LIBCAP_VERSION).orig.tar.xz $(LIBCAP_SHA256)
	builder/fetch-source $(SRC_DIR) libseccomp libseccomp_$(LIBSECCOMP_VERSION).orig.tar.gz $(LIBSECCOMP_SHA256)
	rm -rf $(3)/libcap-$(LIBCAP_VERSION) $(3)/libseccomp-$(LIBSECCOMP_VERSION)
	tar -C $(3) -xf $(SRC_DIR)/libcap2_$(LIBCAP_VERSION).orig.tar.xz
	tar -C $(3) -xf $(SRC_DIR)/libseccomp_$(LIBSECCOMP_VERSION).orig.tar.gz
	$(SUBMAKE) -s -C $(3)/libcap-$(LIBCAP_VERSION)/libcap \
		CC="$(2) -isystem $(CURDIR)/$(1)/kh" BUILD_CC=gcc $(8) \
		CFLAGS="-Os -fstack-protector-strong" libcap.a >$(3)/libcap.log 2>&1 \
		|| { tail -30 $(3)/libcap.log; exit 1; }
	cp $(3)/libcap-$(LIBCAP_VERSION)/libcap/libcap.a $(1)/lib/
	cp $(3)/libcap-$(LIBCAP_VERSION)/libcap/include/sys/capability.h $(1)/include/sys/
	cd $(3)/libseccomp-$(LIBSECCOMP_VERSION) && \
		./configure -q CC="$(2) -isystem $(CURDIR)/$(1)/kh" CFLAGS="-Os" $(7) \
		--enable-static --disable-shared --prefix=$(CURDIR)/$(1) >../libseccomp.log 2>&1 && \
		$(SUBMAKE) -s -C src >>../libseccomp.log 2>&1 && \
		$(SUBMAKE) -s -C src install >>../libseccomp.log 2>&1 && \
		$(SUBMAKE) -s -C include install >>../libseccomp.log 2>&1 \
		|| { tail -30 ../libseccomp.log; exit 1; }
	touch $(1)/.stamp
endef

$(SYSROOT_STAMP): builder/sysroot.mk builder/fetch-source
	$(call sysroot_recipe,$(SYSROOT),$(MUSL_CC),$(SRC_DIR),/usr/include/linux,$(HOST_ASM),/usr/include/asm-generic,,)

# After the host sysroot: both fetch the same downloads into $(SRC_DIR).
$(SYSROOT_A64_STAMP): builder/sysroot.mk builder/fetch-source | $(SYSROOT_STAMP)
	@command -v aarch64-linux-gnu-gcc >/dev/null && \
		[ -f /usr/lib/aarch64-linux-musl/musl-gcc.specs ] && [ -d $(A64_HEADERS)/asm ] || \
		{ echo "error: the arm64 toolchain is missing: run 'make deps' (as root)" >&2; exit 1; }
	$(call sysroot_recipe,$(SYSROOT_A64),$(MUSL_A64_CC),$(SRC_DIR)/aarch64,$(A64_HEADERS)/linux,$(A64_HEADERS)/asm,$(A64_HEADERS)/asm-generic,$(A64_CONFIGURE),$(A64_MAKE))

$(BUILD)/musl-aarch64/obj/%.o: %.c $(SYSROOT_A64_STAMP)
	@mkdir -p $(@D)
	$(MUSL_A64_CC) $(MUSL_A64_CFLAGS) -c $< -o $@

# libseccomp's own BPF simulator, a host program built from the tree the
# host sysroot unpacked: the tests run the aarch64 filters through it.
SCMP_BPF_SIM := $(BUILD)/tools/scmp_bpf_sim
$(SCMP_BPF_SIM): $(SYSROOT_STAMP)
	@mkdir -p $(@D)
	$(SUBMAKE) -s -C $(SRC_DIR)/libseccomp-$(LIBSECCOMP_VERSION)/tools scmp_bpf_sim \
		>$(SRC_DIR)/scmp_bpf_sim.log 2>&1 || { tail -30 $(SRC_DIR)/scmp_bpf_sim.log; exit 1; }
	cp $(SRC_DIR)/libseccomp-$(LIBSECCOMP_VERSION)/tools/scmp_bpf_sim $@
TEST_SUPPORT_EXTRA += $(SCMP_BPF_SIM)

# `make install`: the arm64 sysroot (headers, static libraries) beside the
# arm64 init, for `mkimage --arch arm64` C builds (builder/build.c).
INSTALL_EXTRA += install -d $(DESTDIR)$(PREFIX)/lib/minbase/sysroot-aarch64 && \
	cp -R $(SYSROOT_A64)/include $(SYSROOT_A64)/lib $(SYSROOT_A64)/kh \
		$(DESTDIR)$(PREFIX)/lib/minbase/sysroot-aarch64/;
build-all: $(SYSROOT_A64_STAMP)

.PHONY: sysroot

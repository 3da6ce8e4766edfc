# The musl sysroot for the init: kernel headers that musl-gcc hides, plus
# libcap and libseccomp built static against musl from Debian's own source
# packages.  Versions and the upstream tarballs' sha256 are pinned; the result
# is cached under build/sysroot and only rebuilt when this file changes.

LIBCAP_VERSION      := 2.66
LIBCAP_SHA256       := 15c40ededb3003d70a283fe587a36b7d19c8b3b554e33f86129c059a4bb466b2
LIBSECCOMP_VERSION  := 2.5.4
LIBSECCOMP_SHA256   := d82902400405cf0068574ef3dc1fe5f5926207543ba1ae6f8e7a1576351dcbdb

SYSROOT_STAMP := $(SYSROOT)/.stamp
SRC_DIR       := $(BUILD)/src

sysroot: $(SYSROOT_STAMP)

$(SYSROOT_STAMP): builder/sysroot.mk builder/fetch-source
	@rm -rf $(SYSROOT) && mkdir -p $(SYSROOT)/kh $(SYSROOT)/include $(SYSROOT)/lib
	ln -s /usr/include/linux $(SYSROOT)/kh/linux
	ln -s /usr/include/$(shell gcc -dumpmachine)/asm $(SYSROOT)/kh/asm
	ln -s /usr/include/asm-generic $(SYSROOT)/kh/asm-generic
	builder/fetch-source $(SRC_DIR) libcap2 libcap2_$(LIBCAP_VERSION).orig.tar.xz $(LIBCAP_SHA256)
	builder/fetch-source $(SRC_DIR) libseccomp libseccomp_$(LIBSECCOMP_VERSION).orig.tar.gz $(LIBSECCOMP_SHA256)
	rm -rf $(SRC_DIR)/libcap-$(LIBCAP_VERSION) $(SRC_DIR)/libseccomp-$(LIBSECCOMP_VERSION)
	tar -C $(SRC_DIR) -xf $(SRC_DIR)/libcap2_$(LIBCAP_VERSION).orig.tar.xz
	tar -C $(SRC_DIR) -xf $(SRC_DIR)/libseccomp_$(LIBSECCOMP_VERSION).orig.tar.gz
	$(MAKE) -s -C $(SRC_DIR)/libcap-$(LIBCAP_VERSION)/libcap \
		CC="$(MUSL_CC) -isystem $(CURDIR)/$(SYSROOT)/kh" BUILD_CC=gcc \
		CFLAGS="-Os -fstack-protector-strong" libcap.a >$(SRC_DIR)/libcap.log 2>&1 \
		|| { tail -30 $(SRC_DIR)/libcap.log; exit 1; }
	cp $(SRC_DIR)/libcap-$(LIBCAP_VERSION)/libcap/libcap.a $(SYSROOT)/lib/
	mkdir -p $(SYSROOT)/include/sys
	cp $(SRC_DIR)/libcap-$(LIBCAP_VERSION)/libcap/include/sys/capability.h $(SYSROOT)/include/sys/
	cd $(SRC_DIR)/libseccomp-$(LIBSECCOMP_VERSION) && \
		./configure -q CC="$(MUSL_CC) -isystem $(CURDIR)/$(SYSROOT)/kh" CFLAGS="-Os" \
		--enable-static --disable-shared --prefix=$(CURDIR)/$(SYSROOT) >../libseccomp.log 2>&1 && \
		$(MAKE) -s -C src >>../libseccomp.log 2>&1 && \
		$(MAKE) -s -C src install >>../libseccomp.log 2>&1 && \
		$(MAKE) -s -C include install >>../libseccomp.log 2>&1 \
		|| { tail -30 ../libseccomp.log; exit 1; }
	touch $@

.PHONY: sysroot

# minbase: one plain GNU make build for the host CLI (mkimage, glibc, dynamic),
# the PID-1 init (static, musl) and the tests.  Each folder contributes a
# fragment (FOLDER/FOLDER.mk) that appends to the variables below; this file
# holds the flags and the generic rules that turn those lists into programs.

VERSION   := 0.1.0
BUILD     := build
PREFIX    ?= /usr/local
DESTDIR   ?=
SOURCE_DATE_EPOCH ?= 0
export SOURCE_DATE_EPOCH

CC        ?= cc
CFLAGS    ?= -O2 -g
LDFLAGS   ?=

WARN      := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-unused-parameter
HARDEN    := -fstack-protector-strong -D_FORTIFY_SOURCE=2
COMMON    := -std=gnu11 $(WARN) -DMINBASE_VERSION='"$(VERSION)"' -D_GNU_SOURCE \
             -ffile-prefix-map=$(CURDIR)/= -MMD -MP

# Host flavour: mkimage and the unit tests (glibc, dynamic, PIE, relro/now).
HOST_CFLAGS  := $(COMMON) $(HARDEN) -fPIE $(CFLAGS)
HOST_LDFLAGS := -pie -Wl,-z,relro,-z,now $(LDFLAGS)
# Sanitizer flavour: the same unit tests under ASan+UBSan (glibc).
ASAN_CFLAGS  := $(COMMON) -O1 -g -fno-omit-frame-pointer \
                -fsanitize=address,undefined -fno-sanitize-recover=all
ASAN_LDFLAGS := -fsanitize=address,undefined

# Libraries every host program may link; fragments add to HOST_LIBS.
HOST_LIBS :=

# musl flavour: the init, static, against build/sysroot (see builder/sysroot.mk).
# No unwind tables: C without exceptions never unwinds, and they were 8 KB
# of the init's 128 KiB budget.
SYSROOT      := $(BUILD)/sysroot
MUSL_CC      := musl-gcc
MUSL_CFLAGS  := $(COMMON) $(HARDEN) -Os -ffunction-sections -fdata-sections \
                -fno-asynchronous-unwind-tables \
                -isystem $(SYSROOT)/include -isystem $(SYSROOT)/kh
MUSL_LDFLAGS := -static -Wl,--gc-sections -Wl,-z,relro,-z,now -Wl,--build-id=none \
                -L$(SYSROOT)/lib -s

# Filled by fragments.
BINS        :=
UNIT_TESTS  :=
FUZZ_TARGETS :=
BENCHES     :=
CLEAN_EXTRA :=

# Helpers for the fragments (defined before they are included).
host_objs = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
asan_objs = $(patsubst %.c,$(BUILD)/asan/obj/%.o,$(1))
musl_objs = $(patsubst %.c,$(BUILD)/musl/obj/%.o,$(1))

# Host libraries are linked by their pkg-config names (Debian's -dev
# packages ship the .pc files; pkg-config is in builder/deps), so that each
# library is spelled once, by the name of its package, and what it needs
# comes with it: $(call pkg_libs,jansson libcrypto).  The init links the
# musl sysroot's static libcap by hand (init/init.mk): no .pc describes it.
pkg_libs = $(shell pkg-config --libs $(1))
CMOCKA_LIBS := $(call pkg_libs,cmocka)

# A static musl program must have no interpreter and no needed library:
# $(call check_static,FILE) fails the build otherwise.
check_static = @if readelf -lW $(1) | grep -q 'INTERP' || readelf -dW $(1) | grep -q 'NEEDED'; \
	then echo "error: $(1) is not static" >&2; rm -f $(1); exit 1; fi

all: build-all

include builder/sysroot.mk
include rootfs/rootfs.mk
include images/images.mk
include policies/policies.mk
include init/init.mk
include builder/builder.mk
include tests/tests.mk

build-all: $(BINS)

# ---- generic compile rules, one per flavour --------------------------------
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -c $< -o $@

$(BUILD)/asan/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ASAN_CFLAGS) -c $< -o $@

$(BUILD)/musl/obj/%.o: %.c $(SYSROOT_STAMP)
	@mkdir -p $(@D)
	$(MUSL_CC) $(MUSL_CFLAGS) -c $< -o $@


# Unit tests: for each NAME in UNIT_TESTS, tests/unit/NAME.c is linked with
# the sources in $(NAME_SRCS) and libraries in $(NAME_LIBS), twice: plain
# (build/tests/NAME) and sanitized (build/asan/tests/NAME).
define unit_test_rules
$(BUILD)/tests/$(1): $(call host_objs,tests/unit/$(1).c $($(1)_SRCS))
	@mkdir -p $$(@D)
	$$(CC) $$(HOST_LDFLAGS) -o $$@ $$^ $($(1)_LIBS) $(CMOCKA_LIBS)
$(BUILD)/asan/tests/$(1): $(call asan_objs,tests/unit/$(1).c $($(1)_SRCS))
	@mkdir -p $$(@D)
	$$(CC) $$(ASAN_LDFLAGS) -o $$@ $$^ $($(1)_LIBS) $(CMOCKA_LIBS)
endef
$(foreach t,$(UNIT_TESTS),$(eval $(call unit_test_rules,$(t))))

UNIT_BINS := $(addprefix $(BUILD)/tests/,$(UNIT_TESTS)) \
             $(addprefix $(BUILD)/asan/tests/,$(UNIT_TESTS))

unit: $(UNIT_BINS)
	tests/run-unit $(BUILD)/tests $(UNIT_TESTS)
	tests/run-unit $(BUILD)/asan/tests $(UNIT_TESTS)

test: deps build-all $(UNIT_BINS) test-support
	tests/run-all $(BUILD) "$(UNIT_TESTS)"

bench: deps build-all test-support
	tests/bench/run $(BENCHES)

# Fuzzers run for FUZZ_SECONDS each (libFuzzer, clang); not part of `make test`.
FUZZ_SECONDS ?= 60
# Extra libFuzzer flags for every target, e.g. FUZZ_FLAGS='-runs=10000000'.
FUZZ_FLAGS ?=
# Every target runs (make -k) and any crash fails the whole.
fuzz: deps
	$(MAKE) -k $(FUZZ_TARGETS)

install: build-all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	$(INSTALL_EXTRA)

deps:
	@builder/deps

clean:
	rm -rf $(BUILD)/obj $(BUILD)/asan $(BUILD)/musl $(BUILD)/bin $(BUILD)/tests $(CLEAN_EXTRA)

distclean:
	rm -rf $(BUILD)

.PHONY: all build-all unit test bench fuzz install deps clean distclean test-support demo
.DELETE_ON_ERROR:
.SECONDARY:

# Files only: `make images` unpacks a Debian package under $(BUILD) whose
# directories end in .d too (usr/share/initramfs-tools/conf-hooks.d).
-include $(shell find $(BUILD) -name '*.d' -type f 2>/dev/null)

# init/: minbase-init, the static musl PID 1.
# The gRPC health probe: HPACK, HTTP/2 frames, the check.
INIT_GRPC_SRCS := init/hpack.c init/h2.c init/grpc_probe.c
# (patsubst, not $(call musl_objs): the helpers are defined after the
# fragments are included, so they expand to nothing here.)
INIT_SRCS := init/main.c init/supervise.c init/privs.c init/seccomp.c init/health.c init/grammar.c \
             init/parse.c init/sys.c $(INIT_GRPC_SRCS)
# What the unit tests link: everything but main.c and the real syscall layer
# (tests/unit/test_init_*.c bring a recording fake of sys.c).
INIT_LIB_SRCS := init/privs.c init/seccomp.c init/health.c init/parse.c init/grammar.c \
                 $(INIT_GRPC_SRCS)

BINS += $(BUILD)/bin/minbase-init

$(BUILD)/bin/minbase-init: $(patsubst %.c,$(BUILD)/musl/obj/%.o,$(INIT_SRCS))
	@mkdir -p $(@D)
	$(MUSL_CC) $(MUSL_LDFLAGS) -o $@ $^ -lcap
	$(call check_static,$@)
	@size=$$(stat -c %s $@); if [ $$size -gt 131072 ]; then \
		echo "error: $@ is $$size bytes, over the 128 KiB budget" >&2; rm -f $@; exit 1; fi

# The arm64 init, for arm64 images (--arch arm64 / amd64,arm64): the same
# sources cross-built against build/sysroot-aarch64 (builder/sysroot.mk).
# mkimage finds it beside itself in aarch64/ (installed: lib/minbase/aarch64).
# Its segments stay aligned to 64 KiB (the linker's default for aarch64:
# kernels with 64 KiB pages, as on some Ampere distributions, load it too),
# so the file carries up to 64 KiB of zero padding between them: the budget
# counts what is loaded (the PT_LOAD file sizes), not the padding.
INIT_A64 := $(BUILD)/bin/aarch64/minbase-init
$(INIT_A64): $(patsubst %.c,$(BUILD)/musl-aarch64/obj/%.o,$(INIT_SRCS))
	@mkdir -p $(@D)
	$(MUSL_A64_CC) $(MUSL_A64_LDFLAGS) -o $@ $^ -lcap
	$(call check_static,$@)
	@size=0; for n in $$(readelf -lW $@ | awk '$$1 == "LOAD" { print $$5 }'); do \
		size=$$((size + n)); done; if [ $$size -gt 131072 ]; then \
		echo "error: $@ loads $$size bytes, over the 128 KiB budget" >&2; rm -f $@; exit 1; fi
build-all: $(INIT_A64)
INSTALL_EXTRA += install -d $(DESTDIR)$(PREFIX)/lib/minbase/aarch64 && \
	install -m 0755 $(INIT_A64) $(DESTDIR)$(PREFIX)/lib/minbase/aarch64/;

UNIT_TESTS += test_init_privs test_init_seccomp test_init_health test_init_grpc
test_init_grpc_SRCS    := $(INIT_LIB_SRCS) tests/unit/test_init_fakesys.c
HOST_CAP_LIBS := $(call pkg_libs,libcap)
test_init_grpc_LIBS    := $(HOST_CAP_LIBS)
test_init_privs_SRCS   := $(INIT_LIB_SRCS) tests/unit/test_init_fakesys.c
test_init_privs_LIBS   := $(HOST_CAP_LIBS)
test_init_seccomp_SRCS := $(INIT_LIB_SRCS) tests/unit/test_init_fakesys.c
test_init_seccomp_LIBS := $(HOST_CAP_LIBS)
test_init_health_SRCS  := $(INIT_LIB_SRCS) tests/unit/test_init_fakesys.c
test_init_health_LIBS  := $(HOST_CAP_LIBS)

BENCHES += init

# Fuzzing the gRPC probe's frame and HPACK reader (clang libFuzzer +
# ASan/UBSan), seeded with recorded answers: `make fuzz-grpc FUZZ_SECONDS=N`.
$(BUILD)/fuzz/grpc_fuzz: init/grpc_fuzz.c $(INIT_LIB_SRCS) init/sys.c init/init.h
	@mkdir -p $(@D)
	clang -std=gnu11 -D_GNU_SOURCE -DMINBASE_VERSION='"$(VERSION)"' -g -O1 \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o $@ \
		init/grpc_fuzz.c $(INIT_LIB_SRCS) init/sys.c $(HOST_CAP_LIBS)
FUZZ_TARGETS += fuzz-grpc
fuzz-grpc: $(BUILD)/fuzz/grpc_fuzz
	@rm -rf $(BUILD)/fuzz/grpc-corpus && mkdir -p $(BUILD)/fuzz/grpc-corpus
	python3 -c 'import sys; [open("%s/seed%d" % (sys.argv[2], i), "wb").write(bytes.fromhex(l)) for i, l in enumerate(x.strip() for x in open(sys.argv[1]) if x.strip() and x[0] != "#")]' \
		init/grpc_fuzz.seeds $(BUILD)/fuzz/grpc-corpus
	$(BUILD)/fuzz/grpc_fuzz -max_total_time=$(FUZZ_SECONDS) $(FUZZ_FLAGS) -max_len=70000 $(BUILD)/fuzz/grpc-corpus
.PHONY: fuzz-grpc

# The components the init is linked with, named in its bytes for the SBOM
# (init/main.c): the musl of the sysroot's Debian musl-dev and the libcap
# and libseccomp versions builder/sysroot.mk builds.
# (per architecture: the arm64 init is linked with musl-dev:arm64)
musl_dev_version = $(or $(shell dpkg-query -W -f='$${Version}' musl-dev:$(1) 2>/dev/null),unknown)
init_components = musl $(call musl_dev_version,$(1)), libcap $(LIBCAP_VERSION), libseccomp $(LIBSECCOMP_VERSION)
$(BUILD)/musl/obj/init/main.o: MUSL_CFLAGS += -DMINBASE_INIT_COMPONENTS='"$(call init_components,amd64)"'
$(BUILD)/musl-aarch64/obj/init/main.o: MUSL_A64_CFLAGS += -DMINBASE_INIT_COMPONENTS='"$(call init_components,arm64)"'

# Test support: small static helper programs that go inside test images
# (tests/tools/NAME.c -> build/tests/bin/NAME, static musl, no shell needed in
# an image), and the example services.

TEST_TOOLS := $(patsubst tests/tools/%.c,$(BUILD)/tests/bin/%,$(wildcard tests/tools/*.c))

$(BUILD)/tests/bin/%: $(BUILD)/musl/obj/tests/tools/%.o
	@mkdir -p $(@D)
	$(MUSL_CC) $(MUSL_LDFLAGS) -o $@ $^
	$(call check_static,$@)

test-support: $(TEST_TOOLS) $(TEST_SUPPORT_EXTRA)

# The quick-start job: build the example service, make an image of it with
# mkimage, run that image under runc and show what the service prints.
DEMO := $(BUILD)/demo
demo: deps build-all
	@mkdir -p $(DEMO)
	$(BUILD)/bin/mkimage --static tests/examples/hello/hello.c -o $(DEMO)/hello.tar \
		--tag minbase-demo:latest
	@echo "--- running $(DEMO)/hello.tar under runc ---"
	@/usr/bin/python3 tests/tools/testlib.py run-runc $(DEMO)/hello.tar

# Stress runs (minutes, not hours; outside `make test`): tests/stress/*.py
# (`make stress-cases`), each case printing its figures on a STRESS line and
# into $(BUILD)/stress/summary.txt (tests/stress/figures.py).
# Then the integration tests once more against the ASan+UBSan mkimage (a
# leak or undefined behaviour on any path they take fails its command), as
# one more line of the summary, which that run prints at its end.
stress: stress-cases $(BUILD)/bin/mkimage-asan
	MKIMAGE=$(BUILD)/bin/mkimage-asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		STRESS_SESSION=asan-integration PYTHONPATH=tests/stress \
		/usr/bin/python3 -m pytest -p no:cacheprovider -p figures -rs tests/integration
stress-cases: deps build-all test-support
	/usr/bin/python3 -m pytest -p no:cacheprovider -s -rs $(STRESS_ARGS) tests/stress
.PHONY: stress stress-cases

# libFuzzer targets for the parsers of untrusted input (clang, ASan+UBSan):
# tests/fuzz/NAME.c linked with $(NAME_SRCS).  `make fuzz` runs every target
# for FUZZ_SECONDS (each seeded from the tree's own fixtures) and fails on a
# crash; `make fuzz-NAME` runs one.
FUZZ_CFLAGS := -std=gnu11 -D_GNU_SOURCE -DMINBASE_VERSION='"$(VERSION)"' -g -O1 \
               -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZERS := fuzz_elf fuzz_goinfo fuzz_image_read
fuzz_elf_SRCS := builder/elf.c builder/strv.c
fuzz_elf_LIBS := $(ELF_LIBS)
fuzz_elf_SEEDS = $(BUILD)/tests/bin/mbtest $(BUILD)/bin/minbase-init /bin/true
fuzz_goinfo_SRCS := builder/goinfo.c builder/sbom.c images/sbom.c images/json.c
fuzz_goinfo_LIBS := $(SBOM_LIBS)
fuzz_goinfo_SEEDS = tests/fuzz/seeds/goinfo/*
fuzz_image_read_SRCS = $(IMAGES_SRCS) $(ROOTFS_SRCS)
fuzz_image_read_LIBS = $(IMAGES_LIBS) $(ROOTFS_LIBS)
fuzz_image_read_SEEDS = $(BUILD)/fuzz/seeds/image_read/*
FUZZERS += fuzz_registry
fuzz_registry_SRCS = $(IMAGES_SRCS) $(ROOTFS_SRCS)
fuzz_registry_LIBS = $(IMAGES_LIBS) $(ROOTFS_LIBS)
fuzz_registry_SEEDS = tests/fuzz/seeds/registry/*
# a --base's own SBOM, read and copied into ours
FUZZERS += fuzz_sbom_read
fuzz_sbom_read_SRCS := images/sbom.c images/json.c
fuzz_sbom_read_LIBS := $(SBOM_LIBS)
fuzz_sbom_read_SEEDS = tests/fuzz/seeds/sbom/*
FUZZERS += fuzz_init
fuzz_init_SRCS = $(INIT_LIB_SRCS) init/sys.c
fuzz_init_LIBS := -lcap
fuzz_init_SEEDS = tests/fuzz/seeds/init/*

define fuzz_rules
$(BUILD)/fuzz/$(1): tests/fuzz/$(1).c $$($(1)_SRCS)
	@mkdir -p $$(@D)
	clang $$(FUZZ_CFLAGS) -o $$@ $$^ $$($(1)_LIBS)
fuzz-$(1): $(BUILD)/fuzz/$(1) build-all test-support $(BUILD)/fuzz/seeds/image_read/.stamp
	@rm -rf $(BUILD)/fuzz/corpus-$(1) && mkdir -p $(BUILD)/fuzz/corpus-$(1)
	cp $$($(1)_SEEDS) $(BUILD)/fuzz/corpus-$(1)/
	$(BUILD)/fuzz/$(1) -max_total_time=$$(FUZZ_SECONDS) $$(FUZZ_FLAGS) -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix=$(BUILD)/fuzz/$(1)- $(BUILD)/fuzz/corpus-$(1)
.PHONY: fuzz-$(1)
endef
$(foreach f,$(FUZZERS),$(eval $(call fuzz_rules,$(f))))
FUZZ_TARGETS += $(addprefix fuzz-,$(FUZZERS))

# Seeds for the image reader: a real image of mbtest split into its parts.
$(BUILD)/fuzz/seeds/image_read/.stamp: tests/fuzz/seed-image build-all test-support
	@rm -rf $(@D) && mkdir -p $(@D)
	tests/fuzz/seed-image $(BUILD)/bin/mkimage $(BUILD)/tests/bin/mbtest $(@D)
	@touch $@

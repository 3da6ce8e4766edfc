# policies/: seccomp policies (Docker/OCI JSON) and their compiler to the
# seccomp file format v1 (libseccomp), exporter, summary and learner.
POLICIES_SRCS := policies/policy_parse.c policies/policy_compile.c policies/policy_newsys.c \
                 policies/policy_export.c policies/policy_summary.c \
                 policies/policy_learn.c
POLICIES_LIBS := $(call pkg_libs,libseccomp jansson zlib)
HOST_LIBS += $(POLICIES_LIBS)

SHIPPED_POLICIES := default service strict
POLICY_SHARE     := $(BUILD)/share/minbase/policies
# Both image architectures, whatever the host: a multi-arch image takes
# each platform's filter from here (syscall numbers differ).
POLICY_ARCHES    := x86_64 aarch64
POLICY_DATA      := $(foreach p,$(SHIPPED_POLICIES),$(POLICY_SHARE)/$(p).json \
                      $(foreach a,$(POLICY_ARCHES),$(POLICY_SHARE)/$(p).$(a).bpf))

$(POLICY_SHARE)/%.json: policies/%.json
	@mkdir -p $(@D)
	cp $< $@

# Precompiled: an image can select a shipped policy by name without
# compiling anything.
define policy_bpf_rule
$(POLICY_SHARE)/%.$(1).bpf: policies/%.json $(BUILD)/bin/mkimage
	@mkdir -p $$(@D)
	$(BUILD)/bin/mkimage policy compile $$< -o $$@ --arch $(1)
endef
$(foreach a,$(POLICY_ARCHES),$(eval $(call policy_bpf_rule,$(a))))

# Moby's own default profile (Apache-2.0), as shipped for the Docker Engine
# Debian has (20.10.24), taken from Debian's golang-github-docker-docker-dev
# package and checked against a pinned sha256.  Used by tests and the bench.
MOBY_PROFILE := $(BUILD)/tests/fixtures/moby-default.json
$(MOBY_PROFILE): policies/fetch-moby-profile
	policies/fetch-moby-profile $@

# `make` builds them with the programs (the contract's host build outputs);
# `make install` puts them under PREFIX/share/minbase/policies.
build-all: $(POLICY_DATA)
TEST_SUPPORT_EXTRA += $(POLICY_DATA) $(MOBY_PROFILE)
INSTALL_EXTRA += install -d $(DESTDIR)$(PREFIX)/share/minbase/policies && \
	install -m 0644 $(POLICY_DATA) $(DESTDIR)$(PREFIX)/share/minbase/policies/;
CLEAN_EXTRA += $(POLICY_SHARE)

policies: $(POLICY_DATA)
.PHONY: policies

UNIT_TESTS += test_policies
test_policies_SRCS := $(POLICIES_SRCS)
test_policies_LIBS := $(POLICIES_LIBS)

BENCHES += policies

# Fuzzing the policy parser/compiler/exporter (clang libFuzzer + ASan/UBSan),
# seeded with the shipped policies: `make fuzz-policies FUZZ_SECONDS=N`.
$(BUILD)/fuzz/fuzz_policy: policies/fuzz_policy.c $(POLICIES_SRCS) policies/policies.h policies/policy_int.h
	@mkdir -p $(@D)
	clang -std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
		-o $@ policies/fuzz_policy.c $(POLICIES_SRCS) $(POLICIES_LIBS)
FUZZ_TARGETS += fuzz-policies
fuzz-policies: $(BUILD)/fuzz/fuzz_policy
	@rm -rf $(BUILD)/fuzz/policy-corpus && mkdir -p $(BUILD)/fuzz/policy-corpus
	cp policies/*.json $(BUILD)/fuzz/policy-corpus/
	$(BUILD)/fuzz/fuzz_policy -max_total_time=$(FUZZ_SECONDS) $(FUZZ_FLAGS) -max_len=16384 \
		-dict=policies/fuzz_policy.dict $(BUILD)/fuzz/policy-corpus
.PHONY: fuzz-policies
CLEAN_EXTRA += $(BUILD)/fuzz

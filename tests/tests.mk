# Test support: small static helper programs that go inside test images
# (tests/tools/NAME.c -> build/tests/bin/NAME, static musl, no shell needed in
# an image), and the example services.

TEST_TOOLS := $(patsubst tests/tools/%.c,$(BUILD)/tests/bin/%,$(wildcard tests/tools/*.c))

$(BUILD)/tests/bin/%: $(BUILD)/musl/obj/tests/tools/%.o
	@mkdir -p $(@D)
	$(MUSL_CC) $(MUSL_LDFLAGS) -o $@ $^
	$(call check_static,$@)

test-support: $(TEST_TOOLS) $(TEST_SUPPORT_EXTRA)
